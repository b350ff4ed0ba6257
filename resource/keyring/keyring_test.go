package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

const (
	k128  = "edd1c9f0985e76a2" // APISIX's test keyring entry
	k128b = "qeddd145sfvddff3"
	k256  = "qeddd145sfvddff3qeddd145sfvddff3"
)

func mustNew(t *testing.T, keyring []string, fields bool) *Keyring {
	t.Helper()
	k, err := New(keyring, fields)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Known answers. The edd1c9f0985e76a2 ones are the values APISIX's own tests read back
// from etcd (t/node/data_encrypt.t, data_encrypt2.t); the others were computed with
// `openssl enc -aes-{128,256}-cbc -K <key hex> -iv <first 16 bytes hex> | base64`.
var vectors = []struct{ key, plain, enc string }{
	{k128, "bar", "77+NmbYqNfN+oLm0aX5akg=="},
	{k128, "auth-two", "vU/ZHVJw7b0XscDJ1Fhtig=="},
	{k128, "abc123", "7ipXoKyiZZUAgf3WWNPI5A=="},
	{k128, "def456", "3hlZu5mwUbqROm+cy0Vi9A=="},
	{k128, "test", "9QKrmTT3TkWGvjlIoe5XXw=="},
	{k128b, "hello world", "26cK4cS8EQ5UxEUdZYVPSg=="},
	{k128b, "", "CEGh183MAO3X8/ZV2jzHeA=="},                                     // a whole block of padding
	{k128b, "0123456789abcdef", "qpxu8KrwHqjW92zgZHFDOLQA3RNdV40A6RLotmKQPVw="}, // one block of data, one of padding
	{k256, "hello world", "ls4DOizUshA64GOrnhVRQw=="},
	{k256, "0123456789abcdef", "hEVH1TEecFfRk7KyP2nZXDUkt4I7/ydgsRxsZoZ7LjY="},
}

func TestKnownAnswers(t *testing.T) {
	for _, v := range vectors {
		k := mustNew(t, []string{v.key}, true)
		if got := k.Encrypt(v.plain); got != v.enc {
			t.Errorf("Encrypt(%q) with %s = %q, want %q", v.plain, v.key, got, v.enc)
		}
		if got, err := k.Decrypt(v.enc); err != nil || got != v.plain {
			t.Errorf("Decrypt(%q) with %s = %q, %v; want %q", v.enc, v.key, got, err, v.plain)
		}
	}
}

// Against the openssl binary, both ways, for random plaintexts of every length around
// the block size.
func TestAgainstOpenSSL(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not installed (make test installs it): it is the reference this test checks against")
	}
	openssl := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl %v: %v", args, err)
		}
		return out
	}
	for _, key := range []string{k128, k256} {
		k := mustNew(t, []string{key}, true)
		args := []string{"enc", "-aes-" + map[int]string{16: "128", 32: "256"}[len(key)] + "-cbc",
			"-K", hex.EncodeToString([]byte(key)), "-iv", hex.EncodeToString([]byte(key[:16]))}
		for n := 0; n <= 33; n++ {
			plain := make([]byte, n)
			rand.Read(plain)
			want := base64.StdEncoding.EncodeToString(openssl(plain, args...))
			if got := k.Encrypt(string(plain)); got != want {
				t.Errorf("%d-byte key, %d bytes: Encrypt = %q, openssl %q", len(key), n, got, want)
			}
			ours, _ := base64.StdEncoding.DecodeString(k.Encrypt(string(plain)))
			if back := openssl(ours, append(args, "-d")...); !bytes.Equal(back, plain) {
				t.Errorf("%d-byte key, %d bytes: openssl decrypts ours to %x, want %x", len(key), n, back, plain)
			}
		}
	}
}

// The first key encrypts; every key is tried to decrypt (APISIX's rotation test:
// data written with edd1c9f0985e76a2 is read with qeddd145sfvddff3 first in line).
func TestRotation(t *testing.T) {
	rotated := mustNew(t, []string{k128b, k128}, true)
	if got, err := rotated.Decrypt("77+NmbYqNfN+oLm0aX5akg=="); err != nil || got != "bar" {
		t.Errorf("old data: %q, %v", got, err)
	}
	if got := rotated.Encrypt("hello world"); got != "26cK4cS8EQ5UxEUdZYVPSg==" {
		t.Errorf("new data is not encrypted with the first key: %q", got)
	}
	// An AES-128 keyring rotated to AES-256 still reads the old data.
	up := mustNew(t, []string{k256, k128b}, true)
	for _, enc := range []string{"26cK4cS8EQ5UxEUdZYVPSg==", "ls4DOizUshA64GOrnhVRQw=="} {
		if got, err := up.Decrypt(enc); err != nil || got != "hello world" {
			t.Errorf("Decrypt(%q) = %q, %v", enc, got, err)
		}
	}
	// Without the old key it does not.
	if _, err := mustNew(t, []string{k128b}, true).Decrypt("77+NmbYqNfN+oLm0aX5akg=="); err == nil || err.Error() != "decrypt failed" {
		t.Errorf("wrong key: %v", err)
	}
}

// ngx.decode_base64's rules, not Go's.
func TestBase64LikeNginx(t *testing.T) {
	k := mustNew(t, []string{k128}, true)
	for _, ok := range []string{
		"77+NmbYqNfN+oLm0aX5akg",       // no padding
		"77+NmbYqNfN+oLm0aX5akg=",      // short padding
		"77+NmbYqNfN+oLm0aX5akg==junk", // everything after '=' is ignored
		"77+NmbYqNfN+oLm0aX5akh==",     // non-zero trailing bits are not checked
		"77+NmbYqNfN+oLm0aX5akg==\n",   // so is a newline after '='
	} {
		if got, err := k.Decrypt(ok); err != nil || got != "bar" {
			t.Errorf("Decrypt(%q) = %q, %v; want bar", ok, got, err)
		}
	}
	for _, bad := range []string{
		"77+NmbYqNfN+oLm0aX5akg\n==", // a newline before '='
		"77+NmbYq\nNfN+oLm0aX5akg==",
		"77-NmbYqNfN_oLm0aX5akg==", // URL alphabet
		"77+NmbYqNfN+oLm0aX5ak*==",
		"abcde", // 4n+1
		"not base64!",
	} {
		_, err := k.Decrypt(bad)
		var de *DecryptError
		if !errors.As(err, &de) || !de.Base64 || err.Error() != "base64 decode failed" {
			t.Errorf("Decrypt(%q): %v, want base64 decode failed", bad, err)
		}
	}
	// Valid base64 that is not a whole number of blocks, or nothing at all.
	for _, bad := range []string{"YmFy", "", "=="} {
		if _, err := k.Decrypt(bad); err == nil || err.Error() != "decrypt failed" {
			t.Errorf("Decrypt(%q): %v, want decrypt failed", bad, err)
		}
	}
}

func TestEmptyKeyringPassesThrough(t *testing.T) {
	k := mustNew(t, nil, true)
	if got := k.Encrypt("bar"); got != "bar" {
		t.Errorf("Encrypt = %q", got)
	}
	if got, err := k.Decrypt("not base64!"); err != nil || got != "not base64!" {
		t.Errorf("Decrypt = %q, %v", got, err)
	}
	const pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n"
	if got := k.EncryptPrivateKey(pem); got != pem {
		t.Errorf("EncryptPrivateKey = %q", got)
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	for _, keyring := range [][]string{{"short"}, {k128, strings.Repeat("x", 24)}, {""}} {
		if _, err := New(keyring, true); err == nil || !strings.Contains(err.Error(), "expected a 16 byte (AES-128) or 32 byte (AES-256) key") {
			t.Errorf("%q: %v", keyring, err)
		}
	}
	if _, err := New([]string{k128, "abc"}, false); err == nil || !strings.HasPrefix(err.Error(), "keyring[1]: ") {
		t.Errorf("error does not name the entry: %v", err)
	}
}

func TestPrivateKeys(t *testing.T) {
	const pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ7lx0JX0RkfvHjRrQIX/H0RrO0kB5zJm6HbDeBIsyEe\n-----END PRIVATE KEY-----\n"
	// SSL keys ignore enable_encrypt_fields.
	k := mustNew(t, []string{k128}, false)
	enc := k.EncryptPrivateKey(pem)
	if strings.HasPrefix(enc, "---") || enc != k.Encrypt(pem) {
		t.Fatalf("EncryptPrivateKey = %q", enc)
	}
	if again := k.EncryptPrivateKey(enc); again != enc {
		t.Error("an encrypted key was encrypted again")
	}
	if got, err := k.DecryptPrivateKey(enc); err != nil || got != pem {
		t.Errorf("DecryptPrivateKey = %q, %v", got, err)
	}
	if got, err := k.DecryptPrivateKey(pem); err != nil || got != pem {
		t.Errorf("a PEM key is not returned as is: %q, %v", got, err)
	}
	if _, err := mustNew(t, []string{k128b}, false).DecryptPrivateKey(enc); err == nil || err.Error() != "decrypt ssl key failed" {
		t.Errorf("wrong keyring: %v", err)
	}
	if _, err := k.DecryptPrivateKey("$secret://vault/1/key"); err == nil || err.Error() != "base64 decode ssl key failed" {
		t.Errorf("not base64: %v", err)
	}
}

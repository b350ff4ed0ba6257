package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
	"strings"
)

// Keyring encrypts and decrypts with apisix.data_encryption.keyring.
type Keyring struct {
	keys          []key
	encryptFields bool
}

// key is one keyring entry: its AES block cipher and the IV derived from it.
type key struct {
	block cipher.Block
	iv    []byte
}

// New builds a Keyring from the keyring entries (each 16 or 32 bytes; the
// first one encrypts) and enable_encrypt_fields, which callers combine with
// "the config provider is etcd" as APISIX does. An entry of another length is
// an error (APISIX drops it with an error log; conf refuses such a config).
func New(keyring []string, encryptFields bool) (*Keyring, error) {
	k := &Keyring{encryptFields: encryptFields}
	for i, entry := range keyring {
		if n := len(entry); n != 16 && n != 32 {
			return nil, fmt.Errorf("keyring[%d]: expected a 16 byte (AES-128) or 32 byte (AES-256) key, got %d bytes", i, n)
		}
		block, err := aes.NewCipher([]byte(entry))
		if err != nil {
			return nil, fmt.Errorf("keyring[%d]: %w", i, err)
		}
		k.keys = append(k.keys, key{block: block, iv: []byte(entry[:aes.BlockSize])})
	}
	return k, nil
}

// EncryptsFields reports whether EncryptFields and DecryptFields act.
func (k *Keyring) EncryptsFields() bool { return k.encryptFields }

// DecryptError is a value that did not decrypt. Error() is APISIX's text.
type DecryptError struct {
	Base64  bool   // true: not base64; false: no keyring entry decrypts it
	Subject string // what was decrypted ("ssl key"), "" for plugin fields
}

func (e *DecryptError) Error() string {
	op := "decrypt "
	if e.Base64 {
		op = "base64 decode "
	}
	if e.Subject != "" {
		op += e.Subject + " "
	}
	return op + "failed"
}

// Encrypt encrypts s with the first keyring entry and base64-encodes it; with
// an empty keyring it returns s.
func (k *Keyring) Encrypt(s string) string {
	if len(k.keys) == 0 {
		return s
	}
	first := k.keys[0]
	n := aes.BlockSize - len(s)%aes.BlockSize // PKCS#7: 1..16 bytes, never 0
	buf := append([]byte(s), bytes.Repeat([]byte{byte(n)}, n)...)
	cipher.NewCBCEncrypter(first.block, first.iv).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

// Decrypt reverses Encrypt with the first keyring entry that succeeds; with an
// empty keyring it returns s. The error is a *DecryptError.
func (k *Keyring) Decrypt(s string) (string, error) {
	return k.decrypt(s, "")
}

func (k *Keyring) decrypt(s, subject string) (string, error) {
	if len(k.keys) == 0 {
		return s, nil
	}
	data, ok := decodeBase64(s)
	if !ok {
		return "", &DecryptError{Base64: true, Subject: subject}
	}
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return "", &DecryptError{Subject: subject}
	}
	buf := make([]byte, len(data))
	for _, key := range k.keys {
		cipher.NewCBCDecrypter(key.block, key.iv).CryptBlocks(buf, data)
		if plain, ok := unpad(buf); ok {
			return string(plain), nil
		}
	}
	return "", &DecryptError{Subject: subject}
}

// unpad strips PKCS#7 padding with OpenSSL's checks: the last byte n is
// 1..16 and the last n bytes all equal n. A wrong key passes them about once
// in 256 tries and then yields garbage; APISIX has the same weakness.
func unpad(b []byte) ([]byte, bool) {
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}

// decodeBase64 is nginx's ngx_decode_base64, behind ngx.decode_base64: the
// input ends at the first '=', every byte before it must be in the standard
// alphabet, and a length of 4n+1 is invalid. Go's decoder would skip
// newlines and insist on padding, so the checks come first.
func decodeBase64(s string) ([]byte, bool) {
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i]
	}
	if len(s)%4 == 1 {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, false
		}
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	return b, err == nil
}

// EncryptPrivateKey is ssl.lua aes_encrypt_pkey: a PEM key (starting with
// "---") is encrypted, anything else (already encrypted, a $secret://
// reference) is returned as it is.
func (k *Keyring) EncryptPrivateKey(pemKey string) string {
	if !strings.HasPrefix(pemKey, "---") {
		return pemKey
	}
	return k.Encrypt(pemKey)
}

// DecryptPrivateKey is ssl.lua aes_decrypt_pkey: a PEM key is returned as it
// is, anything else is decrypted ("decrypt ssl key failed"). As in APISIX,
// $secret:// and $env:// references are resolved before, not here.
func (k *Keyring) DecryptPrivateKey(stored string) (string, error) {
	if strings.HasPrefix(stored, "---") {
		return stored, nil
	}
	return k.decrypt(stored, "ssl key")
}

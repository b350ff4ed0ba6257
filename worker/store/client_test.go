package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// writeCerts writes a CA and a server certificate for 127.0.0.1 signed by
// it, and returns the file names.
func writeCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "store-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "etcd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", der), write("server-key.pem", "EC PRIVATE KEY", keyDER)
}

// TestTLSAndAuth: deployment.etcd with https, a verified CA, user and
// password; the worker starts while etcd is unreachable (Dial retries).
func TestTLSAndAuth(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeCerts(t, dir)
	hp := freeAddr(t)
	// Mutual TLS: etcd requires a client certificate signed by the CA.
	e, err := startEtcd(filepath.Join(dir, "etcd"), hp, &transport.TLSInfo{
		CertFile: certFile, KeyFile: keyFile, TrustedCAFile: caFile, ClientCertAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	endpoint := "https://" + hp
	// The dial includes authenticating, which etcd does with bcrypt: under
	// -race on a busy machine that alone can take more than a second.
	cfg := ClientConfig{Endpoints: []string{endpoint}, TLSCA: caFile, TLSVerify: true,
		TLSCert: certFile, TLSKey: keyFile, DialTimeout: 10 * time.Second}

	admin, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := tctx(t)
	if _, err := admin.UserAdd(ctx, "root", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	cfg.User, cfg.Password = "root", "s3cret"
	w, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	p := "/t-tls"
	put(t, w, p+"/routes/1", `{"uri":"/1"}`)

	// Wrong password and unverifiable server are errors, not hangs.
	bad := cfg
	bad.Password = "wrong"
	if c, err := NewClient(bad); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		if c != nil {
			c.Close()
		}
		t.Errorf("wrong password: %v", err)
	}
	noCA := cfg
	noCA.TLSCA, noCA.DialTimeout = "", 300*time.Millisecond
	if c, err := NewClient(noCA); err == nil {
		c.Close()
		t.Error("server certificate accepted without its CA")
	}
	noCert := cfg
	noCert.TLSCert, noCert.TLSKey, noCert.DialTimeout = "", "", 300*time.Millisecond
	if c, err := NewClient(noCert); err == nil {
		c.Close()
		t.Error("connected without the client certificate etcd requires")
	}

	// The store's connection goes through a bridge that starts cut: the
	// client cannot even authenticate, so it is created by Dial in Run.
	br := newBridge(t, hp)
	br.Cut()
	scfg := cfg
	scfg.Endpoints = []string{"https://" + br.Addr()}
	scfg.DialTimeout = 3 * time.Second // fails within the wait below while cut
	var logs logBuf
	opts := fastOptions(nil, p, &logs)
	opts.Dial = func(context.Context) (*clientv3.Client, error) { return NewClient(scfg) }
	s := runStore(t, opts)
	waitFor(t, 5*time.Second, "failed dial", func() bool { return logs.count("etcd unreachable", "connect to etcd") > 0 })
	if !s.Snapshot().Stale || s.Reachable() {
		t.Fatal("served something other than the empty stale snapshot while etcd is unreachable")
	}
	br.Restore()
	waitFor(t, 10*time.Second, "initial load over TLS with auth", loaded(s))
	rev := put(t, w, p+"/routes/2", `{"uri":"/2"}`)
	waitFor(t, 2*time.Second, "watch over TLS with auth", func() bool {
		it := s.Snapshot().Get("routes", "2")
		return it != nil && it.ModRevision == rev
	})
	if _, hash, _ := expected(t, w, p); s.Snapshot().Hash != hash {
		t.Errorf("hash %s, want %s", s.Snapshot().Hash, hash)
	}
}

func TestValidatorPanicIsInvalid(t *testing.T) {
	var logs logBuf
	opts := fastOptions(&clientv3.Client{}, "/p", &logs)
	opts.Validate = func(kind, id string, v []byte) (any, error) { panic("boom") }
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	prev := &Item{Kind: "routes", ID: "1", Key: "/p/routes/1", Raw: []byte(`{}`), ModRevision: 3}
	if got := s.decode("routes", "1", "/p/routes/1", []byte(`{"x":1}`), 4, prev); got != prev {
		t.Errorf("decode kept %+v, want the previous version", got)
	}
	if logs.count("validator panicked: boom", `"mod_revision":4`) != 1 {
		t.Errorf("log: %v", logs.lines())
	}
}

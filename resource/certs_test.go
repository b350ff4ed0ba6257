package resource

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	certOnce       sync.Once
	testCert       string
	testKey        string
	testCertKeyErr error
)

// testPair returns a self-signed certificate and its PKCS#8 key, PEM.
func testPair(t *testing.T) (cert, key string) {
	t.Helper()
	certOnce.Do(func() {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			testCertKeyErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "test.example.com"},
			DNSNames:     []string{"test.example.com"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			testCertKeyErr = err
			return
		}
		kder, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			testCertKeyErr = err
			return
		}
		testCert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		testKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	})
	if testCertKeyErr != nil {
		t.Fatal(testCertKeyErr)
	}
	return testCert, testKey
}

// jstr JSON-encodes s (for embedding PEM in test documents).
func jstr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// fakePEM is long enough for the schema but not a certificate.
func fakePEM(label string, n int) string {
	return "-----BEGIN " + label + "-----\n" + strings.Repeat("A", n) + "\n-----END " + label + "-----\n"
}

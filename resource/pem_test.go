package resource

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// pemKey is one generated private key in the PEM encodings OpenSSL writes.
type pemKey struct {
	signer crypto.Signer
	pkcs8  string
	legacy string // PKCS#1 for RSA, SEC1 for EC, "" for Ed25519
}

func newKey(t *testing.T, s crypto.Signer) pemKey {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		t.Fatal(err)
	}
	k := pemKey{signer: s, pkcs8: pemBlock("PRIVATE KEY", der)}
	switch s := s.(type) {
	case *rsa.PrivateKey:
		k.legacy = pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(s))
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(s)
		if err != nil {
			t.Fatal(err)
		}
		k.legacy = pemBlock("EC PRIVATE KEY", der)
		if s.Curve == elliptic.P256() {
			// `openssl ecparam -genkey` writes the curve's OID first.
			k.legacy = pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}) + k.legacy
		}
	}
	return k
}

func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// certFor issues a certificate for key, self-signed when ca is nil.
func certFor(t *testing.T, key crypto.Signer, ca *x509.Certificate, caKey crypto.Signer) (*x509.Certificate, string) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "pair.example.com"},
		DNSNames:              []string{"pair.example.com"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  ca == nil,
		BasicConstraintsValid: true,
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, pemBlock("CERTIFICATE", der)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCheckCertKeyMatch(t *testing.T) {
	rsa1 := newKey(t, must(rsa.GenerateKey(rand.Reader, 2048)))
	rsa2 := newKey(t, must(rsa.GenerateKey(rand.Reader, 2048)))
	ec1 := newKey(t, must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)))
	ec2 := newKey(t, must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)))
	_, edPriv := must2(ed25519.GenerateKey(rand.Reader))
	ed := newKey(t, edPriv)

	caCert, caPEM := certFor(t, ec2.signer, nil, nil)
	_, rsa1Cert := certFor(t, rsa1.signer, nil, nil)
	_, rsa2Cert := certFor(t, rsa2.signer, nil, nil)
	_, ec1Cert := certFor(t, ec1.signer, nil, nil)
	_, edCert := certFor(t, ed.signer, nil, nil)
	_, leafOfCA := certFor(t, ec1.signer, caCert, ec2.signer)
	chain := leafOfCA + caPEM

	for _, c := range []struct {
		name, cert, key, want string
	}{
		{"rsa pkcs8", rsa1Cert, rsa1.pkcs8, ""},
		{"rsa pkcs1", rsa1Cert, rsa1.legacy, ""},
		{"ecdsa pkcs8", ec1Cert, ec1.pkcs8, ""},
		{"ecdsa sec1 after parameters", ec1Cert, ec1.legacy, ""},
		{"ed25519", edCert, ed.pkcs8, ""},
		{"chain with the leaf's key", chain, ec1.pkcs8, ""},

		{"rsa with another rsa key", rsa1Cert, rsa2.pkcs8, errMatchCertKey},
		{"rsa pkcs1 with another rsa key", rsa2Cert, rsa1.legacy, errMatchCertKey},
		{"ecdsa with an ecdsa key of another curve", ec1Cert, ec2.legacy, errMatchCertKey},
		{"rsa with an ecdsa key", rsa1Cert, ec1.pkcs8, errMatchCertKey},
		{"ecdsa with an rsa key", ec1Cert, rsa1.pkcs8, errMatchCertKey},
		{"ed25519 with an ecdsa key", edCert, ec1.pkcs8, errMatchCertKey},
		// OpenSSL pairs the key with the first certificate, never with the CA.
		{"chain with the CA's key", chain, ec2.pkcs8, errMatchCertKey},

		{"garbage cert", fakePEM("CERTIFICATE", 200), rsa1.pkcs8, errParseCert},
		{"garbage key", rsa1Cert, fakePEM("PRIVATE KEY", 80), errParseKey},
		{"no key block", rsa1Cert, fakePEM("EC PARAMETERS", 80), errParseKey},
		{"encrypted key is not checked", rsa1Cert, repeat("QUJD", 40), ""},
	} {
		if got := checkCertKey(c.cert, c.key, true); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// Without a key only the certificate is parsed (client.ca).
	if got := checkCertKey(rsa1Cert, ec1.pkcs8, false); got != "" {
		t.Errorf("cert only: %q", got)
	}
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// The mismatch reaches Validate's callers with APISIX's framing for each place a
// pair appears.
func TestValidateRejectsMismatchedPairs(t *testing.T) {
	cert, key := testPair(t)
	other := newKey(t, must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)))
	c, k, o := jstr(cert), jstr(key), jstr(other.pkcs8)
	runCases(t, SSLs, []vcase{
		{"server pair", `{"cert":` + c + `,"key":` + o + `,"sni":"a.com"}`, errMatchCertKey},
		{"client pair", `{"type":"client","cert":` + c + `,"key":` + o + `}`, errMatchCertKey},
		{"extra pair", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","certs":[` + c + `,` + c + `],"keys":[` + k + `,` + o + `]}`, "failed to handle cert-key pair[2]: " + errMatchCertKey},
	})
	runCases(t, Upstreams, []vcase{
		{"tls client pair", `{"nodes":{},"tls":{"client_cert":` + c + `,"client_key":` + o + `}}`, errMatchCertKey},
		{"tls client pair matching", `{"nodes":{},"tls":{"client_cert":` + c + `,"client_key":` + k + `}}`, ""},
	})
}

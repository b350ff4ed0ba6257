package resource

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
)

// The texts OpenSSL gives APISIX when PEM parsing fails (ngx.ssl
// parse_pem_cert / parse_pem_priv_key).
const (
	errParseCert = "failed to parse cert: PEM_read_bio_X509_AUX() failed"
	errParseKey  = "failed to parse key: PEM_read_bio_PrivateKey() failed"
)

// checkCertKey parses a PEM certificate (chain) and, when withKey, its
// private key; it returns APISIX's message or "". A key not starting with
// "---" is AES-encrypted with the keyring (spec 2.1) and cannot be checked
// here: decrypting it is the caller's job.
func checkCertKey(cert, key string, withKey bool) string {
	if !validPEMCert(cert) {
		return errParseCert
	}
	if !withKey || !strings.HasPrefix(key, "---") {
		return ""
	}
	if !validPEMKey(key) {
		return errParseKey
	}
	return ""
}

func validPEMCert(s string) bool {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" && b.Type != "TRUSTED CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return false
		}
		n++
	}
	return n > 0
}

func validPEMKey(s string) bool {
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return false
		}
		switch b.Type {
		case "PRIVATE KEY":
			_, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			return err == nil
		case "RSA PRIVATE KEY":
			_, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			return err == nil
		case "EC PRIVATE KEY":
			_, err := x509.ParseECPrivateKey(b.Bytes)
			return err == nil
		}
	}
}

package resource

import (
	"crypto"
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

// errMatchCertKey is Portico's own text. APISIX accepts a key that parses but
// belongs to another certificate (ssl.lua: "TODO: check if key & cert
// match"), and nginx then fails every handshake for the SNI.
const errMatchCertKey = "failed to match cert and key: the private key is not the key of the certificate"

// checkCertKey parses a PEM certificate (chain) and, when withKey, its
// private key, and checks that the key is the one of the chain's first
// (leaf) certificate, as OpenSSL does when it loads the pair. It returns
// APISIX's message or "". A key not starting with "---" is AES-encrypted
// with the keyring (spec 2.1) and cannot be checked here: decrypting it
// (resource/keyring) is the caller's job.
func checkCertKey(cert, key string, withKey bool) string {
	leaf := parsePEMCert(cert)
	if leaf == nil {
		return errParseCert
	}
	if !withKey || !strings.HasPrefix(key, "---") {
		return ""
	}
	priv := parsePEMKey(key)
	if priv == nil {
		return errParseKey
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(priv.Public()) {
		return errMatchCertKey
	}
	return ""
}

// parsePEMCert returns the first certificate of a PEM chain, or nil when
// the chain holds none or one of its certificates does not parse.
func parsePEMCert(s string) *x509.Certificate {
	rest := []byte(s)
	var leaf *x509.Certificate
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return leaf
		}
		if b.Type != "CERTIFICATE" && b.Type != "TRUSTED CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil
		}
		if leaf == nil {
			leaf = c
		}
	}
}

// parsePEMKey returns the first private key block of s, or nil when that
// block does not parse or there is none. Other blocks (EC PARAMETERS) are
// skipped, as OpenSSL does.
func parsePEMKey(s string) interface{ Public() crypto.PublicKey } {
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil
		}
		var key any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		signer, ok := key.(interface{ Public() crypto.PublicKey })
		if err != nil || !ok {
			return nil
		}
		return signer
	}
}

package resource

import "testing"

func TestSSLValidate(t *testing.T) {
	cert, key := testPair(t)
	c, k := jstr(cert), jstr(key)
	badCert := jstr(fakePEM("CERTIFICATE", 200))
	runCases(t, SSLs, []vcase{
		{"server sni", `{"cert":` + c + `,"key":` + k + `,"sni":"test.example.com"}`, ""},
		{"server snis", `{"type":"server","cert":` + c + `,"key":` + k + `,"snis":["*.example.com","a.com"],"status":0,"ssl_protocols":["TLSv1.2","TLSv1.3"]}`, ""},
		{"client type", `{"type":"client","cert":` + c + `,"key":` + k + `}`, ""},
		{"extra pairs", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","certs":[` + c + `],"keys":[` + k + `]}`, ""},
		{"mtls", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","client":{"ca":` + c + `,"depth":2,"skip_mtls_uri_regex":["/health"]}}`, ""},
		{"encrypted key", `{"cert":` + c + `,"key":"` + repeat("QUJD", 40) + `","sni":"a.com"}`, ""},
		{"secret refs", `{"cert":"$secret://vault/1/cert` + repeat("x", 128) + `","key":"$env://SSL_KEY` + repeat("x", 64) + `","sni":"a.com"}`, ""},

		{"server without sni", `{"cert":` + c + `,"key":` + k + `}`, ic + "then clause did not match"},
		{"server with sni and snis", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","snis":["b.com"]}`, ic + "then clause did not match"},
		{"server without key", `{"cert":` + c + `,"sni":"a.com"}`, ic + "then clause did not match"},
		{"client without key", `{"type":"client","cert":` + c + `}`, ic + "else clause did not match"},
		{"type enum", `{"type":"peer","cert":` + c + `,"key":` + k + `}`, ic + `property "type" validation failed: matches none of the enum values`},
		{"cert short", `{"cert":"-----BEGIN CERTIFICATE-----","key":` + k + `,"sni":"a.com"}`, ic + `property "cert" validation failed: string too short, expected at least 128, got 27`},
		{"key short", `{"cert":` + c + `,"key":"short","sni":"a.com"}`, ic + `property "key" validation failed: string too short, expected at least 64, got 5`},
		{"certs item short", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","certs":["-----BEGIN CERTIFICATE-----"],"keys":[` + k + `]}`, ic + `property "certs" validation failed: failed to validate item 1: string too short, expected at least 128, got 27`},
		{"snis empty", `{"cert":` + c + `,"key":` + k + `,"snis":[]}`, ic + `property "snis" validation failed: expect array to have at least 1 items`},
		{"sni pattern", `{"cert":` + c + `,"key":` + k + `,"sni":"a.*.com"}`, ic + `property "sni" validation failed: failed to match pattern ` + hostPat + ` with "a.*.com"`},
		{"client without ca", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","client":{}}`, ic + `property "client" validation failed: property "ca" is required`},
		{"client depth negative", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","client":{"ca":` + c + `,"depth":-1}}`, ic + `property "client" validation failed: property "depth" validation failed: expected -1 to be at least 0`},
		{"ssl_protocols enum", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","ssl_protocols":["SSLv3"]}`, ic + `property "ssl_protocols" validation failed: failed to validate item 1: matches none of the enum values`},
		{"ssl_protocols too many", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","ssl_protocols":["TLSv1.1","TLSv1.2","TLSv1.3","TLSv1.1"]}`, ic + `property "ssl_protocols" validation failed: expect array to have at most 3 items`},
		{"status enum", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","status":3}`, ic + `property "status" validation failed: matches none of the enum values`},
		{"name not allowed", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","name":"x"}`, ic + "additional properties forbidden, found name"},

		{"cert garbage", `{"cert":` + badCert + `,"key":` + k + `,"sni":"a.com"}`, "failed to parse cert: PEM_read_bio_X509_AUX() failed"},
		{"key garbage", `{"cert":` + c + `,"key":` + jstr(fakePEM("PRIVATE KEY", 80)) + `,"sni":"a.com"}`, "failed to parse key: PEM_read_bio_PrivateKey() failed"},
		{"mismatched pairs", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","certs":[` + c + `]}`, "mismatched number of certs and keys"},
		{"bad extra pair", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","certs":[` + c + `,` + badCert + `],"keys":[` + k + `,` + k + `]}`, "failed to handle cert-key pair[2]: failed to parse cert: PEM_read_bio_X509_AUX() failed"},
		{"bad ca", `{"cert":` + c + `,"key":` + k + `,"sni":"a.com","client":{"ca":` + badCert + `}}`, "failed to validate client_cert: failed to parse cert: PEM_read_bio_X509_AUX() failed"},
	})
	s := mustValidate[SSL](t, SSLs, `{"id":"s1","cert":`+c+`,"key":`+k+`,"snis":["a.com"],"client":{"ca":`+c+`}}`)
	if s.ID != "s1" || s.Cert != cert || s.Key != key || len(s.SNIs) != 1 || s.Client.CA != cert || s.Client.Depth != nil || !s.Enabled() {
		t.Fatalf("%+v", s)
	}
}

package resource

import (
	"fmt"
	"strings"
)

// SSL is an ssls/<id> value: a server certificate selected by SNI, or a
// client certificate for upstream mTLS. Key and Keys may be stored
// AES-encrypted (then they do not start with "---"); GET never returns them.
type SSL struct {
	ID         any               `json:"id,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`

	// Type is server (default) or client.
	Type string `json:"type,omitempty"`
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
	// SNI or SNIs (one is required for type server): host patterns with an
	// optional leading "*.".
	SNI  string   `json:"sni,omitempty"`
	SNIs []string `json:"snis,omitempty"`
	// Certs and Keys are extra pairs (e.g. RSA + ECC); same length.
	Certs  []string   `json:"certs,omitempty"`
	Keys   []string   `json:"keys,omitempty"`
	Client *SSLClient `json:"client,omitempty"`
	// Status is 1 (enabled, the default when nil) or 0.
	Status       *int     `json:"status,omitempty"`
	SSLProtocols []string `json:"ssl_protocols,omitempty"`
}

// SSLClient enables client certificate verification (mTLS) for the SNIs.
type SSLClient struct {
	CA               string   `json:"ca"`
	Depth            *int     `json:"depth,omitempty"` // default 1
	SkipMTLSURIRegex []string `json:"skip_mtls_uri_regex,omitempty"`
}

// Enabled reports whether the certificate is in use (status absent or 1).
func (s *SSL) Enabled() bool { return s.Status == nil || *s.Status == 1 }

func (s *SSL) fixIDs(tree map[string]any) { s.ID = idValue(tree["id"]) }

func validateSSL(obj map[string]any, raw []byte) (any, *Error) {
	changed, err := kindSchemas[SSLs].check(obj)
	if err != nil {
		return nil, err
	}
	if err := checkSSLConf(obj); err != nil {
		return nil, err
	}
	s := new(SSL)
	if err := decodeTyped(obj, raw, changed, s); err != nil {
		return nil, err
	}
	s.fixIDs(obj)
	return s, nil
}

// checkSSLConf is apisix/ssl.lua check_ssl_conf after the schema; each
// pair's key must also belong to its certificate (checkCertKey).
func checkSSLConf(obj map[string]any) *Error {
	cert, _ := obj["cert"].(string)
	key, _ := obj["key"].(string)
	if !isSecretRef(cert) && !isSecretRef(key) {
		if msg := checkCertKey(cert, key, true); msg != "" {
			return checkErr("/cert", msg)
		}
	}
	if obj["type"] == "client" {
		return nil
	}
	certs, _ := obj["certs"].([]any)
	keys, _ := obj["keys"].([]any)
	if len(certs) != len(keys) {
		return checkErr("/certs", "mismatched number of certs and keys")
	}
	for i := range certs {
		c, _ := certs[i].(string)
		k, _ := keys[i].(string)
		if !isSecretRef(c) && !isSecretRef(k) {
			if msg := checkCertKey(c, k, true); msg != "" {
				return checkErr(fmt.Sprintf("/certs/%d", i), fmt.Sprintf("failed to handle cert-key pair[%d]: %s", i+1, msg))
			}
		}
	}
	if client := treeObj(obj, "client"); client != nil {
		ca, _ := client["ca"].(string)
		if !isSecretRef(ca) {
			if msg := checkCertKey(ca, "", false); msg != "" {
				return checkErr("/client/ca", "failed to validate client_cert: "+msg)
			}
		}
	}
	return nil
}

// isSecretRef reports a $secret:// or $env:// reference, resolved at run
// time and so not parsed here.
func isSecretRef(s string) bool {
	return strings.HasPrefix(s, "$secret://") || strings.HasPrefix(strings.ToUpper(s), "$ENV://")
}

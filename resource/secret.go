package resource

import "strings"

// Secret is a secrets/<manager>/<id> value: the connection settings of a
// secret manager. Its stored id is "<manager>/<id>" (vault, aws or gcp);
// the manager selects the schema.
type Secret struct {
	ID string `json:"id,omitempty"`
	// Manager is derived from ID (or given to ValidateSecret); not stored.
	Manager    string `json:"-"`
	CreateTime int64  `json:"create_time,omitempty"`
	UpdateTime int64  `json:"update_time,omitempty"`

	// vault
	URI       string `json:"uri,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	Token     string `json:"token,omitempty"`
	Namespace string `json:"namespace,omitempty"`

	// aws
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	SessionToken    string `json:"session_token,omitempty"`
	Region          string `json:"region,omitempty"` // default us-east-1
	EndpointURL     string `json:"endpoint_url,omitempty"`

	// gcp
	AuthConfig *GCPAuthConfig `json:"auth_config,omitempty"`
	AuthFile   string         `json:"auth_file,omitempty"`
	SSLVerify  *bool          `json:"ssl_verify,omitempty"` // default true
}

// GCPAuthConfig is the inline service-account configuration of a gcp secret.
type GCPAuthConfig struct {
	ClientEmail string   `json:"client_email"`
	PrivateKey  string   `json:"private_key"`
	ProjectID   string   `json:"project_id"`
	TokenURI    string   `json:"token_uri,omitempty"`
	Scope       []string `json:"scope,omitempty"`
	EntriesURI  string   `json:"entries_uri,omitempty"`
}

// SecretManagers lists the supported secret managers.
var SecretManagers = []string{"vault", "aws", "gcp"}

// ValidateSecret validates a secret for an explicit manager (the <manager>
// segment of the etcd key or Admin URL). Validate(Secrets, raw) takes the
// manager from the "<manager>/<id>" id instead.
func ValidateSecret(manager string, raw []byte) (*Secret, error) {
	obj, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	s, verr := validateSecret(manager, obj, raw)
	if verr != nil {
		return nil, verr
	}
	return s, nil
}

func secretManagerOf(obj map[string]any) (string, bool) {
	id, _ := obj["id"].(string)
	m, _, ok := strings.Cut(id, "/")
	return m, ok && m != ""
}

func validateSecret(manager string, obj map[string]any, raw []byte) (*Secret, *Error) {
	if manager == "" {
		var ok bool
		if manager, ok = secretManagerOf(obj); !ok {
			return nil, checkErr("/id", "missing secret type")
		}
	}
	cs, ok := secretSchemas[manager]
	if !ok {
		return nil, checkErr("/id", "invalid secret manager: "+manager)
	}
	changed, err := cs.check(obj)
	if err != nil {
		return nil, err
	}
	s := new(Secret)
	if err := decodeTyped(obj, raw, changed, s); err != nil {
		return nil, err
	}
	s.Manager = manager
	return s, nil
}

package resource

// Upstream is an upstreams/<id> value, also embedded in routes, services
// and stream routes (spec 3.6 upstream, 5). Fields hold what was stored;
// Defaults returns the runtime view.
type Upstream struct {
	// ID is a string (1..64 of [a-zA-Z0-9-_.]) or an int64 >= 1.
	ID         any               `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`

	// Nodes is nil when absent (service discovery); non-nil but empty for
	// "nodes": {} (accepted; the gateway answers 503).
	Nodes Nodes `json:"nodes,omitzero"`
	// Type is the balancer: roundrobin (default), chash, ewma, least_conn.
	// Not an enum in the schema: an unknown type is accepted and fails at
	// runtime, as in APISIX.
	Type string `json:"type,omitempty"`
	// HashOn (chash only): vars (default), header, cookie, consumer,
	// vars_combinations.
	HashOn string `json:"hash_on,omitempty"`
	Key    string `json:"key,omitempty"`

	Checks *HealthCheck `json:"checks,omitempty"`
	// Retries nil means len(nodes)-1; see EffectiveRetries.
	Retries *int `json:"retries,omitempty"`
	// RetryTimeout in seconds; nil or 0 means no limit.
	RetryTimeout *float64 `json:"retry_timeout,omitempty"`
	Timeout      *Timeout `json:"timeout,omitempty"`
	// PassHost: pass (default), node, rewrite (then UpstreamHost is set).
	PassHost     string `json:"pass_host,omitempty"`
	UpstreamHost string `json:"upstream_host,omitempty"`
	// Scheme: http (default; tcp for stream), https, grpc, grpcs, tcp, tls,
	// udp, kafka.
	Scheme        string         `json:"scheme,omitempty"`
	KeepalivePool *KeepalivePool `json:"keepalive_pool,omitempty"`
	TLS           *UpstreamTLS   `json:"tls,omitempty"`

	ServiceName   string         `json:"service_name,omitempty"`
	DiscoveryType string         `json:"discovery_type,omitempty"`
	DiscoveryArgs *DiscoveryArgs `json:"discovery_args,omitempty"`
}

// KeepalivePool overrides the upstream keepalive pool. Zero Size/Requests
// and nil IdleTimeout mean "not set" (defaults 320, 60 s, 1000).
type KeepalivePool struct {
	Size        int      `json:"size,omitempty"`
	IdleTimeout *float64 `json:"idle_timeout,omitempty"`
	Requests    int      `json:"requests,omitempty"`
}

// UpstreamTLS is the client certificate presented to the upstream:
// ClientCert+ClientKey together, or ClientCertID (an ssls/<id> of type
// client). ClientKey may be stored AES-encrypted (not starting with "---").
type UpstreamTLS struct {
	ClientCertID any    `json:"client_cert_id,omitempty"`
	ClientCert   string `json:"client_cert,omitempty"`
	ClientKey    string `json:"client_key,omitempty"`
	// Verify turns on server certificate verification (kafka only);
	// default false.
	Verify *bool `json:"verify,omitempty"`
}

// DiscoveryArgs are passed to the service discovery.
type DiscoveryArgs struct {
	NamespaceID string `json:"namespace_id,omitempty"`
	GroupName   string `json:"group_name,omitempty"`
}

func (u *Upstream) fixIDs(tree map[string]any) {
	if tree == nil {
		return
	}
	u.ID = idValue(tree["id"])
	if u.TLS != nil {
		u.TLS.ClientCertID = idValue(treeObj(tree, "tls")["client_cert_id"])
	}
}

func validateUpstream(obj map[string]any, raw []byte) (any, *Error) {
	// apisix/upstream.lua check_schema: the IPv6 test runs before the schema.
	if err := checkUpstreamPre(obj, ""); err != nil {
		return nil, err
	}
	changed, err := kindSchemas[Upstreams].check(obj)
	if err != nil {
		return nil, err
	}
	if err := checkUpstreamPost(obj, ""); err != nil {
		return nil, err
	}
	u := new(Upstream)
	if err := decodeTyped(obj, raw, changed, u); err != nil {
		return nil, err
	}
	u.fixIDs(obj)
	return u, nil
}

// checkInlineUpstream runs the upstream checks the schema cannot express on
// the `upstream` object embedded in a route, service or stream route.
func checkInlineUpstream(obj map[string]any) *Error {
	up := treeObj(obj, "upstream")
	if up == nil {
		return nil
	}
	if err := checkUpstreamPre(up, "/upstream"); err != nil {
		return err
	}
	return checkUpstreamPost(up, "/upstream")
}

package resource

// Route is a routes/<id> value (spec 3.6 route).
type Route struct {
	// ID is a string (1..64 of [a-zA-Z0-9-_.]) or an int64 >= 1.
	ID         any               `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`

	URI         string   `json:"uri,omitempty"`
	URIs        []string `json:"uris,omitempty"`
	Host        string   `json:"host,omitempty"`
	Hosts       []string `json:"hosts,omitempty"`
	Methods     []string `json:"methods,omitempty"`
	RemoteAddr  string   `json:"remote_addr,omitempty"`
	RemoteAddrs []string `json:"remote_addrs,omitempty"`
	// Vars is a lua-resty-expr expression (spec 4.4); numbers are float64.
	Vars       []any  `json:"vars,omitempty"`
	FilterFunc string `json:"filter_func,omitempty"`
	// Priority defaults to 0.
	Priority int `json:"priority,omitempty"`
	// Status is 1 (enabled, the default when nil) or 0.
	Status *int `json:"status,omitempty"`

	Plugins         Plugins   `json:"plugins,omitempty"`
	PluginConfigID  any       `json:"plugin_config_id,omitempty"`
	ServiceID       any       `json:"service_id,omitempty"`
	UpstreamID      any       `json:"upstream_id,omitempty"`
	Upstream        *Upstream `json:"upstream,omitempty"`
	Timeout         *Timeout  `json:"timeout,omitempty"`
	EnableWebsocket *bool     `json:"enable_websocket,omitempty"`
	Script          string    `json:"script,omitempty"`
	ScriptID        any       `json:"script_id,omitempty"`
}

// Enabled reports whether the route takes part in routing (status absent or 1).
func (r *Route) Enabled() bool { return r.Status == nil || *r.Status == 1 }

func (r *Route) fixIDs(tree map[string]any) {
	r.ID = idValue(tree["id"])
	r.PluginConfigID = idValue(tree["plugin_config_id"])
	r.ServiceID = idValue(tree["service_id"])
	r.UpstreamID = idValue(tree["upstream_id"])
	r.ScriptID = idValue(tree["script_id"])
	if r.Upstream != nil {
		r.Upstream.fixIDs(treeObj(tree, "upstream"))
	}
}

func validateRoute(obj map[string]any, raw []byte) (any, *Error) {
	// Checked before the schema, with texts of their own (admin/routes.lua).
	if luaTruthy(obj, "host") && luaTruthy(obj, "hosts") {
		return nil, checkErr("", "only one of host or hosts is allowed")
	}
	if luaTruthy(obj, "remote_addr") && luaTruthy(obj, "remote_addrs") {
		return nil, checkErr("", "only one of remote_addr or remote_addrs is allowed")
	}
	changed, err := kindSchemas[Routes].check(obj)
	if err != nil {
		return nil, err
	}
	if err := checkInlineUpstream(obj); err != nil {
		return nil, err
	}
	if vars, ok := obj["vars"].([]any); ok {
		if err := checkVars(vars); err != nil {
			return nil, err
		}
	}
	r := new(Route)
	if err := decodeTyped(obj, raw, changed, r); err != nil {
		return nil, err
	}
	r.fixIDs(obj)
	return r, nil
}

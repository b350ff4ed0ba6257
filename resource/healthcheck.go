package resource

// HealthCheck is upstream.checks: active probing (required) and optional
// passive observation of real traffic. Unset fields take the defaults
// listed on each field; Defaults fills them.
type HealthCheck struct {
	Active  *ActiveCheck  `json:"active,omitempty"`
	Passive *PassiveCheck `json:"passive,omitempty"`
}

// ActiveCheck probes every target periodically.
type ActiveCheck struct {
	Type        string   `json:"type,omitempty"`        // http (default), https, tcp
	Timeout     *float64 `json:"timeout,omitempty"`     // seconds, default 1
	Concurrency *int     `json:"concurrency,omitempty"` // default 10
	Host        string   `json:"host,omitempty"`
	Port        int      `json:"port,omitempty"`        // overrides the node port
	HTTPPath    string   `json:"http_path,omitempty"`   // default "/"
	HTTPMethod  string   `json:"http_method,omitempty"` // default GET
	// HTTPReqBody defaults to "".
	HTTPReqBody            string           `json:"http_req_body,omitempty"`
	HTTPSVerifyCertificate *bool            `json:"https_verify_certificate,omitempty"` // default true
	ReqHeaders             []string         `json:"req_headers,omitempty"`
	Healthy                *ActiveHealthy   `json:"healthy,omitempty"`
	Unhealthy              *ActiveUnhealthy `json:"unhealthy,omitempty"`
}

// ActiveHealthy: Successes consecutive good probes mark a target healthy.
// Zero means unset (every field has minimum 1).
type ActiveHealthy struct {
	Interval     int   `json:"interval,omitempty"`      // seconds, default 1
	HTTPStatuses []int `json:"http_statuses,omitempty"` // default [200, 302]
	Successes    int   `json:"successes,omitempty"`     // 1..254, default 2
}

// ActiveUnhealthy: thresholds that mark a target unhealthy. Zero means unset.
type ActiveUnhealthy struct {
	Interval     int   `json:"interval,omitempty"`      // default 1
	HTTPStatuses []int `json:"http_statuses,omitempty"` // default [429 404 500 501 502 503 504 505]
	HTTPFailures int   `json:"http_failures,omitempty"` // 1..254, default 5
	TCPFailures  int   `json:"tcp_failures,omitempty"`  // 1..254, default 2
	Timeouts     int   `json:"timeouts,omitempty"`      // 1..254, default 3
}

// PassiveCheck judges targets by the responses of proxied requests.
type PassiveCheck struct {
	Type      string            `json:"type,omitempty"` // http (default), https, tcp
	Healthy   *PassiveHealthy   `json:"healthy,omitempty"`
	Unhealthy *PassiveUnhealthy `json:"unhealthy,omitempty"`
}

// PassiveHealthy: counters may be 0, so unset is nil.
type PassiveHealthy struct {
	HTTPStatuses []int `json:"http_statuses,omitempty"` // default 200-208, 226, 300-308
	Successes    *int  `json:"successes,omitempty"`     // 0..254, default 5
}

// PassiveUnhealthy: counters may be 0, so unset is nil.
type PassiveUnhealthy struct {
	HTTPStatuses []int `json:"http_statuses,omitempty"` // default [429 500 503]
	TCPFailures  *int  `json:"tcp_failures,omitempty"`  // 0..254, default 2
	Timeouts     *int  `json:"timeouts,omitempty"`      // 0..254, default 7
	HTTPFailures *int  `json:"http_failures,omitempty"` // 0..254, default 5
}

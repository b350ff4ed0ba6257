package resource

// Runtime defaults of an upstream (spec 3.6, 5). They are never written
// into stored values: Validate returns what was sent, Defaults the view the
// balancer and proxy use.
const (
	DefaultUpstreamType     = "roundrobin"
	DefaultHashOn           = "vars"
	DefaultPassHost         = "pass"
	DefaultScheme           = "http"
	DefaultStreamScheme     = "tcp"
	DefaultKeepaliveSize    = 320
	DefaultKeepaliveIdle    = 60.0
	DefaultKeepaliveRequest = 1000
)

// Defaults returns a deep copy of u with APISIX's runtime defaults filled in
// (HTTP subsystem): type roundrobin, hash_on vars, pass_host pass, scheme
// http; node ports 80 (http, grpc) or 443 (https, grpcs) when missing;
// keepalive_pool, tls and checks sub-fields when those objects are present.
// Retries, RetryTimeout and Timeout stay nil (see EffectiveRetries; nil
// timeouts fall back to the route's, then nginx's 60 s).
func (u *Upstream) Defaults() Upstream { return u.defaults(false) }

// StreamDefaults is Defaults for the stream (L4) subsystem, where an unset
// or "http" scheme means tcp (and nodes then need their own ports).
func (u *Upstream) StreamDefaults() Upstream { return u.defaults(true) }

func (u *Upstream) defaults(stream bool) Upstream {
	d := u.clone()
	if d.Type == "" {
		d.Type = DefaultUpstreamType
	}
	if d.HashOn == "" {
		d.HashOn = DefaultHashOn
	}
	if d.PassHost == "" {
		d.PassHost = DefaultPassHost
	}
	if d.Scheme == "" {
		d.Scheme = DefaultScheme
	}
	if stream && d.Scheme == "http" {
		d.Scheme = DefaultStreamScheme
	}
	d.fillCommonDefaults()
	return d
}

// EffectiveRetries is the number of retries for an upstream with nodeCount
// nodes: Retries when set, else nodeCount-1 (0 for a single node).
func (u *Upstream) EffectiveRetries(nodeCount int) int {
	if u.Retries != nil {
		return *u.Retries
	}
	if nodeCount <= 1 {
		return 0
	}
	return nodeCount - 1
}

// DefaultPort is the port used for a node without one under scheme, or 0
// when the scheme has none (tcp, udp, tls, kafka: the node needs a port).
func DefaultPort(scheme string) int {
	switch scheme {
	case "", "http", "grpc":
		return 80
	case "https", "grpcs":
		return 443
	}
	return 0
}

func (d *Upstream) fillCommonDefaults() {
	for i := range d.Nodes {
		if d.Nodes[i].Port == 0 {
			d.Nodes[i].Port = DefaultPort(d.Scheme)
		}
	}
	if kp := d.KeepalivePool; kp != nil {
		if kp.Size == 0 {
			kp.Size = DefaultKeepaliveSize
		}
		if kp.IdleTimeout == nil {
			kp.IdleTimeout = ptr(DefaultKeepaliveIdle)
		}
		if kp.Requests == 0 {
			kp.Requests = DefaultKeepaliveRequest
		}
	}
	if d.TLS != nil && d.TLS.Verify == nil {
		d.TLS.Verify = ptr(false)
	}
	if d.Checks != nil {
		d.Checks.fillDefaults()
	}
}

func (h *HealthCheck) fillDefaults() {
	if a := h.Active; a != nil {
		if a.Type == "" {
			a.Type = "http"
		}
		if a.Timeout == nil {
			a.Timeout = ptr(1.0)
		}
		if a.Concurrency == nil {
			a.Concurrency = ptr(10)
		}
		if a.HTTPPath == "" {
			a.HTTPPath = "/"
		}
		if a.HTTPMethod == "" {
			a.HTTPMethod = "GET"
		}
		if a.HTTPSVerifyCertificate == nil {
			a.HTTPSVerifyCertificate = ptr(true)
		}
		if a.Healthy == nil {
			a.Healthy = &ActiveHealthy{}
		}
		setInt(&a.Healthy.Interval, 1)
		setInts(&a.Healthy.HTTPStatuses, 200, 302)
		setInt(&a.Healthy.Successes, 2)
		if a.Unhealthy == nil {
			a.Unhealthy = &ActiveUnhealthy{}
		}
		setInt(&a.Unhealthy.Interval, 1)
		setInts(&a.Unhealthy.HTTPStatuses, 429, 404, 500, 501, 502, 503, 504, 505)
		setInt(&a.Unhealthy.HTTPFailures, 5)
		setInt(&a.Unhealthy.TCPFailures, 2)
		setInt(&a.Unhealthy.Timeouts, 3)
	}
	if p := h.Passive; p != nil {
		if p.Type == "" {
			p.Type = "http"
		}
		if p.Healthy == nil {
			p.Healthy = &PassiveHealthy{}
		}
		setInts(&p.Healthy.HTTPStatuses, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
			300, 301, 302, 303, 304, 305, 306, 307, 308)
		setIntPtr(&p.Healthy.Successes, 5)
		if p.Unhealthy == nil {
			p.Unhealthy = &PassiveUnhealthy{}
		}
		setInts(&p.Unhealthy.HTTPStatuses, 429, 500, 503)
		setIntPtr(&p.Unhealthy.TCPFailures, 2)
		setIntPtr(&p.Unhealthy.Timeouts, 7)
		setIntPtr(&p.Unhealthy.HTTPFailures, 5)
	}
}

func ptr[T any](v T) *T { return &v }

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setIntPtr(p **int, v int) {
	if *p == nil {
		*p = ptr(v)
	}
}

func setInts(p *[]int, v ...int) {
	if len(*p) == 0 {
		*p = v
	}
}

package resource

import "slices"

// clone deep-copies u so Defaults never aliases the stored object.
func (u *Upstream) clone() Upstream {
	d := *u
	if u.Nodes != nil {
		d.Nodes = make(Nodes, len(u.Nodes))
		copy(d.Nodes, u.Nodes) // Metadata maps are shared: read-only
	}
	if u.Labels != nil {
		d.Labels = make(map[string]string, len(u.Labels))
		for k, v := range u.Labels {
			d.Labels[k] = v
		}
	}
	d.Retries = clonePtr(u.Retries)
	d.RetryTimeout = clonePtr(u.RetryTimeout)
	d.Timeout = clonePtr(u.Timeout)
	d.DiscoveryArgs = clonePtr(u.DiscoveryArgs)
	if u.KeepalivePool != nil {
		kp := *u.KeepalivePool
		kp.IdleTimeout = clonePtr(kp.IdleTimeout)
		d.KeepalivePool = &kp
	}
	if u.TLS != nil {
		t := *u.TLS
		t.Verify = clonePtr(t.Verify)
		d.TLS = &t
	}
	if u.Checks != nil {
		d.Checks = u.Checks.clone()
	}
	return d
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func (h *HealthCheck) clone() *HealthCheck {
	out := &HealthCheck{}
	if a := h.Active; a != nil {
		c := *a
		c.Timeout = clonePtr(a.Timeout)
		c.Concurrency = clonePtr(a.Concurrency)
		c.HTTPSVerifyCertificate = clonePtr(a.HTTPSVerifyCertificate)
		c.ReqHeaders = slices.Clone(a.ReqHeaders)
		if a.Healthy != nil {
			hh := *a.Healthy
			hh.HTTPStatuses = slices.Clone(hh.HTTPStatuses)
			c.Healthy = &hh
		}
		if a.Unhealthy != nil {
			uh := *a.Unhealthy
			uh.HTTPStatuses = slices.Clone(uh.HTTPStatuses)
			c.Unhealthy = &uh
		}
		out.Active = &c
	}
	if p := h.Passive; p != nil {
		c := *p
		if p.Healthy != nil {
			hh := *p.Healthy
			hh.HTTPStatuses = slices.Clone(hh.HTTPStatuses)
			hh.Successes = clonePtr(hh.Successes)
			c.Healthy = &hh
		}
		if p.Unhealthy != nil {
			uh := *p.Unhealthy
			uh.HTTPStatuses = slices.Clone(uh.HTTPStatuses)
			uh.TCPFailures = clonePtr(uh.TCPFailures)
			uh.Timeouts = clonePtr(uh.Timeouts)
			uh.HTTPFailures = clonePtr(uh.HTTPFailures)
			c.Unhealthy = &uh
		}
		out.Passive = &c
	}
	return out
}

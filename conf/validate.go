package conf

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Validate runs the checks that span several keys (roles and providers, etcd hosts,
// admin keys, address lists, port conflicts) on the typed, derived Config. Load and
// Parse already call it; call it again after changing a Config by hand. The error is an
// ErrorList naming the user file and the dotted path of each problem.
func (c *Config) Validate() error {
	e := &errs{file: c.name}
	c.validateDeployment(e)
	c.validateAdmin(e)
	c.validateAPISIX(e)
	c.validateNginx(e)
	c.validateMisc(e)
	c.validatePorts(e)
	return e.err()
}

// providersByRole is cli/schema.lua's per-role config_provider enum.
var providersByRole = map[string][]string{
	"traditional":   {"etcd", "yaml"},
	"control_plane": {"etcd"},
	"data_plane":    {"etcd", "yaml", "json", "xds"},
	"standalone":    {"yaml"},
}

func (c *Config) validateDeployment(e *errs) {
	d := c.Deployment
	if allowed, ok := providersByRole[d.Role]; ok && !slices.Contains(allowed, d.ConfigProvider) {
		e.add(path("deployment").key("role_"+d.Role).key("config_provider"),
			"must be one of %s for role %s, got %q", strings.Join(allowed, ", "), d.Role, d.ConfigProvider)
	}

	p := path("deployment.etcd")
	for i, h := range d.Etcd.Host {
		u, err := url.Parse(h)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			e.add(p.key("host").index(i), `failed to match pattern "^https?://" with %q`, h)
		}
	}
	if d.ConfigProvider != "etcd" {
		return
	}
	if len(d.Etcd.Host) == 0 {
		e.add(p.key("host"), "must list at least one etcd URL")
	}
	if !strings.HasPrefix(d.Etcd.Prefix, "/") {
		e.add(p.key("prefix"), "must start with /, got %q", d.Etcd.Prefix)
	}
	if (d.Etcd.TLS.Cert == "") != (d.Etcd.TLS.Key == "") {
		e.add(p.key("tls"), "cert and key must be set together")
	}
}

func (c *Config) validateAdmin(e *errs) {
	a := c.Deployment.Admin
	p := path("deployment.admin")
	for i, k := range a.AdminKey {
		kp := p.key("admin_key").index(i)
		if k.Name == "" {
			e.add(kp.key("name"), "is required")
		}
		if k.Role == "" {
			e.add(kp.key("role"), "is required (admin or viewer)")
		}
		// Refused in every entry and every role, even with the Admin API off: a config
		// carrying it is one edit away from CVE-2020-13945. The value is public, but it
		// is still not echoed, like every other key.
		if k.Key == historicalAdminKey {
			e.add(kp.key("key"), "is the Admin API key published in APISIX's documentation "+
				"(CVE-2020-13945) and anyone can use it: replace it with a random key of your own, "+
				`or set it to "" and portico init/start writes a random one into the config file`)
		}
	}
	checkAddrs(e, p.key("allow_admin"), a.AllowAdmin, false)

	if !c.APISIX.EnableAdmin {
		return
	}
	// ops.lua: the token check is skipped for the default loopback-only allow list and
	// when admin_key_required is false; otherwise there must be at least one key entry.
	// (An admin entry with key "" is fine: GenerateAdminKeys fills it.)
	defaultAllow := len(a.AllowAdmin) == 1 && a.AllowAdmin[0] == "127.0.0.0/24"
	if !defaultAllow && a.AdminKeyRequired && len(a.AdminKey) == 0 {
		e.add(p.key("admin_key"), "missing valid Admin API token: allow_admin admits more than 127.0.0.0/24 and admin_key_required is true")
	}
	// APISIX generates keys for role admin only and leaves an empty viewer key empty,
	// where it matches a request sending an empty X-API-KEY. Portico refuses it.
	for i, k := range a.AdminKey {
		if a.AdminKeyRequired && k.Role == "viewer" && k.Key == "" {
			e.add(p.key("admin_key").index(i).key("key"), "is empty: keys are generated for role admin only; "+
				"give this viewer a key of its own (an empty key would admit requests that send an empty one)")
		}
	}
	if a.HTTPSAdmin && (a.AdminAPIMTLS.AdminSSLCert == "" || a.AdminAPIMTLS.AdminSSLCertKey == "") {
		e.add(p.key("admin_api_mtls"), "missing ssl cert for https admin (admin_ssl_cert and admin_ssl_cert_key)")
	}
}

func (c *Config) validateAPISIX(e *errs) {
	a := c.APISIX
	p := path("apisix")
	for i, k := range a.DataEncryption.Keyring {
		if n := len(k); n != 16 && n != 32 {
			e.add(p.key("data_encryption.keyring").index(i), "must be 16 or 32 characters, got %d", n)
		}
	}
	for i, r := range a.DNSResolver {
		host := r
		if h, port, err := net.SplitHostPort(r); err == nil {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				e.add(p.key("dns_resolver").index(i), "invalid port in %q", r)
				continue
			}
			host = h
		}
		if net.ParseIP(strings.Trim(host, "[]")) == nil {
			e.add(p.key("dns_resolver").index(i), `must be "ip" or "ip:port", got %q`, r)
		}
	}
}

func (c *Config) validateNginx(e *errs) {
	n := c.NginxConfig
	p := path("nginx_config")
	if f := strings.Fields(n.User); len(f) > 2 || (n.User != "" && len(f) == 0) {
		e.add(p.key("user"), `must be "user" or "user group", got %q`, n.User)
	}
	for i, env := range n.Envs {
		if env == "" || strings.ContainsFunc(env, unicode.IsControl) {
			e.add(p.key("envs").index(i), "must be a non-empty string without control characters")
		}
	}
	checkAddrs(e, p.key("http.real_ip_from"), n.HTTP.RealIPFrom, true)
	for _, name := range sortedKeys(n.HTTP.SharedDicts) {
		if n.HTTP.SharedDicts[name] <= 0 {
			e.add(p.key("http.lua_shared_dict").key(name), "size must be positive")
		}
	}
}

func (c *Config) validateMisc(e *errs) {
	for _, l := range []struct {
		p     path
		names []string
	}{{"plugins", c.Plugins}, {"stream_plugins", c.StreamPlugins}} {
		for i, name := range l.names {
			if name == "" {
				e.add(l.p.index(i), "plugin name must not be empty")
			}
		}
	}
	if len(c.ExtPlugin.Cmd) > 0 && c.ExtPlugin.Cmd[0] == "" {
		e.add("ext-plugin.cmd[0]", "the runner's executable must not be empty")
	}
	if p := c.ExtPlugin.PathForTest; strings.HasPrefix(p, "unix:") {
		e.add("ext-plugin.path_for_test", "must be a plain path without \"unix:\", got %q", p)
	} else if len(p) > MaxSocketPath {
		e.add("ext-plugin.path_for_test", "a unix socket path is at most %d bytes, got %d", MaxSocketPath, len(p))
	}
	if t := c.TestOnly; t.SlowPath != "" && !strings.HasPrefix(t.SlowPath, "/") {
		e.add("test_only.slow_path", "must start with /, got %q", t.SlowPath)
	}
}

// checkAddrs checks a list of IPs or CIDRs; allowUnix also admits "unix:" (real_ip_from).
func checkAddrs(e *errs, p path, addrs []string, allowUnix bool) {
	for i, a := range addrs {
		if allowUnix && a == "unix:" {
			continue
		}
		if _, err := netip.ParsePrefix(a); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(a); err == nil {
			continue
		}
		e.add(p.index(i), "invalid IP or CIDR %q", a)
	}
}

// validatePorts is ops.lua's conflict check: the admin, status, control and prometheus
// servers need distinct ports, and no HTTP or HTTPS listener may use one of them. Portico
// also rejects an HTTPS listener that overlaps an HTTP one, which nginx would refuse to
// bind.
func (c *Config) validatePorts(e *errs) {
	type service struct {
		name string
		p    path
		port int
	}
	var services []service
	if c.APISIX.EnableAdmin {
		services = append(services, service{"admin", "deployment.admin.admin_listen.port", c.Deployment.Admin.AdminListen.Port})
	}
	if s := c.APISIX.Status; s != nil {
		services = append(services, service{"status", "apisix.status.port", s.Port})
	}
	if c.APISIX.EnableControl {
		services = append(services, service{"control", "apisix.control.port", c.APISIX.Control.Port})
	}
	if pr := c.PluginAttr.Prometheus; pr.EnableExportServer {
		services = append(services, service{"prometheus", "plugin_attr.prometheus.export_addr.port", pr.ExportAddr.Port})
	}

	taken := map[int]string{}
	for _, s := range services {
		if other, ok := taken[s.port]; ok {
			e.add(s.p, "%s port %d conflicts with %s", s.name, s.port, other)
			continue
		}
		taken[s.port] = s.name
	}
	for i, l := range c.APISIX.NodeListen {
		if other, ok := taken[l.Port]; ok {
			e.add(path("apisix.node_listen").index(i), "node_listen port %d conflicts with %s", l.Port, other)
		}
	}
	if !c.APISIX.SSL.Enable {
		return
	}
	for i, l := range c.APISIX.SSL.Listen {
		p := path("apisix.ssl.listen").index(i).key("port")
		if other, ok := taken[l.Port]; ok {
			e.add(p, "ssl listen port %d conflicts with %s", l.Port, other)
			continue
		}
		for _, h := range c.APISIX.NodeListen {
			if h.Port == l.Port && overlaps(h.IP, l.IP) {
				e.add(p, "ssl listen port %d conflicts with node_listen %s", l.Port, h)
				break
			}
		}
	}
}

// overlaps reports whether two listen IPs of the same family would claim the same socket
// address (IPv6 wildcards are bound IPv6-only, as nginx does, so they never cover IPv4).
func overlaps(a, b string) bool {
	x, errA := netip.ParseAddr(a)
	y, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return a == b
	}
	x, y = x.Unmap(), y.Unmap()
	return x.Is4() == y.Is4() && (x == y || x.IsUnspecified() || y.IsUnspecified())
}

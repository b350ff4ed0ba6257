package worker

import (
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"

	"github.com/portico-gw/portico/worker/balancer"
)

// reqVars answers nginx/APISIX variable lookups ($remote_addr, $arg_x,
// $http_x, $cookie_x, $uri_param_x, ...) for route `vars` and chash keys.
// They are recycled: one serves one request at a time, and nothing may keep
// it (or lookup) once the request is served.
type reqVars struct {
	r      *http.Request
	params map[string]string           // uri_param_<name> from parameter routes
	lookup func(string) (string, bool) // get, bound once: a method value per request allocates

	// The balancer's arguments for this request (dataplane.go's Pick).
	pick  balancer.Request
	tried balancer.Tried
	// upstreamStatus is the last try's upstream status; 0 when no upstream
	// answered (the gateway's own 502/504).
	upstreamStatus int
}

var varsPool = sync.Pool{New: func() any {
	v := &reqVars{}
	v.lookup = v.get
	return v
}}

// newReqVars returns the variables of r; release gives them back.
func newReqVars(r *http.Request) *reqVars {
	v := varsPool.Get().(*reqVars)
	v.r = r
	return v
}

func (v *reqVars) release() {
	v.r, v.params = nil, nil
	v.pick, v.tried, v.upstreamStatus = balancer.Request{}, balancer.Tried{}, 0
	varsPool.Put(v)
}

// headerKeys caches $http_x_foo -> "X-Foo": variable names come from the
// configuration, so the set is small and the lookup then allocates nothing.
var headerKeys sync.Map

func headerKey(v string) string {
	if k, ok := headerKeys.Load(v); ok {
		return k.(string)
	}
	k := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(v, "_", "-"))
	headerKeys.Store(v, k)
	return k
}

// queryArg is $arg_<name>: the first value of name in the raw query,
// without parsing the whole query into a map.
func queryArg(raw, name string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != name {
				continue
			}
		}
		if strings.ContainsAny(v, "%+") {
			if uv, err := url.QueryUnescape(v); err == nil {
				return uv, true
			}
		}
		return v, true
	}
	return "", false
}

func (v *reqVars) remoteAddr() string {
	host, _, err := net.SplitHostPort(v.r.RemoteAddr)
	if err != nil {
		return v.r.RemoteAddr
	}
	return host
}

func (v *reqVars) get(name string) (string, bool) {
	r := v.r
	switch name {
	case "remote_addr":
		return v.remoteAddr(), true
	case "remote_port":
		_, port, _ := net.SplitHostPort(r.RemoteAddr)
		return port, port != ""
	case "host":
		return hostOf(r.Host), true
	case "http_host":
		return r.Host, r.Host != ""
	case "uri":
		return r.URL.Path, true
	case "request_uri":
		return r.RequestURI, true
	case "request_method":
		return r.Method, true
	case "args", "query_string":
		return r.URL.RawQuery, r.URL.RawQuery != ""
	case "scheme":
		if r.TLS != nil {
			return "https", true
		}
		return "http", true
	case "server_protocol":
		return r.Proto, true
	}
	switch {
	case strings.HasPrefix(name, "arg_"):
		return queryArg(r.URL.RawQuery, name[4:])
	case strings.HasPrefix(name, "http_"):
		// nginx: $http_x_foo is header X-Foo.
		vals := r.Header[headerKey(name[5:])]
		switch len(vals) {
		case 0:
			return "", false
		case 1:
			return vals[0], true
		}
		return strings.Join(vals, ", "), true
	case strings.HasPrefix(name, "cookie_"):
		c, err := r.Cookie(name[7:])
		if err != nil {
			return "", false
		}
		return c.Value, true
	case strings.HasPrefix(name, "uri_param_"):
		val, ok := v.params[name[10:]]
		return val, ok
	}
	return "", false
}

// hostOf is nginx's $host: the Host header without port, lower-cased.
func hostOf(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(h)
}

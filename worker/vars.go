package worker

import (
	"net"
	"net/http"
	"strings"
)

// reqVars answers nginx/APISIX variable lookups ($remote_addr, $arg_x,
// $http_x, $cookie_x, $uri_param_x, ...) for route `vars` and chash keys.
type reqVars struct {
	r      *http.Request
	params map[string]string // uri_param_<name> from parameter routes
	query  map[string][]string
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
		if v.query == nil {
			v.query = r.URL.Query()
		}
		vals, ok := v.query[name[4:]]
		if !ok || len(vals) == 0 {
			return "", false
		}
		return vals[0], true
	case strings.HasPrefix(name, "http_"):
		// nginx: $http_x_foo is header X-Foo.
		vals := r.Header.Values(strings.ReplaceAll(name[5:], "_", "-"))
		if len(vals) == 0 {
			return "", false
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

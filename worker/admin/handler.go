package admin

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portico-gw/portico/resource/keyring"
)

// MaxBodySize is APISIX's Admin API body limit (1.5 MiB).
const MaxBodySize = 1572864

// Roles of admin keys.
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// Key is one accepted API key.
type Key struct {
	Name, Key, Role string
}

// Config is what a Handler needs. Client is required.
type Config struct {
	Prefix string // etcd prefix, e.g. /apisix
	Client *clientv3.Client

	KeyRequired bool
	Keys        []Key
	// AllowAll disables the peer check; otherwise the TCP peer must be in
	// Allow (an empty list denies everyone).
	AllowAll bool
	Allow    []netip.Prefix
	// Loopback is true when the admin listener is bound to a loopback
	// address: Host and Origin must then name loopback too.
	Loopback   bool
	CORS       bool
	APIVersion string // v3 (default) or v2
	Server     string // the Server header

	Plugins       []string // enabled http plugins
	StreamPlugins []string // enabled stream plugins
	Stream        bool     // proxy_mode includes stream
	// Keyring encrypts plugin fields marked for encryption and private
	// keys (apisix.data_encryption); nil stores them as sent.
	Keyring *keyring.Keyring

	// Reload asks the master for a configuration reload (PUT
	// /apisix/admin/plugins/reload); nil only publishes PREFIX/plugins.
	Reload func() error

	// Timeout bounds each etcd operation (default 5s).
	Timeout time.Duration
	// Now is the clock for create_time/update_time (default time.Now).
	Now func() time.Time
}

// Handler is the Admin API. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	enabled map[string]bool // http plugins
	stream  map[string]bool // stream plugins
}

// New checks cfg and returns its Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Client == nil {
		return nil, fmt.Errorf("admin: an etcd client is required")
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = "v3"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	h := &Handler{cfg: cfg, enabled: map[string]bool{}, stream: map[string]bool{}}
	for _, p := range cfg.Plugins {
		h.enabled[p] = true
	}
	for _, p := range cfg.StreamPlugins {
		h.stream[p] = true
	}
	for i, k := range cfg.Keys {
		if k.Role != RoleAdmin && k.Role != RoleViewer {
			return nil, fmt.Errorf("admin: key %d (%s): unknown role %q", i, k.Name, k.Role)
		}
	}
	return h, nil
}

// ParseAllow turns allow_admin entries (IPs or CIDRs) into prefixes.
func ParseAllow(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("allow_admin: %q is neither an IP nor a CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

const forbiddenPage = "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>APISIX</center>\r\n</body>\r\n</html>\r\n"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	hd := rw.Header()
	hd.Set("Server", h.cfg.Server)
	if !h.peerAllowed(r.RemoteAddr) || !h.originAllowed(r) {
		// nginx's deny page: the request never reaches the API.
		hd.Set("Content-Type", "text/html")
		rw.WriteHeader(http.StatusForbidden)
		io.WriteString(rw, forbiddenPage)
		return
	}
	path := r.URL.EscapedPath()
	if path != "/apisix/admin" && !strings.HasPrefix(path, "/apisix/admin/") {
		writeError(rw, http.StatusNotFound, "not found")
		return
	}
	if h.cfg.CORS {
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Allow-Credentials", "true")
		hd.Set("Access-Control-Expose-Headers", "*")
		hd.Set("Access-Control-Max-Age", "3600")
	}
	if r.Method == http.MethodOptions {
		hd.Set("Access-Control-Allow-Methods", "POST, GET, PUT, OPTIONS, DELETE, PATCH")
		hd.Set("Access-Control-Allow-Headers", "*")
		rw.WriteHeader(http.StatusOK)
		return
	}
	if r.Method == http.MethodHead && (path == "/apisix/admin" || path == "/apisix/admin/") {
		rw.WriteHeader(http.StatusOK)
		return
	}
	hd.Set("Content-Type", "application/json")
	if msg := h.authorize(r); msg != "" {
		writeJSON(rw, http.StatusUnauthorized, map[string]string{"error_msg": "failed to check token", "description": msg})
		return
	}
	body, status, msg := readBody(r)
	if status != 0 {
		writeError(rw, status, msg)
		return
	}
	h.dispatch(rw, r, path, body)
}

// peerAllowed applies allow_admin to the TCP peer.
func (h *Handler) peerAllowed(remote string) bool {
	if h.cfg.AllowAll {
		return true
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range h.cfg.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// originAllowed is the DNS-rebinding and cross-site guard of a loopback
// admin listener.
func (h *Handler) originAllowed(r *http.Request) bool {
	if !h.cfg.Loopback {
		return true
	}
	if !loopbackHost(r.Host) {
		return false
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin) // "null" has no host and is refused
	if err != nil || u.Host == "" {
		return false
	}
	return u.Host == r.Host || loopbackHost(u.Host)
}

// loopbackHost reports whether a Host header value (host[:port]) names a
// loopback address or localhost.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// authorize returns "" when the request may proceed, else APISIX's 401
// description.
func (h *Handler) authorize(r *http.Request) string {
	if !h.cfg.KeyRequired || len(h.cfg.Keys) == 0 {
		return ""
	}
	// APISIX's order is query, header, cookie; a header is checked first
	// here so a key that never leaves the header is the one that counts.
	token := r.Header.Get("X-API-KEY")
	if token == "" {
		token = r.URL.Query().Get("api_key")
	}
	if token == "" {
		if c, err := r.Cookie("x_api_key"); err == nil {
			token = c.Value
		}
	}
	if token == "" {
		return "missing apikey"
	}
	var role string
	for _, k := range h.cfg.Keys {
		// Every key is compared, matched or not, so timing says nothing
		// about which one (or how much of one) matched.
		if k.Key != "" && subtle.ConstantTimeCompare([]byte(token), []byte(k.Key)) == 1 && role == "" {
			role = k.Role
		}
	}
	switch {
	case role == "":
		return "wrong apikey"
	case role == RoleViewer && r.Method != http.MethodGet:
		return "invalid method for role viewer"
	}
	return ""
}

// readBody reads at most MaxBodySize bytes; status != 0 is a refusal.
func readBody(r *http.Request) ([]byte, int, string) {
	tooBig := func(n int64) (int, string) {
		return http.StatusBadRequest, fmt.Sprintf("invalid request body: request size %d is greater than the maximum size %d allowed", n, MaxBodySize)
	}
	if r.ContentLength > MaxBodySize {
		s, m := tooBig(r.ContentLength)
		return nil, s, m
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, 0, ""
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	if err != nil {
		return nil, http.StatusBadRequest, "invalid request body: " + err.Error()
	}
	if len(data) > MaxBodySize {
		// A chunked body has no length up front: count what it really is,
		// bounded, so the message is as APISIX's without reading forever.
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		s, m := tooBig(int64(len(data)) + n)
		return nil, s, m
	}
	return data, 0, ""
}

// writeJSON writes v as JSON plus a newline (APISIX's table bodies).
func writeJSON(rw http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error_msg":"encode response"}`)
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	rw.Write(append(data, '\n'))
}

func writeError(rw http.ResponseWriter, status int, msg string) {
	writeJSON(rw, status, map[string]string{"error_msg": msg})
}

// writeText writes a plain body, as APISIX does for a few answers
// (page_size, plugins/reload).
func writeText(rw http.ResponseWriter, status int, msg string) {
	rw.Header().Set("Content-Type", "text/plain")
	rw.WriteHeader(status)
	io.WriteString(rw, msg)
}

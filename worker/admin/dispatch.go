package admin

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/portico-gw/portico/resource"
)

// methods lists what each resource implements (spec 3.3). A method the
// resource implements but disables answers 405; one it lacks, 404.
type methods struct{ get, put, post, patch, del bool }

var resourceMethods = map[resource.Kind]methods{
	resource.Routes:         {true, true, true, true, true},
	resource.Services:       {true, true, true, true, true},
	resource.Upstreams:      {true, true, true, true, true},
	resource.Consumers:      {true, true, false, false, true},
	resource.Credentials:    {true, true, false, false, true},
	resource.SSLs:           {true, true, true, true, true},
	resource.GlobalRules:    {true, true, false, true, true},
	resource.PluginConfigs:  {true, true, false, true, true},
	resource.ConsumerGroups: {true, true, false, true, true},
	resource.PluginMetadata: {true, true, false, false, true},
	resource.Protos:         {true, true, true, false, true},
	resource.StreamRoutes:   {true, true, true, false, true},
	resource.Secrets:        {true, true, false, true, true},
}

// op is one request on a resource.
type op struct {
	kind     resource.Kind
	id       string // URL id ("" = none); secrets: manager/id
	sub      string // PATCH sub path: "" none, "/" whole object, "/a/b"
	consumer string // credentials: the owning consumer
	body     []byte
	query    url.Values
}

// dir is the etcd directory of o's kind, relative to the prefix.
func (o *op) dir() string {
	if o.kind == resource.Credentials {
		return "consumers/" + o.consumer + "/credentials"
	}
	return string(o.kind)
}

func (h *Handler) key(o *op, id string) string {
	return h.cfg.Prefix + "/" + o.dir() + "/" + id
}

// dispatch routes an authorized request (path is the escaped URL path).
func (h *Handler) dispatch(rw http.ResponseWriter, r *http.Request, path string, body []byte) {
	segs, ok := splitPath(strings.TrimPrefix(path, "/apisix/admin"))
	if !ok {
		writeError(rw, http.StatusBadRequest, "invalid path: a segment is not valid percent-encoding or contains '/'")
		return
	}
	if len(segs) == 0 {
		writeError(rw, http.StatusNotFound, "not found")
		return
	}
	switch segs[0] {
	case "plugins":
		h.servePlugins(rw, r, segs[1:])
		return
	case "schema":
		h.serveSchema(rw, r, segs[1:], body)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch:
	default:
		writeError(rw, http.StatusNotFound, "not found")
		return
	}
	o := &op{kind: resource.Kind(segs[0]), body: body, query: r.URL.Query()}
	rest := segs[1:]
	if o.kind == resource.Consumers && len(rest) >= 2 && rest[1] == "credentials" {
		o.kind, o.consumer, rest = resource.Credentials, rest[0], rest[2:]
	}
	m, ok := resourceMethods[o.kind]
	if !ok || o.kind == resource.Credentials && o.consumer == "" {
		writeError(rw, http.StatusNotFound, "Unsupported resource type: "+segs[0])
		return
	}
	if o.kind == resource.StreamRoutes && !h.cfg.Stream {
		writeError(rw, http.StatusBadRequest, "stream mode is disabled, can not add stream routes")
		return
	}
	if o.kind == resource.Secrets && len(rest) >= 1 {
		// PREFIX/secrets/<manager>/<id>: the id is both segments.
		if len(rest) >= 2 {
			rest = append([]string{rest[0] + "/" + rest[1]}, rest[2:]...)
		} else {
			rest = []string{rest[0] + "/"}
		}
	}
	if len(rest) > 0 {
		o.id = rest[0]
		if len(rest) > 1 {
			o.sub = "/" + strings.Join(rest[1:], "/")
		}
	}
	if o.consumer != "" {
		if err := resource.ValidID(o.consumer); err != nil {
			writeError(rw, http.StatusBadRequest, err.Error())
			return
		}
	}
	allowed := map[string]bool{
		http.MethodGet: m.get, http.MethodPut: m.put, http.MethodPost: m.post,
		http.MethodPatch: m.patch, http.MethodDelete: m.del,
	}[r.Method]
	if !allowed {
		writeError(rw, http.StatusMethodNotAllowed, "not supported `"+r.Method+"` method for "+o.kind.Name())
		return
	}
	rw.Header().Set("X-API-VERSION", h.cfg.APIVersion)
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	var res *result
	switch r.Method {
	case http.MethodGet:
		if o.id == "" {
			res = h.list(ctx, o)
		} else {
			res = h.get(ctx, o)
		}
	case http.MethodPut:
		res = h.put(ctx, o)
	case http.MethodPost:
		res = h.post(ctx, o)
	case http.MethodPatch:
		res = h.patch(ctx, o)
	case http.MethodDelete:
		res = h.del(ctx, o)
	}
	res.write(rw)
}

// splitPath splits an escaped path ("/routes/1") into unescaped segments.
// A trailing slash leaves an empty last segment, which PATCH reads as
// "the whole object". A segment that unescapes to something containing
// '/' is refused: ids never contain it.
func splitPath(p string) ([]string, bool) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil, true
	}
	raw := strings.Split(p, "/")
	out := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil || strings.Contains(u, "/") {
			return nil, false
		}
		out[i] = u
	}
	return out, true
}

// result is an Admin API answer.
type result struct {
	status int
	body   any    // JSON-encoded
	text   string // plain text when body is nil
}

func (res *result) write(rw http.ResponseWriter) {
	if res.body == nil {
		writeText(rw, res.status, res.text)
		return
	}
	writeJSON(rw, res.status, res.body)
}

func errResult(status int, msg string) *result {
	return &result{status: status, body: map[string]string{"error_msg": msg}}
}

func badRequest(msg string) *result { return errResult(http.StatusBadRequest, msg) }

var keyNotFound = &result{status: http.StatusNotFound, body: map[string]string{"message": "Key not found"}}

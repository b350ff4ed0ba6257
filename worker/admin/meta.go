package admin

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/portico-gw/portico/resource"
)

// servePlugins answers /apisix/admin/plugins/... (spec 3.2).
func (h *Handler) servePlugins(rw http.ResponseWriter, r *http.Request, segs []string) {
	if len(segs) == 0 || segs[0] == "" {
		writeError(rw, http.StatusNotFound, "not found")
		return
	}
	switch segs[0] {
	case "reload":
		if r.Method != http.MethodPut {
			writeError(rw, http.StatusMethodNotAllowed, "please use PUT method to reload the plugins, "+r.Method+" method is not allowed.")
			return
		}
		if res := h.reloadPlugins(r.Context()); res != nil {
			res.write(rw)
			return
		}
		writeText(rw, http.StatusOK, "done")
	case "list":
		if r.Method != http.MethodGet {
			writeError(rw, http.StatusNotFound, "not found")
			return
		}
		sub := r.URL.Query().Get("subsystem")
		if sub == "" {
			sub = "http"
		}
		if sub != "http" && sub != "stream" {
			writeText(rw, http.StatusBadRequest, "invalid subsystem passed")
			return
		}
		writeJSON(rw, http.StatusOK, h.pluginList(sub))
	default:
		if r.Method != http.MethodGet {
			writeError(rw, http.StatusNotFound, "not found")
			return
		}
		h.pluginSchema(r, segs[0]).write(rw)
	}
}

// reloadPlugins publishes the enabled plugin lists at PREFIX/plugins (what
// dashboards read) and asks the master to reload: the new generation reads
// config.yaml's plugin lists, with no request lost.
func (h *Handler) reloadPlugins(ctx context.Context) *result {
	type entry struct {
		Name   string `json:"name"`
		Stream bool   `json:"stream,omitempty"`
	}
	var list []entry
	for _, p := range h.pluginList("http") {
		list = append(list, entry{Name: p})
	}
	for _, p := range h.pluginList("stream") {
		list = append(list, entry{Name: p, Stream: true})
	}
	data, _ := json.Marshal(list)
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	if _, err := h.cfg.Client.Put(ctx, h.cfg.Prefix+"/plugins", string(data)); err != nil {
		return etcdError(err)
	}
	if h.cfg.Reload != nil {
		if err := h.cfg.Reload(); err != nil {
			return errResult(http.StatusInternalServerError, "reload: "+err.Error())
		}
	}
	return nil
}

// serveSchema answers /apisix/admin/schema/... (spec 3.2).
func (h *Handler) serveSchema(rw http.ResponseWriter, r *http.Request, segs []string, body []byte) {
	if len(segs) == 0 || segs[0] == "" {
		writeError(rw, http.StatusNotFound, "not found")
		return
	}
	switch {
	case segs[0] == "validate" && len(segs) == 2:
		if r.Method != http.MethodPost {
			writeError(rw, http.StatusNotFound, "not found")
			return
		}
		kind, ok := resource.KindBySchemaName(segs[1])
		if !ok {
			kind = resource.Kind(segs[1]) // "routes" works as well as "route"
		}
		if !kind.Valid() {
			writeError(rw, http.StatusBadRequest, "invalid resource type: "+segs[1])
			return
		}
		if err := resource.CheckSchema(kind, body); err != nil {
			writeError(rw, http.StatusBadRequest, err.Error())
			return
		}
		rw.WriteHeader(http.StatusOK)
	case r.Method != http.MethodGet:
		writeError(rw, http.StatusNotFound, "not found")
	case segs[0] == "plugins" && len(segs) == 2:
		h.pluginSchema(r, segs[1]).write(rw)
	case len(segs) == 1:
		kind, ok := resource.KindBySchemaName(segs[0])
		if !ok {
			if doc := h.pluginsSchema(segs[0]); doc != nil {
				writeRaw(rw, http.StatusOK, doc)
				return
			}
			writeError(rw, http.StatusBadRequest, "not found schema: "+segs[0])
			return
		}
		writeRaw(rw, http.StatusOK, resource.Schema(kind))
	default:
		writeError(rw, http.StatusNotFound, "not found")
	}
}

func writeRaw(rw http.ResponseWriter, status int, doc []byte) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	rw.Write(doc)
	if len(doc) == 0 || doc[len(doc)-1] != '\n' {
		rw.Write([]byte{'\n'})
	}
}

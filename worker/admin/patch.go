package admin

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/portico-gw/portico/resource"
)

// patch merges the body into the stored value (spec 3.4): recursively for
// objects (arrays replace, null deletes), or at a sub path. The result is
// validated like a PUT and written with compare-and-swap on the revision
// that was read.
func (h *Handler) patch(ctx context.Context, o *op) *result {
	if o.id == "" {
		return badRequest("missing " + o.kind.Name() + " id")
	}
	if res := checkURLID(o); res != nil {
		return res
	}
	if len(bytes.TrimSpace(o.body)) == 0 {
		return badRequest("missing new configuration")
	}
	patchTree, err := resource.ParseJSON(o.body)
	if err != nil {
		return invalidBody(err, o.body)
	}
	key := h.key(o, o.id)
	kv, res := h.fetch(ctx, key)
	if res != nil {
		return res
	}
	cur, err := resource.ParseJSON(kv.Value)
	if err != nil {
		return errResult(http.StatusInternalServerError, "stored value is not valid JSON: "+err.Error())
	}
	obj, ok := cur.(map[string]any)
	if !ok {
		return errResult(http.StatusInternalServerError, "stored value is not an object")
	}
	// Merge in plaintext: the checks see what a PUT would, and the
	// write encrypts again.
	h.decryptPlugins(o.kind, obj)
	h.decryptKeys(o.kind, obj)

	refresh := true
	if o.sub == "" || o.sub == "/" {
		p, ok := patchTree.(map[string]any)
		if !ok {
			return badRequest("invalid configuration")
		}
		_, hasUT := p["update_time"]
		refresh = !hasUT
		obj = merge(obj, p)
	} else if res := setAt(obj, o.sub, patchTree); res != nil {
		return res
	}
	if refresh && o.kind != resource.PluginMetadata {
		obj["update_time"] = h.cfg.Now().Unix()
	}
	if o.kind.HasID() {
		if bodyID, ok := obj["id"]; ok && resource.IDString(bodyID) != o.id {
			return badRequest("wrong " + o.kind.Name() + " id")
		}
		obj["id"] = o.id
	}
	if res := h.checkWrite(ctx, o, o.id, obj, true); res != nil {
		return res
	}
	return h.store(ctx, o, key, obj, kv.ModRevision)
}

// merge applies a JSON merge patch: objects merge key by key, any other
// value (arrays included) replaces, null deletes.
func merge(dst, patch map[string]any) map[string]any {
	for k, pv := range patch {
		if pv == nil {
			delete(dst, k)
			continue
		}
		pm, pIsObj := pv.(map[string]any)
		dm, dIsObj := dst[k].(map[string]any)
		if pIsObj && dIsObj {
			dst[k] = merge(dm, pm)
			continue
		}
		if pIsObj {
			// A new object is stored without its nulls, as a merge into
			// an empty object would.
			dst[k] = merge(map[string]any{}, pm)
			continue
		}
		dst[k] = pv
	}
	return dst
}

// setAt replaces the value at sub ("/a/b") with v, creating missing
// intermediate objects.
func setAt(obj map[string]any, sub string, v any) *result {
	parts := strings.Split(strings.Trim(sub, "/"), "/")
	cur := obj
	for i, p := range parts[:len(parts)-1] {
		next, exists := cur[p]
		if !exists || next == nil {
			m := map[string]any{}
			cur[p] = m
			cur = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return badRequest("invalid sub-path: /" + strings.Join(parts[:i+1], "/"))
		}
		cur = m
	}
	cur[parts[len(parts)-1]] = v
	return nil
}

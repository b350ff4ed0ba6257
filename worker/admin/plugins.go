package admin

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/resource/plugins"
)

// pluginList is the enabled plugins of a subsystem, by priority.
func (h *Handler) pluginList(subsystem string) []string {
	if subsystem == "stream" {
		return plugins.Sorted(plugins.Stream, h.cfg.StreamPlugins)
	}
	return plugins.Sorted(plugins.HTTP, h.cfg.Plugins)
}

// pluginSchema answers GET /schema/plugins/<name> and /plugins/<name>.
func (h *Handler) pluginSchema(r *http.Request, name string) *result {
	q := r.URL.Query()
	sub := q.Get("subsystem")
	if sub == "" {
		sub = "http"
	}
	if sub != "http" && sub != "stream" {
		return badRequest("unsupported subsystem: " + sub)
	}
	p, ok := plugins.Lookup(plugins.Subsystem(sub), name)
	enabled := h.enabled
	if sub == "stream" {
		enabled = h.stream
	}
	if !ok || !enabled[name] {
		return errResult(http.StatusNotFound, "plugin not found in subsystem "+sub)
	}
	kind := plugins.Route
	switch q.Get("schema_type") {
	case "consumer":
		kind = plugins.Consumer
	case "metadata":
		kind = plugins.Metadata
	}
	doc, ok := p.SchemaJSON(kind)
	if !ok {
		return badRequest("not found schema")
	}
	return &result{status: http.StatusOK, body: json.RawMessage(doc)}
}

// pluginsSchema serves /schema/plugins (APISIX's schema_def.plugins).
func (h *Handler) pluginsSchema(name string) []byte {
	if name == "plugins" {
		return []byte(`{"type":"object"}`)
	}
	return nil
}

// checkPlugins validates the plugins an object carries against the enabled
// plugins' schemas (route schema, or consumer schema for consumers and
// credentials), and plugin metadata against its plugin's metadata schema.
func (h *Handler) checkPlugins(kind resource.Kind, obj map[string]any) *result {
	if kind == resource.PluginMetadata {
		name, _ := obj["id"].(string)
		conf := make(map[string]any, len(obj))
		for k, v := range obj {
			if k != "id" {
				conf[k] = v
			}
		}
		data, err := encode(conf)
		if err != nil {
			return badRequest(err.Error())
		}
		if err := plugins.CheckMetadata(name, data); err != nil {
			return badRequest(err.Error())
		}
		return nil
	}
	raw, ok := obj["plugins"].(map[string]any)
	if !ok || len(raw) == 0 {
		return nil
	}
	confs := make(map[string]json.RawMessage, len(raw))
	for name, v := range raw {
		data, err := encode(v)
		if err != nil {
			return badRequest(err.Error())
		}
		confs[name] = data
	}
	schema, subsystem, enabled := schemaKind(kind), plugins.HTTP, h.enabled
	if kind == resource.StreamRoutes {
		subsystem, enabled = plugins.Stream, h.stream
	}
	if kind == resource.Credentials {
		for _, name := range slices.Sorted(maps.Keys(raw)) {
			p, ok := plugins.Lookup(plugins.HTTP, name)
			if !ok || !enabled[name] {
				return badRequest("unknown plugin " + name)
			}
			if p.Type != "auth" {
				return badRequest("only supports auth type plugins in consumer credential")
			}
		}
	}
	if err := plugins.CheckPlugins(confs, func(n string) bool { return enabled[n] }, schema, subsystem); err != nil {
		if schema == plugins.Consumer {
			return badRequest("invalid plugins configuration: " + err.Error())
		}
		return badRequest(err.Error())
	}
	return nil
}

// schemaKind is the plugin schema that applies to plugins held by kind.
func schemaKind(kind resource.Kind) plugins.SchemaKind {
	switch kind {
	case resource.Consumers, resource.Credentials:
		return plugins.Consumer
	}
	return plugins.Route
}

func subsystemOf(kind resource.Kind) plugins.Subsystem {
	if kind == resource.StreamRoutes {
		return plugins.Stream
	}
	return plugins.HTTP
}

// pluginConfs returns the plugin configurations of obj that may hold
// encrypted fields (consumers' and credentials' auth confs, and every
// plugins map).
func pluginConfs(obj map[string]any) map[string]map[string]any {
	raw, _ := obj["plugins"].(map[string]any)
	out := make(map[string]map[string]any, len(raw))
	for name, v := range raw {
		if conf, ok := v.(map[string]any); ok {
			out[name] = conf
		}
	}
	return out
}

// encryptPlugins encrypts the fields each plugin marks for encryption.
func (h *Handler) encryptPlugins(kind resource.Kind, obj map[string]any) {
	h.eachEncryptedField(kind, obj, h.cfg.Keyring.EncryptFields)
}

// decryptPlugins undoes encryptPlugins; a field that does not decrypt
// (written in clear, or with a key no longer in the keyring) keeps its
// stored form, as in APISIX.
func (h *Handler) decryptPlugins(kind resource.Kind, obj map[string]any) {
	h.eachEncryptedField(kind, obj, func(conf map[string]any, fields []string) {
		_ = h.cfg.Keyring.DecryptFields(conf, fields) // see above: the stored form stays
	})
}

// eachEncryptedField applies f to each plugin configuration obj holds, with
// the fields its plugin marks for encryption; nothing without a keyring.
func (h *Handler) eachEncryptedField(kind resource.Kind, obj map[string]any, f func(conf map[string]any, fields []string)) {
	if h.cfg.Keyring == nil || kind == resource.PluginMetadata {
		return
	}
	for name, conf := range pluginConfs(obj) {
		if p, ok := plugins.Lookup(subsystemOf(kind), name); ok {
			f(conf, p.EncryptFields(schemaKind(kind)))
		}
	}
}

// privateKeys applies f to every private key obj holds: an SSL's key and
// keys, an upstream's tls.client_key, inline upstreams' too.
func privateKeys(kind resource.Kind, obj map[string]any, f func(string) string) {
	apply := func(m map[string]any, field string) {
		if s, ok := m[field].(string); ok {
			m[field] = f(s)
		}
	}
	switch kind {
	case resource.SSLs:
		apply(obj, "key")
		if keys, ok := obj["keys"].([]any); ok {
			for i, k := range keys {
				if s, ok := k.(string); ok {
					keys[i] = f(s)
				}
			}
		}
	case resource.Upstreams:
		if tls, ok := obj["tls"].(map[string]any); ok {
			apply(tls, "client_key")
		}
	default:
		if up, ok := obj["upstream"].(map[string]any); ok {
			privateKeys(resource.Upstreams, up, f)
		}
	}
}

// encryptKeys encrypts the private keys still in PEM.
func (h *Handler) encryptKeys(kind resource.Kind, obj map[string]any) {
	if h.cfg.Keyring != nil {
		privateKeys(kind, obj, h.cfg.Keyring.EncryptPrivateKey)
	}
}

// decryptKeys turns stored private keys back into PEM (PATCH re-validates
// the merged object); one that does not decrypt stays as stored.
func (h *Handler) decryptKeys(kind resource.Kind, obj map[string]any) {
	if h.cfg.Keyring == nil {
		return
	}
	privateKeys(kind, obj, func(s string) string {
		if plain, err := h.cfg.Keyring.DecryptPrivateKey(s); err == nil {
			return plain
		}
		return s
	})
}

package resource

// Kind names a resource directory under the etcd prefix (spec 2.1), e.g.
// PREFIX/routes/<id>. The string value is the directory name.
type Kind string

// The resource kinds stored in etcd directories.
const (
	Routes         Kind = "routes"
	Services       Kind = "services"
	Upstreams      Kind = "upstreams"
	Consumers      Kind = "consumers"
	ConsumerGroups Kind = "consumer_groups"
	PluginConfigs  Kind = "plugin_configs"
	GlobalRules    Kind = "global_rules"
	SSLs           Kind = "ssls"
	PluginMetadata Kind = "plugin_metadata"
	Protos         Kind = "protos"
	StreamRoutes   Kind = "stream_routes"
	Secrets        Kind = "secrets"

	// Credentials are stored below their consumer
	// (PREFIX/consumers/<username>/credentials/<id>), not in a directory of
	// their own, so Kinds does not list them; Validate and Schema accept them.
	Credentials Kind = "credentials"
)

var kinds = []Kind{
	Routes, Services, Upstreams, Consumers, ConsumerGroups, PluginConfigs,
	GlobalRules, SSLs, PluginMetadata, Protos, StreamRoutes, Secrets,
}

// Kinds returns the etcd resource directories in the order of spec 2.1's
// list. The slice is a fresh copy.
func Kinds() []Kind {
	out := make([]Kind, len(kinds))
	copy(out, kinds)
	return out
}

type kindInfo struct {
	name   string // singular name used in Admin API messages ("global rule")
	schema string // key in APISIX's schema_def / Admin /schema/<name>
	file   string // schema/<file>
}

var kindInfos = map[Kind]kindInfo{
	Routes:         {"route", "route", "route.json"},
	Services:       {"service", "service", "service.json"},
	Upstreams:      {"upstream", "upstream", "upstream.json"},
	Consumers:      {"consumer", "consumer", "consumer.json"},
	ConsumerGroups: {"consumer group", "consumer_group", "consumer_group.json"},
	PluginConfigs:  {"plugin config", "plugin_config", "plugin_config.json"},
	GlobalRules:    {"global rule", "global_rule", "global_rule.json"},
	SSLs:           {"ssl", "ssl", "ssl.json"},
	PluginMetadata: {"plugin metadata", "plugin_metadata", "plugin_metadata.json"},
	Protos:         {"proto", "proto", "proto.json"},
	StreamRoutes:   {"stream route", "stream_route", "stream_route.json"},
	Secrets:        {"secret", "secret", "secret.json"},
	Credentials:    {"credential", "credential", "credential.json"},
}

// Valid reports whether k is a kind this package knows (including Credentials).
func (k Kind) Valid() bool {
	_, ok := kindInfos[k]
	return ok
}

// Name is the singular noun APISIX uses in Admin API messages, e.g.
// "missing global rule id", "wrong plugin config id". Empty for unknown kinds.
func (k Kind) Name() string { return kindInfos[k].name }

// SchemaName is the name under which APISIX serves the kind's schema
// (GET /apisix/admin/schema/<name>): "route", "global_rule", ...
func (k Kind) SchemaName() string { return kindInfos[k].schema }

// KindBySchemaName maps an Admin API schema name ("route", "stream_route",
// "credential", ...) back to its Kind.
func KindBySchemaName(name string) (Kind, bool) {
	for k, info := range kindInfos {
		if info.schema == name {
			return k, true
		}
	}
	return "", false
}

// HasID reports whether values of k carry an "id" field subject to the id
// rules (spec 3.4): every kind except consumers (keyed by username) and
// plugin metadata (keyed by plugin name).
func (k Kind) HasID() bool {
	return k != Consumers && k != PluginMetadata && k.Valid()
}

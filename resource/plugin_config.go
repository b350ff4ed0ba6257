package resource

// PluginConfig is a plugin_configs/<id> value. id and plugins are required;
// name is any string (no length limit, unlike other kinds).
type PluginConfig struct {
	ID         any               `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`
	Plugins    Plugins           `json:"plugins"`
}

func (p *PluginConfig) fixIDs(tree map[string]any) { p.ID = idValue(tree["id"]) }

// GlobalRule is a global_rules/<id> value: only id, plugins and timestamps.
// (That a plugin appears in at most one global rule is checked by the
// Admin API against the stored rules.)
type GlobalRule struct {
	ID         any     `json:"id,omitempty"`
	CreateTime int64   `json:"create_time,omitempty"`
	UpdateTime int64   `json:"update_time,omitempty"`
	Plugins    Plugins `json:"plugins"`
}

func (g *GlobalRule) fixIDs(tree map[string]any) { g.ID = idValue(tree["id"]) }

// Proto is a protos/<id> value: protobuf source for grpc-transcode.
// Compiling Content is the plugin layer's job.
type Proto struct {
	ID         any               `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`
	Content    string            `json:"content"`
}

func (p *Proto) fixIDs(tree map[string]any) { p.ID = idValue(tree["id"]) }

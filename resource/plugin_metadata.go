package resource

import (
	"encoding/json"
)

// PluginMetadataConf is a plugin_metadata/<plugin> value. Its fields follow the
// plugin's own metadata_schema, which the plugin layer checks; here it is
// any object. It is stored with id = plugin name.
type PluginMetadataConf struct {
	// ID is the plugin name.
	ID         string
	CreateTime int64
	UpdateTime int64
	// Fields are all other top-level fields, raw.
	Fields map[string]json.RawMessage
}

// MarshalJSON flattens Fields next to id and the timestamps.
func (m *PluginMetadataConf) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(m.Fields)+3)
	for k, v := range m.Fields {
		out[k] = v
	}
	if m.ID != "" {
		out["id"] = m.ID
	}
	if m.CreateTime != 0 {
		out["create_time"] = m.CreateTime
	}
	if m.UpdateTime != 0 {
		out["update_time"] = m.UpdateTime
	}
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *PluginMetadataConf) UnmarshalJSON(data []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	var head struct {
		ID         string `json:"id"`
		CreateTime int64  `json:"create_time"`
		UpdateTime int64  `json:"update_time"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return err
	}
	m.ID, m.CreateTime, m.UpdateTime = head.ID, head.CreateTime, head.UpdateTime
	delete(all, "id")
	delete(all, "create_time")
	delete(all, "update_time")
	m.Fields = all
	return nil
}

func validatePluginMetadata(obj map[string]any, raw []byte) (any, *Error) {
	changed, err := kindSchemas[PluginMetadata].check(obj)
	if err != nil {
		return nil, err
	}
	m := new(PluginMetadataConf)
	if err := decodeTyped(obj, raw, changed, m); err != nil {
		return nil, err
	}
	return m, nil
}

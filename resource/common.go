package resource

import "encoding/json"

// Timeout is timeout_def: seconds, each > 0, all three required.
type Timeout struct {
	Connect float64 `json:"connect"`
	Send    float64 `json:"send"`
	Read    float64 `json:"read"`
}

// Plugins maps plugin names to their raw configuration. Plugin schemas are
// checked by the plugin layer, not here.
type Plugins = map[string]json.RawMessage

package resource

// Consumer is a consumers/<username> value. It is keyed by Username; the
// id rules do not apply (the Admin API checks URL name == body username:
// "wrong username").
type Consumer struct {
	ID         any               `json:"id,omitempty"`
	Username   string            `json:"username"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`
	GroupID    any               `json:"group_id,omitempty"`
	// Plugins are checked against each plugin's consumer schema by the
	// plugin layer.
	Plugins Plugins `json:"plugins,omitempty"`
}

func (c *Consumer) fixIDs(tree map[string]any) {
	c.ID = idValue(tree["id"])
	c.GroupID = idValue(tree["group_id"])
}

// Credential is a consumers/<username>/credentials/<id> value: at most one
// (auth) plugin.
type Credential struct {
	// ID is an id, or "<username>/credentials/<id>".
	ID         any               `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`
	Plugins    Plugins           `json:"plugins,omitempty"`
}

func (c *Credential) fixIDs(tree map[string]any) { c.ID = idValue(tree["id"]) }

// ConsumerGroup is a consumer_groups/<id> value. id and plugins are required.
type ConsumerGroup struct {
	ID         any               `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`
	Plugins    Plugins           `json:"plugins"`
}

func (c *ConsumerGroup) fixIDs(tree map[string]any) { c.ID = idValue(tree["id"]) }

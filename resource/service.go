package resource

// Service is a services/<id> value (spec 3.6 service). Every field is
// optional; {} is a valid service.
type Service struct {
	// ID is a string (1..64 of [a-zA-Z0-9-_.]) or an int64 >= 1.
	ID         any               `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`

	Plugins         Plugins   `json:"plugins,omitempty"`
	Upstream        *Upstream `json:"upstream,omitempty"`
	UpstreamID      any       `json:"upstream_id,omitempty"`
	Script          string    `json:"script,omitempty"`
	EnableWebsocket *bool     `json:"enable_websocket,omitempty"`
	Hosts           []string  `json:"hosts,omitempty"`
}

func (s *Service) fixIDs(tree map[string]any) {
	s.ID = idValue(tree["id"])
	s.UpstreamID = idValue(tree["upstream_id"])
	if s.Upstream != nil {
		s.Upstream.fixIDs(treeObj(tree, "upstream"))
	}
}

func validateService(obj map[string]any, raw []byte) (any, *Error) {
	changed, err := kindSchemas[Services].check(obj)
	if err != nil {
		return nil, err
	}
	if err := checkInlineUpstream(obj); err != nil {
		return nil, err
	}
	s := new(Service)
	if err := decodeTyped(obj, raw, changed, s); err != nil {
		return nil, err
	}
	s.fixIDs(obj)
	return s, nil
}

package resource

import (
	"encoding/json"
	"net/netip"
	"strings"
)

// StreamRoute is a stream_routes/<id> value (L4 proxy).
type StreamRoute struct {
	ID         any               `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`

	RemoteAddr string          `json:"remote_addr,omitempty"`
	ServerAddr string          `json:"server_addr,omitempty"`
	ServerPort int             `json:"server_port,omitempty"`
	SNI        string          `json:"sni,omitempty"`
	Upstream   *Upstream       `json:"upstream,omitempty"`
	UpstreamID any             `json:"upstream_id,omitempty"`
	ServiceID  any             `json:"service_id,omitempty"`
	Plugins    Plugins         `json:"plugins,omitempty"`
	Protocol   *StreamProtocol `json:"protocol,omitempty"`
}

// StreamProtocol selects an xRPC protocol.
type StreamProtocol struct {
	Name       string          `json:"name"`
	SuperiorID any             `json:"superior_id,omitempty"`
	Conf       json.RawMessage `json:"conf,omitempty"`
	Logger     []StreamLogger  `json:"logger,omitempty"`
}

// StreamLogger is one xRPC logger entry.
type StreamLogger struct {
	Name   string          `json:"name,omitempty"`
	Filter []any           `json:"filter,omitempty"`
	Conf   json.RawMessage `json:"conf,omitempty"`
}

func (s *StreamRoute) fixIDs(tree map[string]any) {
	s.ID = idValue(tree["id"])
	s.UpstreamID = idValue(tree["upstream_id"])
	s.ServiceID = idValue(tree["service_id"])
	if s.Upstream != nil {
		s.Upstream.fixIDs(treeObj(tree, "upstream"))
	}
	if s.Protocol != nil {
		s.Protocol.SuperiorID = idValue(treeObj(tree, "protocol")["superior_id"])
	}
}

func validateStreamRoute(obj map[string]any, raw []byte) (any, *Error) {
	changed, err := kindSchemas[StreamRoutes].check(obj)
	if err != nil {
		return nil, err
	}
	// The schema's IPv6/CIDR pattern is loose (":/8" passes); APISIX then
	// parses the address (stream/router/ip_port.lua).
	for _, f := range [...]string{"remote_addr", "server_addr"} {
		if s, ok := obj[f].(string); ok && !validCIDROrIP(s) {
			return nil, checkErr("/"+f, "invalid "+f+": "+s)
		}
	}
	if err := checkInlineUpstream(obj); err != nil {
		return nil, err
	}
	s := new(StreamRoute)
	if err := decodeTyped(obj, raw, changed, s); err != nil {
		return nil, err
	}
	s.fixIDs(obj)
	return s, nil
}

// validCIDROrIP accepts an IPv4/IPv6 address or CIDR.
func validCIDROrIP(s string) bool {
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return err == nil
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

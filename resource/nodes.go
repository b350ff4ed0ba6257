package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Node is one upstream target.
type Node struct {
	// Host is a domain or IP; IPv6 addresses keep their brackets ("[::1]").
	Host string `json:"host"`
	// Port 0 means "not given": the scheme's default applies (see Defaults).
	Port   int `json:"port,omitempty"`
	Weight int `json:"weight"`
	// Priority groups nodes; higher groups are tried first. Default 0.
	Priority int            `json:"priority,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Nodes is the upstream node list. It unmarshals from both APISIX forms,
// the map {"host:port": weight, ...} (in document order) and the array
// [{host, port, weight, priority, metadata}, ...], and always marshals to
// the array form, which is what APISIX converts the map form to at load.
type Nodes []Node

// UnmarshalJSON implements json.Unmarshaler.
func (ns *Nodes) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0:
		return fmt.Errorf("nodes: empty value")
	case bytes.Equal(data, []byte("null")):
		*ns = nil
		return nil
	case data[0] == '[':
		var arr []nodeJSON
		if err := json.Unmarshal(data, &arr); err != nil {
			return err
		}
		out := make(Nodes, len(arr))
		for i, n := range arr {
			node, err := n.node()
			if err != nil {
				return fmt.Errorf("nodes[%d]: %w", i, err)
			}
			out[i] = node
		}
		*ns = out
		return nil
	case data[0] == '{':
		return ns.unmarshalMap(data)
	}
	return fmt.Errorf("nodes: want an object or an array, got %s", data)
}

// unmarshalMap decodes the map form keeping document order.
func (ns *Nodes) unmarshalMap(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{'
		return err
	}
	out := Nodes{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		addr, _ := tok.(string)
		var w json.Number
		if err := dec.Decode(&w); err != nil {
			return fmt.Errorf("nodes[%q]: weight: %w", addr, err)
		}
		weight, err := intOf(w)
		if err != nil {
			return fmt.Errorf("nodes[%q]: weight: %w", addr, err)
		}
		host, p, hasPort := parseAddr(addr)
		node := Node{Host: host, Weight: weight}
		if hasPort {
			if node.Port, err = parsePort(p); err != nil {
				return err
			}
		}
		out = append(out, node)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return err
	}
	*ns = out
	return nil
}

// nodeJSON is the array-form node as decoded, lenient about integral numbers
// written as 1.0 and about {} vs [] for metadata.
type nodeJSON struct {
	Host     string          `json:"host"`
	Port     json.Number     `json:"port"`
	Weight   json.Number     `json:"weight"`
	Priority json.Number     `json:"priority"`
	Metadata json.RawMessage `json:"metadata"`
}

func (n nodeJSON) node() (Node, error) {
	out := Node{Host: n.Host}
	var err error
	if n.Port != "" {
		if out.Port, err = intOf(n.Port); err != nil {
			return out, fmt.Errorf("port: %w", err)
		}
	}
	if out.Weight, err = intOf(n.Weight); err != nil {
		return out, fmt.Errorf("weight: %w", err)
	}
	if n.Priority != "" {
		if out.Priority, err = intOf(n.Priority); err != nil {
			return out, fmt.Errorf("priority: %w", err)
		}
	}
	if m := bytes.TrimSpace(n.Metadata); len(m) > 0 && !bytes.Equal(m, []byte("null")) && !bytes.Equal(m, []byte("[]")) {
		if err := json.Unmarshal(m, &out.Metadata); err != nil {
			return out, fmt.Errorf("metadata: %w", err)
		}
	}
	return out, nil
}

// intOf converts an integral JSON number (1, 1.0, 1e3) to int.
func intOf(n json.Number) (int, error) {
	if n == "" {
		return 0, nil
	}
	if i, err := strconv.Atoi(string(n)); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || f > math.MaxInt || f < math.MinInt {
		return 0, fmt.Errorf("%s is not an integer", n)
	}
	return int(f), nil
}

// MarshalJSON implements json.Marshaler: always the array form.
func (ns Nodes) MarshalJSON() ([]byte, error) {
	if ns == nil {
		return []byte("null"), nil
	}
	return json.Marshal([]Node(ns))
}

package balancer

import (
	"fmt"
	"testing"
)

var allKinds = []Kind{RoundRobin, CHash, LeastConn, EWMA}

// mkNodes returns nodes 10.0.0.1:80, 10.0.0.2:80, ... with the weights.
func mkNodes(weights ...int) []Node {
	ns := make([]Node, len(weights))
	for i, w := range weights {
		ns[i] = Node{Host: fmt.Sprintf("10.0.0.%d", i+1), Port: 80, Weight: w}
	}
	return ns
}

// name is a short label for node i of mkNodes: "a", "b", ...
func name(n Node) string {
	var i int
	fmt.Sscanf(n.Host, "10.0.0.%d", &i)
	return string(rune('a' + i - 1))
}

func mustNew(t testing.TB, c Config) *picker {
	t.Helper()
	if c.Kind == CHash && c.Key == "" && c.HashOn == "" {
		c.Key = "arg_k"
	}
	p, err := New(c)
	if err != nil {
		t.Fatalf("New(%+v): %v", c, err)
	}
	return p.(*picker)
}

// varReq is a request whose only variable is arg_k = key.
func varReq(key string) *Request {
	return &Request{Var: func(n string) (string, bool) {
		if n == "arg_k" {
			return key, true
		}
		return "", false
	}, RemoteAddr: "192.0.2.1"}
}

// mustPick picks and fails the test on error.
func mustPick(t testing.TB, p Picker, req *Request, tried *Tried, healthy func(Node) bool) Node {
	t.Helper()
	n, err := p.Pick(req, tried, healthy)
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	return n
}

// unhealthy returns a health func that reports the named nodes down.
func unhealthy(names ...string) func(Node) bool {
	return func(n Node) bool {
		for _, x := range names {
			if name(n) == x {
				return false
			}
		}
		return true
	}
}

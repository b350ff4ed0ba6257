package balancer

import (
	"fmt"
	"testing"
	"time"
)

func benchNodes(size int) []Node {
	weights := make([]int, size)
	for i := range weights {
		weights[i] = 1 + i%5
	}
	return mkNodes(weights...)
}

// benchReq is a chash request keyed on a header, as a caller would build it.
func benchReq() *Request {
	return &Request{Var: func(n string) (string, bool) {
		if n == "http_x_user" {
			return "user-0123456789abcdef", true
		}
		return "", false
	}, RemoteAddr: "192.0.2.1"}
}

// One first try per op (a fresh Tried), then Done. No health checker.
func BenchmarkPick(b *testing.B) {
	for _, k := range allKinds {
		for _, size := range []int{3, 100} {
			b.Run(fmt.Sprintf("%s/nodes=%d", k, size), func(b *testing.B) {
				benchPick(b, k, size, nil)
			})
		}
	}
}

// The same with a health checker: healthy is asked about the candidates.
func BenchmarkPickChecked(b *testing.B) {
	healthy := func(Node) bool { return true }
	for _, k := range allKinds {
		b.Run(fmt.Sprintf("%s/nodes=100", k), func(b *testing.B) {
			benchPick(b, k, 100, healthy)
		})
	}
}

func benchPick(b *testing.B, k Kind, size int, healthy func(Node) bool) {
	p, err := New(Config{Kind: k, Nodes: benchNodes(size), HashOn: "header", Key: "X-User"})
	if err != nil {
		b.Fatal(err)
	}
	req := benchReq()
	var tried Tried
	b.ReportAllocs()
	for b.Loop() {
		tried.Reset()
		n, err := p.Pick(req, &tried, healthy)
		if err != nil {
			b.Fatal(err)
		}
		p.Done(n, time.Millisecond, false)
	}
}

// A retry: two nodes already tried.
func BenchmarkPickRetry(b *testing.B) {
	for _, k := range allKinds {
		b.Run(fmt.Sprintf("%s/nodes=100", k), func(b *testing.B) {
			p, err := New(Config{Kind: k, Nodes: benchNodes(100), HashOn: "header", Key: "X-User"})
			if err != nil {
				b.Fatal(err)
			}
			req := benchReq()
			var tried Tried
			b.ReportAllocs()
			for b.Loop() {
				tried.Reset()
				for range 3 {
					n, err := p.Pick(req, &tried, nil)
					if err != nil {
						b.Fatal(err)
					}
					p.Done(n, time.Millisecond, true)
				}
			}
		})
	}
}

// Every goroutine picking from one shared picker: the cost of its mutex
// under contention (chash takes no lock).
func BenchmarkPickParallel(b *testing.B) {
	for _, k := range allKinds {
		for _, size := range []int{3, 100} {
			b.Run(fmt.Sprintf("%s/nodes=%d", k, size), func(b *testing.B) {
				p, err := New(Config{Kind: k, Nodes: benchNodes(size), HashOn: "header", Key: "X-User"})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					req := benchReq()
					var tried Tried
					for pb.Next() {
						tried.Reset()
						n, err := p.Pick(req, &tried, nil)
						if err != nil {
							b.Error(err)
							return
						}
						p.Done(n, time.Millisecond, false)
					}
				})
			})
		}
	}
}

// Building a picker, once per upstream version; chash builds its ring.
func BenchmarkNew(b *testing.B) {
	for _, k := range allKinds {
		b.Run(fmt.Sprintf("%s/nodes=100", k), func(b *testing.B) {
			c := Config{Kind: k, Nodes: benchNodes(100), HashOn: "header", Key: "X-User"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package store

import (
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func benchStore(b *testing.B) *Store {
	s, err := New(Options{Client: &clientv3.Client{}, Prefix: "/apisix"})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func routeKVs(n int) []*mvccpb.KeyValue {
	kvs := make([]*mvccpb.KeyValue, n)
	for i := range kvs {
		kvs[i] = &mvccpb.KeyValue{
			Key: []byte(fmt.Sprintf("/apisix/routes/%020d", i)),
			Value: []byte(fmt.Sprintf(`{"id":"%020d","uri":"/api/v1/resource/%d/*","methods":["GET","POST"],`+
				`"upstream":{"type":"roundrobin","nodes":{"10.0.%d.%d:8080":1}},"create_time":1700000000,"update_time":1700000000}`,
				i, i, i/256%256, i%256)),
			ModRevision: int64(i + 2),
		}
	}
	return kvs
}

// BenchmarkBuildFull10kRoutes: a full (re)list of 10,000 routes into a
// snapshot: parse keys, validate (default JSON check), index, hash.
func BenchmarkBuildFull10kRoutes(b *testing.B) {
	s := benchStore(b)
	kvs := routeKVs(10000)
	empty := s.Snapshot()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		newSnapshot(s.itemsFrom(kvs, empty), 10002, false)
	}
}

// BenchmarkBuildOneChange10kRoutes: one watched put applied to a snapshot
// of 10,000 routes: copy the routes map, update the hash with the changed
// item (before the hash was a sum, this rehashed all 10,000).
func BenchmarkBuildOneChange10kRoutes(b *testing.B) {
	s := benchStore(b)
	base := newSnapshot(s.itemsFrom(routeKVs(10000), s.Snapshot()), 10002, false)
	it := &Item{Kind: "routes", ID: "x", Key: "/apisix/routes/x", Raw: []byte(`{"uri":"/x"}`), ModRevision: 10003}
	change := Change{Kind: "routes", ID: "x", Item: it}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		base.Apply(10003, change)
	}
}

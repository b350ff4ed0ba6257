package integration

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// A domain node follows its DNS record: when the record changes, traffic
// moves once the TTL has passed, without a config change.
func TestDomainNodeFollowsDNS(t *testing.T) {
	// Two upstreams on the same port of two loopback addresses.
	var ln1, ln2 net.Listener
	var port int
	for try := 0; ln2 == nil; try++ {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l1.Addr().(*net.TCPAddr).Port
		if l2, err := net.Listen("tcp", "127.0.0.2:"+strconv.Itoa(port)); err == nil {
			ln1, ln2 = l1, l2
		} else if l1.Close(); try == 20 {
			t.Fatalf("no port free on both 127.0.0.1 and 127.0.0.2: %v", err)
		}
	}
	for i, ln := range []net.Listener{ln1, ln2} {
		name := fmt.Sprintf("up%d", i+1)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	// A nameserver for svc.portico.test, answering with ip (TTL 1 s).
	var ip atomic.Value
	ip.Store("127.0.0.1")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ns := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Qtype == mdns.TypeA && strings.EqualFold(q.Name, "svc.portico.test.") {
			rr, _ := mdns.NewRR(fmt.Sprintf("svc.portico.test. 1 IN A %s", ip.Load()))
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	go ns.ActivateAndServe()
	t.Cleanup(func() { ns.Shutdown() })

	g := newGateway(t, 2)
	g.WriteRawConfig(strings.Replace(configFor(g), "apisix:\n  node_listen:",
		"apisix:\n  dns_resolver:\n    - \""+pc.LocalAddr().String()+"\"\n  node_listen:", 1))
	g.Start()
	putKey(t, g, "/apisix/routes/dns", fmt.Sprintf(`{"uri":"/dns","upstream":{"nodes":{"svc.portico.test:%d":1}}}`, port))
	waitServed(t, g, "/dns")
	if _, body := get(t, g, "/dns", ""); body != "up1" {
		t.Fatalf("before the change: %q", body)
	}
	ip.Store("127.0.0.2")
	// New connections resolve again once the 1 s TTL has passed.
	eventually(t, 10*time.Second, func() error {
		for i := 0; i < 10; i++ {
			if _, body := get(t, g, "/dns", ""); body != "up2" {
				return fmt.Errorf("still %q", body)
			}
		}
		return nil
	})
}

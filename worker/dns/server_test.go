package dns

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// testServer is a real DNS server on 127.0.0.1, UDP and TCP on one port,
// answering from records the test sets.
type testServer struct {
	addr string

	mu        sync.Mutex
	records   map[string][]mdns.RR // "name type" -> answer section
	rcode     int                  // when non-zero, the answer to every query
	silent    bool                 // drop every query
	truncate  map[string]bool      // name -> UDP answers come truncated
	bareCNAME bool                 // answer an alias without its target's records
	block     chan struct{}        // when non-nil, queries wait for it to close
	log       []string             // "net name type" of every query
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{records: map[string][]mdns.RR{}, truncate: map[string]bool{}}
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ln == nil; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			pc.Close()
			if i == 10 {
				t.Fatalf("no port free for both UDP and TCP: %v", err)
			}
		}
	}
	s.addr = pc.LocalAddr().String()
	udp := &mdns.Server{PacketConn: pc, Handler: s}
	tcp := &mdns.Server{Listener: ln, Handler: s}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() {
		s.release()
		udp.Shutdown()
		tcp.Shutdown()
	})
	return s
}

// set replaces the records of a name and type, given in zone-file syntax
// ("a.test. 5 IN A 10.0.0.1"); none removes them.
func (s *testServer) set(t *testing.T, name string, qtype uint16, rrs ...string) {
	t.Helper()
	var out []mdns.RR
	for _, z := range rrs {
		rr, err := mdns.NewRR(z)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[mdns.Fqdn(name)+" "+mdns.TypeToString[qtype]] = out
}

func (s *testServer) setRcode(rc int) { s.mu.Lock(); s.rcode = rc; s.mu.Unlock() }

// locked runs f with the server's lock held, to change its behaviour.
func (s *testServer) locked(f func()) { s.mu.Lock(); f(); s.mu.Unlock() }

func (s *testServer) hold() { s.mu.Lock(); s.block = make(chan struct{}); s.mu.Unlock() }

func (s *testServer) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.block != nil {
		close(s.block)
		s.block = nil
	}
}

// queries returns the log of queries received so far.
func (s *testServer) queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *testServer) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	q := req.Question[0]
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	s.mu.Lock()
	s.log = append(s.log, network+" "+q.Name+" "+mdns.TypeToString[q.Qtype])
	block, silent, rcode := s.block, s.silent, s.rcode
	s.mu.Unlock()
	if block != nil {
		<-block
	}
	if silent {
		return
	}
	resp := new(mdns.Msg)
	resp.SetReply(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case rcode != 0:
		resp.Rcode = rcode
	case network == "udp" && s.truncate[q.Name]:
		resp.Truncated = true
	default:
		rrs := s.records[q.Name+" "+mdns.TypeToString[q.Qtype]]
		ok := len(rrs) > 0
		// An alias answers every type with the CNAME and what it knows of
		// the target, as a recursive server does.
		if cn := s.records[q.Name+" CNAME"]; len(cn) > 0 && q.Qtype != mdns.TypeCNAME {
			rrs, ok = append([]mdns.RR(nil), cn...), true
			if !s.bareCNAME {
				rrs = append(rrs, s.records[cn[0].(*mdns.CNAME).Target+" "+mdns.TypeToString[q.Qtype]]...)
			}
		}
		if !ok && !s.known(q.Name) {
			resp.Rcode = mdns.RcodeNameError
		}
		resp.Answer = rrs
	}
	w.WriteMsg(resp)
}

// known reports whether any record exists under name (NODATA, not NXDOMAIN).
func (s *testServer) known(name string) bool {
	for k, rrs := range s.records {
		if strings.HasPrefix(k, name+" ") && len(rrs) > 0 {
			return true
		}
	}
	return false
}

// fakeClock is the resolver's clock in tests: time moves only when told.
type fakeClock struct{ ns atomic.Int64 }

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *fakeClock) now() time.Time          { return epoch.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

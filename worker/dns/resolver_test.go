package dns

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/portico-gw/portico/tmpl"
)

// newResolver asks only srv, with no hosts file and no resolv.conf unless
// mod sets them, on a fake clock.
func newResolver(t *testing.T, srv *testServer, mod func(*Config)) (*Resolver, *fakeClock) {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{
		Nameservers: []string{srv.addr},
		Timeout:     time.Second,
		ResolvConf:  filepath.Join(dir, "no-resolv.conf"),
		HostsFile:   filepath.Join(dir, "no-hosts"),
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{}
	r.now = clock.now
	return r, clock
}

func resolve(t *testing.T, r *Resolver, host string) netip.Addr {
	t.Helper()
	a, err := r.Resolve(context.Background(), host)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", host, err)
	}
	return a
}

// eventually polls cond until it holds, or fails the test after 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLiteralsBypassEverything(t *testing.T) {
	srv := newTestServer(t)
	r, _ := newResolver(t, srv, nil)
	for host, want := range map[string]string{
		"10.0.0.1": "10.0.0.1", "::1": "::1", "[::1]": "::1", "[2001:db8::7]": "2001:db8::7",
	} {
		if got := resolve(t, r, host); got != netip.MustParseAddr(want) {
			t.Errorf("Resolve(%q) = %s, want %s", host, got, want)
		}
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { r.Resolve(ctx, "10.0.0.1"); r.Resolve(ctx, "[::1]") }); n != 0 {
		t.Errorf("IP literals allocate %v times per call", n)
	}
	if q := srv.queries(); len(q) != 0 {
		t.Errorf("IP literals sent queries: %v", q)
	}
	if _, err := r.Resolve(ctx, ""); err == nil {
		t.Error("an empty host resolved")
	}
}

func TestTTLIsHonoured(t *testing.T) {
	srv := newTestServer(t)
	srv.set(t, "a.test", mdns.TypeA, "a.test. 5 IN A 10.0.0.1")
	r, clock := newResolver(t, srv, nil)

	if got := resolve(t, r, "a.test"); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("got %s", got)
	}
	srv.set(t, "a.test", mdns.TypeA, "a.test. 5 IN A 10.0.0.2")
	clock.advance(4 * time.Second)
	if got := resolve(t, r, "A.test"); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("within the TTL: got %s, want the cached 10.0.0.1", got)
	}
	if n := len(srv.queries()); n != 1 {
		t.Fatalf("%d queries within the TTL, want 1", n)
	}
	// A cached answer costs no allocation.
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { r.Resolve(ctx, "a.test") }); n != 0 {
		t.Errorf("a cache hit allocates %v times", n)
	}

	// Past the TTL the old answer is served while one refresh runs, then
	// the new one.
	clock.advance(2 * time.Second)
	eventually(t, "the answer changes after its TTL", func() bool {
		return resolve(t, r, "a.test") == netip.MustParseAddr("10.0.0.2")
	})
	if n := len(srv.queries()); n != 2 {
		t.Errorf("%d queries after one expiry, want 2", n)
	}
}

func TestValidOverridesTTL(t *testing.T) {
	srv := newTestServer(t)
	srv.set(t, "v.test", mdns.TypeA, "v.test. 1 IN A 10.0.0.1")
	r, clock := newResolver(t, srv, func(c *Config) { c.Valid = time.Minute })
	resolve(t, r, "v.test")
	srv.set(t, "v.test", mdns.TypeA, "v.test. 1 IN A 10.0.0.2")
	clock.advance(59 * time.Second)
	if got := resolve(t, r, "v.test"); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("dns_resolver_valid 60s, after 59s: got %s, want the cached answer", got)
	}
	if n := len(srv.queries()); n != 1 {
		t.Fatalf("%d queries, want 1", n)
	}
	clock.advance(2 * time.Second)
	eventually(t, "the answer changes after dns_resolver_valid", func() bool {
		return resolve(t, r, "v.test") == netip.MustParseAddr("10.0.0.2")
	})
}

func TestHostsFileFirst(t *testing.T) {
	srv := newTestServer(t)
	srv.set(t, "web.test", mdns.TypeA, "web.test. 60 IN A 10.9.9.9")
	srv.set(t, "six.test", mdns.TypeA, "six.test. 60 IN A 10.6.6.6")
	hosts := filepath.Join(t.TempDir(), "hosts")
	err := os.WriteFile(hosts, []byte(strings.Join([]string{
		"# comment",
		"10.1.1.1 web.test alias.test # trailing comment",
		"10.1.1.2 web.test",
		"fd00::1 six.test",
		"fd00::2 web.test",
		"garbage line",
	}, "\n")), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, ipv6 := range []bool{false, true} {
		r, _ := newResolver(t, srv, func(c *Config) { c.HostsFile, c.IPv6 = hosts, ipv6 })
		for host, want := range map[string]string{
			"web.test": "10.1.1.1", "WEB.test.": "10.1.1.1", "alias.test": "10.1.1.1",
		} {
			if got := resolve(t, r, host); got != netip.MustParseAddr(want) {
				t.Errorf("ipv6 %v: %s = %s, want %s from the hosts file", ipv6, host, got, want)
			}
		}
		// An IPv6-only hosts entry counts only with IPv6 on.
		want := "10.6.6.6"
		if ipv6 {
			want = "fd00::1"
		}
		if got := resolve(t, r, "six.test"); got != netip.MustParseAddr(want) {
			t.Errorf("ipv6 %v: six.test = %s, want %s", ipv6, got, want)
		}
	}
	if q := srv.queries(); slices.ContainsFunc(q, func(s string) bool { return strings.Contains(s, "web.test") }) {
		t.Errorf("a hosts-file name went to DNS: %v", q)
	}
}

func TestFailedRefreshKeepsLastAnswer(t *testing.T) {
	srv := newTestServer(t)
	srv.set(t, "f.test", mdns.TypeA, "f.test. 5 IN A 10.0.0.1")
	r, clock := newResolver(t, srv, nil)
	ctx := context.Background()
	resolve(t, r, "f.test")

	srv.setRcode(mdns.RcodeServerFailure)
	clock.advance(6 * time.Second)
	var err error
	eventually(t, "the failed refresh is reported", func() bool {
		var a netip.Addr
		a, err = r.Resolve(ctx, "f.test")
		if a != netip.MustParseAddr("10.0.0.1") {
			t.Fatalf("during a failing refresh: got %v, %v; want the last good answer", a, err)
		}
		return err != nil
	})
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "SERVFAIL") || !strings.Contains(err.Error(), "f.test") {
		t.Errorf("stale error %q: want ErrStale naming the host and the failure", err)
	}
	// Retried at most once per second, not per call.
	n := len(srv.queries())
	for range 10 {
		r.Resolve(ctx, "f.test")
	}
	if got := len(srv.queries()); got != n {
		t.Errorf("%d queries within the retry back-off, want none", got-n)
	}

	// Past the bound, the last answer is no longer served.
	clock.advance(MaxStale)
	eventually(t, "the stale answer is dropped", func() bool {
		a, err := r.Resolve(ctx, "f.test")
		if a.IsValid() && !errors.Is(err, ErrStale) {
			t.Fatalf("got %s, %v", a, err)
		}
		return !a.IsValid() && err != nil && strings.Contains(err.Error(), "last good answer expired")
	})

	// The server recovers: the name resolves again once the back-off ends.
	srv.setRcode(0)
	clock.advance(retryAfter)
	if got := resolve(t, r, "f.test"); got != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("after recovery: %s", got)
	}
}

func TestNoSuchNameReplacesAnswer(t *testing.T) {
	srv := newTestServer(t)
	srv.set(t, "gone.test", mdns.TypeA, "gone.test. 5 IN A 10.0.0.1")
	r, clock := newResolver(t, srv, nil)
	resolve(t, r, "gone.test")
	srv.set(t, "gone.test", mdns.TypeA)
	clock.advance(6 * time.Second)
	eventually(t, "NXDOMAIN replaces the answer", func() bool {
		a, err := r.Resolve(context.Background(), "gone.test")
		return !a.IsValid() && err != nil && strings.Contains(err.Error(), "no such name")
	})
	// The negative answer is cached.
	n := len(srv.queries())
	r.Resolve(context.Background(), "gone.test")
	if len(srv.queries()) != n {
		t.Error("a cached negative answer sent a query")
	}
}

// waitCtx counts the callers that waited for a lookup (called Done).
type waitCtx struct {
	context.Context
	waiting *atomic.Int32
}

func (c waitCtx) Done() <-chan struct{} { c.waiting.Add(1); return c.Context.Done() }

func TestConcurrentLookupsCoalesce(t *testing.T) {
	srv := newTestServer(t)
	srv.set(t, "c.test", mdns.TypeA, "c.test. 60 IN A 10.0.0.1")
	r, _ := newResolver(t, srv, func(c *Config) { c.Timeout = 5 * time.Second })
	srv.hold()
	const callers = 32
	var waiting atomic.Int32
	ctx := waitCtx{context.Background(), &waiting}
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			a, err := r.Resolve(ctx, "c.test")
			if err == nil && a != netip.MustParseAddr("10.0.0.1") {
				err = errors.New("wrong address " + a.String())
			}
			if err != nil {
				errs <- err
			}
		})
	}
	eventually(t, "every caller waits for the lookup", func() bool { return waiting.Load() == callers })
	srv.release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if q := srv.queries(); len(q) != 1 {
		t.Errorf("%d callers sent %v, want one query", callers, q)
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	srv := newTestServer(t)
	srv.set(t, "big.test", mdns.TypeA, "big.test. 60 IN A 10.0.0.1", "big.test. 60 IN A 10.0.0.2", "big.test. 60 IN A 10.0.0.3")
	srv.locked(func() { srv.truncate["big.test."] = true })
	r, _ := newResolver(t, srv, nil)
	seen := map[netip.Addr]bool{}
	for range 200 {
		seen[resolve(t, r, "big.test")] = true
	}
	if len(seen) != 3 {
		t.Errorf("picked %v, want each of the 3 addresses at random", seen)
	}
	if q := srv.queries(); !slices.Equal(q, []string{"udp big.test. A", "tcp big.test. A"}) {
		t.Errorf("queries %v, want UDP then TCP", q)
	}
}

func TestIPv6AndCNAME(t *testing.T) {
	srv := newTestServer(t)
	srv.set(t, "six.test", mdns.TypeAAAA, "six.test. 5 IN AAAA 2001:db8::1")
	srv.set(t, "alias.test", mdns.TypeCNAME, "alias.test. 30 IN CNAME six.test.")
	srv.set(t, "four.test", mdns.TypeA, "four.test. 5 IN A 10.0.0.4")
	srv.set(t, "far.test", mdns.TypeCNAME, "far.test. 30 IN CNAME four.test.")

	r, _ := newResolver(t, srv, nil)
	if _, err := r.Resolve(context.Background(), "six.test"); err == nil || !strings.Contains(err.Error(), "no A record") {
		t.Errorf("IPv6 off, AAAA-only name: %v, want no A record", err)
	}
	srv.locked(func() { srv.bareCNAME = true }) // the resolver asks for the alias's target itself
	if got := resolve(t, r, "far.test"); got != netip.MustParseAddr("10.0.0.4") {
		t.Errorf("far.test = %s", got)
	}
	srv.locked(func() { srv.bareCNAME = false })

	r, clock := newResolver(t, srv, func(c *Config) { c.IPv6 = true })
	for _, host := range []string{"six.test", "alias.test"} {
		if got := resolve(t, r, host); got != netip.MustParseAddr("2001:db8::1") {
			t.Errorf("%s = %s", host, got)
		}
	}
	// The type that answered is asked first on refresh.
	before := len(srv.queries())
	clock.advance(6 * time.Second)
	r.Resolve(context.Background(), "six.test")
	eventually(t, "the refresh", func() bool { return len(srv.queries()) > before })
	if q := srv.queries()[before]; q != "udp six.test. AAAA" {
		t.Errorf("refresh asked %q first, want AAAA", q)
	}
}

func TestSearchList(t *testing.T) {
	srv := newTestServer(t)
	srv.set(t, "backend.svc.test", mdns.TypeA, "backend.svc.test. 60 IN A 10.0.0.8")
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 192.0.2.1\nsearch none.test svc.test\noptions ndots:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := newResolver(t, srv, func(c *Config) { c.ResolvConf, c.Search = conf, true })
	if got := resolve(t, r, "backend"); got != netip.MustParseAddr("10.0.0.8") {
		t.Errorf("backend = %s", got)
	}
	if _, err := r.Resolve(context.Background(), "backend."); err == nil {
		t.Error("a name with a trailing dot went through the search list")
	}
	r, _ = newResolver(t, srv, func(c *Config) { c.ResolvConf, c.Search = conf, false })
	if _, err := r.Resolve(context.Background(), "backend"); err == nil {
		t.Error("enable_resolv_search_opt off, yet the search list applied")
	}
}

func TestTimeoutBoundsLookup(t *testing.T) {
	srv := newTestServer(t)
	srv.locked(func() { srv.silent = true })
	r, _ := newResolver(t, srv, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	start := time.Now()
	_, err := r.Resolve(context.Background(), "slow.test")
	if err == nil || !strings.Contains(err.Error(), "slow.test") {
		t.Errorf("err %v, want a timeout naming the host", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("lookup took %s with resolver_timeout 200ms", took)
	}
	// The caller's context bounds its own wait.
	srv.set(t, "slow2.test", mdns.TypeA, "slow2.test. 60 IN A 10.0.0.1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Resolve(ctx, "slow2.test"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 192.0.2.53\nnameserver 2001:db8::53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{ResolvConf: conf, HostsFile: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"192.0.2.53:53", "[2001:db8::53]:53"}; !slices.Equal(r.servers, want) {
		t.Errorf("servers from resolv.conf %v, want %v", r.servers, want)
	}
	r, err = New(Config{Nameservers: []string{"127.0.0.53", "10.0.0.1:5353", "::1", "[::1]:54"}, ResolvConf: conf, HostsFile: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.53:53", "10.0.0.1:5353", "[::1]:53", "[::1]:54"}; !slices.Equal(r.servers, want) {
		t.Errorf("servers %v, want %v", r.servers, want)
	}
	if _, err := New(Config{Nameservers: []string{"dns.example"}}); err == nil {
		t.Error("a nameserver by name was accepted")
	}
	// No nameserver at all: literals still work, names fail saying why.
	r, err = New(Config{ResolvConf: filepath.Join(dir, "missing"), HostsFile: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), "x.test"); err == nil || !strings.Contains(err.Error(), "no nameserver") {
		t.Errorf("without nameservers: %v", err)
	}
	if a := resolve(t, r, "192.0.2.1"); a != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("literal: %s", a)
	}
}

func TestConfigFromRuntime(t *testing.T) {
	got := ConfigFrom(tmpl.DNS{Resolvers: []string{"127.0.0.53"}, Valid: time.Minute, Timeout: 2 * time.Second, IPv6: true, Search: true})
	want := Config{Nameservers: []string{"127.0.0.53"}, Valid: time.Minute, Timeout: 2 * time.Second, IPv6: true, Search: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ConfigFrom = %+v, want %+v", got, want)
	}
}

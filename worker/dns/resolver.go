package dns

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/portico-gw/portico/tmpl"
)

// Defaults and bounds of the cache (see the package doc).
const (
	// DefaultTimeout bounds a lookup when Config.Timeout is 0 (APISIX's
	// resolver_timeout default).
	DefaultTimeout = 5 * time.Second
	// MaxStale is how long past its expiry an answer is still served while
	// refreshing it fails. lua-resty-dns-client keeps 4 s; a nameserver
	// restart takes longer than that, and an address that stopped being
	// right is not used for long either way.
	MaxStale = 30 * time.Second

	minTTL      = time.Second      // floor of a record's TTL
	negativeTTL = 30 * time.Second // "no such name" (lua-resty-dns-client's emptyTtl)
	retryAfter  = time.Second      // after a failed lookup (its badTtl)
)

// ErrStale marks an answer served past its expiry because refreshing it
// failed. Resolve returns it with a valid address: dial that address.
var ErrStale = errors.New("refresh failed, serving the last good answer")

// Config is the resolver's settings: the runtime file's dns section, plus
// the system files (overridable for tests).
type Config struct {
	// Nameservers are "ip" or "ip:port" (port 53 when absent); empty means
	// the nameservers of ResolvConf.
	Nameservers []string
	// Valid, when positive, replaces every record's TTL.
	Valid time.Duration
	// Timeout bounds one lookup, every nameserver and retry included; 0 is
	// DefaultTimeout.
	Timeout time.Duration
	// IPv6 allows AAAA records (and IPv6 hosts-file entries) for a name
	// without an IPv4 address.
	IPv6 bool
	// Search applies ResolvConf's search list and ndots to relative names.
	Search bool
	// ResolvConf and HostsFile default to /etc/resolv.conf and /etc/hosts.
	ResolvConf string
	HostsFile  string
}

// ConfigFrom is the Config for a runtime file's dns section, with the
// system's resolv.conf and hosts file.
func ConfigFrom(d tmpl.DNS) Config {
	return Config{Nameservers: d.Resolvers, Valid: d.Valid, Timeout: d.Timeout, IPv6: d.IPv6, Search: d.Search}
}

// Resolver resolves host names to addresses. It is safe for concurrent use.
type Resolver struct {
	servers  []string // ip:port
	noServer error    // why servers is empty
	search   *mdns.ClientConfig
	valid    time.Duration
	timeout  time.Duration
	ipv6     bool
	hosts    map[string]hostAddrs
	udp, tcp *mdns.Client

	now func() time.Time // the clock; tests replace it

	mu    sync.Mutex                        // serializes additions to names
	names atomic.Pointer[map[string]*entry] // copied on write
}

// New builds a resolver. It fails on an invalid nameserver or an unreadable
// hosts file; missing nameservers (no resolv.conf) only make DNS lookups
// fail, so IP literals and hosts-file names still resolve.
func New(cfg Config) (*Resolver, error) {
	r := &Resolver{
		valid:   cfg.Valid,
		timeout: cfg.Timeout,
		ipv6:    cfg.IPv6,
		udp:     &mdns.Client{Net: "udp"},
		tcp:     &mdns.Client{Net: "tcp"},
		now:     time.Now,
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	resolvConf := orDefault(cfg.ResolvConf, "/etc/resolv.conf")
	sys, sysErr := mdns.ClientConfigFromFile(resolvConf)
	if sysErr != nil {
		sysErr = fmt.Errorf("read %s: %w", resolvConf, sysErr)
	}
	for _, ns := range cfg.Nameservers {
		addr, err := serverAddr(ns, "53")
		if err != nil {
			return nil, fmt.Errorf("dns: nameserver %q: %w", ns, err)
		}
		r.servers = append(r.servers, addr)
	}
	if len(r.servers) == 0 {
		switch {
		case sysErr != nil:
			r.noServer = fmt.Errorf("no nameserver configured: %w", sysErr)
		case len(sys.Servers) == 0:
			r.noServer = fmt.Errorf("no nameserver configured, none in %s", resolvConf)
		}
		if sysErr == nil {
			for _, ns := range sys.Servers {
				addr, err := serverAddr(ns, sys.Port)
				if err != nil {
					return nil, fmt.Errorf("dns: nameserver %q in %s: %w", ns, resolvConf, err)
				}
				r.servers = append(r.servers, addr)
			}
		}
	}
	if cfg.Search && sysErr == nil {
		r.search = sys
	}
	hostsFile := orDefault(cfg.HostsFile, "/etc/hosts")
	hosts, err := readHosts(hostsFile)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	r.hosts = hosts
	r.names.Store(&map[string]*entry{})
	return r, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// serverAddr normalizes a nameserver to ip:port.
func serverAddr(s, defPort string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return "", errors.New(`want "ip" or "ip:port"`)
	}
	return net.JoinHostPort(a.String(), defPort), nil
}

// Resolve returns an address of host: host itself when it is an IP literal
// (brackets allowed), else from the hosts file, else from DNS through the
// cache. A non-nil error with a valid address wraps ErrStale: the address is
// the last good answer and still usable; with an invalid address, host did
// not resolve. ctx bounds the wait for a lookup, not the lookup itself,
// which other callers may share.
func (r *Resolver) Resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, ok := literal(host); ok {
		return a, nil
	}
	if host == "" {
		return netip.Addr{}, errors.New("dns: empty host name")
	}
	name := strings.ToLower(host) // a trailing dot stays: it turns the search list off
	if h, ok := r.hosts[strings.TrimSuffix(name, ".")]; ok {
		if h.v4.IsValid() {
			return h.v4, nil
		}
		if r.ipv6 && h.v6.IsValid() {
			return h.v6, nil
		}
	}
	return r.entry(name).resolve(ctx, r)
}

// Current reports whether addr is still one of host's addresses, as
// Resolve would pick from now (a stale answer counts). A connection dialled
// to an address the name no longer has should not be reused.
func (r *Resolver) Current(ctx context.Context, host string, addr netip.Addr) bool {
	if a, ok := literal(host); ok {
		return a == addr
	}
	name := strings.ToLower(host)
	if h, ok := r.hosts[strings.TrimSuffix(name, ".")]; ok {
		return h.v4 == addr || r.ipv6 && h.v6 == addr
	}
	a, _ := r.entry(name).answer(ctx, r)
	return a != nil && slices.Contains(a.addrs, addr)
}

// literal parses an IP literal, possibly in brackets, without allocating.
func literal(host string) (netip.Addr, bool) {
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if !maybeIP(host) {
		return netip.Addr{}, false // a name: ParseAddr would allocate its error
	}
	a, err := netip.ParseAddr(host)
	return a, err == nil
}

// maybeIP reports whether s could be an IP literal: IPv6 has a colon, IPv4
// only digits and dots; a host name has neither shape.
func maybeIP(s string) bool {
	if strings.IndexByte(s, ':') >= 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

func (r *Resolver) entry(name string) *entry {
	if e := (*r.names.Load())[name]; e != nil {
		return e
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.names.Load()
	if e := old[name]; e != nil {
		return e
	}
	m := make(map[string]*entry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	e := &entry{name: name}
	m[name] = e
	r.names.Store(&m)
	return e
}

// entry is one name's cached answer and its lookup in flight.
type entry struct {
	name string
	cur  atomic.Pointer[answer] // nil until the first lookup ends

	mu     sync.Mutex
	flight *flight // the lookup in progress, nil if none
}

// answer is the outcome of a lookup, immutable once stored.
type answer struct {
	addrs []netip.Addr
	qtype uint16    // the record type addrs came from, asked first next time
	fresh time.Time // addrs (or err) are current until then
	stale time.Time // addrs are served until then while refreshing fails
	retry time.Time // no refresh before then
	err   error     // why addrs is empty, or (with addrs) why refreshing failed
}

type flight struct {
	done chan struct{}
	ans  *answer // set before done is closed
}

func (a *answer) pick() netip.Addr {
	if len(a.addrs) == 1 {
		return a.addrs[0]
	}
	return a.addrs[rand.IntN(len(a.addrs))]
}

func (e *entry) resolve(ctx context.Context, r *Resolver) (netip.Addr, error) {
	a, err := e.answer(ctx, r)
	if a == nil || len(a.addrs) == 0 {
		return netip.Addr{}, err
	}
	return a.pick(), err
}

// answer returns the answer to use now, starting a refresh when it is
// due; a nil or empty answer means the name does not resolve (err says why).
func (e *entry) answer(ctx context.Context, r *Resolver) (*answer, error) {
	now := r.now()
	a := e.cur.Load()
	if a != nil {
		switch {
		case now.Before(a.fresh):
			return a, a.err
		case len(a.addrs) > 0 && now.Before(a.stale):
			if !now.Before(a.retry) {
				e.start(r, a)
			}
			return a, a.err
		}
	}
	f := e.start(r, a)
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("dns: %s: %w", e.name, ctx.Err())
	}
	return f.ans, f.ans.err
}

// closed is the done channel of a flight that had already landed: start
// returns one when another lookup replaced the answer its caller saw.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// start begins a lookup unless one is in flight, and returns it. seen is the
// answer the caller judged out of date.
func (e *entry) start(r *Resolver, seen *answer) *flight {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.flight != nil {
		return e.flight
	}
	if cur := e.cur.Load(); cur != seen {
		return &flight{done: closed, ans: cur}
	}
	f := &flight{done: make(chan struct{})}
	e.flight = f
	go func() {
		prev := e.cur.Load()
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		var qtype uint16
		if prev != nil {
			qtype = prev.qtype
		}
		res, err := r.lookup(ctx, e.name, qtype)
		cancel()
		a := r.settle(e.name, prev, res, err)
		e.mu.Lock()
		e.cur.Store(a)
		f.ans = a
		e.flight = nil
		e.mu.Unlock()
		close(f.done)
	}()
	return f
}

// settle turns a lookup's outcome into the answer to serve.
func (r *Resolver) settle(name string, prev *answer, res result, err error) *answer {
	now := r.now()
	switch {
	case err == nil:
		ttl := res.ttl
		if r.valid > 0 {
			ttl = r.valid
		}
		ttl = max(ttl, minTTL)
		return &answer{addrs: res.addrs, qtype: res.qtype, fresh: now.Add(ttl), stale: now.Add(ttl + MaxStale)}
	case errors.Is(err, errNoAddress):
		return &answer{fresh: now.Add(negativeTTL), err: fmt.Errorf("dns: %s: %w", name, err)}
	case prev != nil && len(prev.addrs) > 0 && now.Before(prev.stale):
		return &answer{
			addrs: prev.addrs, qtype: prev.qtype, fresh: prev.fresh, stale: prev.stale, retry: now.Add(retryAfter),
			err: fmt.Errorf("dns: %s: %w that expired at %s, until %s: %w",
				name, ErrStale, prev.fresh.Format(time.RFC3339), prev.stale.Format(time.RFC3339), err),
		}
	case prev != nil && len(prev.addrs) > 0:
		return &answer{fresh: now.Add(retryAfter), err: fmt.Errorf("dns: %s: refresh failed and the last good answer expired more than %s ago: %w", name, MaxStale, err)}
	default:
		return &answer{fresh: now.Add(retryAfter), err: fmt.Errorf("dns: %s: %w", name, err)}
	}
}

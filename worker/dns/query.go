package dns

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

const (
	// attemptTimeout bounds one query to one nameserver (OpenResty's
	// resolver default), within the lookup's resolver_timeout.
	attemptTimeout = 2 * time.Second
	// rounds is how many times each nameserver is asked before a query
	// fails, so a server answering SERVFAIL at once is not asked in a loop.
	rounds = 2
	// maxCNAME bounds a chain of aliases.
	maxCNAME = 8
	// udpSize is the EDNS0 buffer advertised (the DNS flag day 2020 value):
	// larger answers come truncated and are asked again over TCP.
	udpSize = 1232
)

// errNoAddress is an authoritative negative answer: the name does not
// exist, or has no address of the types asked.
var errNoAddress = errors.New("no address")

// errNoSuchName is NXDOMAIN.
var errNoSuchName = fmt.Errorf("%w: no such name", errNoAddress)

// result is a successful lookup.
type result struct {
	addrs []netip.Addr
	qtype uint16
	ttl   time.Duration
}

// lookup resolves name (lower case) over DNS, asking first for the record
// type that answered last time.
func (r *Resolver) lookup(ctx context.Context, name string, first uint16) (result, error) {
	if len(r.servers) == 0 {
		return result{}, r.noServer
	}
	types := []uint16{mdns.TypeA}
	if r.ipv6 {
		types = append(types, mdns.TypeAAAA)
		if first == mdns.TypeAAAA {
			types[0], types[1] = types[1], types[0]
		}
	}
	names := []string{mdns.Fqdn(name)}
	if r.search != nil {
		names = r.search.NameList(name)
	}
	negative := errNoSuchName
	for _, n := range names {
		for _, t := range types {
			res, err := r.query(ctx, n, t)
			if err == nil {
				return res, nil
			}
			if !errors.Is(err, errNoAddress) {
				return result{}, err
			}
			if errors.Is(err, errNoSuchName) {
				break // no other type under a name that does not exist
			}
			negative = err
		}
	}
	return result{}, negative
}

// query asks for one record type of one name, following CNAMEs.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (result, error) {
	ttl := time.Duration(math.MaxInt64)
	for range maxCNAME {
		msg, err := r.exchange(ctx, name, qtype)
		if err != nil {
			return result{}, err
		}
		if msg.Rcode == mdns.RcodeNameError {
			return result{}, errNoSuchName
		}
		// The server usually sends the whole chain; follow it to its end.
		target := name
		for range maxCNAME {
			next := ""
			for _, rr := range msg.Answer {
				if c, ok := rr.(*mdns.CNAME); ok && strings.EqualFold(c.Hdr.Name, target) {
					next, ttl = c.Target, min(ttl, seconds(c.Hdr.Ttl))
					break
				}
			}
			if next == "" {
				break
			}
			target = next
		}
		var res result
		for _, rr := range msg.Answer {
			if !strings.EqualFold(rr.Header().Name, target) {
				continue
			}
			var a netip.Addr
			switch v := rr.(type) {
			case *mdns.A:
				a, _ = netip.AddrFromSlice(v.A.To4())
			case *mdns.AAAA:
				a, _ = netip.AddrFromSlice(v.AAAA.To16())
			}
			if a.IsValid() && rr.Header().Rrtype == qtype {
				res.addrs = append(res.addrs, a)
				ttl = min(ttl, seconds(rr.Header().Ttl))
			}
		}
		if len(res.addrs) > 0 {
			res.qtype, res.ttl = qtype, ttl
			return res, nil
		}
		if target == name {
			return result{}, fmt.Errorf("%w: no %s record", errNoAddress, mdns.TypeToString[qtype])
		}
		name = target // an alias whose target the server left out
	}
	return result{}, fmt.Errorf("%w: more than %d aliases", errNoAddress, maxCNAME)
}

func seconds(s uint32) time.Duration { return time.Duration(s) * time.Second }

// exchange sends one question to the nameservers in turn until one answers
// it (NOERROR or NXDOMAIN), each at most rounds times, within ctx.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(udpSize, false)
	var last error
	for try := range rounds * len(r.servers) {
		if ctx.Err() != nil {
			break
		}
		server := r.servers[try%len(r.servers)]
		in, err := r.ask(ctx, m, server)
		if err == nil {
			if in.Rcode == mdns.RcodeSuccess || in.Rcode == mdns.RcodeNameError {
				return in, nil
			}
			err = fmt.Errorf("%s answered %s", server, mdns.RcodeToString[in.Rcode])
		}
		last = err
	}
	if last == nil {
		last = ctx.Err()
	}
	return nil, fmt.Errorf("%s %s: %w", name, mdns.TypeToString[qtype], last)
}

// ask queries one server over UDP, then over TCP if the answer was truncated.
func (r *Resolver) ask(ctx context.Context, m *mdns.Msg, server string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	in, _, err := r.udp.ExchangeContext(ctx, m, server)
	if err == nil && in.Truncated {
		in, _, err = r.tcp.ExchangeContext(ctx, m, server)
	}
	return in, err
}

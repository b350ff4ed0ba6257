package router

import (
	"fmt"
	"net/netip"
	"strings"
)

// ipSet is resty.ipmatcher: single addresses hashed, CIDRs scanned. Used by
// remote_addrs and by the `ipmatch` vars operator.
type ipSet struct {
	addrs    map[netip.Addr]struct{}
	prefixes []netip.Prefix
}

// parseIPSet accepts IPv4/IPv6 addresses and CIDRs. Host bits in a CIDR are
// ignored (1.2.3.4/24 = 1.2.3.0/24), zones are rejected, and IPv4-mapped
// IPv6 forms are folded to IPv4 so that one allowlist entry covers a client
// however its socket reports it.
func parseIPSet(list []string) (*ipSet, error) {
	s := &ipSet{}
	for _, e := range list {
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil || p.Addr().Zone() != "" {
				return nil, fmt.Errorf("invalid ip address: %s", e)
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			s.prefixes = append(s.prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("invalid ip address: %s", e)
		}
		if s.addrs == nil {
			s.addrs = make(map[netip.Addr]struct{})
		}
		s.addrs[a.Unmap()] = struct{}{}
	}
	return s, nil
}

// contains expects an unmapped address; the zero Addr (unknown peer)
// matches nothing, as ipmatcher fails on an unparsable remote_addr.
func (s *ipSet) contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	if _, ok := s.addrs[a]; ok {
		return true
	}
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

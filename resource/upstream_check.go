package resource

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Semantic upstream checks of apisix/upstream.lua check_upstream_conf,
// split around the schema check. base is the JSON pointer of the upstream
// object in the resource ("" or "/upstream").

// checkUpstreamPre rejects array-form nodes whose host is a bare IPv6
// address.
func checkUpstreamPre(up map[string]any, base string) *Error {
	nodes, ok := up["nodes"].([]any)
	if !ok {
		return nil
	}
	for i, n := range nodes {
		node, _ := n.(map[string]any)
		host, _ := node["host"].(string)
		if host != "" && host[0] != '[' && isIPv6(host) {
			return &Error{Reason: ReasonCheck, Path: fmt.Sprintf("%s/nodes/%d/host", base, i),
				Detail: "IPv6 address must be enclosed with '[' and ']'",
				msg:    invalidConf + "IPv6 address must be enclosed with '[' and ']'"}
		}
	}
	return nil
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

// checkUpstreamPost runs the checks APISIX makes after the schema passed.
func checkUpstreamPost(up map[string]any, base string) *Error {
	if nodes, ok := up["nodes"].(map[string]any); ok {
		for addr := range nodes {
			if _, port, hasPort := parseAddr(addr); hasPort {
				if _, err := parsePort(port); err != nil {
					return checkErr(base+"/nodes/"+escapeToken(addr), err.Error())
				}
			}
		}
	}
	if up["pass_host"] == "rewrite" {
		if h, _ := up["upstream_host"].(string); h == "" {
			return checkErr(base+"/upstream_host", "`upstream_host` can't be empty when `pass_host` is `rewrite`")
		}
	}
	if tls := treeObj(up, "tls"); tls != nil {
		if cert, ok := tls["client_cert"].(string); ok {
			key, _ := tls["client_key"].(string)
			if err := checkCertKey(cert, key, true); err != "" {
				return checkErr(base+"/tls", err)
			}
		}
	}
	if up["type"] != "chash" {
		return nil
	}
	hashOn, _ := up["hash_on"].(string)
	if hashOn == "" {
		hashOn = "vars"
	}
	key, hasKey := up["key"]
	if hashOn != "consumer" && !hasKey {
		return checkErr(base+"/key", "missing key")
	}
	if cs := hashKeySchemas[hashOn]; cs != nil {
		if err := cs.checkValue(key); err != nil {
			err.Path = base + "/key"
			return err
		}
	}
	return nil
}

// parseAddr splits a map-form node key like APISIX's core.utils.parse_addr:
// "[v6]:port", "[v6]", "v4:port", "host:port", "host", and bare IPv6 (two or
// more colons, no port). Brackets are kept on IPv6 hosts.
func parseAddr(addr string) (host, port string, hasPort bool) {
	if addr == "" {
		return addr, "", false
	}
	if addr[0] == '[' {
		if addr[len(addr)-1] == ']' {
			return addr, "", false
		}
		pos := strings.LastIndexByte(addr[:len(addr)-1], ':')
		if pos < 1 || addr[pos-1] != ']' {
			return addr, "", false
		}
		return addr[:pos], addr[pos+1:], true
	}
	colons := 0
	for i := 0; i < len(addr); i++ {
		switch addr[i] {
		case '.':
			return splitHostPort(addr)
		case ':':
			colons++
			if colons == 2 {
				return addr, "", false
			}
		}
	}
	return splitHostPort(addr)
}

func splitHostPort(addr string) (string, string, bool) {
	pos := strings.LastIndexByte(addr[:len(addr)-1], ':')
	if pos < 0 {
		return addr, "", false
	}
	return addr[:pos], addr[pos+1:], true
}

// parsePort accepts a decimal port 1..65535. APISIX reports numbers out of
// range as "invalid port N"; it lets non-numeric ports through (the node
// then silently uses the scheme's default port), which Portico rejects with
// the same text.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			return 0, fmt.Errorf("invalid port %s", formatLuaNumber(f))
		}
		return 0, fmt.Errorf("invalid port %s", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("invalid port %d", n)
	}
	return n, nil
}

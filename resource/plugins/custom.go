package plugins

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/portico-gw/portico/resource"
)

// checks are what a plugin's check_schema does beyond its JSON schema.
// Both get the conf with defaults filled in.
type checks struct {
	// conf runs once the schema passed and returns the failure or "".
	conf func(kind SchemaKind, conf map[string]any) string
	// schemaErr may reword a schema failure (detail).
	schemaErr func(conf map[string]any, detail string) string
}

// customChecks holds the check_schema logic of APISIX's plugins, by name;
// plugins missing here only check their schema. Lua-only features
// (serverless functions, _meta.pre_function) are checked for shape only:
// this gateway does not run Lua.
var customChecks = map[string]checks{
	"real-ip":          {conf: onRoute(func(c map[string]any) string { return checkIPs(c, "trusted_addresses") })},
	"ip-restriction":   {conf: onRoute(func(c map[string]any) string { return checkIPs(c, "whitelist", "blacklist") })},
	"cors":             {conf: onRoute(checkCORS)},
	"ua-restriction":   {conf: onRoute(func(c map[string]any) string { return checkRegexes(c, "allowlist", "denylist") })},
	"uri-blocker":      {conf: onRoute(func(c map[string]any) string { return checkRegexes(c, "block_rules") })},
	"jwt-auth":         {conf: checkJWTConsumer},
	"proxy-rewrite":    {conf: onRoute(checkProxyRewrite)},
	"limit-count":      {conf: onRoute(checkLimitCount), schemaErr: limitCountSchemaErr},
	"redirect":         {conf: onRoute(checkRedirect)},
	"response-rewrite": {conf: onRoute(checkResponseRewrite)},
	"fault-injection":  {conf: onRoute(checkFaultInjection)},
	"traffic-split":    {conf: onRoute(checkTrafficSplit)},
}

// onRoute runs f for the Route and Consumer kinds: APISIX's plugins that
// have a metadata schema check metadata against it alone, and the others
// ignore the kind.
func onRoute(f func(map[string]any) string) func(SchemaKind, map[string]any) string {
	return func(kind SchemaKind, conf map[string]any) string {
		if kind == Metadata {
			return ""
		}
		return f(conf)
	}
}

// stringItems returns the string items of the array conf[key].
func stringItems(conf map[string]any, key string) []string {
	arr, _ := conf[key].([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// sortedKeys gives Lua's pairs() a stable order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func checkIPs(conf map[string]any, keys ...string) string {
	for _, k := range keys {
		for _, ip := range stringItems(conf, k) {
			if !validCIDROrIP(ip) {
				return "invalid ip address: " + ip
			}
		}
	}
	return ""
}

func checkRegexes(conf map[string]any, keys ...string) string {
	for _, k := range keys {
		for _, re := range stringItems(conf, k) {
			if err := compileRegex(re); err != nil {
				return err.Error()
			}
		}
	}
	return ""
}

func checkCORS(conf map[string]any) string {
	if truthy(conf, "allow_credential") {
		for _, k := range []string{"allow_origins", "allow_methods", "allow_headers", "expose_headers", "timing_allow_origins"} {
			if conf[k] == "*" {
				return "you can not set '*' for other option when 'allow_credential' is true"
			}
		}
	}
	return checkRegexes(conf, "allow_origins_by_regex", "timing_allow_origins_by_regex")
}

// checkJWTConsumer: the key material a consumer needs for its algorithm.
func checkJWTConsumer(kind SchemaKind, conf map[string]any) string {
	if kind != Consumer {
		return ""
	}
	alg, _ := conf["algorithm"].(string)
	hs := strings.HasPrefix(alg, "HS")
	if hs && !truthy(conf, "secret") {
		return `property "secret" is required when using HS based algorithms`
	}
	if secret, ok := conf["secret"].(string); ok && truthy(conf, "base64_secret") && !isSecretRef(secret) && !validBase64(secret) {
		return "base64_secret required but the secret is not in base64 format"
	}
	if !hs && !truthy(conf, "public_key") {
		return "missing valid public key"
	}
	return ""
}

func checkProxyRewrite(conf map[string]any) string {
	if re := stringItems(conf, "regex_uri"); len(re) > 0 {
		if len(re)%2 != 0 {
			return "The length of regex_uri should be an even number"
		}
		for i := 0; i < len(re); i += 2 {
			if msg := checkRegexURI(re[i], re[i+1]); msg != "" {
				return "invalid regex_uri(" + re[i] + ", " + re[i+1] + "): " + msg
			}
		}
	}
	headers, _ := conf["headers"].(map[string]any)
	if headers == nil || isNewHeadersConf(headers) {
		return ""
	}
	for _, field := range sortedKeys(headers) {
		s, isString := headers[field].(string)
		if _, isNumber := headers[field].(json.Number); !isString && !isNumber {
			return "invalid type as header value"
		}
		if field == "" {
			return "invalid field length in header"
		}
		if !validHeaderField(field) {
			return "invalid field character in header"
		}
		if isString && !validHeaderValue(s) {
			return "invalid value character in header"
		}
	}
	return ""
}

// checkRegexURI is the ngx.re.sub probe proxy-rewrite and redirect make
// with each regex_uri pair; secret references are resolved only at run
// time, so a referenced pattern is not probed and a referenced
// replacement is probed as "".
func checkRegexURI(pattern, replacement string) string {
	if isSecretRef(pattern) {
		return ""
	}
	if isSecretRef(replacement) {
		replacement = ""
	}
	if err := checkSub(pattern, replacement); err != nil {
		return err.Error()
	}
	return ""
}

// isNewHeadersConf tells the {add, set, remove} form of headers from the
// legacy flat map (where "add" could be a header name).
func isNewHeadersConf(h map[string]any) bool {
	for _, k := range []string{"add", "set", "remove"} {
		if isTable(h[k]) {
			return true
		}
	}
	return false
}

// limitCountSchemaErr: a conf with both forms fails the schema's oneOf,
// which APISIX words in the plugin's terms.
func limitCountSchemaErr(conf map[string]any, detail string) string {
	if strings.Contains(detail, "value should match only one schema") &&
		(truthy(conf, "count") || truthy(conf, "time_window")) && truthy(conf, "rules") {
		return "count/time_window and rules cannot be specified at the same time"
	}
	return detail
}

// checkLimitCount mirrors limit-count's check_schema, except the "group
// conf mismatched" check: APISIX compares against the first conf a worker
// cached for the group, process-local state that an Admin API check must
// not depend on.
func checkLimitCount(conf map[string]any) string {
	if truthy(conf, "rules") && (truthy(conf, "count") || truthy(conf, "time_window")) {
		return "count/time_window and rules cannot be specified at the same time"
	}
	if truthy(conf, "group") && truthy(conf, "rules") {
		return "group and rules cannot be specified at the same time"
	}
	switch conf["policy"] {
	case "redis", "redis-cluster", "redis-sentinel":
		if si, ok := number(conf, "sync_interval"); ok && si != -1 {
			if si < 0.1 {
				return "sync_interval should not be smaller than 0.1"
			}
			if tw, ok := number(conf, "time_window"); ok && si >= tw {
				return "sync_interval should be smaller than time_window"
			}
		}
	}
	seen := map[string]bool{}
	rules, _ := conf["rules"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		key, _ := rule["key"].(string)
		if seen[key] {
			return fmt.Sprintf("duplicate key '%s' in rules", key)
		}
		seen[key] = true
	}
	return ""
}

func checkRedirect(conf map[string]any) string {
	if re := stringItems(conf, "regex_uri"); len(re) == 2 {
		if msg := checkRegexURI(re[0], re[1]); msg != "" {
			return fmt.Sprintf("invalid regex_uri (%s, %s), err:%s", re[0], re[1], msg)
		}
	}
	if truthy(conf, "http_to_https") && truthy(conf, "append_query_string") {
		return "only one of `http_to_https` and `append_query_string` can be configured."
	}
	return ""
}

func checkResponseRewrite(conf map[string]any) string {
	if headers, ok := conf["headers"].(map[string]any); ok && !isNewHeadersConf(headers) {
		for _, field := range sortedKeys(headers) {
			switch headers[field].(type) {
			case string, json.Number:
			default:
				return "invalid type as header value"
			}
			if field == "" {
				return "invalid field length in header"
			}
		}
	}
	if truthy(conf, "body_base64") {
		body, _ := conf["body"].(string)
		if !isSecretRef(body) && (body == "" || !validBase64(body)) {
			return "invalid base64 content"
		}
	}
	if vars, ok := conf["vars"].([]any); ok {
		if err := resource.CheckExpr(vars); err != nil {
			return "failed to validate the 'vars' expression: " + err.Error()
		}
	}
	filters, _ := conf["filters"].([]any)
	for _, f := range filters {
		filter, _ := f.(map[string]any)
		opts, _ := filter["options"].(string)
		if err := checkRegexOptions(opts); err != nil {
			re, _ := filter["regex"].(string)
			return `regex "` + re + `" validation failed: ` + err.Error()
		}
	}
	return ""
}

// checkFaultInjection compiles every abort.vars and delay.vars entry; the
// expression's own error is the whole message.
func checkFaultInjection(conf map[string]any) string {
	for _, k := range []string{"abort", "delay"} {
		part, _ := conf[k].(map[string]any)
		vars, _ := part["vars"].([]any)
		for _, v := range vars {
			rule, _ := v.([]any)
			if err := resource.CheckExpr(rule); err != nil {
				return err.Error()
			}
		}
	}
	return ""
}

// checkTrafficSplit compiles every rules[].match[].vars. A match without
// vars is accepted: lua-resty-expr's newest source refuses a missing rule
// ("missing argument rule") but older releases took it as "always", and
// accepting is the side that cannot break an APISIX configuration.
func checkTrafficSplit(conf map[string]any) string {
	rules, _ := conf["rules"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		matches, _ := rule["match"].([]any)
		for _, m := range matches {
			match, _ := m.(map[string]any)
			vars, ok := match["vars"].([]any)
			if !ok {
				continue
			}
			if err := resource.CheckExpr(vars); err != nil {
				return "failed to validate the 'vars' expression: " + err.Error()
			}
		}
	}
	return ""
}

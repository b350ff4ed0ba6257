package plugins

import (
	"encoding/json"
	"strings"
	"testing"
)

const failed = "failed to check the configuration of plugin "

// checkCase is one conf for one plugin and the error APISIX returns for
// it ("" = accepted). Texts marked "t/" are copied from APISIX's test
// suite (t/plugin/*.t, t/admin/*.t).
type checkCase struct {
	plugin string
	kind   SchemaKind
	conf   string
	want   string
}

// Every plugin of config-default.yaml has at least one accepted conf here.
var checkCases = []checkCase{
	// real-ip
	{"real-ip", Route, `{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.1","10.0.0.0/8","::1","fe80::/10"],"recursive":true}`, ""},
	{"real-ip", Route, `{}`, failed + `real-ip err: property "source" is required`},                                                                                                                                 // t/
	{"real-ip", Route, `{"source":"x","trusted_addresses":["::1/129"]}`, failed + `real-ip err: invalid ip address: ::1/129`},                                                                                       // t/
	{"real-ip", Route, `{"source":"x","trusted_addresses":["1.1.1.1/33"]}`, failed + `real-ip err: property "trusted_addresses" validation failed: failed to validate item 1: object matches none of the required`}, // t/

	// request-id
	{"request-id", Route, `{}`, ""},
	{"request-id", Route, `{"algorithm":"range_id","range_id":{"length":10,"char_set":"abcdef"}}`, ""},
	{"request-id", Route, `{"include_in_response":"yes"}`, failed + `request-id err: property "include_in_response" validation failed: wrong type: expected boolean, got string`}, // t/
	{"request-id", Route, `{"algorithm":"snowflake"}`, failed + `request-id err: property "algorithm" validation failed: matches none of the enum values`},
	{"request-id", Route, `{"algorithm":"range_id","range_id":{"length":5}}`, failed + `request-id err: property "range_id" validation failed: property "length" validation failed: expected 5 to be at least 6`},

	// ext-plugin-*
	{"ext-plugin-pre-req", Route, `{"conf":[{"name":"foo","value":"bar"}]}`, ""},
	{"ext-plugin-pre-req", Route, `{"conf":[{"value":"bar"}]}`, failed + `ext-plugin-pre-req err: property "conf" validation failed: failed to validate item 1: property "name" is required`},   // t/
	{"ext-plugin-post-req", Route, `{"conf":[{"name":"foo"}]}`, failed + `ext-plugin-post-req err: property "conf" validation failed: failed to validate item 1: property "value" is required`}, // t/
	{"ext-plugin-post-req", Route, `{}`, ""},
	{"ext-plugin-post-resp", Route, `{"allow_degradation":true}`, ""},
	{"ext-plugin-post-resp", Route, `{"conf":[]}`, failed + `ext-plugin-post-resp err: property "conf" validation failed: expect array to have at least 1 items`},

	// fault-injection
	{"fault-injection", Route, `{"abort":{"http_status":403,"body":"no","vars":[[["arg_name","==","jack"]]]},"delay":{"duration":0.5}}`, ""},
	{"fault-injection", Route, `{}`, failed + `fault-injection err: expect object to have at least 1 properties`},
	{"fault-injection", Route, `{"abort":{"http_status":100}}`, failed + `fault-injection err: property "abort" validation failed: property "http_status" validation failed: expected 100 to be at least 200`},
	{"fault-injection", Route, `{"delay":{"duration":1,"vars":[["arg_name","!=","jack"]]}}`, failed + `fault-injection err: rule should be wrapped inside brackets`}, // t/
	{"fault-injection", Route, `{"abort":{"http_status":403,"vars":[[["arg_name","=","jack"]]]}}`, failed + `fault-injection err: invalid operator '='`},

	// serverless
	{"serverless-pre-function", Route, `{"phase":"rewrite","functions":["return function() ngx.say('hi') end"]}`, ""},
	{"serverless-pre-function", Route, `{"phase":"init","functions":["return function() end"]}`, failed + `serverless-pre-function err: property "phase" validation failed: matches none of the enum values`}, // t/
	{"serverless-post-function", Route, `{"phase":"log","functions":["return function() end","return function() end"]}`, ""},
	{"serverless-post-function", Route, `{"functions":[]}`, failed + `serverless-post-function err: property "functions" validation failed: expect array to have at least 1 items`},
	{"serverless-post-function", Route, `{}`, failed + `serverless-post-function err: property "functions" is required`},

	// cors
	{"cors", Route, `{}`, ""},
	{"cors", Route, `{"allow_origins":"http://a.com,https://b.com","allow_credential":true,"allow_methods":"GET","allow_headers":"x-a","expose_headers":"x-b","allow_origins_by_regex":[".*\\.test\\.com$"]}`, ""},
	{"cors", Route, `{"allow_credential":true}`, failed + `cors err: you can not set '*' for other option when 'allow_credential' is true`}, // defaults are "*"
	{"cors", Route, `{"allow_origins":"a.com"}`, failed + `cors err: property "allow_origins" validation failed: failed to match pattern "^(\\*|\\*\\*|null|\\w+://[^,]+(,\\w+://[^,]+)*)$" with "a.com"`},
	{"cors", Route, `{"max_age":"5"}`, failed + `cors err: property "max_age" validation failed: wrong type: expected integer, got string`}, // t/
	{"cors", Route, `{"allow_origins_by_regex":["(a"]}`, failed + `cors err: pcre_compile() failed: missing ) in "(a"`},
	{"cors", Metadata, `{"allow_origins":{"key_1":"https://a.com"}}`, ""},
	{"cors", Metadata, `{"allow_origins":{"key_1":"a.com"}}`, failed + `cors err: property "allow_origins" validation failed: failed to validate additional property key_1: failed to match pattern "^(\\*|\\*\\*|null|\\w+://[^,]+(,\\w+://[^,]+)*)$" with "a.com"`},

	// ip-restriction
	{"ip-restriction", Route, `{"whitelist":["127.0.0.1","113.74.26.106/24","::1"],"message":"go away","response_code":404}`, ""},
	{"ip-restriction", Route, `{"blacklist":["10.0.0.0/8"]}`, ""},
	{"ip-restriction", Route, `{}`, failed + `ip-restriction err: value should match only one schema, but matches none`},
	{"ip-restriction", Route, `{"whitelist":["1.1.1.1"],"blacklist":["2.2.2.2"]}`, failed + `ip-restriction err: value should match only one schema, but matches both schemas 1 and 2`},
	{"ip-restriction", Route, `{"whitelist":["::1/129"]}`, failed + `ip-restriction err: invalid ip address: ::1/129`},
	{"ip-restriction", Route, `{"whitelist":["1.1.1.1"],"response_code":409}`, failed + `ip-restriction err: property "response_code" validation failed: expected 409 to be at most 404`}, // t/

	// ua-restriction
	{"ua-restriction", Route, `{"denylist":["Twitterbot/1\\.0","^curl"]}`, ""},
	{"ua-restriction", Route, `{}`, failed + `ua-restriction err: value should match only one schema, but matches none`}, // t/
	{"ua-restriction", Route, `{"allowlist":["[a"]}`, failed + `ua-restriction err: pcre_compile() failed: missing terminating ] for character class in "[a"`},
	{"ua-restriction", Route, `{"denylist":["a"],"message":""}`, failed + `ua-restriction err: property "message" validation failed: string too short, expected at least 1, got 0`},

	// uri-blocker
	{"uri-blocker", Route, `{"block_rules":["root.exe","root.m+"],"rejected_code":403,"rejected_msg":"blocked"}`, ""},
	{"uri-blocker", Route, `{"block_rules":[".+("]}`, failed + `uri-blocker err: pcre_compile() failed: missing ) in ".+("`},                                                               // t/
	{"uri-blocker", Route, `{"block_rules":["^b("]}`, failed + `uri-blocker err: pcre_compile() failed: missing ) in "^b("`},                                                               // t/
	{"uri-blocker", Route, `{"block_rules":["a"],"rejected_msg":""}`, failed + `uri-blocker err: property "rejected_msg" validation failed: string too short, expected at least 1, got 0`}, // t/
	{"uri-blocker", Route, `{"block_rules":["a"],"rejected_msg":true}`, failed + `uri-blocker err: property "rejected_msg" validation failed: wrong type: expected string, got boolean`},   // t/
	{"uri-blocker", Route, `{"block_rules":["a","a"]}`, failed + `uri-blocker err: property "block_rules" validation failed: expected unique items but items 1 and 2 are equal`},

	// hmac-auth
	{"hmac-auth", Route, `{"allowed_algorithms":["hmac-sha256"],"clock_skew":10,"signed_headers":["date","x-a"],"validate_request_body":true}`, ""},
	{"hmac-auth", Route, `{"allowed_algorithms":["md5"]}`, failed + `hmac-auth err: property "allowed_algorithms" validation failed: failed to validate item 1: matches none of the enum values`},
	{"hmac-auth", Consumer, `{"key_id":"user-key","secret_key":"my-secret-key"}`, ""},
	{"hmac-auth", Consumer, `{"secret_key":"s"}`, failed + `hmac-auth err: property "key_id" is required`},                                                                                                   // t/
	{"hmac-auth", Consumer, `{"key_id":"k"}`, failed + `hmac-auth err: property "secret_key" is required`},                                                                                                   // t/
	{"hmac-auth", Consumer, `{"key_id":"` + strings.Repeat("a", 320) + `","secret_key":"s"}`, failed + `hmac-auth err: property "key_id" validation failed: string too long, expected at most 256, got 320`}, // t/

	// basic-auth
	{"basic-auth", Route, `{"hide_credentials":true,"realm":"my realm"}`, ""},
	{"basic-auth", Route, `{"realm":"a\"b"}`, failed + `basic-auth err: property "realm" validation failed: failed to match pattern "^[ -!#-[\\]-~]+$" with "a\"b"`},
	{"basic-auth", Route, `{"anonymous_consumer":true}`, failed + `basic-auth err: property "anonymous_consumer" validation failed: wrong type: expected string, got boolean`}, // t/
	{"basic-auth", Consumer, `{"username":"foo","password":"bar"}`, ""},
	{"basic-auth", Consumer, `{"username":"foo"}`, failed + `basic-auth err: property "password" is required`},                                                               // t/
	{"basic-auth", Consumer, `{"username":123,"password":"bar"}`, failed + `basic-auth err: property "username" validation failed: wrong type: expected string, got number`}, // t/

	// jwt-auth
	{"jwt-auth", Route, `{"header":"x-jwt","claims_to_verify":["exp"]}`, ""},
	{"jwt-auth", Route, `{"claims_to_verify":["iat"]}`, failed + `jwt-auth err: property "claims_to_verify" validation failed: failed to validate item 1: matches none of the enum values`},
	{"jwt-auth", Consumer, `{"key":"user-key","secret":"my-secret-key"}`, ""},
	{"jwt-auth", Consumer, `{"key":"user-key","secret":"bXktc2VjcmV0","base64_secret":true}`, ""},
	{"jwt-auth", Consumer, `{"key":"user-key","algorithm":"RS256","public_key":"-----BEGIN PUBLIC KEY-----"}`, ""},
	{"jwt-auth", Consumer, `{"key":"user-key"}`, failed + `jwt-auth err: property "secret" is required when using HS based algorithms`},                                                                  // t/
	{"jwt-auth", Consumer, `{"key":"user-key","algorithm":"RS256"}`, failed + `jwt-auth err: failed to validate dependent schema for "algorithm": value should match only one schema, but matches none`}, // t/
	{"jwt-auth", Consumer, `{"key":"user-key","algorithm":"HS512","public_key":"x","secret":"s"}`, ""},
	{"jwt-auth", Consumer, `{"key":"user-key","algorithm":"ES255","secret":"s"}`, failed + `jwt-auth err: property "algorithm" validation failed: matches none of the enum values`}, // t/
	{"jwt-auth", Consumer, `{"key":"","secret":"s"}`, failed + `jwt-auth err: property "key" validation failed: string too short, expected at least 1, got 0`},                      // t/
	{"jwt-auth", Consumer, `{"key":"k","secret":"not base64!","base64_secret":true}`, failed + `jwt-auth err: base64_secret required but the secret is not in base64 format`},
	{"jwt-auth", Consumer, `{"key":"k","secret":"$env://JWT_SECRET","base64_secret":true}`, ""},

	// key-auth
	{"key-auth", Route, `{"header":"Authorization","hide_credentials":true}`, ""},
	{"key-auth", Route, `{"anonymous_consumer":7}`, failed + `key-auth err: property "anonymous_consumer" validation failed: wrong type: expected string, got number`}, // t/
	{"key-auth", Consumer, `{"key":"auth-one"}`, ""},
	{"key-auth", Consumer, `{}`, failed + `key-auth err: property "key" is required`},                                                         // t/
	{"key-auth", Consumer, `{"key":123}`, failed + `key-auth err: property "key" validation failed: wrong type: expected string, got number`}, // t/

	// consumer-restriction
	{"consumer-restriction", Route, `{"whitelist":["jack"]}`, ""},
	{"consumer-restriction", Route, `{"allowed_by_methods":[{"user":"jack","methods":["POST","GET"]}],"rejected_code":401}`, ""},
	{"consumer-restriction", Route, `{"type":"route_id"}`, failed + `consumer-restriction err: object matches none of the required: ["blacklist"] or ["whitelist"] or ["allowed_by_methods"]`},
	{"consumer-restriction", Route, `{"allowed_by_methods":[{"user":"jack","methods":["FETCH"]}]}`, failed + `consumer-restriction err: property "allowed_by_methods" validation failed: failed to validate item 1: property "methods" validation failed: failed to validate item 1: matches none of the enum values`},

	// proxy-mirror
	{"proxy-mirror", Route, `{"host":"http://127.0.0.1:1986","path":"/a","sample_ratio":0.5}`, ""},
	{"proxy-mirror", Route, `{"host":"http://[::1]:1986","path_concat_mode":"prefix"}`, ""},
	{"proxy-mirror", Route, `{"host":"http://127.0.0.1:1986","sample_ratio":10}`, failed + `proxy-mirror err: property "sample_ratio" validation failed: expected 10 to be at most 1`}, // t/
	{"proxy-mirror", Route, `{"host":"127.0.0.1:1986"}`, failed + `proxy-mirror err: property "host" validation failed: failed to match pattern "^(http(s)?|grpc(s)?):\\/\\/([\\da-zA-Z.-]+|\\[[\\da-fA-F:]+\\])(:\\d+)?$" with "127.0.0.1:1986"`},

	// proxy-rewrite
	{"proxy-rewrite", Route, `{"uri":"/test/home.html","host":"apisix.iresty.com","headers":{"X-Api":"v2","X-N":1}}`, ""},
	{"proxy-rewrite", Route, `{"regex_uri":["^/test/(.*)/(.*)","/$1/${2}$$"],"method":"POST","headers":{"add":{"X-A":["a","b"]},"set":{"X-B":"c"},"remove":["X-C"]}}`, ""},
	// api7 counts the injected default use_real_request_uri_unsafe toward minProperties
	{"proxy-rewrite", Route, `{}`, ""},
	{"proxy-rewrite", Route, `{"uri":"home"}`, failed + `proxy-rewrite err: property "uri" validation failed: failed to match pattern "^\\/.*" with "home"`}, // t/
	{"proxy-rewrite", Route, `{"method":"GOT"}`, failed + `proxy-rewrite err: property "method" validation failed: matches none of the enum values`},         // t/
	{"proxy-rewrite", Route, `{"regex_uri":["^/a","/b","^/c"]}`, failed + `proxy-rewrite err: The length of regex_uri should be an even number`},
	{"proxy-rewrite", Route, `{"regex_uri":["[^/test/(.*)","/$1"]}`, failed + `proxy-rewrite err: invalid regex_uri([^/test/(.*), /$1): pcre_compile() failed: missing terminating ] for character class in "[^/test/(.*)"`},
	{"proxy-rewrite", Route, `{"regex_uri":["^/test/(.*)","/$name"]}`, failed + `proxy-rewrite err: invalid regex_uri(^/test/(.*), /$name): failed to compile the replacement template`},
	{"proxy-rewrite", Route, `{"regex_uri":["$secret://vault/1/re","/$1"]}`, ""},
	{"proxy-rewrite", Route, `{"headers":{"X-A b":"v"}}`, failed + `proxy-rewrite err: invalid field character in header`},
	{"proxy-rewrite", Route, `{"headers":{"X-A":"v\u0001"}}`, failed + `proxy-rewrite err: invalid value character in header`},
	{"proxy-rewrite", Route, `{"headers":{"X-A":true}}`, failed + `proxy-rewrite err: property "headers" validation failed: value should match only one schema, but matches none`},

	// limit-conn
	{"limit-conn", Route, `{"conn":1,"burst":0,"default_conn_delay":0.1,"rejected_code":503,"key":"remote_addr"}`, ""},
	{"limit-conn", Route, `{"conn":"$http_conn","burst":"${http_burst}","default_conn_delay":0.1,"key":"remote_addr"}`, ""},
	{"limit-conn", Route, `{"default_conn_delay":0.1,"rules":[{"conn":1,"burst":1,"key":"${http_user}"}]}`, ""},
	{"limit-conn", Route, `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","policy":"redis","redis_host":"127.0.0.1"}`, ""},
	{"limit-conn", Route, `{"conn":1,"burst":0,"key":"remote_addr"}`, failed + `limit-conn err: value should match only one schema, but matches none`},                                                                                         // t/
	{"limit-conn", Route, `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rules":[{"conn":1,"burst":1,"key":"k"}]}`, failed + `limit-conn err: value should match only one schema, but matches both schemas 1 and 2`},       // t/
	{"limit-conn", Route, `{"conn":0,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`, failed + `limit-conn err: property "conn" validation failed: value should match only one schema, but matches none`},                             // t/
	{"limit-conn", Route, `{"conn":1,"burst":0,"default_conn_delay":0,"key":"remote_addr"}`, failed + `limit-conn err: property "default_conn_delay" validation failed: expected 0 to be greater than 0`},                                      // t/
	{"limit-conn", Route, `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","allow_degradation":"true"}`, failed + `limit-conn err: property "allow_degradation" validation failed: wrong type: expected boolean, got string`}, // t/
	{"limit-conn", Route, `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","policy":"redis"}`, failed + `limit-conn err: then clause did not match`},                                                                          // t/

	// limit-count
	{"limit-count", Route, `{"count":2,"time_window":60,"rejected_code":503,"key":"remote_addr"}`, ""},
	{"limit-count", Route, `{"count":"${http_count ?? 2}","time_window":60,"window_type":"sliding","key_type":"var_combination","key":"$remote_addr $http_x"}`, ""},
	{"limit-count", Route, `{"rules":[{"count":1,"time_window":10,"key":"${http_a}"},{"count":2,"time_window":20,"key":"${http_b}"}]}`, ""},
	{"limit-count", Route, `{"count":1,"time_window":60,"policy":"redis","redis_host":"127.0.0.1","sync_interval":0.5}`, ""},
	{"limit-count", Route, `{"count":1,"time_window":60,"policy":"redis-sentinel","redis_sentinels":[{"host":"127.0.0.1","port":26379}],"redis_master_name":"m"}`, ""},
	{"limit-count", Route, `{"time_window":60}`, failed + `limit-count err: value should match only one schema, but matches none`},                                                                                        // t/
	{"limit-count", Route, `{"count":-1,"time_window":60}`, failed + `limit-count err: property "count" validation failed: value should match only one schema, but matches none`},                                         // t/
	{"limit-count", Route, `{"count":1,"time_window":60,"rules":[{"count":1,"time_window":10,"key":"k"}]}`, failed + `limit-count err: count/time_window and rules cannot be specified at the same time`},                 // t/
	{"limit-count", Route, `{"rules":[{"count":1,"time_window":10,"key":"${http_company}"},{"count":2,"time_window":20,"key":"${http_company}"}]}`, failed + `limit-count err: duplicate key '${http_company}' in rules`}, // t/
	{"limit-count", Route, `{"rules":[{"count":1,"time_window":10,"key":"k"}],"group":"g"}`, failed + `limit-count err: group and rules cannot be specified at the same time`},
	{"limit-count", Route, `{"count":1,"time_window":60,"policy":"redis"}`, failed + `limit-count err: then clause did not match`},                                       // t/
	{"limit-count", Route, `{"count":1,"time_window":60,"policy":"redis-cluster","redis_cluster_nodes":["a:1"]}`, failed + `limit-count err: else clause did not match`}, // t/
	{"limit-count", Route, `{"count":1,"time_window":60,"policy":"redis","redis_host":"127.0.0.1","sync_interval":0.05}`, failed + `limit-count err: sync_interval should not be smaller than 0.1`},
	{"limit-count", Route, `{"count":1,"time_window":60,"policy":"redis","redis_host":"127.0.0.1","sync_interval":60}`, failed + `limit-count err: sync_interval should be smaller than time_window`},
	{"limit-count", Route, `{"count":1,"time_window":60,"sync_interval":0.01}`, ""},                                                                                                               // only redis policies sync
	{"limit-count", Route, `{"count":1,"time_window":60,"rejected_msg":""}`, failed + `limit-count err: property "rejected_msg" validation failed: string too short, expected at least 1, got 0`}, // t/
	{"limit-count", Metadata, `{"limit_header":"X-Limit"}`, ""},
	{"limit-count", Metadata, `{"limit_header":1}`, failed + `limit-count err: property "limit_header" validation failed: wrong type: expected string, got number`},

	// limit-req
	{"limit-req", Route, `{"rate":1,"burst":0.5,"key":"remote_addr","nodelay":true}`, ""},
	{"limit-req", Route, `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis-cluster","redis_cluster_nodes":["127.0.0.1:5000"],"redis_cluster_name":"c"}`, ""},
	{"limit-req", Route, `{"rate":-1,"burst":0,"key":"remote_addr"}`, failed + `limit-req err: property "rate" validation failed: expected -1 to be greater than 0`}, // t/
	{"limit-req", Route, `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis"}`, failed + `limit-req err: then clause did not match`},                           // t/
	{"limit-req", Route, `{"rate":1,"burst":0}`, failed + `limit-req err: property "key" is required`},

	// gzip
	{"gzip", Route, `{}`, ""},
	{"gzip", Route, `{"types":"*","min_length":1,"comp_level":9,"http_version":1.0,"buffers":{"number":1,"size":1},"vary":true}`, ""},
	{"gzip", Route, `{"types":["text/html","application/json"],"http_version":1}`, ""},
	{"gzip", Route, `{"buffers":{"number":0}}`, failed + `gzip err: property "buffers" validation failed: property "number" validation failed: expected 0 to be at least 1`}, // t/
	{"gzip", Route, `{"comp_level":10}`, failed + `gzip err: property "comp_level" validation failed: expected 10 to be at most 9`},                                          // t/
	{"gzip", Route, `{"http_version":2}`, failed + `gzip err: property "http_version" validation failed: matches none of the enum values`},                                   // t/
	{"gzip", Route, `{"types":"text/html"}`, failed + `gzip err: property "types" validation failed: object matches none of the required`},                                   // t/
	{"gzip", Route, `{"vary":0}`, failed + `gzip err: property "vary" validation failed: wrong type: expected boolean, got number`},                                          // t/

	// traffic-split
	{"traffic-split", Route, `{"rules":[{"match":[{"vars":[["arg_name","==","jack"]]}],"weighted_upstreams":[{"upstream":{"nodes":{"127.0.0.1:1981":1},"type":"roundrobin"},"weight":2},{"weight":1}]}]}`, ""},
	{"traffic-split", Route, `{"rules":[{"match":[{}],"weighted_upstreams":[{"upstream_id":"u1"}]}]}`, ""},
	{"traffic-split", Route, `{"rules":[{"match":[{"vars":[["arg_name","123","jack"]]}]}]}`, failed + `traffic-split err: failed to validate the 'vars' expression: invalid operator '123'`}, // t/
	{"traffic-split", Route, `{"rules":[{"weighted_upstreams":[{"weight":-1}]}]}`, failed + `traffic-split err: property "rules" validation failed: failed to validate item 1: property "weighted_upstreams" validation failed: failed to validate item 1: property "weight" validation failed: expected -1 to be at least 0`},
	{"traffic-split", Route, `{"rules":[{"weighted_upstreams":[{"upstream":{"nodes":{"127.0.0.1:1981":1},"type":"roundrobin","scheme":"ftp"}}]}]}`, failed + `traffic-split err: property "rules" validation failed: failed to validate item 1: property "weighted_upstreams" validation failed: failed to validate item 1: property "upstream" validation failed: property "scheme" validation failed: matches none of the enum values`},
	{"traffic-split", Route, `{"rules":[{"weighted_upstreams":[{"upstream_id":"a b"}]}]}`, failed + `traffic-split err: property "rules" validation failed: failed to validate item 1: property "weighted_upstreams" validation failed: failed to validate item 1: property "upstream_id" validation failed: object matches none of the required`},

	// redirect
	{"redirect", Route, `{"uri":"/test/${uri}?a=$arg_a","ret_code":301}`, ""},
	{"redirect", Route, `{"regex_uri":["^/iresty/(.*)/(.*)","/$1-$2"]}`, ""},
	{"redirect", Route, `{"http_to_https":true}`, ""},
	{"redirect", Route, `{"uri":"/x","http_to_https":true}`, failed + `redirect err: value should match only one schema, but matches both schemas 1 and 3`},                     // t/
	{"redirect", Route, `{"http_to_https":true,"append_query_string":true}`, failed + "redirect err: only one of `http_to_https` and `append_query_string` can be configured."}, // t/
	{"redirect", Route, `{"regex_uri":["^/(a","/b"]}`, failed + `redirect err: invalid regex_uri (^/(a, /b), err:pcre_compile() failed: missing ) in "^/(a"`},
	{"redirect", Route, `{"ret_code":100,"uri":"/a"}`, failed + `redirect err: property "ret_code" validation failed: expected 100 to be at least 200`},

	// response-rewrite
	{"response-rewrite", Route, `{"status_code":200,"body":"new body","headers":{"X-Server-id":3,"X-Server-status":"on"},"vars":[["status","==",200]]}`, ""},
	{"response-rewrite", Route, `{"headers":{"add":["X-A: b"],"set":{"X-B":"c"},"remove":["X-C"]},"filters":[{"regex":"hello","replace":"world","scope":"global"}]}`, ""},
	{"response-rewrite", Route, `{"body":"aGVsbG8=","body_base64":true}`, ""},
	{"response-rewrite", Route, `{"status_code":599}`, failed + `response-rewrite err: property "status_code" validation failed: expected 599 to be at most 598`},                                                                                               // t/
	{"response-rewrite", Route, `{"body":1}`, failed + `response-rewrite err: property "body" validation failed: wrong type: expected string, got number`},                                                                                                      // t/
	{"response-rewrite", Route, `{"body":"*","body_base64":true}`, failed + `response-rewrite err: invalid base64 content`},                                                                                                                                     // t/
	{"response-rewrite", Route, `{"body_base64":true}`, failed + `response-rewrite err: invalid base64 content`},                                                                                                                                                // t/
	{"response-rewrite", Route, `{"filters":[]}`, failed + `response-rewrite err: property "filters" validation failed: expect array to have at least 1 items`},                                                                                                 // t/
	{"response-rewrite", Route, `{"filters":[{"regex":"hello"}]}`, failed + `response-rewrite err: property "filters" validation failed: failed to validate item 1: property "replace" is required`},                                                            // t/
	{"response-rewrite", Route, `{"filters":[{"regex":"","replace":"x"}]}`, failed + `response-rewrite err: property "filters" validation failed: failed to validate item 1: property "regex" validation failed: string too short, expected at least 1, got 0`}, // t/
	{"response-rewrite", Route, `{"filters":[{"regex":"hello","replace":"x","options":"h"}]}`, failed + `response-rewrite err: regex "hello" validation failed: unknown flag "h" (flags "h")`},                                                                  // t/
	{"response-rewrite", Route, `{"body":"x","filters":[{"regex":"hello","replace":"x"}]}`, failed + `response-rewrite err: failed to validate dependent schema for "body": value wasn't supposed to match schema`},
	{"response-rewrite", Route, `{"vars":[["status","=",200]]}`, failed + `response-rewrite err: failed to validate the 'vars' expression: invalid operator '='`},
	{"response-rewrite", Route, `{"headers":{"add":"x"}}`, ""},

	// public-api
	{"public-api", Route, `{"uri":"/apisix/prometheus/metrics"}`, ""},
	{"public-api", Route, `{"uri":1}`, failed + `public-api err: property "uri" validation failed: wrong type: expected string, got number`},

	// prometheus
	{"prometheus", Route, `{"prefer_name":true}`, ""},
	{"prometheus", Route, `{"prefer_name":"yes"}`, failed + `prometheus err: property "prefer_name" validation failed: wrong type: expected boolean, got string`},
	{"prometheus", Metadata, `{"disabled_labels":{"http_status":["consumer","node"]}}`, ""},
	{"prometheus", Metadata, `{"disabled_labels":{"http_status":["code"]}}`, failed + `prometheus err: property "disabled_labels" validation failed: property "http_status" validation failed: failed to validate item 1: matches none of the enum values`},
	{"prometheus", Metadata, `{"disabled_labels":{"unknown_metric":[]}}`, failed + `prometheus err: property "disabled_labels" validation failed: additional properties forbidden, found unknown_metric`},

	// echo
	{"echo", Route, `{"before_body":"before the body modification "}`, ""},
	{"echo", Route, `{"headers":{"Location":"https://www.iresty.com"}}`, failed + `echo err: object matches none of the required: ["before_body"] or ["body"] or ["after_body"]`},
	{"echo", Route, `{"after_body":1}`, failed + `echo err: property "after_body" validation failed: wrong type: expected string, got number`}, // t/

	// _meta, injected into every plugin schema
	{"jwt-auth", Route, `{"_meta":true}`, failed + `jwt-auth err: property "_meta" validation failed: wrong type: expected object, got boolean`},                                                                          // t/
	{"jwt-auth", Route, `{"_meta":{"filter":"arg_name"}}`, failed + `jwt-auth err: property "_meta" validation failed: property "filter" validation failed: wrong type: expected array, got string`},                      // t/
	{"jwt-auth", Route, `{"_meta":{"error_response":1}}`, failed + `jwt-auth err: property "_meta" validation failed: property "error_response" validation failed: value should match only one schema, but matches none`}, // t/
	{"key-auth", Route, `{"_meta":{"disable":false,"error_response":{"message":"no"},"priority":1,"filter":[],"pre_function":"return function() end"}}`, ""},
	{"key-auth", Route, `{"_meta":{"disabled":true}}`, failed + `key-auth err: property "_meta" validation failed: additional properties forbidden, found disabled`},
	{"fault-injection", Route, `{"_meta":{"priority":1}}`, ""}, // _meta counts toward minProperties, as in APISIX

	// secret references skip string validation
	{"proxy-mirror", Route, `{"host":"$secret://vault/1/mirror"}`, ""},
	{"proxy-mirror", Route, `{"host":"$ENV://MIRROR_HOST"}`, ""},
	{"proxy-mirror", Route, `{"host":"http://a.com","sample_ratio":"$env://RATIO"}`, failed + `proxy-mirror err: property "sample_ratio" validation failed: wrong type: expected number, got string`},
	{"hmac-auth", Consumer, `{"key_id":"k","secret_key":"$secret://vault/1/` + strings.Repeat("a", 300) + `"}`, ""},

	// Consumer checks of non-auth plugins use their route schema.
	{"limit-count", Consumer, `{"count":1,"time_window":60}`, ""},
	{"limit-count", Consumer, `{"count":1}`, failed + `limit-count err: value should match only one schema, but matches none`},

	// Metadata of a plugin without a metadata schema: any object.
	{"key-auth", Metadata, `{"anything":1}`, ""},
	{"key-auth", Metadata, `"x"`, failed + `key-auth err: wrong type: expected object, got string`},
}

func TestCheck(t *testing.T) {
	for _, c := range checkCases {
		p, ok := Lookup(HTTP, c.plugin)
		if !ok {
			t.Fatalf("%s: not registered", c.plugin)
		}
		err := p.Check(c.kind, json.RawMessage(c.conf))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s kind %d %s:\n got  %s\n want %s", c.plugin, c.kind, c.conf, got, c.want)
		}
	}
}

// TestEveryPluginHasAcceptedConf keeps the table honest: a plugin added to
// the registry must come with a conf that passes.
func TestEveryPluginHasAcceptedConf(t *testing.T) {
	accepted := map[string]bool{}
	for _, c := range checkCases {
		if c.want == "" && c.kind == Route {
			accepted[c.plugin] = true
		}
	}
	for _, p := range All(HTTP) {
		if !accepted[p.Name] {
			t.Errorf("%s: no accepted Route conf in checkCases", p.Name)
		}
	}
}

func TestCheckDoesNotModifyConf(t *testing.T) {
	p, _ := Lookup(HTTP, "limit-count")
	conf := json.RawMessage(`{"count":1,"time_window":60,"_meta":[]}`)
	before := string(conf)
	if err := p.Check(Route, conf); err != nil {
		t.Fatal(err)
	}
	if string(conf) != before {
		t.Fatalf("conf changed: %s", conf)
	}
}

func TestCheckErrorFields(t *testing.T) {
	p, _ := Lookup(HTTP, "uri-blocker")
	err := p.Check(Route, json.RawMessage(`{"block_rules":["^b("]}`))
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %T, want *Error", err)
	}
	if e.Plugin != "uri-blocker" || e.Detail != `pcre_compile() failed: missing ) in "^b("` {
		t.Fatalf("fields %+v", e)
	}
}

func TestStreamCheck(t *testing.T) {
	lc, ok := Lookup(Stream, "limit-conn")
	if !ok {
		t.Fatal("stream limit-conn not registered")
	}
	if err := lc.Check(Route, json.RawMessage(`{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`)); err != nil {
		t.Fatal(err)
	}
	// The stream module's own schema: no variables, no rules, no redis.
	err := lc.Check(Route, json.RawMessage(`{"conn":"$var","burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`))
	want := `failed to check the configuration of stream plugin [limit-conn]: property "conn" validation failed: wrong type: expected integer, got string`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	ip, _ := Lookup(Stream, "ip-restriction")
	err = ip.Check(Route, json.RawMessage(`{"whitelist":["300.1.1.1"]}`))
	want = `failed to check the configuration of stream plugin [ip-restriction]: property "whitelist" validation failed: failed to validate item 1: object matches none of the required`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestCheckPlugins(t *testing.T) {
	only := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, x := range names {
				if x == n {
					return true
				}
			}
			return false
		}
	}
	cases := []struct {
		name    string
		plugins string
		enabled func(string) bool
		kind    SchemaKind
		sub     Subsystem
		want    string
	}{
		{"ok", `{"key-auth":{},"limit-count":{"count":1,"time_window":60}}`, nil, Route, HTTP, ""},
		{"empty", `{}`, nil, Route, HTTP, ""},
		{"unknown", `{"no-such-plugin":{}}`, nil, Route, HTTP, "unknown plugin [no-such-plugin]"},
		{"not enabled", `{"key-auth":{}}`, only("basic-auth"), Route, HTTP, "unknown plugin [key-auth]"},
		{"enabled", `{"key-auth":{}}`, only("key-auth"), Route, HTTP, ""},
		{"string conf", `{"basic-auth":"blah"}`, nil, Consumer, HTTP, `invalid plugin conf "blah" for plugin [basic-auth]`}, // t/
		{"escaped conf", `{"key-auth":"a/b\"c\n"}`, nil, Route, HTTP, `invalid plugin conf "a\/b\"c\n" for plugin [key-auth]`},
		{"number conf", `{"key-auth":1.50}`, nil, Route, HTTP, `invalid plugin conf 1.5 for plugin [key-auth]`},
		{"null conf", `{"key-auth":null}`, nil, Route, HTTP, `invalid plugin conf null for plugin [key-auth]`},
		{"bool conf", `{"key-auth":true}`, nil, Route, HTTP, `invalid plugin conf true for plugin [key-auth]`},
		// a non-object conf is refused before the name is looked up
		{"bad conf of unknown plugin", `{"nope":false}`, nil, Route, HTTP, `invalid plugin conf false for plugin [nope]`},
		// an array is a Lua table: it reaches the schema
		{"array conf", `{"key-auth":[1]}`, nil, Route, HTTP, failed + `key-auth err: wrong type: expected object, got table`},
		{"empty array conf", `{"key-auth":[]}`, nil, Route, HTTP, ""},
		{"consumer schema", `{"key-auth":{}}`, nil, Consumer, HTTP, "failed to check the configuration of plugin key-auth err: property \"key\" is required"}, // t/
		{"first by name", `{"redirect":{},"cors":{"max_age":"x"}}`, nil, Route, HTTP, failed + `cors err: property "max_age" validation failed: wrong type: expected integer, got string`},
		{"disabled tolerates errors", `{"limit-count":{"_meta":{"disable":true}}}`, nil, Route, HTTP, ""},
		{"disabled tolerates custom errors", `{"uri-blocker":{"block_rules":["("],"_meta":{"disable":true}}}`, nil, Route, HTTP, ""},
		{"disabled tolerates a bad _meta", `{"limit-count":{"_meta":{"disable":true,"x":1}}}`, nil, Route, HTTP, ""},
		{"disable false checks", `{"limit-count":{"_meta":{"disable":false}}}`, nil, Route, HTTP, failed + `limit-count err: value should match only one schema, but matches none`},
		{"disabled unknown still unknown", `{"nope":{"_meta":{"disable":true}}}`, nil, Route, HTTP, "unknown plugin [nope]"},
		{"filter not wrapped", `{"jwt-auth":{"_meta":{"filter":["arg_name","==","json"]}}}`, nil, Route, HTTP, "failed to validate the 'vars' expression: rule should be wrapped inside brackets"}, // t/
		{"filter bad operator", `{"jwt-auth":{"_meta":{"filter":[["arg_name","*=","json"]]}}}`, nil, Route, HTTP, "failed to validate the 'vars' expression: invalid operator '*='"},               // t/
		{"filter checked when disabled", `{"jwt-auth":{"_meta":{"disable":true,"filter":[["arg_name","*=","json"]]}}}`, nil, Route, HTTP, "failed to validate the 'vars' expression: invalid operator '*='"},
		{"filter ok", `{"jwt-auth":{"_meta":{"filter":[["arg_name","==","json"]]}}}`, nil, Route, HTTP, ""},
		{"stream ok", `{"ip-restriction":{"whitelist":["127.0.0.1"]},"limit-conn":{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}}`, nil, Route, Stream, ""},
		{"stream unknown", `{"key-auth":{}}`, nil, Route, Stream, "unknown plugin [key-auth]"},
		{"stream error", `{"traffic-split":{"rules":{"a":1}}}`, nil, Route, Stream, `failed to check the configuration of stream plugin [traffic-split]: property "rules" validation failed: wrong type: expected array, got table`},
		{"stream ignores filter", `{"ip-restriction":{"whitelist":["127.0.0.1"],"_meta":{"filter":["x"]}}}`, nil, Route, Stream, ""},
	}
	for _, c := range cases {
		var plugins map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.plugins), &plugins); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err := CheckPlugins(plugins, c.enabled, c.kind, c.sub)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s:\n got  %s\n want %s", c.name, got, c.want)
		}
	}
}

func TestCheckMetadata(t *testing.T) {
	cases := []struct {
		name, conf, want string
	}{
		{"", `{}`, "missing plugin name"},
		{"no-such-plugin", `{}`, "invalid plugin name"},
		{"key-auth", `{"id":"key-auth","anything":[1]}`, ""},
		{"limit-conn", `{"id":"limit-conn"}`, ""},
		{"cors", `{"id":"cors","allow_origins":{"a":"https://a.com,https://b.com"}}`, ""},
		{"cors", `{"allow_origins":{"a":"a.com"}}`, `invalid configuration: property "allow_origins" validation failed: failed to validate additional property a: failed to match pattern "^(\\*|\\*\\*|null|\\w+://[^,]+(,\\w+://[^,]+)*)$" with "a.com"`},
		{"limit-count", `{"reset_header":false}`, `invalid configuration: property "reset_header" validation failed: wrong type: expected string, got boolean`},
		{"prometheus", `{"disabled_labels":{"bandwidth":["route"]}}`, ""},
	}
	for _, c := range cases {
		err := CheckMetadata(c.name, json.RawMessage(c.conf))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%q %s:\n got  %s\n want %s", c.name, c.conf, got, c.want)
		}
	}
}

// TestConcurrentChecks: the registry is shared by every request of every
// worker goroutine; checks must not write to it.
func TestConcurrentChecks(t *testing.T) {
	plugins := map[string]json.RawMessage{
		"limit-count":      json.RawMessage(`{"count":1,"time_window":60,"_meta":{"filter":[["arg_a","==","b"]]}}`),
		"cors":             json.RawMessage(`{"allow_origins_by_regex":["^https://"]}`),
		"traffic-split":    json.RawMessage(`{"rules":[{"weighted_upstreams":[{"upstream":{"nodes":{"127.0.0.1:1":1}}}]}]}`),
		"response-rewrite": json.RawMessage(`{"headers":{"X-A":"b"}}`),
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for range 50 {
				if err = CheckPlugins(plugins, nil, Route, HTTP); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Package conf loads Portico's configuration: the embedded config-default.yaml merged with
// the operator's config.yaml, in Apache APISIX's dialect and with APISIX's rules.
//
// It is a library: it reads files and environment variables, and returns a typed
// *Config or an error. It never logs, never starts processes, never touches the network.
// It writes one thing, on request: GenerateAdminKeys puts generated Admin API keys into
// the user config file (see "Admin keys").
//
// # Pipeline
//
// Load/Parse run these stages; a stage that fails stops the pipeline, but reports every
// problem it found (an ErrorList, sorted, one per line):
//
//  1. YAML syntax of the user file (the error carries yaml.v3's "line N"). A file that is
//     empty or only comments means "defaults only".
//  2. ${{VAR}} substitution in the user file.
//  3. Merge of the user document onto config-default.yaml.
//  4. The APISIX_DEPLOYMENT_ETCD_HOST override.
//  5. Strict decoding of the merged document into Config.
//  6. Derivation of computed fields.
//  7. Cross-key validation (Config.Validate).
//
// # Substitution (APISIX file.lua resolve_conf_var)
//
// After YAML parsing, every string value and every map key of the user file (never of the
// defaults), recursively, has `${{ NAME }}` and `${{ NAME:=default }}` replaced: spaces are
// allowed inside the braces, NAME is [A-Za-z0-9_]+, the default is trimmed. A variable that
// is unset and has no default is an error naming the variable and the key path. When a
// value contained a substitution and the whole result is a number (Lua tonumber: decimal,
// 0x hex, exponent) it becomes a number; "true" and "false" become booleans. Keys are not
// coerced. `${VAR}` and `$VAR` are left alone (they belong to nginx-style templates).
// Every NAME referenced ends up in Config.EnvVars.
//
// # Merge (APISIX file.lua merge_conf)
//
// Maps merge recursively. Any list replaces the default wholesale, and so does an empty
// map or list (to Lua both are an empty table). Null (~) deletes the default key. A scalar
// whose type differs from the default's is an error with APISIX's arrow path and Lua type
// names: "failed to merge, path[deployment->admin->admin_listen] expect: table, but got:
// number". Exempt, as in APISIX: any nginx_config->... value given as a number or string,
// apisix->node_listen given as a number, apisix->data_encryption->keyring of any type.
// Portico adds one exemption: deployment->etcd->host given as a single URL string. A map
// over a list default replaces it (decoding then reports the type).
//
// # Validation
//
// The merged document is decoded strictly against Config's struct tags (types.go): an
// unknown key, a wrong type, a value outside an enum or range is an error with the dotted
// key path, e.g. "conf/config.yaml: deployment.admin.admin_lisen: unknown key (did you
// mean "admin_listen"?)". APISIX keys that Portico has no use for are therefore rejected
// rather than silently ignored. Values of keys named key or password are never echoed.
// Validate then checks what spans keys: the config provider allowed for the role, etcd
// hosts (^https?://, at least one), keyring lengths (16 or 32), admin keys (see "Admin
// keys") and the "missing valid Admin API token" rule, https_admin certificates, IP/CIDR
// lists, and port conflicts ("node_listen port 9180 conflicts with admin": the admin,
// status, control and prometheus servers need distinct ports, and no listener may take
// one of them).
//
// # Which file an error names
//
// Every file-related error names the user file: relative to the prefix when it lies
// inside it ("conf/config.yaml"), absolute otherwise; "config-default.yaml" when there is
// no user file (the defaults are tested to be valid, so such errors can only come from the
// environment). Errors caused by an environment variable name it instead ("env
// APISIX_WORKER_PROCESSES: ..."). Load reports a missing -c file as "customized config
// file not exists, path: /abs/path".
//
// # Admin keys
//
// Portico ships no Admin API key: the default entry {name: admin, role: admin} has key "".
// When the Admin API is enabled and admin_key_required is true, GenerateAdminKeys (run
// by `portico init`, `start` and `reload`) gives every role admin entry with an empty
// key 32 random hex digits and writes them into the user config file (created with
// mode 0600 when absent; otherwise edited as a yaml.v3 node tree, so comments and other
// keys survive, and left 0600). Later runs find the key and reuse it. APISIX does the
// same at nginx start, with 32 random letters, by dumping the merged config over the
// user's file.
//
// Validate refuses, wherever it appears (any entry, any role, even with the Admin API
// off), APISIX's historical default key edd1c9f034335f136f87ad84b625c8f1 (CVE-2020-13945)
// at deployment.admin.admin_key[N].key, so start, test, init and reload all reject it.
// It also refuses an empty viewer key while keys are required: APISIX leaves such a key
// empty, where it matches a request that sends an empty key.
//
// # Derived fields
//
//   - A few keys deleted with ~ fall back to APISIX's schema defaults, where a zero value
//     would mislead: router (http falls back to radixtree_uri, as in APISIX's code),
//     proxy_mode, error_log_level, worker_connections, role, admin_api_version, and the
//     etcd prefix, timeouts and startup_retry, prometheus refresh_interval and export_uri,
//     ext-plugin conf_expire_time (3600) and timeout (60).
//   - Log paths (error_log, access_log) are resolved against the prefix; access_log "off"
//     stays literal.
//   - Listen entries get APISIX's code defaults: node_listen 0.0.0.0:9080, ssl.listen
//     0.0.0.0:9443, control 127.0.0.1:9090, status 127.0.0.1:7085 (only when set),
//     prometheus export_addr 127.0.0.1:9091, admin_listen 127.0.0.1:9180 (APISIX: 0.0.0.0).
//     HTTPListen/HTTPSListen add the [::] twin of entries written without an ip when
//     enable_ipv6, and drop duplicates.
//   - WorkerProcesses: a number as written; runtime.NumCPU() for "auto" or any other
//     non-number; 1 in dev mode (which also turns enable_reuseport off); env
//     APISIX_WORKER_PROCESSES overrides all of these. WorkerRlimitNofile is raised to
//     worker_connections+128 when not above it.
//   - Deployment.ConfigProvider from the role (traditional: role_traditional, default
//     etcd; control_plane: etcd, forces enable_admin on; data_plane: role_data_plane,
//     default etcd, forces enable_admin off; standalone: yaml).
//   - Etcd.Embedded: the user's deployment.etcd.embedded when written; otherwise true
//     exactly when neither the user file nor APISIX_DEPLOYMENT_ETCD_HOST names a host.
//     Always false when the provider is not etcd.
//
// # Portico's defaults that differ from APISIX
//
// admin_listen is 127.0.0.1 (APISIX 0.0.0.0); the admin key ships empty so that `portico
// init` or `start` generates one (the well-known APISIX key is refused); client_max_body_size
// is 100m (APISIX 0, unlimited); lua_shared_dict lists only the zones Portico maps.
//
// ext-plugin.conf_expire_time and ext-plugin.timeout are Portico's keys for what APISIX
// hard-codes (the runner's APISIX_CONF_EXPIRE_TIME, 3600 s; each RPC send and read, 60 s).
// ext-plugin.path_for_test is refused with a "unix:" prefix or beyond MaxSocketPath bytes.
//
// The `test_only` section ({slow_path, slow_delay, worker_exit_file, upgrade_timeout}) is a hook for Portico's own tests and
// is unsupported in production.
package conf

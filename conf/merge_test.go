package conf

import (
	"strings"
	"testing"
)

func TestMerge(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		user    string
		want    string // merged document, when no error
		wantErr string // exact error text
	}{
		{
			name: "maps merge recursively",
			base: "a: {x: 1, y: {p: 1, q: 2}}",
			user: "a: {y: {q: 3}, z: 4}",
			want: "a: {x: 1, y: {p: 1, q: 3}, z: 4}",
		},
		{
			name: "new keys and sections are added",
			base: "a: 1",
			user: "b: {c: [1]}",
			want: "a: 1\nb: {c: [1]}",
		},
		{
			name: "list replaces the default list wholesale",
			base: "plugins: [a, b, c]",
			user: "plugins: [d]",
			want: "plugins: [d]",
		},
		{
			name: "list of maps is not merged element-wise",
			base: "l: [{ip: 1.1.1.1, port: 1}]",
			user: "l: [{port: 2}]",
			want: "l: [{port: 2}]",
		},
		{
			name: "null deletes the default key",
			base: "a: {x: 1, y: 2}",
			user: "a: {x: ~}",
			want: "a: {y: 2}",
		},
		{
			name: "null on a missing key is a no-op",
			base: "a: 1",
			user: "b: ~",
			want: "a: 1",
		},
		{
			name: "empty map replaces a map",
			base: "a: {x: 1}",
			user: "a: {}",
			want: "a: {}",
		},
		{
			name: "empty list replaces a map",
			base: "a: {x: 1}",
			user: "a: []",
			want: "a: []",
		},
		{
			name: "scalar of the same type replaces",
			base: "a: {n: 1, s: x, b: true}",
			user: "a: {n: 2.5, s: y, b: false}",
			want: "a: {n: 2.5, s: y, b: false}",
		},
		{
			name:    "number where a map is expected",
			base:    "deployment: {admin: {admin_listen: {ip: 127.0.0.1, port: 9180}}}",
			user:    "deployment: {admin: {admin_listen: 9180}}",
			wantErr: "failed to merge, path[deployment->admin->admin_listen] expect: table, but got: number",
		},
		{
			name:    "string where a boolean is expected",
			base:    "apisix: {enable_admin: true}",
			user:    "apisix: {enable_admin: \"yes\"}",
			wantErr: "failed to merge, path[apisix->enable_admin] expect: boolean, but got: string",
		},
		{
			name:    "map where a scalar is expected",
			base:    "apisix: {proxy_mode: http}",
			user:    "apisix: {proxy_mode: {a: 1}}",
			wantErr: "failed to merge, path[apisix->proxy_mode] expect: string, but got: table",
		},
		{
			name:    "every mismatch is reported",
			base:    "a: 1\nb: x",
			user:    "a: x\nb: 1",
			wantErr: "failed to merge, path[a] expect: number, but got: string\nfailed to merge, path[b] expect: string, but got: number",
		},
		{
			name: "map over a list default replaces it (decode reports the type)",
			base: "l: [1]",
			user: "l: {a: 1}",
			want: "l: {a: 1}",
		},
		{
			name: "exemption: nginx_config number over string",
			base: "nginx_config: {worker_processes: auto}",
			user: "nginx_config: {worker_processes: 4}",
			want: "nginx_config: {worker_processes: 4}",
		},
		{
			name: "exemption: nginx_config string over number, nested",
			base: "nginx_config: {http: {client_max_body_size: 0}}",
			user: "nginx_config: {http: {client_max_body_size: 8m}}",
			want: "nginx_config: {http: {client_max_body_size: 8m}}",
		},
		{
			name:    "exemption covers only number/string in nginx_config",
			base:    "nginx_config: {error_log: logs/error.log}",
			user:    "nginx_config: {error_log: true}",
			wantErr: "failed to merge, path[nginx_config->error_log] expect: string, but got: boolean",
		},
		{
			name: "exemption: node_listen as a number",
			base: "apisix: {node_listen: [9080]}",
			user: "apisix: {node_listen: 8080}",
			want: "apisix: {node_listen: 8080}",
		},
		{
			name:    "node_listen as a string is not exempt",
			base:    "apisix: {node_listen: [9080]}",
			user:    "apisix: {node_listen: \"8080\"}",
			wantErr: "failed to merge, path[apisix->node_listen] expect: table, but got: string",
		},
		{
			name: "exemption: keyring as a string",
			base: "apisix: {data_encryption: {keyring: [a, b]}}",
			user: "apisix: {data_encryption: {keyring: abcdefghijklmnop}}",
			want: "apisix: {data_encryption: {keyring: abcdefghijklmnop}}",
		},
		{
			name: "portico exemption: etcd host as one URL",
			base: "deployment: {etcd: {host: [\"http://a:2379\"]}}",
			user: "deployment: {etcd: {host: \"http://b:2379\"}}",
			want: "deployment: {etcd: {host: \"http://b:2379\"}}",
		},
		{
			name: "empty user document keeps the defaults",
			base: "a: {x: 1}",
			user: "",
			want: "a: {x: 1}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := doc(t, tt.base)
			e := &errs{}
			merge(base, doc(t, tt.user), "", e)
			err := e.err()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got, want := dump(t, base), dump(t, doc(t, tt.want)); got != want {
				t.Errorf("merged:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// The merge error reaches the caller with the user file's name.
func TestMergeErrorNamesFile(t *testing.T) {
	_, err := parse(t, "deployment:\n  admin:\n    admin_listen: 9180\n", nil)
	want := "conf/config.yaml: failed to merge, path[deployment->admin->admin_listen] expect: table, but got: number"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant %s", err, want)
	}
}

// A list in config.yaml is the complete plugin list, as in APISIX.
func TestMergePluginsReplaced(t *testing.T) {
	c := mustParse(t, "plugins: [key-auth, prometheus]\n", nil)
	if got := strings.Join(c.Plugins, ","); got != "key-auth,prometheus" {
		t.Errorf("Plugins = %s", got)
	}
}

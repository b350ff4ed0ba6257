package conf

import (
	"reflect"
	"strings"
	"testing"
)

func TestSubstitute(t *testing.T) {
	vars := map[string]string{
		"HOST":  "10.0.0.1",
		"PORT":  "9081",
		"RATIO": "0.5",
		"HEX":   "0x10",
		"ON":    "true",
		"OFF":   "false",
		"EMPTY": "",
		"NAME":  "apisix",
		"SPACE": " 42 ",
	}
	tests := []struct {
		name    string
		in      string
		want    string // document after substitution
		wantErr []string
	}{
		{name: "plain", in: "a: ${{HOST}}", want: "a: 10.0.0.1"},
		{name: "inside a longer string", in: "a: http://${{HOST}}:${{PORT}}", want: "a: http://10.0.0.1:9081"},
		{name: "spaces inside the braces", in: "a: ${{  HOST  }}", want: "a: 10.0.0.1"},
		{name: "default when unset", in: "a: ${{NOPE:=fallback}}", want: "a: fallback"},
		{name: "default is trimmed, spaces allowed", in: "a: ${{ NOPE := my value  }}", want: "a: my value"},
		{name: "set value wins over default", in: "a: ${{HOST:=x}}", want: "a: 10.0.0.1"},
		{name: "empty value is a value", in: "a: ${{EMPTY:=x}}", want: "a: \"\""},
		{name: "number coercion", in: "a: ${{PORT}}", want: "a: 9081"},
		{name: "float coercion", in: "a: ${{RATIO}}", want: "a: 0.5"},
		{name: "hex coercion, like Lua tonumber", in: "a: ${{HEX}}", want: "a: 16"},
		{name: "spaces around a number, like tonumber", in: "a: ${{SPACE}}", want: "a: 42"},
		{name: "default coerced too", in: "a: ${{NOPE:=10}}", want: "a: 10"},
		{name: "boolean coercion", in: "a: ${{ON}}\nb: ${{OFF}}", want: "a: true\nb: false"},
		{name: "no coercion without substitution", in: "a: \"9081\"\nb: \"true\"", want: "a: \"9081\"\nb: \"true\""},
		{name: "partial number stays a string", in: "a: ${{PORT}}x", want: "a: 9081x"},
		{name: "inf and nan stay strings", in: "a: ${{NOPE:=inf}}\nb: ${{NOPE:=nan}}", want: "a: inf\nb: nan"},
		{name: "nginx variables untouched", in: "a: ${HOST} $HOST ${ {HOST}}", want: "a: ${HOST} $HOST ${ {HOST}}"},
		{name: "key substitution", in: "${{NAME}}_key: 1", want: "apisix_key: 1"},
		{name: "key is not coerced", in: "m:\n  ${{PORT}}: x", want: "m: {\"9081\": x}"},
		{name: "lists and nesting", in: "a:\n  - b:\n      - ${{PORT}}", want: "a: [{b: [9081]}]"},
		{
			name:    "missing variable names itself and the path",
			in:      "apisix:\n  node_listen:\n    - port: ${{MISSING_PORT}}",
			wantErr: []string{"apisix.node_listen[0].port: failed to handle configuration: can't find environment variable MISSING_PORT"},
		},
		{
			name:    "every missing variable is reported",
			in:      "a: ${{M1}}\nb: ${{M2}}\n${{M3}}: 1",
			wantErr: []string{"a: ", "M1", "b: ", "M2", "${{M3}}: ", "M3"},
		},
		{
			name:    "key clash after substitution",
			in:      "apisix: 1\n${{NAME}}: 2",
			wantErr: []string{`${{NAME}}: key becomes "apisix" after substitution, which is already defined`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := doc(t, tt.in)
			e := &errs{}
			s := &substituter{getenv: env(vars), used: map[string]bool{}, errs: e}
			s.doc(d)
			err := e.err()
			if tt.wantErr != nil {
				wantErrs(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := dump(t, d), dump(t, doc(t, tt.want)); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestCoerceTypes(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"9080", 9080}, {"-3", -3}, {"1.5", 1.5}, {"1e3", 1000.0}, {"0x1A", 26}, {"-0x10", -16},
		{"true", true}, {"false", false}, {"True", "True"}, {"", ""}, {"1_000", "1_000"},
		{"0b101", "0b101"}, {"Infinity", "Infinity"}, {"12abc", "12abc"},
	}
	for _, tt := range tests {
		if got := coerce(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("coerce(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

// Through Parse: substitution happens before the merge (so a substituted number merges
// as a number), the error names the file, and EnvVars lists every variable referenced.
func TestSubstituteThroughParse(t *testing.T) {
	user := `
apisix:
  node_listen: ${{HTTP_PORT}}
  id: ${{NODE_ID:=node-1}}
deployment:
  admin:
    admin_key:
      - name: admin
        key: ${{ADMIN_KEY}}
        role: admin
`
	c := mustParse(t, user, map[string]string{"HTTP_PORT": "8080", "ADMIN_KEY": "s3cr3tk3y"})
	if got := c.APISIX.NodeListen; len(got) != 1 || got[0] != (Listen{"0.0.0.0", 8080}) {
		t.Errorf("NodeListen = %v", got)
	}
	if c.APISIX.ID != "node-1" || c.Deployment.Admin.AdminKey[0].Key != "s3cr3tk3y" {
		t.Errorf("ID = %q, key = %q", c.APISIX.ID, c.Deployment.Admin.AdminKey[0].Key)
	}
	if want := []string{"ADMIN_KEY", "HTTP_PORT", "NODE_ID"}; !reflect.DeepEqual(c.EnvVars, want) {
		t.Errorf("EnvVars = %v, want %v", c.EnvVars, want)
	}

	_, err := parse(t, user, map[string]string{"HTTP_PORT": "8080"})
	want := "conf/config.yaml: deployment.admin.admin_key[0].key: failed to handle configuration: can't find environment variable ADMIN_KEY"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}

	// An all-digit key becomes a number after substitution; it is still read as text.
	c = mustParse(t, user, map[string]string{"HTTP_PORT": "8080", "ADMIN_KEY": "123456"})
	if c.Deployment.Admin.AdminKey[0].Key != "123456" {
		t.Errorf("numeric key = %q", c.Deployment.Admin.AdminKey[0].Key)
	}
}

// Substitution applies to the user file only; the defaults contain nginx-style $vars.
func TestSubstituteLeavesDefaultsAlone(t *testing.T) {
	c := mustParse(t, "", nil)
	if !strings.Contains(c.NginxConfig.HTTP.AccessLogFormat, "$remote_addr") {
		t.Errorf("access_log_format = %q", c.NginxConfig.HTTP.AccessLogFormat)
	}
	if len(c.EnvVars) != 0 {
		t.Errorf("EnvVars = %v", c.EnvVars)
	}
}

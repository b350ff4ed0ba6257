package conf

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// env returns a getenv backed by a map, so tests never depend on the real environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// parse runs Parse on user YAML as conf/config.yaml with the given environment.
func parse(t *testing.T, user string, vars map[string]string) (*Config, error) {
	t.Helper()
	return Parse(t.TempDir(), "conf/config.yaml", []byte(user), env(vars))
}

func mustParse(t *testing.T, user string, vars map[string]string) *Config {
	t.Helper()
	c, err := parse(t, user, vars)
	if err != nil {
		t.Fatalf("Parse:\n%s\nerror:\n%v", user, err)
	}
	return c
}

// wantErrs asserts that err mentions every fragment.
func wantErrs(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error containing %q, got nil", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error does not contain %q:\n%v", f, err)
		}
	}
}

// doc parses YAML into the generic model used by merge and substitution.
func doc(t *testing.T, s string) map[string]any {
	t.Helper()
	m, err := parseYAML([]byte(s))
	if err != nil {
		t.Fatalf("parseYAML(%q): %v", s, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m
}

// dump renders a document canonically (sorted keys) for comparisons and failure output.
func dump(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

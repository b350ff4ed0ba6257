package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newPrefix makes a home directory with conf/, optionally holding conf/config.yaml.
func newPrefix(t *testing.T, config string) string {
	t.Helper()
	prefix := t.TempDir()
	if err := os.MkdirAll(filepath.Join(prefix, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if config != "" {
		if err := os.WriteFile(filepath.Join(prefix, "conf", "config.yaml"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return prefix
}

func TestLoadDefaultPath(t *testing.T) {
	t.Setenv("APISIX_PROFILE", "")
	prefix := newPrefix(t, "apisix:\n  node_listen: 8080\n")
	c, err := Load(prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != prefix || c.File != filepath.Join(prefix, "conf", "config.yaml") {
		t.Errorf("Prefix %q File %q", c.Prefix, c.File)
	}
	if c.APISIX.NodeListen[0].Port != 8080 {
		t.Errorf("NodeListen = %v", c.APISIX.NodeListen)
	}
	if c.NginxConfig.ErrorLog != filepath.Join(prefix, "logs", "error.log") {
		t.Errorf("ErrorLog = %q", c.NginxConfig.ErrorLog)
	}
	if v, _ := lookup(c.Merged, "apisix", "node_listen"); v != 8080 {
		t.Errorf("Merged node_listen = %#v", v)
	}
}

func TestLoadMissingDefaultFileMeansDefaults(t *testing.T) {
	t.Setenv("APISIX_PROFILE", "")
	prefix := newPrefix(t, "")
	c, err := Load(prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "" || c.APISIX.NodeListen[0].Port != 9080 {
		t.Errorf("File %q NodeListen %v", c.File, c.APISIX.NodeListen)
	}
}

func TestLoadExplicitFile(t *testing.T) {
	prefix := newPrefix(t, "")
	other := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(other, []byte("deployment:\n  admin:\n    admin_lisen: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file outside the prefix is named by its absolute path.
	_, err := Load(prefix, other)
	want := other + `: deployment.admin.admin_lisen: unknown key (did you mean "admin_listen"?)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}

	missing := filepath.Join(prefix, "conf", "nope.yaml")
	_, err = Load(prefix, missing)
	if err == nil || err.Error() != "customized config file not exists, path: "+missing {
		t.Errorf("error = %v", err)
	}
}

// A relative -c path is taken against the working directory, as APISIX does.
func TestLoadRelativeExplicitFile(t *testing.T) {
	prefix := newPrefix(t, "")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("apisix:\n  node_listen: 7000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	c, err := Load(prefix, "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.File != filepath.Join(dir, "c.yaml") || c.APISIX.NodeListen[0].Port != 7000 {
		t.Errorf("File %q NodeListen %v", c.File, c.APISIX.NodeListen)
	}
}

func TestLoadErrorNamesFileInsidePrefix(t *testing.T) {
	t.Setenv("APISIX_PROFILE", "")
	prefix := newPrefix(t, "apisix:\n  enable_admin: [\n")
	_, err := Load(prefix, "")
	wantErrs(t, err, "conf/config.yaml: yaml: line ")
}

func TestLoadProfile(t *testing.T) {
	prefix := newPrefix(t, "apisix:\n  node_listen: 1111\n")
	if err := os.WriteFile(filepath.Join(prefix, "conf", "config-prod.yaml"), []byte("apisix:\n  node_listen: 2222\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("APISIX_PROFILE", "prod")
	c, err := Load(prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.APISIX.NodeListen[0].Port != 2222 {
		t.Errorf("NodeListen = %v", c.APISIX.NodeListen)
	}
	t.Setenv("APISIX_PROFILE", "staging")
	_, err = Load(prefix, "")
	wantErrs(t, err, "customized config file not exists, path: "+filepath.Join(prefix, "conf", "config-staging.yaml"))
}

func TestLoadUnreadableFile(t *testing.T) {
	prefix := newPrefix(t, "")
	_, err := Load(prefix, filepath.Join(prefix, "conf")) // a directory
	if err == nil || !strings.HasPrefix(err.Error(), "read config file: ") {
		t.Errorf("error = %v", err)
	}
}

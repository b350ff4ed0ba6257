package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var generatedKey = regexp.MustCompile(`(?m)^\s*key: "([0-9a-f]{32})"`)

// storedKey returns the one generated key in the config file.
func storedKey(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := generatedKey.FindAllStringSubmatch(string(data), -1)
	if len(m) != 1 {
		t.Fatalf("want one generated key in %s, found %d:\n%s", file, len(m), data)
	}
	return m[0][1]
}

// init writes a random key into config.yaml, says where (never what), renders it into
// the runtime file, and a second init reuses it.
func TestInitGeneratesTheAdminKeyOnce(t *testing.T) {
	prefix := newPrefix(t, "# my gateway\napisix:\n  node_listen:\n    - 19080 # public\n")
	file := filepath.Join(prefix, "conf", "config.yaml")
	code, out, errOut := run(t, "init", "-p", prefix)
	if code != exitOK {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	key := storedKey(t, file)
	wantLine := "generated a random Admin API key for deployment.admin.admin_key[0].key; it is stored in " + file + "\n"
	if !strings.HasPrefix(out, wantLine) {
		t.Errorf("init stdout does not start with %q:\n%s", wantLine, out)
	}
	if strings.Contains(out+errOut, key) {
		t.Error("init printed the key")
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("config.yaml mode: %v %v", st.Mode(), err)
	}
	data, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(data), "# my gateway\napisix:\n  node_listen:\n    - 19080 # public\n") {
		t.Errorf("comments or layout lost:\n%s", data)
	}
	runtime, err := os.ReadFile(filepath.Join(prefix, "conf", "portico.runtime.yaml"))
	if err != nil || !strings.Contains(string(runtime), key) {
		t.Errorf("the runtime file does not carry the key (%v)", err)
	}

	code, out, _ = run(t, "init", "-p", prefix)
	if code != exitOK || strings.Contains(out, "generated") {
		t.Errorf("second init: exit %d\n%s", code, out)
	}
	if again := storedKey(t, file); again != key {
		t.Error("second init replaced the key")
	}
}

// Without config.yaml, init creates one holding only the key, mode 0600.
func TestInitCreatesConfigForTheKey(t *testing.T) {
	t.Setenv("APISIX_PROFILE", "")
	prefix := t.TempDir()
	code, out, errOut := run(t, "init", "-p", prefix)
	if code != exitOK {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	file := filepath.Join(prefix, "conf", "config.yaml")
	storedKey(t, file)
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("config.yaml: %v", err)
	}
}

// test validates and never writes: an empty key is fine there.
func TestTestVerbDoesNotGenerate(t *testing.T) {
	const config = "apisix:\n  node_listen: 19080\n"
	prefix := newPrefix(t, config)
	if code, out, errOut := run(t, "test", "-p", prefix); code != exitOK || strings.Contains(out, "generated") {
		t.Fatalf("test: exit %d\n%s%s", code, out, errOut)
	}
	if data, _ := os.ReadFile(filepath.Join(prefix, "conf", "config.yaml")); string(data) != config {
		t.Errorf("test changed config.yaml:\n%s", data)
	}
}

// reload without a running master leaves the file alone.
func TestReloadWithoutMasterDoesNotGenerate(t *testing.T) {
	const config = "apisix:\n  node_listen: 19080\n"
	prefix := newPrefix(t, config)
	if code, _, errOut := run(t, "reload", "-p", prefix); code != exitFailure || !strings.Contains(errOut, "not running") {
		t.Fatalf("reload: exit %d %s", code, errOut)
	}
	if data, _ := os.ReadFile(filepath.Join(prefix, "conf", "config.yaml")); string(data) != config {
		t.Errorf("reload changed config.yaml:\n%s", data)
	}
}

// The historical default key stops every verb that reads the config, before anything
// is written or started, and the message says where it is and what to do.
func TestVerbsRefuseTheHistoricalAdminKey(t *testing.T) {
	const config = "deployment:\n  admin:\n    admin_key:\n      - name: admin\n        key: edd1c9f034335f136f87ad84b625c8f1\n        role: admin\n"
	for _, verb := range []string{"test", "init", "start", "restart"} {
		prefix := newPrefix(t, config)
		code, out, errOut := run(t, verb, "-p", prefix)
		if code != exitFailure {
			t.Errorf("%s: exit %d, want %d\n%s", verb, code, exitFailure, out)
		}
		for _, want := range []string{
			"conf/config.yaml: deployment.admin.admin_key[0].key: is the Admin API key published in APISIX's documentation",
			"replace it with a random key of your own",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", verb, want, errOut)
			}
		}
		for _, dir := range []string{"logs", "data"} {
			if _, err := os.Stat(filepath.Join(prefix, dir)); !os.IsNotExist(err) {
				t.Errorf("%s created %s/ (%v)", verb, dir, err)
			}
		}
	}
}

package conf

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var hexKey = regexp.MustCompile(`^[0-9a-f]{32}$`)

// home makes a prefix whose conf/config.yaml holds config ("" writes no file).
func home(t *testing.T, config string) (prefix, file string) {
	t.Helper()
	t.Setenv("APISIX_PROFILE", "")
	t.Setenv("APISIX_DEPLOYMENT_ETCD_HOST", "")
	prefix = t.TempDir()
	file = filepath.Join(prefix, "conf", "config.yaml")
	if config != "" {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return prefix, file
}

// generate loads the home and runs GenerateAdminKeys, which must succeed.
func generate(t *testing.T, prefix string) (*Config, *GeneratedAdminKeys) {
	t.Helper()
	c, err := Load(prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	c, gen, err := GenerateAdminKeys(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, gen
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, name string) os.FileMode {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// Without config.yaml the default entry gets a key in a new 0600 file, and a second
// run reuses it.
func TestGenerateAdminKeysCreatesTheFileOnce(t *testing.T) {
	prefix, file := home(t, "")
	c, gen := generate(t, prefix)
	if gen == nil || gen.File != file || strings.Join(gen.Paths, ",") != "deployment.admin.admin_key[0].key" {
		t.Fatalf("generated %+v", gen)
	}
	key := c.Deployment.Admin.AdminKey[0]
	if !hexKey.MatchString(key.Key) || key.Name != "admin" || key.Role != "admin" {
		t.Fatalf("admin_key[0] = %+v", key)
	}
	if c.File != file {
		t.Errorf("reloaded File = %q", c.File)
	}
	if m := mode(t, file); m != 0o600 {
		t.Errorf("mode %o, want 600", m)
	}
	written := readFile(t, file)

	again, gen := generate(t, prefix)
	if gen != nil || again.Deployment.Admin.AdminKey[0].Key != key.Key {
		t.Fatalf("second run: generated %+v, key changed: %v", gen, again.Deployment.Admin.AdminKey[0].Key != key.Key)
	}
	if readFile(t, file) != written {
		t.Error("second run rewrote the file")
	}
	// Another home gets another key.
	other, _ := home(t, "")
	if c2, _ := generate(t, other); c2.Deployment.Admin.AdminKey[0].Key == key.Key {
		t.Error("two homes got the same key")
	}
}

// An existing `key: ""` is filled in place; comments, quoting, other keys and the
// file's indentation survive, and the mode becomes 0600.
func TestGenerateAdminKeysEditsInPlace(t *testing.T) {
	const config = `# operator's header comment
apisix:
    node_listen:    # where clients connect
        - 19080
    enable_ipv6: false
deployment:
    admin:
        # the keys of the team
        admin_key:
            - name: ops
              key: ""         # filled by portico
              role: admin
            - name: audit
              key: 'v1ewer-k3y'
              role: viewer
            - name: second
              key:
              role: admin
        allow_admin:
            - 127.0.0.0/24
# trailing comment
`
	prefix, file := home(t, config)
	c, gen := generate(t, prefix)
	if got := strings.Join(gen.Paths, ","); got != "deployment.admin.admin_key[0].key,deployment.admin.admin_key[2].key" {
		t.Errorf("paths %s", got)
	}
	keys := c.Deployment.Admin.AdminKey
	if len(keys) != 3 || !hexKey.MatchString(keys[0].Key) || !hexKey.MatchString(keys[2].Key) || keys[0].Key == keys[2].Key {
		t.Fatalf("keys %+v", keys)
	}
	if keys[1] != (AdminKey{Name: "audit", Key: "v1ewer-k3y", Role: "viewer"}) {
		t.Errorf("viewer entry changed: %+v", keys[1])
	}
	out := readFile(t, file)
	for _, want := range []string{
		"# operator's header comment\n",
		"    node_listen: # where clients connect\n        - 19080\n",
		"        # the keys of the team\n",
		`              key: "` + keys[0].Key + `" # filled by portico` + "\n",
		`              key: 'v1ewer-k3y'` + "\n",
		`              key: "` + keys[2].Key + `"` + "\n",
		"# trailing comment\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rewritten file lacks %q:\n%s", want, out)
		}
	}
	if c.APISIX.NodeListen[0].Port != 19080 || c.APISIX.EnableIPv6 {
		t.Errorf("other keys changed: %+v", c.APISIX)
	}
	if m := mode(t, file); m != 0o600 {
		t.Errorf("mode %o, want 600", m)
	}
}

// A file that does not define admin_key gets the merged list, keys included; the
// keys around it are left as they were (the integration harness relies on that).
func TestGenerateAdminKeysWritesTheMergedList(t *testing.T) {
	const config = `apisix:
  node_listen:
    - ip: 127.0.0.1
      port: 19080
deployment:
  admin:
    admin_listen:
      ip: 127.0.0.1
      port: 19180
  etcd:
    host:
      - "http://127.0.0.1:12379"
`
	prefix, file := home(t, config)
	c, _ := generate(t, prefix)
	key := c.Deployment.Admin.AdminKey
	if len(key) != 1 || key[0].Name != "admin" || key[0].Role != "admin" || !hexKey.MatchString(key[0].Key) {
		t.Fatalf("admin_key %+v", key)
	}
	out := readFile(t, file)
	want := `    admin_listen:
      ip: 127.0.0.1
      port: 19180
    admin_key:
      - name: admin
        key: "` + key[0].Key + `"
        role: admin
  etcd:
    host:
      - "http://127.0.0.1:12379"
`
	if !strings.Contains(out, want) {
		t.Errorf("file:\n%s\nwant it to contain:\n%s", out, want)
	}

	// No deployment section at all: it is created.
	prefix, file = home(t, "apisix:\n  enable_ipv6: false\n")
	c, _ = generate(t, prefix)
	if !hexKey.MatchString(c.Deployment.Admin.AdminKey[0].Key) || c.APISIX.EnableIPv6 {
		t.Errorf("keys %+v ipv6 %v\n%s", c.Deployment.Admin.AdminKey, c.APISIX.EnableIPv6, readFile(t, file))
	}
}

// yaml.v3 drops the comments of a document without content, so a comment-only file
// keeps its text and gets the section appended.
func TestGenerateAdminKeysCommentOnlyFile(t *testing.T) {
	prefix, file := home(t, "# nothing here yet\n# really")
	c, _ := generate(t, prefix)
	out := readFile(t, file)
	if !strings.HasPrefix(out, "# nothing here yet\n# really\ndeployment:\n") || !strings.Contains(out, c.Deployment.Admin.AdminKey[0].Key) {
		t.Errorf("file:\n%s", out)
	}
}

func TestGenerateAdminKeysFlowStyle(t *testing.T) {
	prefix, _ := home(t, "deployment:\n  admin:\n    admin_key: [{name: a, key: '', role: admin}, {name: b, role: admin}]\n")
	c, gen := generate(t, prefix)
	k := c.Deployment.Admin.AdminKey
	if len(gen.Paths) != 2 || !hexKey.MatchString(k[0].Key) || !hexKey.MatchString(k[1].Key) || k[0].Name != "a" || k[1].Name != "b" {
		t.Errorf("keys %+v", k)
	}
}

// -c names a file outside the prefix; a symlink is followed, not replaced.
func TestGenerateAdminKeysExplicitFileThroughSymlink(t *testing.T) {
	prefix, _ := home(t, "")
	dir := t.TempDir()
	real := filepath.Join(dir, "real.yaml")
	if err := os.WriteFile(real, []byte("apisix:\n  enable_ipv6: false\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "gw.yaml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	c, err := Load(prefix, link)
	if err != nil {
		t.Fatal(err)
	}
	c, gen, err := GenerateAdminKeys(c)
	if err != nil {
		t.Fatal(err)
	}
	if gen.File != link {
		t.Errorf("File %q, want %q", gen.File, link)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v", err)
	}
	if !strings.Contains(readFile(t, real), c.Deployment.Admin.AdminKey[0].Key) || mode(t, real) != 0o600 {
		t.Errorf("target not written with mode 600:\n%s", readFile(t, real))
	}
	if _, err := os.Stat(filepath.Join(prefix, "conf", "config.yaml")); !os.IsNotExist(err) {
		t.Errorf("conf/config.yaml was written although -c names another file: %v", err)
	}
}

// Nothing is written when no key is needed.
func TestGenerateAdminKeysNothingToDo(t *testing.T) {
	for _, config := range []string{
		"apisix:\n  enable_admin: false\n",
		"deployment:\n  admin:\n    admin_key_required: false\n",
		"deployment:\n  role: data_plane\n  role_data_plane:\n    config_provider: yaml\n",
		"deployment:\n  admin:\n    admin_key: [{name: a, key: k3y, role: admin}]\n",
		"deployment:\n  admin:\n    admin_key: []\n",
	} {
		prefix, file := home(t, config)
		c, gen := generate(t, prefix)
		if gen != nil || readFile(t, file) != config || mode(t, file) != 0o644 || c.File != file {
			t.Errorf("%q: generated %+v, file now:\n%s", config, gen, readFile(t, file))
		}
	}
}

// Problems leave the file as it was and name the key path.
func TestGenerateAdminKeysRefusals(t *testing.T) {
	cases := []struct{ config, want string }{
		{"deployment:\n  admin:\n    admin_key:\n      - name: a\n        key: ${{ADMIN_KEY:=}}\n        role: admin\n",
			"conf/config.yaml: deployment.admin.admin_key[0].key: is empty once its ${{...}} reference is substituted"},
		{"apisix:\n  id: &empty ''\ndeployment:\n  admin:\n    admin_key:\n      - {name: a, key: *empty, role: admin}\n",
			"conf/config.yaml: deployment.admin.admin_key[0].key: is a YAML alias"},
	}
	for _, tc := range cases {
		prefix, file := home(t, tc.config)
		c, err := Load(prefix, "")
		if err != nil {
			t.Fatalf("%q: %v", tc.config, err)
		}
		if _, _, err := GenerateAdminKeys(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.config, err, tc.want)
		}
		if readFile(t, file) != tc.config {
			t.Errorf("%q: file changed", tc.config)
		}
	}
}

func TestHistoricalAdminKeyRefused(t *testing.T) {
	const msg = "is the Admin API key published in APISIX's documentation (CVE-2020-13945)"
	for _, tc := range []struct{ config, path string }{
		{"deployment:\n  admin:\n    admin_key:\n      - {name: admin, key: edd1c9f034335f136f87ad84b625c8f1, role: admin}\n", "deployment.admin.admin_key[0].key"},
		{"deployment:\n  admin:\n    admin_key:\n      - {name: a, key: s3cret, role: admin}\n      - {name: v, key: edd1c9f034335f136f87ad84b625c8f1, role: viewer}\n", "deployment.admin.admin_key[1].key"},
		// Even with the Admin API off or keys not required.
		{"apisix:\n  enable_admin: false\ndeployment:\n  admin:\n    admin_key:\n      - {name: a, key: edd1c9f034335f136f87ad84b625c8f1, role: admin}\n", "deployment.admin.admin_key[0].key"},
		{"deployment:\n  admin:\n    admin_key_required: false\n    admin_key:\n      - {name: a, key: edd1c9f034335f136f87ad84b625c8f1, role: admin}\n", "deployment.admin.admin_key[0].key"},
		// Through substitution too.
		{"deployment:\n  admin:\n    admin_key:\n      - {name: a, key: '${{K}}', role: admin}\n", "deployment.admin.admin_key[0].key"},
	} {
		_, err := parse(t, tc.config, map[string]string{"K": "edd1c9f034335f136f87ad84b625c8f1"})
		wantErrs(t, err, "conf/config.yaml: "+tc.path+": "+msg, `set it to ""`)
	}
}

func TestEmptyViewerKeyRefused(t *testing.T) {
	const viewer = "deployment:\n  admin:\n    admin_key:\n      - {name: a, key: '', role: admin}\n      - {name: v, key: '', role: viewer}\n"
	_, err := parse(t, viewer, nil)
	wantErrs(t, err, "conf/config.yaml: deployment.admin.admin_key[1].key: is empty: keys are generated for role admin only")
	if strings.Contains(err.Error(), "admin_key[0]") {
		t.Errorf("the empty admin key is refused too: %v", err)
	}
	// No keys checked, no key needed.
	mustParse(t, strings.Replace(viewer, "  admin:\n", "  admin:\n    admin_key_required: false\n", 1), nil)
	mustParse(t, "apisix:\n  enable_admin: false\n"+viewer, nil)
}

package tmpl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	"github.com/portico-gw/portico/conf"
)

var update = flag.Bool("update", false, "rewrite the golden runtime files in testdata/")

// TestGolden renders every testdata/*.txtar: the archive's config.yaml is
// rendered with a fixed prefix and compared with its runtime.yaml.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	env := map[string]string{"GOLDEN_ADMIN_PORT": "9280"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			section := func(name string) *txtar.File {
				for i := range ar.Files {
					if ar.Files[i].Name == name {
						return &ar.Files[i]
					}
				}
				return nil
			}
			in := section("config.yaml")
			if in == nil {
				t.Fatal("missing config.yaml section")
			}
			cfg, err := conf.Parse("/usr/local/portico", "conf/config.yaml", in.Data, getenv)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := Render(cfg, Inputs{Version: "0.0.0-golden", MasterPid: 4242, Generation: 7, TempDir: "/var/tmp"})
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			want := section("runtime.yaml")
			if *update {
				if want == nil {
					ar.Files = append(ar.Files, txtar.File{Name: "runtime.yaml"})
					want = &ar.Files[len(ar.Files)-1]
				}
				want.Data = got
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want == nil {
				t.Fatal("missing runtime.yaml section (run with -update)")
			}
			if !bytes.Equal(got, want.Data) {
				t.Errorf("rendered runtime file differs from golden\n--- got\n%s\n--- want\n%s", got, want.Data)
			}
			if Hash(got) != Hash(want.Data) {
				t.Error("hash differs for equal bytes")
			}
		})
	}
}

func TestRunnerSocket(t *testing.T) {
	long := "/srv/" + strings.Repeat("p", 80)
	in := Inputs{MasterPid: 31337, Generation: 12, TempDir: "/var/tmp"}
	tests := []struct {
		name, prefix, yaml string
		wantSocket         string
		wantDir            string
	}{
		{"under the prefix", "/usr/local/portico", "", "/usr/local/portico/logs/runner/31337-12.sock", "/usr/local/portico/logs/runner"},
		{"too long for sun_path", long, "", "/var/tmp/portico-" + shortHash(long) + "/31337-12.sock", "/var/tmp/portico-" + shortHash(long)},
		{"path_for_test as written", long, "ext-plugin:\n  path_for_test: /tmp/runner.sock\n", "/tmp/runner.sock", ""},
		{"relative path_for_test is the prefix's", "/opt/gw", "ext-plugin:\n  path_for_test: r.sock\n", "/opt/gw/r.sock", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := conf.Parse(tt.prefix, "conf/config.yaml", []byte(tt.yaml), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			r := FromConfig(cfg, in).Runner
			if r.Socket != tt.wantSocket || r.Dir != tt.wantDir {
				t.Errorf("socket %q in %q, want %q in %q", r.Socket, r.Dir, tt.wantSocket, tt.wantDir)
			}
			if len(r.Socket) > conf.MaxSocketPath {
				t.Errorf("socket path is %d bytes, beyond sun_path", len(r.Socket))
			}
			if r.ExpireTime != time.Hour || r.Timeout != time.Minute {
				t.Errorf("expire %s, timeout %s: want the defaults 1h, 1m", r.ExpireTime, r.Timeout)
			}
		})
	}
	// Another master or generation never shares the path (runners delete
	// their socket when they exit).
	cfg, err := conf.Parse("/usr/local/portico", "", nil, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a := FromConfig(cfg, Inputs{MasterPid: 10, Generation: 11}).Runner.Socket
	b := FromConfig(cfg, Inputs{MasterPid: 101, Generation: 1}).Runner.Socket
	c := FromConfig(cfg, Inputs{MasterPid: 10, Generation: 12}).Runner.Socket
	if a == b || a == c {
		t.Errorf("sockets %q, %q, %q are not distinct", a, b, c)
	}
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

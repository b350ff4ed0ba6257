package tmpl

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

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
			got, err := Render(cfg, Inputs{Version: "0.0.0-golden"})
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

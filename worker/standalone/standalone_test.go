package standalone

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/worker/store"
)

// validate accepts objects with a string "uri" and ignores kind "ignored".
func validate(kind, _ string, raw []byte) (any, error) {
	if kind == "ignored" {
		return nil, store.ErrIgnore
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	if _, ok := v["uri"].(string); !ok && kind == "routes" {
		return nil, errors.New("uri must be a string")
	}
	return v, nil
}

func TestLoadAppliesOnlyWholeValidFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apisix.yaml")
	var logs bytes.Buffer
	var published int
	s := &Source{Path: path, Validate: validate, Log: zerolog.New(&logs), OnSnapshot: func(*store.Snapshot) { published++ }}
	t.Setenv("STANDALONE_UP", "127.0.0.1:1980")
	write := func(body string) {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		s.Load()
	}

	write("routes:\n  - id: 1\n    uri: /a\n    up: ${{STANDALONE_UP}}\n    def: ${{STANDALONE_UNSET:=fallback}}\nignored:\n  - id: x\n#END\n")
	snap := s.Snapshot()
	r := snap.Get("routes", "1")
	if r == nil || published != 1 {
		t.Fatalf("route 1 not loaded (published %d): %s", published, logs.String())
	}
	if v := r.Value.(map[string]any); v["up"] != "127.0.0.1:1980" || v["def"] != "fallback" {
		t.Errorf("substitution: %v", v)
	}
	if snap.Get("ignored", "x") != nil {
		t.Error("an ignored kind was kept")
	}
	good := snap.Hash

	for _, tc := range []struct{ name, body, want string }{
		{"invalid item", "routes:\n  - id: 1\n    uri: 42\n#END\n", "routes/1: uri must be a string"},
		{"no #END", "routes:\n  - id: 1\n    uri: /b\n", "no #END"},
		{"yaml syntax", "routes: [\n#END\n", "yaml:"},
		{"missing id", "routes:\n  - uri: /c\n#END\n", "routes[0]: missing id"},
		{"missing env", "routes:\n  - id: 1\n    uri: ${{STANDALONE_NOPE}}\n#END\n", "STANDALONE_NOPE"},
	} {
		logs.Reset()
		write(tc.body)
		if s.Snapshot().Hash != good || published != 1 {
			t.Errorf("%s: applied", tc.name)
		}
		if !strings.Contains(logs.String(), tc.want) {
			t.Errorf("%s: log %q lacks %q", tc.name, logs.String(), tc.want)
		}
		// The same broken content is not logged again.
		logs.Reset()
		s.Load()
		if logs.Len() != 0 {
			t.Errorf("%s: logged twice", tc.name)
		}
	}

	write("routes:\n  - id: 1\n    uri: /a\n  - id: 2\n    uri: /b\n#END\n")
	if s.Snapshot().Get("routes", "2") == nil || published != 2 {
		t.Error("a fixed file was not applied")
	}
}

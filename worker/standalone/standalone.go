// Package standalone serves the configuration from conf/apisix.yaml instead
// of etcd (deployment.role_traditional.config_provider: yaml, or role
// data_plane with provider yaml), as APISIX's standalone mode does.
//
// Invariants:
//   - The file is re-read when its content changes (checked every second, as
//     APISIX polls), and applied only whole: a file that does not parse, lacks
//     the final `#END` line (APISIX's guard against half-written files), or
//     holds one invalid item keeps the last good configuration, and the
//     problem is logged once per file version with the item's kind and id.
//   - `${{VAR}}` and `${{VAR:=default}}` are substituted in the raw text
//     before parsing (spec 1.6), so a quoted "${{X}}" stays a string.
//   - Items are validated by the same validator as etcd items, and the
//     snapshot hash is computed the same way, so status compares alike.
package standalone

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/portico-gw/portico/worker/store"
)

// Interval is how often the file is checked.
const Interval = time.Second

// Source follows one standalone file.
type Source struct {
	Path       string
	Validate   store.Validator
	Log        zerolog.Logger
	OnSnapshot func(*store.Snapshot)

	cur      atomic.Pointer[store.Snapshot]
	lastSeen [32]byte // hash of the last file content looked at
	version  int64
}

// Snapshot returns the configuration being served (empty before the first
// good read).
func (s *Source) Snapshot() *store.Snapshot {
	if snap := s.cur.Load(); snap != nil {
		return snap
	}
	return store.NewSnapshot(map[string]map[string]*store.Item{}, 0)
}

// Load reads the file once; Run calls it every Interval.
func (s *Source) Load() {
	data, err := os.ReadFile(s.Path)
	if err != nil {
		sum := sha256.Sum256([]byte(err.Error()))
		if sum != s.lastSeen {
			s.lastSeen = sum
			s.Log.Error().Err(err).Str("file", s.Path).Msg("standalone config unreadable, keeping the last good one")
		}
		return
	}
	sum := sha256.Sum256(data)
	if sum == s.lastSeen {
		return
	}
	s.lastSeen = sum
	items, err := s.parse(data)
	if err != nil {
		s.Log.Error().Err(err).Str("file", s.Path).Msg("standalone config rejected, keeping the last good one")
		return
	}
	s.version++
	snap := store.NewSnapshot(items, s.version)
	s.cur.Store(snap)
	s.Log.Info().Str("file", s.Path).Int64("rev", s.version).Str("config_hash", snap.Hash[:12]).Msg("standalone config loaded")
	if s.OnSnapshot != nil {
		s.OnSnapshot(snap)
	}
}

// Run re-reads the file every Interval until ctx ends.
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Load()
		}
	}
}

var envRef = regexp.MustCompile(`\$\{\{\s*([A-Za-z0-9_]+)\s*(?::=\s*([^}]*?)\s*)?\}\}`)

func substitute(data []byte) ([]byte, error) {
	var missing string
	out := envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		sub := envRef.FindSubmatch(m)
		if v, ok := os.LookupEnv(string(sub[1])); ok {
			return []byte(v)
		}
		if bytes.Contains(m, []byte(":=")) {
			return sub[2]
		}
		missing = string(sub[1])
		return m
	})
	if missing != "" {
		return nil, fmt.Errorf("can't find environment variable %s", missing)
	}
	return out, nil
}

// parse turns the file into snapshot items, or says what is wrong.
func (s *Source) parse(data []byte) (map[string]map[string]*store.Item, error) {
	trimmed := bytes.TrimRight(data, " \t\r\n")
	if !bytes.HasSuffix(trimmed, []byte("#END")) {
		return nil, fmt.Errorf("no #END line at the end: the file may be half written")
	}
	data, err := substitute(data)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	items := map[string]map[string]*store.Item{}
	for kind, v := range doc {
		list, ok := v.([]any)
		if !ok {
			if v == nil {
				continue
			}
			return nil, fmt.Errorf("%s: a list of objects expected", kind)
		}
		for i, e := range list {
			obj, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: an object expected", kind, i)
			}
			id := idOf(kind, obj)
			if id == "" {
				return nil, fmt.Errorf("%s[%d]: missing id", kind, i)
			}
			raw, err := json.Marshal(obj)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", kind, id, err)
			}
			val, err := s.Validate(kind, id, raw)
			if err != nil {
				if errors.Is(err, store.ErrIgnore) {
					continue
				}
				return nil, fmt.Errorf("%s/%s: %w", kind, id, err)
			}
			if items[kind] == nil {
				items[kind] = map[string]*store.Item{}
			}
			items[kind][id] = &store.Item{Kind: kind, ID: id, Key: "/" + kind + "/" + id, Value: val, Raw: raw}
		}
	}
	return items, nil
}

// idOf is an item's id: `id`, or the natural key of kinds that have none
// (consumers by username, plugin_metadata by plugin name).
func idOf(kind string, obj map[string]any) string {
	key := "id"
	switch kind {
	case "consumers":
		key = "username"
	}
	switch v := obj[key].(type) {
	case string:
		return v
	case int:
		return fmt.Sprint(v)
	case float64:
		return fmt.Sprint(int64(v))
	}
	return ""
}

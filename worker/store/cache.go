package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/internal/logx"
)

// cacheFormat names the layout of the last-good snapshot file.
const cacheFormat = "portico-config-snapshot/1"

// cacheFile is the last-good snapshot on disk. Values are the raw etcd
// bytes (base64 in JSON), so the checksum can be recomputed exactly.
type cacheFile struct {
	Format   string      `json:"format"`
	Prefix   string      `json:"prefix"`
	Revision int64       `json:"revision"`
	Hash     string      `json:"hash"` // checksum(Items), not the snapshot's Hash
	Items    []cacheItem `json:"items"`
}

type cacheItem struct {
	Kind        string `json:"kind"`
	ID          string `json:"id"`
	ModRevision int64  `json:"mod_revision"`
	Value       []byte `json:"value"`
}

// loadCache installs the snapshot from the cache file as Stale, if the file
// exists, belongs to this prefix and is intact. Items the Validator now
// rejects are left out (logged like any invalid item).
func (s *Store) loadCache() {
	cf, err := readCacheFile(s.opts.CacheFile, s.opts.Prefix)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		s.log.Warn().Err(err).Str("file", s.opts.CacheFile).Msg("config cache unusable")
		return
	}
	items := make(map[string]map[string]*Item)
	var onDisk digest // the snapshot hash of the file's content, all of it
	for _, ci := range cf.Items {
		onDisk.add(itemDigest(ci.Kind, ci.ID, ci.Value))
		key := s.keyPrefix + ci.Kind
		if ci.ID != "" {
			key += "/" + ci.ID
		}
		it := s.decode(ci.Kind, ci.ID, key, ci.Value, ci.ModRevision, nil)
		if it == nil {
			continue
		}
		if items[ci.Kind] == nil {
			items[ci.Kind] = make(map[string]*Item)
		}
		items[ci.Kind][ci.ID] = it
	}
	snap := newSnapshot(items, cf.Revision, true)
	s.cur.Store(snap)
	s.cache.written = onDisk.String()
	s.log.Info().Str("file", s.opts.CacheFile).Int64(logx.FieldRevision, snap.Revision).
		Str(logx.FieldConfigHash, snap.Hash).Int("items", snap.Len()).Msg("config cache loaded")
}

// readCacheFile reads and checks the file: format, prefix and the checksum
// over its items.
func readCacheFile(path, prefix string) (*cacheFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cf cacheFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if cf.Format != cacheFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", path, cf.Format, cacheFormat)
	}
	if cf.Prefix != prefix {
		return nil, fmt.Errorf("%s: written for prefix %q, not %q", path, cf.Prefix, prefix)
	}
	seen := make(map[[2]string]bool, len(cf.Items))
	for _, ci := range cf.Items {
		if seen[[2]string{ci.Kind, ci.ID}] {
			return nil, fmt.Errorf("%s: item %s/%s listed twice", path, ci.Kind, ci.ID)
		}
		seen[[2]string{ci.Kind, ci.ID}] = true
	}
	if h := checksum(cf.Items); h != cf.Hash {
		return nil, fmt.Errorf("%s: content hash %s does not match recorded %s", path, h, cf.Hash)
	}
	return &cf, nil
}

// checksum is the file's integrity check (see the package doc). It is the
// content hash of earlier versions, kept so that files they wrote are read
// (an upgrade while etcd is down serves the cache) and the reverse.
func checksum(items []cacheItem) string {
	sorted := slices.SortedFunc(slices.Values(items), func(a, b cacheItem) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	h := sha256.New()
	var buf []byte
	for _, it := range sorted {
		buf = buf[:0]
		for _, f := range []string{it.Kind, it.ID} {
			buf = binary.BigEndian.AppendUint64(buf, uint64(len(f)))
			buf = append(buf, f...)
		}
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(it.Value)))
		h.Write(buf)
		h.Write(it.Value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeCacheFile replaces path atomically with snap: a temporary file in
// the same directory, mode 0600, fsync, rename, fsync of the directory.
// Several workers may write the same path; each rename is atomic.
func writeCacheFile(path, prefix string, snap *Snapshot) (err error) {
	cf := cacheFile{Format: cacheFormat, Prefix: prefix, Revision: snap.Revision,
		Items: make([]cacheItem, 0, snap.Len())}
	for _, kind := range slices.Sorted(maps.Keys(snap.Items)) {
		m := snap.Items[kind]
		for _, id := range slices.Sorted(maps.Keys(m)) {
			it := m[id]
			cf.Items = append(cf.Items, cacheItem{Kind: kind, ID: id, ModRevision: it.ModRevision, Value: it.Raw})
		}
	}
	cf.Hash = checksum(cf.Items)
	data, err := json.Marshal(&cf)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// cacheWriter persists the newest offered snapshot off the store's
// goroutine: once the configuration has been quiet for interval (a burst of
// changes is written once, after it, so writing never competes with the
// builds of the burst), at the latest maxDelayFactor intervals after the
// first unsaved change while changes keep coming, never twice within one
// interval, and once more when stopped.
type cacheWriter struct {
	path, prefix string
	interval     time.Duration
	log          zerolog.Logger
	latest       atomic.Pointer[Snapshot]
	kick         chan struct{}
	done         chan struct{}

	// Owned by run (set before it starts).
	written string // hash of the content on disk
	failing bool
}

// maxDelayFactor bounds, in intervals, how stale the file gets while
// changes never pause.
const maxDelayFactor = 5

func newCacheWriter(path, prefix string, interval time.Duration, log zerolog.Logger) *cacheWriter {
	return &cacheWriter{path: path, prefix: prefix, interval: interval, log: log,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// offer hands over the newest snapshot; it never blocks.
func (c *cacheWriter) offer(s *Snapshot) {
	c.latest.Store(s)
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *cacheWriter) run(ctx context.Context) {
	defer close(c.done)
	var last, unsaved time.Time // last write; first offer not written yet (zero: none)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			c.flush()
			return
		case <-c.kick:
			now := time.Now()
			if unsaved.IsZero() {
				unsaved = now
			}
			at := now.Add(c.interval)
			if latest := unsaved.Add(maxDelayFactor * c.interval); at.After(latest) {
				at = latest
			}
			if earliest := last.Add(c.interval); at.Before(earliest) {
				at = earliest
			}
			timer.Reset(time.Until(at))
		case <-timer.C:
			unsaved = time.Time{}
			if c.flush() {
				last = time.Now()
			}
		}
	}
}

// flush writes the latest snapshot if its content is not on disk yet. It
// reports whether it wrote (or tried to).
func (c *cacheWriter) flush() bool {
	snap := c.latest.Load()
	if snap == nil || snap.Stale || snap.Hash == c.written {
		return false
	}
	if err := writeCacheFile(c.path, c.prefix, snap); err != nil {
		if !c.failing {
			c.failing = true
			c.log.Warn().Err(err).Str("file", c.path).Msg("config cache write failed")
		}
		return true
	}
	c.failing = false
	c.written = snap.Hash
	return true
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// bridgedClient is a store client whose connection goes through a bridge.
func bridgedClient(t testing.TB, br *bridge) *clientv3.Client {
	t.Helper()
	cli, err := NewClient(ClientConfig{Endpoints: []string{"http://" + br.Addr()}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func loaded(s *Store) func() bool {
	return func() bool { return !s.Snapshot().Stale }
}

func TestInitialLoad(t *testing.T) {
	url := sharedEtcd(t)
	w := directClient(t, url)
	p := "/t-initial"
	for _, dir := range []string{"routes", "upstreams", "consumers", "plugins"} {
		put(t, w, p+"/"+dir+"/", "init_dir")
	}
	for i := range 5 {
		put(t, w, fmt.Sprintf("%s/routes/r%d", p, i), fmt.Sprintf(`{"uri":"/%d"}`, i))
	}
	put(t, w, p+"/upstreams/u1", `{"nodes":{"127.0.0.1:80":1}}`)
	put(t, w, p+"/consumers/jack", `{"username":"jack"}`)
	credRev := put(t, w, p+"/consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"k"}}}`)
	put(t, w, p+"/plugins", `[{"name":"key-auth"}]`)
	put(t, w, p+"/gen_id", "1")
	put(t, w, p+"/data_plane/server_info/abc", `{"id":"abc"}`)
	put(t, w, p+"x/routes/sibling", `{"uri":"/not-mine"}`)
	keys, hash, rev := expected(t, w, p)

	var logs logBuf
	opts := fastOptions(w, p+"/", &logs) // trailing slash is ignored
	opts.PageSize = 2                    // 12 keys: 6 pages at one revision
	s := runStore(t, opts)
	if snap := s.Snapshot(); snap == nil || !snap.Stale || snap.Len() != 0 {
		t.Fatalf("before Run's first read: %+v, want an empty stale snapshot", snap)
	}
	waitFor(t, 5*time.Second, "initial load", loaded(s))

	snap := s.Snapshot()
	if got := relKeys(snap); !slices.Equal(got, keys) {
		t.Errorf("items %v, want %v", got, keys)
	}
	if snap.Hash != hash || snap.Revision != rev {
		t.Errorf("hash %s rev %d, want %s rev %d", snap.Hash, snap.Revision, hash, rev)
	}
	cred := snap.Get("consumers", "jack/credentials/c1")
	if cred == nil || cred.Kind != "consumers" || cred.Key != p+"/consumers/jack/credentials/c1" || cred.ModRevision != credRev {
		t.Fatalf("credential item = %+v", cred)
	}
	if v, ok := cred.Value.(json.RawMessage); !ok || string(v) != string(cred.Raw) {
		t.Errorf("credential value %T %s", cred.Value, cred.Value)
	}
	if snap.Get("plugins", "") == nil {
		t.Errorf("PREFIX/plugins missing")
	}
	if !s.Reachable() || s.Relists() != 0 {
		t.Errorf("reachable %v relists %d", s.Reachable(), s.Relists())
	}
	if n := logs.count("config loaded"); n != 1 {
		t.Errorf("%d 'config loaded' lines", n)
	}
	if n := logs.count(`"level":"error"`) + logs.count(`"level":"warn"`); n != 0 {
		t.Errorf("unexpected warnings/errors:\n%s", strings.Join(logs.lines(), "\n"))
	}
}

func TestPropagation(t *testing.T) {
	url := sharedEtcd(t)
	w := directClient(t, url)
	p := "/t-prop"
	var logs logBuf
	opts := fastOptions(w, p, &logs)
	var mu sync.Mutex
	var lastPublish time.Time
	opts.OnSnapshot = func(*Snapshot) {
		mu.Lock()
		lastPublish = time.Now()
		mu.Unlock()
	}
	s := runStore(t, opts)
	waitFor(t, 5*time.Second, "initial load", loaded(s))
	empty := s.Snapshot()

	// Each change is made after a quiet period (no build for more than
	// MinBuildInterval), so this measures the latency of an isolated change.
	quiet := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return time.Since(lastPublish) > defaultMinBuildInterval
	}
	const n = 20
	var lat []time.Duration
	for i := range n {
		waitFor(t, 5*time.Second, "quiet", quiet)
		rev := put(t, w, fmt.Sprintf("%s/routes/%d", p, i), fmt.Sprintf(`{"uri":"/%d"}`, i))
		lat = append(lat, waitFor(t, 2*time.Second, "put visible", func() bool {
			it := s.Snapshot().Get("routes", fmt.Sprint(i))
			return it != nil && it.ModRevision == rev
		}))
	}
	mid := s.Snapshot()
	for i := range n {
		waitFor(t, 5*time.Second, "quiet", quiet)
		del(t, w, fmt.Sprintf("%s/routes/%d", p, i))
		lat = append(lat, waitFor(t, 2*time.Second, "delete visible", func() bool {
			return s.Snapshot().Get("routes", fmt.Sprint(i)) == nil
		}))
	}
	slices.Sort(lat)
	t.Logf("propagation after the write returned, %d changes: p50 %s, p90 %s, max %s",
		len(lat), lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1])
	if lat[len(lat)-1] > time.Second {
		t.Errorf("max propagation %s > 1s", lat[len(lat)-1])
	}
	// Published snapshots never change afterwards.
	if empty.Len() != 0 || mid.Len() != n {
		t.Errorf("old snapshots changed: %d and %d items", empty.Len(), mid.Len())
	}
	_, hash, _ := expected(t, w, p)
	if s.Snapshot().Hash != hash || mid.Hash == hash {
		t.Errorf("hash %s, want %s", s.Snapshot().Hash, hash)
	}
}

func TestInvalidItemKeepsPrevious(t *testing.T) {
	url := sharedEtcd(t)
	w := directClient(t, url)
	p := "/t-invalid"
	v1 := `{"uri":"/v1"}`
	rev1 := put(t, w, p+"/routes/1", v1)
	put(t, w, p+"/routes/2", `{"uri":"/two"}`)
	var logs logBuf
	s := runStore(t, fastOptions(w, p, &logs))
	waitFor(t, 5*time.Second, "initial load", loaded(s))
	two := s.Snapshot().Get("routes", "2")

	at := func(rev int64) func() bool { return func() bool { return s.Snapshot().Revision >= rev } }
	keepsV1 := func(when string) {
		t.Helper()
		it := s.Snapshot().Get("routes", "1")
		if it == nil || string(it.Raw) != v1 || it.ModRevision != rev1 {
			t.Fatalf("%s: routes/1 = %+v, want the valid version from rev %d", when, it, rev1)
		}
		if s.Snapshot().Get("routes", "2") != two {
			t.Fatalf("%s: routes/2 changed", when)
		}
	}
	key1 := fmt.Sprintf(`"key":"%s/routes/1"`, p)
	key3 := fmt.Sprintf(`"key":"%s/routes/3"`, p)

	// Bad JSON on the watch path.
	waitFor(t, 2*time.Second, "bad JSON applied", at(put(t, w, p+"/routes/1", `{"uri":`)))
	keepsV1("after bad JSON")
	if n := logs.count(key1, "keeping previous version"); n != 1 {
		t.Fatalf("%d log lines for the bad JSON, want 1", n)
	}
	// A schema violation: a new mod revision, so one more line.
	waitFor(t, 2*time.Second, "schema violation applied", at(put(t, w, p+"/routes/1", `{"uri":"/v2","bad":true}`)))
	keepsV1("after schema violation")
	if n := logs.count(key1, "keeping previous version"); n != 2 {
		t.Fatalf("%d log lines, want 2", n)
	}
	// A brand-new key that is invalid is absent.
	waitFor(t, 2*time.Second, "new invalid key applied", at(put(t, w, p+"/routes/3", `{"bad":true}`)))
	if s.Snapshot().Get("routes", "3") != nil {
		t.Fatal("invalid new key routes/3 is served")
	}
	if n := logs.count(key3, "invalid config item ignored"); n != 1 {
		t.Fatalf("%d log lines for routes/3, want 1", n)
	}

	// The full re-read path keeps the previous version too, and logs
	// nothing new for (key, mod revision) pairs already logged.
	before := s.Builds()
	s.relistReq <- struct{}{}
	waitFor(t, 5*time.Second, "re-read", func() bool { return s.Relists() == 1 && s.Builds() > before })
	keepsV1("after re-read")
	if s.Snapshot().Get("routes", "3") != nil {
		t.Fatal("invalid key routes/3 served after re-read")
	}
	if n, m := logs.count(key1, "invalid"), logs.count(key3, "invalid"); n != 2 || m != 1 {
		t.Fatalf("after re-read: %d and %d invalid lines, want 2 and 1", n, m)
	}

	// A valid value replaces it; a delete removes it for good.
	v3 := `{"uri":"/v3"}`
	rev3 := put(t, w, p+"/routes/1", v3)
	waitFor(t, 2*time.Second, "valid v3", func() bool {
		it := s.Snapshot().Get("routes", "1")
		return it != nil && it.ModRevision == rev3 && string(it.Raw) == v3
	})
	waitFor(t, 2*time.Second, "delete", at(del(t, w, p+"/routes/1")))
	if s.Snapshot().Get("routes", "1") != nil {
		t.Fatal("deleted routes/1 still served")
	}
	if _, hash, _ := expected(t, w, p); s.Snapshot().Hash != hash {
		t.Errorf("hash %s, want %s", s.Snapshot().Hash, hash)
	}
}

// writeMany writes n operations from several goroutines; op(i) does one.
func writeMany(t *testing.T, n, workers int, op func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += workers {
				if err := op(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestCompactionWhileBehind(t *testing.T) {
	url := sharedEtcd(t)
	w := directClient(t, url)
	br := newBridge(t, url)
	p := "/t-compact"
	for i := range 100 {
		put(t, w, fmt.Sprintf("%s/routes/%d", p, i), fmt.Sprintf(`{"uri":"/%d"}`, i))
	}
	var logs logBuf
	s := runStore(t, fastOptions(bridgedClient(t, br), p, &logs))
	waitFor(t, 5*time.Second, "initial load", loaded(s))

	br.Pause()
	waitFor(t, 10*time.Second, "store to notice", func() bool { return !s.Reachable() })
	// 1,000 revisions behind the store's back: 100 deletes of the keys it
	// has, 900 puts; then compact everything.
	ctx := tctx(t)
	writeMany(t, 1000, 8, func(i int) error {
		var err error
		if i%10 == 0 {
			_, err = w.Delete(ctx, fmt.Sprintf("%s/routes/%d", p, i/10))
		} else {
			_, err = w.Put(ctx, fmt.Sprintf("%s/routes/%d", p, 100+i%300), fmt.Sprintf(`{"uri":"/n%d"}`, i))
		}
		return err
	})
	keys, hash, head := expected(t, w, p)
	if _, err := w.Compact(ctx, head, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	br.Resume()
	took := waitFor(t, 10*time.Second, "convergence after compaction", func() bool {
		snap := s.Snapshot()
		return snap.Hash == hash && snap.Revision >= head
	})
	t.Logf("converged %s after the bridge resumed; relists %d", took, s.Relists())
	if n := s.Relists(); n != 1 {
		t.Errorf("relists %d, want exactly 1", n)
	}
	snap := s.Snapshot()
	for i := range 100 {
		if snap.Get("routes", fmt.Sprint(i)) != nil {
			t.Fatalf("deleted key routes/%d came back", i)
		}
	}
	if got := relKeys(snap); !slices.Equal(got, keys) {
		t.Errorf("%d items, want %d", len(got), len(keys))
	}
	if n := logs.count("re-reading all config", "compacted"); n != 1 {
		t.Errorf("%d re-read lines naming compaction, want 1", n)
	}
}

func TestRevisionBackwards(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	hp := freeAddr(t)
	e1, err := startEtcd(dir, hp, nil)
	if err != nil {
		t.Fatal(err)
	}
	w1, err := NewClient(ClientConfig{Endpoints: []string{"http://" + hp}})
	if err != nil {
		e1.Close()
		t.Fatal(err)
	}
	p := "/t-back"
	for i := range 30 {
		put(t, w1, fmt.Sprintf("%s/routes/old%d", p, i), fmt.Sprintf(`{"uri":"/old%d","v":1}`, i))
	}
	for i := range 30 {
		put(t, w1, fmt.Sprintf("%s/routes/old%d", p, i), fmt.Sprintf(`{"uri":"/old%d","v":2}`, i))
	}
	cli, err := NewClient(ClientConfig{Endpoints: []string{"http://" + hp}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	var logs logBuf
	s := runStore(t, fastOptions(cli, p, &logs))
	waitFor(t, 5*time.Second, "initial load", loaded(s))
	oldRev := s.Snapshot().Revision

	// Wipe etcd and start a new one on the same port with fewer keys.
	w1.Close()
	e1.Close()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	e2, err := startEtcd(dir, hp, nil)
	if err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	t.Cleanup(e2.Close)
	w2 := directClient(t, "http://"+hp)
	for i := range 3 {
		put(t, w2, fmt.Sprintf("%s/routes/new%d", p, i), fmt.Sprintf(`{"uri":"/new%d"}`, i))
	}
	keys, hash, head := expected(t, w2, p)
	if head >= oldRev {
		t.Fatalf("new etcd at rev %d, not below %d", head, oldRev)
	}
	waitFor(t, 10*time.Second, "stale keys gone", func() bool { return s.Snapshot().Hash == hash })
	t.Logf("rev %d -> %d: stale keys gone %s after the new etcd was ready (3 puts included); relists %d",
		oldRev, head, time.Since(upAt), s.Relists())
	if got := relKeys(s.Snapshot()); !slices.Equal(got, keys) {
		t.Errorf("items %v, want %v", got, keys)
	}
	if n := s.Relists(); n != 1 {
		t.Errorf("relists %d, want 1", n)
	}
	if n := logs.count("re-reading all config"); n != 1 {
		t.Errorf("%d re-read lines, want 1:\n%s", n, strings.Join(logs.lines(), "\n"))
	}
}

func TestEtcdDown(t *testing.T) {
	url := sharedEtcd(t)
	w := directClient(t, url)
	br := newBridge(t, url)
	p := "/t-down"
	for i := range 10 {
		put(t, w, fmt.Sprintf("%s/routes/%d", p, i), fmt.Sprintf(`{"uri":"/%d"}`, i))
	}
	var logs logBuf
	s := runStore(t, fastOptions(bridgedClient(t, br), p, &logs))
	waitFor(t, 5*time.Second, "initial load", loaded(s))
	before := s.Snapshot()

	br.Cut()
	cutAt := time.Now()
	detect := waitFor(t, 5*time.Second, "Reachable() false", func() bool { return !s.Reachable() })
	// Observe a fixed 5 s window of the outage: the snapshot is kept and the
	// log stays sparse.
	const window = 5 * time.Second
	for time.Since(cutAt) < window {
		if s.Snapshot() != before || s.Reachable() {
			t.Fatalf("during the outage: snapshot replaced %v, reachable %v", s.Snapshot() != before, s.Reachable())
		}
		time.Sleep(10 * time.Millisecond)
	}
	lines := len(logs.lines()) - 1 // minus "config loaded"
	down := logs.count("etcd unreachable, serving last snapshot")
	t.Logf("outage: noticed after %s; %d log lines in %s (%d 'unreachable')", detect, lines, window, down)
	if down < 1 || lines > 1+int(window/minLogGap) {
		t.Errorf("%d log lines over %s (%d 'unreachable'), want 1..%d:\n%s", lines, window, down,
			1+int(window/minLogGap), strings.Join(logs.lines(), "\n"))
	}

	// A change made while the store is cut off shows up soon after etcd is
	// reachable again.
	rev := put(t, w, p+"/routes/new", `{"uri":"/new"}`)
	br.Restore()
	took := waitFor(t, 5*time.Second, "recovery", func() bool {
		return s.Reachable() && s.Snapshot().Revision >= rev && s.Snapshot().Get("routes", "new") != nil
	})
	t.Logf("at the head revision %s after connectivity returned", took)
	// Worst case: a back-off wait (<= BackoffMax/2.. BackoffMax) plus gRPC's
	// reconnect back-off (<= ReconnectMax + 20%).
	if took > 3*time.Second {
		t.Errorf("recovery took %s, want <= 3s", took)
	}
	if n := logs.count("etcd reachable again"); n != 1 {
		t.Errorf("%d 'reachable again' lines", n)
	}
	if s.Relists() != 0 {
		t.Errorf("relists %d: an outage alone must not force a full re-read", s.Relists())
	}
	if _, hash, _ := expected(t, w, p); s.Snapshot().Hash != hash {
		t.Errorf("hash %s, want %s", s.Snapshot().Hash, hash)
	}
}

func TestBurstCoalescing(t *testing.T) {
	url := sharedEtcd(t)
	w := directClient(t, url)
	p := "/t-burst"
	var logs logBuf
	opts := fastOptions(directClient(t, url), p, &logs)
	var mu sync.Mutex
	published := map[string]time.Time{} // hash -> first publish
	opts.OnSnapshot = func(snap *Snapshot) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := published[snap.Hash]; !ok {
			published[snap.Hash] = time.Now()
		}
	}
	s := runStore(t, opts)
	waitFor(t, 5*time.Second, "initial load", loaded(s))
	builds0 := s.Builds()

	const n = 5000
	ctx := tctx(t)
	start := time.Now()
	writeMany(t, n, 50, func(i int) error {
		_, err := w.Put(ctx, fmt.Sprintf("%s/routes/%d", p, i), fmt.Sprintf(`{"uri":"/r/%d","upstream_id":"1"}`, i))
		return err
	})
	end := time.Now()
	wrote := end.Sub(start)
	_, hash, head := expected(t, w, p)
	waitFor(t, 10*time.Second, "burst applied", func() bool {
		snap := s.Snapshot()
		return snap.Hash == hash && snap.Revision >= head
	})
	builds := s.Builds() - builds0
	mu.Lock()
	lag := published[hash].Sub(end)
	mu.Unlock()
	t.Logf("%d puts in %s (%.0f/s) from 50 writers: %d snapshot builds (%.1f/s); final snapshot published %s after the last put returned",
		n, wrote, n/wrote.Seconds(), builds, float64(builds)/wrote.Seconds(), lag)
	if s.Snapshot().Len() != n {
		t.Errorf("final snapshot has %d items, want %d", s.Snapshot().Len(), n)
	}
	if builds > n/10 {
		t.Errorf("%d builds for %d puts, want at most %d", builds, n, n/10)
	}
}

func TestCacheColdStart(t *testing.T) {
	url := sharedEtcd(t)
	w := directClient(t, url)
	p := "/t-cache"
	file := filepath.Join(t.TempDir(), "data", "config-snapshot.json")
	for i := range 20 {
		put(t, w, fmt.Sprintf("%s/routes/%d", p, i), fmt.Sprintf(`{"uri":"/%d"}`, i))
	}
	put(t, w, p+"/consumers/jack/credentials/c1", `{"plugins":{}}`)
	var logsA logBuf
	optsA := fastOptions(w, p, &logsA)
	optsA.CacheFile = file
	a := runStore(t, optsA)
	waitFor(t, 5*time.Second, "initial load", loaded(a))
	put(t, w, p+"/routes/late", `{"uri":"/late"}`)
	waitFor(t, 2*time.Second, "late route", func() bool { return a.Snapshot().Get("routes", "late") != nil })
	waitFor(t, 5*time.Second, "cache file written", func() bool {
		cf, err := readCacheFile(file, p)
		return err == nil && fileContentHash(cf) == a.Snapshot().Hash
	})
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, want 0600", fi.Mode().Perm())
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*tmp*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	// A cold start while etcd is unreachable serves the cached snapshot.
	br := newBridge(t, url)
	br.Cut()
	var logsB logBuf
	optsB := fastOptions(bridgedClient(t, br), p, &logsB)
	optsB.CacheFile = file
	b, err := New(optsB)
	if err != nil {
		t.Fatal(err)
	}
	snap := b.Snapshot()
	if !snap.Stale || snap.Hash != a.Snapshot().Hash || !slices.Equal(relKeys(snap), relKeys(a.Snapshot())) {
		t.Fatalf("cold start: stale %v hash %s (want %s), %d items", snap.Stale, snap.Hash, a.Snapshot().Hash, snap.Len())
	}
	if v, ok := snap.Get("routes", "late").Value.(json.RawMessage); !ok || string(v) != `{"uri":"/late"}` {
		t.Errorf("cached item value %v", snap.Get("routes", "late").Value)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, 5*time.Second, "first failed attempt", func() bool { return logsB.count("etcd unreachable") > 0 })
	if b.Snapshot() != snap || b.Reachable() {
		t.Fatalf("while unreachable the cached snapshot must be served")
	}
	br.Restore()
	waitFor(t, 5*time.Second, "fresh snapshot", loaded(b))
	if b.Snapshot().Hash != a.Snapshot().Hash {
		t.Errorf("after reaching etcd: hash %s, want %s", b.Snapshot().Hash, a.Snapshot().Hash)
	}

	// Unusable files are ignored: corrupt, truncated, another prefix.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"garbage":   []byte("not json"),
		"truncated": data[:len(data)/2],
		"tampered":  tamper(t, data),
		"prefix":    []byte(strings.Replace(string(data), `"prefix":"/t-cache"`, `"prefix":"/other"`, 1)),
	} {
		bad := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(bad, content, 0o600); err != nil {
			t.Fatal(err)
		}
		var logs logBuf
		opts := fastOptions(w, p, &logs)
		opts.CacheFile = bad
		s, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if s.Snapshot().Len() != 0 || logs.count("config cache unusable") != 1 {
			t.Errorf("%s: %d items, log %v", name, s.Snapshot().Len(), logs.lines())
		}
	}
}

// fileContentHash is the snapshot hash of everything a cache file holds.
func fileContentHash(cf *cacheFile) string {
	var sum digest
	for _, ci := range cf.Items {
		sum.add(itemDigest(ci.Kind, ci.ID, ci.Value))
	}
	return sum.String()
}

// goldenCache was written by the version before the snapshot hash became a
// sum of item digests; its "hash" was then the snapshot hash.
const goldenCache = `{"format":"portico-config-snapshot/1","prefix":"/t-golden","revision":9,` +
	`"hash":"52f97c3fa0a268845ae32ebdd1971b7fdcd496b1c475d96d4b838d335256a751","items":[` +
	`{"kind":"routes","id":"1","mod_revision":5,"value":"eyJ1cmkiOiIvMSJ9"},` +
	`{"kind":"routes","id":"2","mod_revision":6,"value":"eyJ1cmkiOiIvMiJ9"},` +
	`{"kind":"upstreams","id":"u","mod_revision":7,"value":"eyJub2RlcyI6e319"}]}`

// Cache files stay readable across the hash change, both ways: a file the
// previous version wrote loads, and this version writes the same bytes for
// the same content, so a downgrade reads its files too.
func TestCacheFileCompatible(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cache.json")
	if err := os.WriteFile(file, []byte(goldenCache), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs logBuf
	opts := fastOptions(&clientv3.Client{}, "/t-golden", &logs)
	opts.CacheFile = file
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if !snap.Stale || snap.Revision != 9 || !slices.Equal(relKeys(snap), []string{"routes/1", "routes/2", "upstreams/u"}) {
		t.Fatalf("loaded stale %v rev %d %v; log %v", snap.Stale, snap.Revision, relKeys(snap), logs.lines())
	}
	again := filepath.Join(t.TempDir(), "again.json")
	if err := writeCacheFile(again, "/t-golden", &Snapshot{Revision: 9, Items: snap.Items}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(again); string(data) != goldenCache {
		t.Errorf("written:\n%s\nwant:\n%s", data, goldenCache)
	}
}

// tamper changes one cached value but not the recorded hash.
func tamper(t *testing.T, data []byte) []byte {
	var cf cacheFile
	if err := json.Unmarshal(data, &cf); err != nil {
		t.Fatal(err)
	}
	cf.Items[0].Value = []byte(`{"uri":"/tampered"}`)
	out, err := json.Marshal(cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTwoStoresConverge(t *testing.T) {
	url := sharedEtcd(t)
	w := directClient(t, url)
	p := "/t-two"
	for i := range 50 {
		put(t, w, fmt.Sprintf("%s/routes/%d", p, i), fmt.Sprintf(`{"uri":"/%d"}`, i))
	}
	var l1, l2 logBuf
	s1 := runStore(t, fastOptions(directClient(t, url), p, &l1))
	waitFor(t, 5*time.Second, "s1 load", loaded(s1))
	ctx := tctx(t)
	mutate := func(round int) {
		writeMany(t, 100, 4, func(i int) error {
			var err error
			if i%4 == 0 {
				_, err = w.Delete(ctx, fmt.Sprintf("%s/routes/%d", p, (i+round)%50))
			} else {
				_, err = w.Put(ctx, fmt.Sprintf("%s/routes/%d", p, (i*7+round)%80), fmt.Sprintf(`{"uri":"/%d/%d"}`, round, i))
			}
			return err
		})
	}
	mutate(1)
	s2 := runStore(t, fastOptions(directClient(t, url), p, &l2)) // a worker started later
	mutate(2)
	// A write outside the prefix moves etcd's head: both follow it.
	put(t, w, p+"-elsewhere/x", "1")
	_, hash, head := expected(t, w, p)
	took := waitFor(t, 5*time.Second, "both stores at the head", func() bool {
		a, b := s1.Snapshot(), s2.Snapshot()
		return a.Hash == hash && b.Hash == hash && a.Revision == head && b.Revision == head
	})
	t.Logf("both stores at rev %d hash %s… %s after the last write", head, hash[:12], took)
}

func TestNewRejects(t *testing.T) {
	if _, err := New(Options{Prefix: "/apisix"}); err == nil {
		t.Error("New without a client succeeded")
	}
	cli := &clientv3.Client{}
	for _, p := range []string{"", "/", "//"} {
		if _, err := New(Options{Client: cli, Prefix: p}); err == nil {
			t.Errorf("New with prefix %q succeeded", p)
		}
	}
	s, err := New(Options{Client: cli, Prefix: "/apisix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Errorf("Run with an ended context: %v", err)
	}
	if err := s.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestParseKey(t *testing.T) {
	s := &Store{keyPrefix: "/apisix/"}
	for _, tc := range []struct {
		key      string
		kind, id string
		ok       bool
	}{
		{"/apisix/routes/1", "routes", "1", true},
		{"/apisix/consumers/jack/credentials/c1", "consumers", "jack/credentials/c1", true},
		{"/apisix/secrets/vault/1", "secrets", "vault/1", true},
		{"/apisix/plugins", "plugins", "", true},
		{"/apisix/routes/", "", "", false},
		{"/apisix/plugins/", "", "", false},
		{"/apisix/gen_id", "", "", false},
		{"/apisix/data_plane/server_info/x", "", "", false},
		{"/apisix/", "", "", false},
		{"/apisix2/routes/1", "", "", false},
		{"/other/routes/1", "", "", false},
	} {
		kind, id, ok := s.parseKey(tc.key)
		if kind != tc.kind || id != tc.id || ok != tc.ok {
			t.Errorf("parseKey(%q) = %q, %q, %v; want %q, %q, %v", tc.key, kind, id, ok, tc.kind, tc.id, tc.ok)
		}
	}
}

func TestHash(t *testing.T) {
	item := func(raw string) *Item { return &Item{Raw: []byte(raw)} }
	hash := func(items map[string]map[string]*Item) string { return sumItems(items).String() }
	a := map[string]map[string]*Item{
		"routes":    {"1": item(`{"a":1}`), "2": item(`{"b":2}`), "10": item(`{}`)},
		"upstreams": {"u": item(`{"n":1}`)},
	}
	b := map[string]map[string]*Item{}
	for _, kind := range []string{"upstreams", "routes"} {
		b[kind] = map[string]*Item{}
		keys := make([]string, 0)
		for id := range a[kind] {
			keys = append(keys, id)
		}
		sort.Sort(sort.Reverse(sort.StringSlice(keys)))
		for _, id := range keys {
			b[kind][id] = &Item{Raw: append([]byte(nil), a[kind][id].Raw...), ModRevision: 99}
		}
	}
	if hash(a) != hash(b) {
		t.Error("equal content, different hash")
	}
	if newSnapshot(a, 1, false).Hash != newSnapshot(b, 7, false).Hash {
		t.Error("hash depends on the revision")
	}
	b["routes"]["2"] = item(`{"b":3}`)
	if hash(a) == hash(b) {
		t.Error("different value, same hash")
	}
	// Field boundaries are unambiguous, and an item counts under its kind.
	for _, pair := range [][2]map[string]map[string]*Item{
		{{"routes": {"1": item(`x`)}}, {"routes": {"1x": item(``)}}},
		{{"routes": {"1": item(`x`)}}, {"upstreams": {"1": item(`x`)}}},
		{{"routes": {"1": item(`x`), "2": item(`y`)}}, {"routes": {"1": item(`y`), "2": item(`x`)}}},
	} {
		if hash(pair[0]) == hash(pair[1]) {
			t.Errorf("%v and %v hash alike", pair[0], pair[1])
		}
	}
	if got := hash(nil); got != strings.Repeat("0", 64) {
		t.Errorf("empty hash %s", got)
	}
}

func TestSnapshotCopyOnWrite(t *testing.T) {
	r1 := &Item{Kind: "routes", ID: "1", Raw: []byte(`1`)}
	u1 := &Item{Kind: "upstreams", ID: "1", Raw: []byte(`u`)}
	s0 := newSnapshot(map[string]map[string]*Item{"routes": {"1": r1}, "upstreams": {"1": u1}}, 5, false)
	r2 := &Item{Kind: "routes", ID: "2", Raw: []byte(`2`)}
	s1 := s0.Apply(6, Change{"routes", "2", r2}, Change{"routes", "1", nil})
	if s0.Len() != 2 || s0.Get("routes", "1") != r1 || s0.Get("routes", "2") != nil {
		t.Fatal("the old snapshot changed")
	}
	if s1.Get("routes", "2") != r2 || s1.Get("routes", "1") != nil || s1.Revision != 6 {
		t.Fatalf("new snapshot wrong: %+v", s1.Items)
	}
	if fmt.Sprintf("%p", s1.Items["upstreams"]) != fmt.Sprintf("%p", s0.Items["upstreams"]) {
		t.Error("an unchanged kind was copied")
	}
	s2 := s1.Apply(7, Change{"routes", "2", nil})
	if _, ok := s2.Items["routes"]; ok {
		t.Error("empty kind kept")
	}
	s3 := s2.Apply(9)
	if s3.Hash != s2.Hash || s3.Revision != 9 {
		t.Error("revision-only publish changed the hash")
	}
}

// The hash a change computes from the changed items alone equals the hash
// of the resulting content computed from scratch, through adds, value
// changes, deletes and kinds appearing and disappearing; and Changed, from
// the recorded changes, reports what comparing the contents reports.
func TestIncrementalHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []string{"routes", "upstreams", "services"}
	changed := func(next, prev *Snapshot, kind string) []string {
		var ids []string
		next.Changed(prev, kind, func(id string) { ids = append(ids, id) })
		slices.Sort(ids)
		return ids
	}
	snap := newSnapshot(nil, 1, false)
	for step := range 300 {
		var changes []Change
		for range rng.IntN(4) + 1 {
			kind := []string{"routes", "upstreams", "services"}[rng.IntN(3)]
			id := fmt.Sprint(rng.IntN(8))
			c := Change{Kind: kind, ID: id}
			if rng.IntN(3) > 0 {
				c.Item = &Item{Kind: kind, ID: id, Raw: []byte(fmt.Sprint(rng.IntN(5)))}
			}
			changes = append(changes, c) // the same item twice: the later wins
		}
		next := snap.Apply(int64(step+2), changes...)
		scratch := newSnapshot(next.Items, 0, false) // no lineage: Changed compares
		if next.Hash != scratch.Hash {
			t.Fatalf("step %d: incremental hash %s, from scratch %s", step, next.Hash, scratch.Hash)
		}
		revOnly := next.Apply(int64(step + 3))
		for _, kind := range kinds {
			got, want := changed(revOnly, snap, kind), changed(scratch, snap, kind)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d %s: Changed from the recorded changes %v, by comparison %v", step, kind, got, want)
			}
			if ids := changed(revOnly, next, kind); ids != nil {
				t.Fatalf("step %d %s: revision-only publish changed %v", step, kind, ids)
			}
			if got, want := changed(next, nil, kind), slices.Sorted(maps.Keys(next.Items[kind])); !slices.Equal(got, want) {
				t.Fatalf("step %d %s: Changed from nothing %v, want %v", step, kind, got, want)
			}
		}
		snap = revOnly
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(100*time.Millisecond, 2*time.Second)
	want := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000}
	for i, d := range want {
		d *= time.Millisecond
		got := b.next()
		if got < d/2 || got > d {
			t.Errorf("step %d: %s, want in [%s, %s]", i, got, d/2, d)
		}
	}
	b.reset()
	if got := b.next(); got > 100*time.Millisecond {
		t.Errorf("after reset: %s", got)
	}
	b.rnd = func() float64 { return 0 }
	b.reset()
	if got := b.next(); got != 50*time.Millisecond {
		t.Errorf("no jitter: %s", got)
	}
}

func TestCheckHead(t *testing.T) {
	s := &Store{rev: 150, clusterID: 7}
	hdr := func(rev int64, cluster uint64) *etcdserverpb.ResponseHeader {
		return &etcdserverpb.ResponseHeader{Revision: rev, ClusterId: cluster}
	}
	// A probe sent at rev 100 and answered at 120 while events moved the
	// store to 150 is not a revision going backwards.
	if err := s.checkHead(hdr(120, 7), 100); err != nil {
		t.Errorf("late probe answer: %v", err)
	}
	if err := s.checkHead(hdr(90, 7), 100); !errors.Is(err, errRelist) {
		t.Errorf("lower revision: %v", err)
	}
	if err := s.checkHead(hdr(200, 8), 150); !errors.Is(err, errRelist) {
		t.Errorf("other cluster: %v", err)
	}
}

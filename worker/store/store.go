package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portico-gw/portico/internal/logx"
)

// Validator decodes and validates one item's value. kind is the directory
// ("routes", "upstreams", ...), id the rest of the key after PREFIX/<kind>/
// (may contain '/', e.g. consumer credentials; "" for a key PREFIX/<kind>).
// It returns the typed object or an error. An error wrapping ErrIgnore
// means "not a configuration item": the key is skipped silently.
type Validator func(kind, id string, value []byte) (any, error)

// ErrIgnore, returned (or wrapped) by a Validator, marks a key that is not
// configuration (for example a kind the gateway does not serve): the key is
// left out of snapshots without an invalid-item log line.
var ErrIgnore = errors.New("store: not a config item")

// Options configure a Store. Zero durations take the defaults listed in the
// package doc.
type Options struct {
	// Client is the etcd client; the caller owns it. If nil, Dial is used.
	Client *clientv3.Client
	// Dial creates the client inside Run's retry loop when Client is nil;
	// the Store closes it when Run returns. Use it with user/password:
	// clientv3.New authenticates and therefore fails while etcd is down.
	Dial func(ctx context.Context) (*clientv3.Client, error)

	Prefix   string    // e.g. "/apisix"; a trailing '/' is ignored
	Validate Validator // nil: any well-formed JSON value, kept as json.RawMessage
	Log      zerolog.Logger

	// CacheFile is the last-good snapshot file, e.g.
	// <prefix>/data/config-snapshot.json; "" = none.
	CacheFile string
	// OnSnapshot is called from the store's goroutine after each publish,
	// including publishes that only move Revision (then Hash and Items are
	// those of the previous snapshot). It must not block for long.
	OnSnapshot func(*Snapshot)

	BackoffInitial   time.Duration // first retry wait (100ms)
	BackoffMax       time.Duration // cap of the retry wait (2s)
	RequestTimeout   time.Duration // per listing page and watch creation (5s)
	ProbeInterval    time.Duration // silence on the watch before a liveness Get (2s)
	ProbeTimeout     time.Duration // liveness Get deadline (3s)
	MinBuildInterval time.Duration // minimum gap between two builds (100ms)
	CacheInterval    time.Duration // minimum gap between two cache writes (1s)
	PageSize         int           // keys per listing page (1000)
}

const (
	defaultBackoffInitial   = 100 * time.Millisecond
	defaultBackoffMax       = 2 * time.Second
	defaultRequestTimeout   = 5 * time.Second
	defaultProbeInterval    = 2 * time.Second
	defaultProbeTimeout     = 3 * time.Second
	defaultMinBuildInterval = 100 * time.Millisecond
	defaultCacheInterval    = time.Second
	defaultPageSize         = 1000

	// minRelistGap bounds full re-reads triggered by compaction, revisions
	// going backwards or a changed cluster ID.
	minRelistGap = time.Second

	// minLogGap bounds the unreachable lines to one per second even while
	// the first back-off steps are shorter than that (RELIABILITY E1).
	minLogGap = time.Second
)

// Store is one worker's view of the configuration in etcd.
type Store struct {
	opts      Options
	keyPrefix string // Prefix + "/"
	log       zerolog.Logger
	validate  Validator

	cur       atomic.Pointer[Snapshot]
	reachable atomic.Bool
	relists   atomic.Int64
	builds    atomic.Int64
	running   atomic.Bool

	// Owned by Run's goroutine.
	cli        *clientv3.Client
	rev        int64             // revision the working state reflects
	clusterID  uint64            // cluster the working state was read from
	pending    map[string]Change // by key
	invalid    map[string]int64  // key -> mod revision already logged
	lastBuild  time.Time
	lastRelist time.Time
	down       downState
	cache      *cacheWriter

	// relistReq forces a full re-read (test seam).
	relistReq chan struct{}
}

// downState tracks one period of unreachability for logging.
type downState struct {
	attempts int
	since    time.Time
	lastLog  time.Time
}

// New checks opts and returns a Store serving the snapshot from
// opts.CacheFile (Stale) if it is present and valid, else an empty Stale
// snapshot. Nothing is read from etcd before Run.
func New(opts Options) (*Store, error) {
	if opts.Client == nil && opts.Dial == nil {
		return nil, errors.New("store: Options.Client or Options.Dial is required")
	}
	prefix := strings.TrimRight(opts.Prefix, "/")
	if prefix == "" {
		return nil, fmt.Errorf("store: invalid prefix %q", opts.Prefix)
	}
	opts.Prefix = prefix
	setDefault(&opts.BackoffInitial, defaultBackoffInitial)
	setDefault(&opts.BackoffMax, defaultBackoffMax)
	setDefault(&opts.RequestTimeout, defaultRequestTimeout)
	setDefault(&opts.ProbeInterval, defaultProbeInterval)
	setDefault(&opts.ProbeTimeout, defaultProbeTimeout)
	setDefault(&opts.MinBuildInterval, defaultMinBuildInterval)
	setDefault(&opts.CacheInterval, defaultCacheInterval)
	if opts.PageSize <= 0 {
		opts.PageSize = defaultPageSize
	}
	s := &Store{
		opts:      opts,
		keyPrefix: prefix + "/",
		log:       opts.Log,
		validate:  opts.Validate,
		cli:       opts.Client,
		pending:   make(map[string]Change),
		invalid:   make(map[string]int64),
		relistReq: make(chan struct{}, 1),
	}
	if s.validate == nil {
		s.validate = validJSON
	}
	s.cur.Store(newSnapshot(nil, 0, true))
	if opts.CacheFile != "" {
		s.cache = newCacheWriter(opts.CacheFile, prefix, opts.CacheInterval, s.log)
		s.loadCache()
	}
	return s, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

func validJSON(_, _ string, value []byte) (any, error) {
	if !json.Valid(value) {
		return nil, errors.New("invalid JSON")
	}
	return json.RawMessage(value), nil
}

// Snapshot returns the snapshot being served. It is never nil.
func (s *Store) Snapshot() *Snapshot { return s.cur.Load() }

// Reachable reports whether etcd answered the last request or probe.
func (s *Store) Reachable() bool { return s.reachable.Load() }

// Relists counts full re-reads after the first listing: compaction, a
// revision going backwards, a changed cluster ID.
func (s *Store) Relists() int64 { return s.relists.Load() }

// Builds counts published snapshots (including revision-only ones).
func (s *Store) Builds() int64 { return s.builds.Load() }

// Status is what a worker reports about its configuration (status --json).
// Workers that converged report equal config_hash values.
type Status struct {
	Revision  int64  `json:"config_revision"`
	Hash      string `json:"config_hash"`
	Stale     bool   `json:"config_stale"`
	Items     int    `json:"config_items"`
	Reachable bool   `json:"etcd_reachable"`
	Relists   int64  `json:"config_relists"`
	Builds    int64  `json:"config_builds"`
}

// Status returns the served snapshot's identity and the store's counters.
func (s *Store) Status() Status {
	snap := s.cur.Load()
	return Status{Revision: snap.Revision, Hash: snap.Hash, Stale: snap.Stale, Items: snap.Len(),
		Reachable: s.Reachable(), Relists: s.Relists(), Builds: s.Builds()}
}

// errRelist asks Run for a full re-read; it wraps the reason.
var errRelist = errors.New("full re-read needed")

// Run reads the prefix, then follows the watch until ctx ends, re-reading
// when needed and retrying with back-off while etcd is unreachable. It
// returns nil when ctx ends, or an error if Run is called twice.
func (s *Store) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("store: Run called twice")
	}
	if s.cache != nil {
		cctx, cancel := context.WithCancel(ctx)
		go s.cache.run(cctx)
		defer func() { cancel(); <-s.cache.done }()
	}
	if s.opts.Client == nil {
		defer func() {
			if s.cli != nil {
				s.cli.Close()
			}
		}()
	}
	bo := newBackoff(s.opts.BackoffInitial, s.opts.BackoffMax)
	needList := true
	for ctx.Err() == nil {
		err := s.step(ctx, &needList, bo)
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, errRelist) {
			s.relists.Add(1)
			needList = true
			s.log.Info().Err(err).Int64(logx.FieldRevision, s.rev).Msg("re-reading all config")
			// At most one full re-read per second, whatever keeps asking.
			sleep(ctx, minRelistGap-time.Since(s.lastRelist))
			s.lastRelist = time.Now()
			continue
		}
		wait := bo.next()
		s.failed(err, wait)
		sleep(ctx, wait)
	}
	return nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// step brings the working state up to date (dial, list, or check etcd
// after an outage) and then follows the watch until it fails.
func (s *Store) step(ctx context.Context, needList *bool, bo *backoff) error {
	if s.cli == nil {
		cli, err := s.opts.Dial(ctx)
		if err != nil {
			return fmt.Errorf("connect to etcd: %w", err)
		}
		s.cli = cli
	}
	switch {
	case *needList:
		if err := s.relist(ctx); err != nil {
			return err
		}
		*needList = false
		s.up(bo)
	case s.down.attempts > 0:
		// Resuming after an outage: make sure this is still the etcd we
		// read from before watching from our revision.
		if err := s.probe(ctx, s.opts.RequestTimeout); err != nil {
			return err
		}
	}
	return s.watch(ctx, bo)
}

// up records that etcd answered.
func (s *Store) up(bo *backoff) {
	s.reachable.Store(true)
	bo.reset()
	if s.down.attempts > 0 {
		s.log.Info().Int("attempts", s.down.attempts).Dur("down_for", time.Since(s.down.since)).
			Int64(logx.FieldRevision, s.rev).Msg("etcd reachable again")
	}
	s.down = downState{}
}

// failed records one failed back-off step and logs it unless a line was
// logged less than minLogGap ago.
func (s *Store) failed(err error, wait time.Duration) {
	now := time.Now()
	s.reachable.Store(false)
	if s.down.attempts == 0 {
		s.down.since = now
	}
	s.down.attempts++
	if s.down.attempts > 1 && now.Sub(s.down.lastLog) < minLogGap {
		return
	}
	s.down.lastLog = now
	snap := s.cur.Load()
	s.log.Warn().Err(err).Int("attempt", s.down.attempts).Dur("retry_in", wait).
		Int64(logx.FieldRevision, snap.Revision).Str(logx.FieldConfigHash, snap.Hash).Bool("stale", snap.Stale).
		Msg("etcd unreachable, serving last snapshot")
}

// publish builds a snapshot from the current one plus the pending changes
// and installs it, if anything (content or revision) changed.
func (s *Store) publish() {
	prev := s.cur.Load()
	if len(s.pending) == 0 && s.rev == prev.Revision {
		return
	}
	next := prev.Apply(s.rev, slices.Collect(maps.Values(s.pending))...)
	clear(s.pending)
	s.install(next)
}

// install makes next the served snapshot.
func (s *Store) install(next *Snapshot) {
	s.cur.Store(next)
	s.builds.Add(1)
	s.lastBuild = time.Now()
	if s.cache != nil {
		s.cache.offer(next)
	}
	if s.opts.OnSnapshot != nil {
		s.opts.OnSnapshot(next)
	}
}

// parseKey splits an etcd key into kind and id; ok is false for keys that
// are not configuration items (see the package doc).
func (s *Store) parseKey(key string) (kind, id string, ok bool) {
	rel, found := strings.CutPrefix(key, s.keyPrefix)
	if !found {
		return "", "", false
	}
	kind, id, slash := strings.Cut(rel, "/")
	switch {
	case kind == "":
		return "", "", false
	case slash && id == "": // PREFIX/<kind>/ = "init_dir"
		return "", "", false
	case kind == "gen_id" || kind == "data_plane": // spec 2.1 scratch keys
		return "", "", false
	}
	return kind, id, true
}

// decode turns one key's value into the item to serve. prev is the item
// served for the key so far (nil if none). An invalid value returns prev
// (keep the previous valid version), after logging the (key, mod revision)
// once. A value equal to prev's is not validated again.
func (s *Store) decode(kind, id, key string, raw []byte, modRev int64, prev *Item) *Item {
	if prev != nil && string(prev.Raw) == string(raw) {
		delete(s.invalid, key)
		if prev.ModRevision == modRev {
			return prev
		}
		it := *prev
		it.ModRevision = modRev
		return &it
	}
	v, err := s.check(kind, id, raw)
	if errors.Is(err, ErrIgnore) {
		delete(s.invalid, key)
		return nil
	}
	if err != nil {
		if logged, ok := s.invalid[key]; !ok || logged != modRev {
			s.invalid[key] = modRev
			ev := s.log.Error().Str("key", key).Int64("mod_revision", modRev).Err(err)
			if prev != nil {
				ev.Int64("kept_mod_revision", prev.ModRevision).Msg("invalid config item, keeping previous version")
			} else {
				ev.Msg("invalid config item ignored")
			}
		}
		return prev
	}
	delete(s.invalid, key)
	return &Item{Kind: kind, ID: id, Key: key, Value: v, Raw: raw, ModRevision: modRev}
}

// check runs the Validator; a panic is an invalid item, not a dead worker
// (every worker would otherwise crash-loop on the same key).
func (s *Store) check(kind, id string, raw []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("validator panicked: %v", r)
		}
	}()
	return s.validate(kind, id, raw)
}

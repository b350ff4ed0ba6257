package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watch follows the prefix from the working revision + 1 until the watch
// fails (error), needs a full re-read (errRelist) or ctx ends. Changes are
// collected in s.pending and published at most every MinBuildInterval.
// Whatever was received is published before it returns.
func (s *Store) watch(ctx context.Context, bo *backoff) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	defer s.publish()
	wch, err := s.openWatch(wctx, cancel)
	if err != nil {
		return err
	}
	s.up(bo)

	build := time.NewTimer(time.Hour)
	build.Stop()
	defer build.Stop()
	var buildC <-chan time.Time
	schedule := func() {
		if buildC != nil || (len(s.pending) == 0 && s.rev == s.cur.Load().Revision) {
			return
		}
		if wait := s.opts.MinBuildInterval - time.Since(s.lastBuild); wait > 0 {
			build.Reset(wait)
			buildC = build.C
			return
		}
		s.publish()
	}

	tick := time.NewTicker(s.opts.ProbeInterval / 2)
	defer tick.Stop()
	lastHeard := time.Now()
	probec := make(chan probeResult, 1)
	probing := false
	defer func() {
		if probing {
			cancel()
			<-probec
		}
	}()

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.relistReq:
			return fmt.Errorf("%w: requested", errRelist)
		case wr, ok := <-wch:
			if !ok {
				return s.closed(ctx)
			}
			lastHeard = time.Now()
			if err := s.apply(wr); err != nil {
				return err
			}
			// Coalesce: take whatever else is already there before building.
		drain:
			for {
				select {
				case wr, ok := <-wch:
					if !ok {
						return s.closed(ctx)
					}
					if err := s.apply(wr); err != nil {
						return err
					}
				default:
					break drain
				}
			}
			schedule()
		case <-buildC:
			buildC = nil
			s.publish()
		case r := <-probec:
			probing = false
			if r.err != nil {
				return fmt.Errorf("etcd probe: %w", r.err)
			}
			// Against the revision seen when the probe started: events
			// may have moved s.rev past the probe's answer since.
			if err := s.checkHead(r.hdr, r.base); err != nil {
				return err
			}
			lastHeard = time.Now()
		case <-tick.C:
			if !probing && time.Since(lastHeard) >= s.opts.ProbeInterval {
				probing = true
				rev := s.rev
				go func() { probec <- s.probeHead(wctx, s.opts.ProbeTimeout, rev, true) }()
			}
		}
	}
}

// openWatch creates the watch, giving up after RequestTimeout: clientv3's
// Watch blocks until the server confirms the watch, which never happens
// while etcd is unreachable.
func (s *Store) openWatch(wctx context.Context, cancel context.CancelFunc) (clientv3.WatchChan, error) {
	var state atomic.Int32 // 0 opening, 1 open, 2 timed out
	t := time.AfterFunc(s.opts.RequestTimeout, func() {
		if state.CompareAndSwap(0, 2) {
			cancel()
		}
	})
	wch := s.cli.Watch(wctx, s.keyPrefix, clientv3.WithPrefix(), clientv3.WithRev(s.rev+1), clientv3.WithProgressNotify())
	t.Stop()
	if !state.CompareAndSwap(0, 1) {
		return nil, fmt.Errorf("watch %s from rev %d: not created within %s", s.keyPrefix, s.rev+1, s.opts.RequestTimeout)
	}
	return wch, nil
}

func (s *Store) closed(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("watch %s closed", s.keyPrefix)
}

// apply folds one watch response into the working state.
func (s *Store) apply(wr clientv3.WatchResponse) error {
	if err := wr.Err(); err != nil {
		if wr.CompactRevision != 0 {
			return fmt.Errorf("%w: watch from rev %d compacted (compact revision %d)", errRelist, s.rev+1, wr.CompactRevision)
		}
		return fmt.Errorf("watch %s: %w", s.keyPrefix, err)
	}
	if id := wr.Header.ClusterId; id != 0 && s.clusterID != 0 && id != s.clusterID {
		return fmt.Errorf("%w: etcd cluster ID changed from %x to %x", errRelist, s.clusterID, id)
	}
	if wr.IsProgressNotify() {
		if wr.Header.Revision < s.rev {
			return fmt.Errorf("%w: etcd revision %d is lower than %d already seen (etcd restored or wiped)", errRelist, wr.Header.Revision, s.rev)
		}
		s.rev = wr.Header.Revision
		return nil
	}
	base := s.rev
	for _, ev := range wr.Events {
		rev := ev.Kv.ModRevision
		if rev <= base {
			return fmt.Errorf("%w: event revision %d is not above %d already seen (etcd restored or wiped)", errRelist, rev, base)
		}
		key := string(ev.Kv.Key)
		if kind, id, ok := s.parseKey(key); ok {
			prev := s.current(kind, id, key)
			var next *Item
			if ev.Type == clientv3.EventTypePut {
				next = s.decode(kind, id, key, ev.Kv.Value, rev, prev)
			} else {
				delete(s.invalid, key)
			}
			if next != prev {
				s.pending[key] = Change{Kind: kind, ID: id, Item: next}
			}
		}
		s.rev = max(s.rev, rev)
	}
	return nil
}

// current is the item served for key once the pending changes are applied.
func (s *Store) current(kind, id, key string) *Item {
	if c, ok := s.pending[key]; ok {
		return c.Item
	}
	return s.cur.Load().Get(kind, id)
}

type probeResult struct {
	hdr  *etcdserverpb.ResponseHeader
	base int64 // working revision when the probe was sent
	err  error
}

// probeHead asks etcd for its header with a linearizable point read. With
// progress set and etcd ahead of rev, it also asks the watch stream of ctx
// for a progress notification, so a quiet prefix still follows the head
// revision. It touches no working state: it may run on its own goroutine.
func (s *Store) probeHead(ctx context.Context, timeout time.Duration, rev int64, progress bool) probeResult {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := s.cli.Get(pctx, s.opts.Prefix, clientv3.WithKeysOnly())
	if err != nil {
		return probeResult{base: rev, err: err}
	}
	if progress && resp.Header.Revision > rev {
		_ = s.cli.RequestProgress(pctx) // best effort; the next probe asks again
	}
	return probeResult{hdr: resp.Header, base: rev}
}

// probe checks, before resuming a watch after an outage, that etcd answers
// and is still the cluster and history the working state came from.
func (s *Store) probe(ctx context.Context, timeout time.Duration) error {
	r := s.probeHead(ctx, timeout, s.rev, false)
	if r.err != nil {
		return fmt.Errorf("etcd probe: %w", r.err)
	}
	return s.checkHead(r.hdr, s.rev)
}

// checkHead returns errRelist when hdr, the answer to a linearizable read
// sent once revision base had been seen, shows another cluster or a lower
// revision.
func (s *Store) checkHead(hdr *etcdserverpb.ResponseHeader, base int64) error {
	if hdr.ClusterId != 0 && s.clusterID != 0 && hdr.ClusterId != s.clusterID {
		return fmt.Errorf("%w: etcd cluster ID changed from %x to %x", errRelist, s.clusterID, hdr.ClusterId)
	}
	if hdr.Revision < base {
		return fmt.Errorf("%w: etcd revision %d is lower than %d already seen (etcd restored or wiped)", errRelist, hdr.Revision, base)
	}
	return nil
}

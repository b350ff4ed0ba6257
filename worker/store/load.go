package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portico-gw/portico/internal/logx"
)

// listAttempts bounds how often a listing restarts because its revision was
// compacted between two pages.
const listAttempts = 3

// relist reads the whole prefix at one revision and publishes the result.
// Items present in the listing keep their previous valid version when the
// listed value is invalid; items absent from the listing are gone.
func (s *Store) relist(ctx context.Context) error {
	start := time.Now()
	var (
		kvs []*mvccpb.KeyValue
		hdr *etcdserverpb.ResponseHeader
		err error
	)
	for range listAttempts {
		kvs, hdr, err = s.fetchAll(ctx)
		if !errors.Is(err, rpctypes.ErrCompacted) {
			break
		}
	}
	if err != nil {
		return err
	}
	prev := s.cur.Load()
	items := s.itemsFrom(kvs, prev)
	first := prev.Stale
	s.rev = hdr.Revision
	s.clusterID = hdr.ClusterId
	clear(s.pending)
	next := newSnapshot(items, s.rev, false)
	s.install(next)
	if first {
		s.log.Info().Int64(logx.FieldRevision, next.Revision).Str(logx.FieldConfigHash, next.Hash).
			Int("items", next.Len()).Dur("took", time.Since(start)).Msg("config loaded")
	}
	return nil
}

// itemsFrom decodes a listing. A listed key keeps prev's version when its
// listed value is invalid; a key not listed is gone. Invalid-item log
// entries of keys no longer listed are dropped.
func (s *Store) itemsFrom(kvs []*mvccpb.KeyValue, prev *Snapshot) map[string]map[string]*Item {
	items := make(map[string]map[string]*Item)
	seen := make(map[string]struct{}, len(kvs))
	for _, kv := range kvs {
		key := string(kv.Key)
		kind, id, ok := s.parseKey(key)
		if !ok {
			continue
		}
		seen[key] = struct{}{}
		it := s.decode(kind, id, key, kv.Value, kv.ModRevision, prev.Get(kind, id))
		if it == nil {
			continue
		}
		m := items[kind]
		if m == nil {
			m = make(map[string]*Item)
			items[kind] = m
		}
		m[id] = it
	}
	for key := range s.invalid {
		if _, ok := seen[key]; !ok {
			delete(s.invalid, key)
		}
	}
	return items
}

// fetchAll is a paginated, linearizable Get of the prefix, every page at the
// revision of the first one.
func (s *Store) fetchAll(ctx context.Context) ([]*mvccpb.KeyValue, *etcdserverpb.ResponseHeader, error) {
	end := clientv3.GetPrefixRangeEnd(s.keyPrefix)
	key := s.keyPrefix
	var (
		kvs []*mvccpb.KeyValue
		hdr *etcdserverpb.ResponseHeader
	)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(int64(s.opts.PageSize))}
		if hdr != nil {
			opts = append(opts, clientv3.WithRev(hdr.Revision))
		}
		rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
		resp, err := s.cli.Get(rctx, key, opts...)
		cancel()
		if err != nil {
			rev := int64(0)
			if hdr != nil {
				rev = hdr.Revision
			}
			return nil, nil, fmt.Errorf("list %s (rev %d, %d keys read): %w", s.keyPrefix, rev, len(kvs), err)
		}
		if hdr == nil {
			hdr = resp.Header
		}
		kvs = append(kvs, resp.Kvs...)
		if !resp.More || len(resp.Kvs) == 0 {
			return kvs, hdr, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

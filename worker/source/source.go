// Package source is where a process's data-plane configuration comes from:
// etcd (worker/store) or the standalone file (worker/standalone), chosen by
// the runtime file's config_provider. Workers and the privileged agent use
// it alike, so both validate items with the same resource schemas.
package source

import (
	"context"
	"strings"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/tmpl"
	"github.com/portico-gw/portico/worker/standalone"
	"github.com/portico-gw/portico/worker/store"
)

// Source delivers snapshots.
type Source interface {
	// Snapshot is the configuration to serve now (possibly cached or empty).
	Snapshot() *store.Snapshot
	// Run follows the source until ctx ends, calling onSnapshot.
	Run(ctx context.Context)
	// Reachable reports etcd reachability; nil for the standalone file.
	Reachable() *bool
}

// minBuildInterval is the least time between two config builds. Building
// the data plane runs in the store's goroutine, so a large table paces the
// builds by itself; a short gap keeps a single change's put-to-served low.
const minBuildInterval = 10 * time.Millisecond

// New returns the source rt names. onSnapshot runs for every new snapshot.
func New(rt *tmpl.Runtime, log zerolog.Logger, onSnapshot func(*store.Snapshot)) (Source, error) {
	if rt.ConfigProvider == "yaml" {
		f := &standalone.Source{Path: rt.StandaloneFile, Validate: ValidateItem, Log: log, OnSnapshot: onSnapshot}
		f.Load()
		return fileSource{f}, nil
	}
	e := rt.Etcd
	cc := ClientConfig(e)
	// The client is dialled inside the store's retry loop, so a process
	// starts (and serves its cached snapshot) while etcd is down, with or
	// without user/password.
	st, err := store.New(store.Options{
		Prefix:           e.Prefix,
		Validate:         ValidateItem,
		Log:              log,
		CacheFile:        rt.CacheFile,
		OnSnapshot:       onSnapshot,
		MinBuildInterval: minBuildInterval,
		Dial:             func(context.Context) (*clientv3.Client, error) { return store.NewClient(cc) },
	})
	if err != nil {
		return nil, err
	}
	return etcdSource{st}, nil
}

// ClientConfig is how this process reaches the etcd of e.
func ClientConfig(e tmpl.Etcd) store.ClientConfig {
	return store.ClientConfig{
		Endpoints: e.Endpoints, User: e.User, Password: e.Password,
		TLSCert: e.TLSCert, TLSKey: e.TLSKey, TLSVerify: e.TLSVerify, TLSSNI: e.TLSSNI,
	}
}

type etcdSource struct{ *store.Store }

func (s etcdSource) Run(ctx context.Context) { s.Store.Run(ctx) }
func (s etcdSource) Reachable() *bool {
	ok := s.Store.Reachable()
	return &ok
}

type fileSource struct{ *standalone.Source }

func (fileSource) Reachable() *bool { return nil }

// ValidateItem is the store's validator: the shared resource schemas, for
// the directories the data plane serves.
func ValidateItem(kind, id string, value []byte) (any, error) {
	k := resource.Kind(kind)
	if k == resource.Consumers && strings.Contains(id, "/credentials/") {
		k = resource.Credentials
	}
	if !k.Valid() || id == "" {
		return nil, store.ErrIgnore
	}
	return resource.Validate(k, value)
}

package worker

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portico-gw/portico/resource"
	"github.com/portico-gw/portico/tmpl"
	"github.com/portico-gw/portico/worker/store"
)

// minBuildInterval is the least time between two config builds.
const minBuildInterval = 10 * time.Millisecond

// newStore builds the worker's config store on deployment.etcd. The client
// is dialled inside the store's retry loop, so a worker starts (and serves
// its cached snapshot) while etcd is down, with or without user/password.
func newStore(rt *tmpl.Runtime, opts store.Options) (*store.Store, error) {
	e := rt.Etcd
	cc := store.ClientConfig{
		Endpoints: e.Endpoints, User: e.User, Password: e.Password,
		TLSCert: e.TLSCert, TLSKey: e.TLSKey, TLSVerify: e.TLSVerify, TLSSNI: e.TLSSNI,
	}
	opts.Prefix = e.Prefix
	// Building the data plane runs in the store's goroutine, so a large
	// table paces the builds by itself; a short minimum gap keeps a single
	// change's put-to-served time low.
	opts.MinBuildInterval = minBuildInterval
	opts.Validate = validateItem
	opts.CacheFile = filepath.Join(rt.Prefix, "data", "config-snapshot.json")
	opts.Dial = func(context.Context) (*clientv3.Client, error) { return store.NewClient(cc) }
	return store.New(opts)
}

// validateItem is the store's validator: the shared resource schemas, for
// the directories the data plane serves.
func validateItem(kind, id string, value []byte) (any, error) {
	k := resource.Kind(kind)
	if k == resource.Consumers && strings.Contains(id, "/credentials/") {
		k = resource.Credentials
	}
	if !k.Valid() || id == "" {
		return nil, store.ErrIgnore
	}
	return resource.Validate(k, value)
}

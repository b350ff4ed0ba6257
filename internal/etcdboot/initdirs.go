package etcdboot

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Dirs are APISIX's resource directories (spec 2.1), created by init_etcd.
var Dirs = []string{
	"routes", "services", "upstreams", "consumers", "consumer_groups", "ssls",
	"global_rules", "plugin_configs", "plugin_metadata", "protos", "stream_routes",
	"secrets", "plugins",
}

// InitDirs creates every missing `PREFIX/<dir>/` key with APISIX's
// placeholder value, in one transaction per key so that concurrent callers
// (two masters during an upgrade) never overwrite each other.
func InitDirs(ctx context.Context, cli *clientv3.Client, prefix string) error {
	prefix = strings.TrimRight(prefix, "/")
	for _, dir := range Dirs {
		key := prefix + "/" + dir + "/"
		_, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, "init_dir")).
			Commit()
		if err != nil {
			return fmt.Errorf("init_etcd: create %s: %w", key, err)
		}
	}
	return nil
}

// Client connects to endpoints without etcd's own logging.
func Client(endpoints []string, dialTimeout time.Duration) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: dialTimeout, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return cli, nil
}

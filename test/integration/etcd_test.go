package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func etcdClient(t *testing.T, g *Gateway) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{fmt.Sprintf("http://127.0.0.1:%d", g.EtcdPort)},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func etcdGet(t *testing.T, cli *clientv3.Client, key string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("%s: not found", key)
	}
	return string(resp.Kvs[0].Value), nil
}

func TestEmbeddedEtcdKeepsDataAcrossRestartAndUpgrade(t *testing.T) {
	g := newGateway(t, 1)
	g.Start()
	cli := etcdClient(t, g)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/apisix/routes/persist", `{"uri":"/persist"}`); err != nil {
		t.Fatal(err)
	}
	// init_etcd's skeleton was written at start.
	eventually(t, 5*time.Second, func() error {
		v, err := etcdGet(t, cli, "/apisix/routes/")
		if err == nil && v != "init_dir" {
			return fmt.Errorf("routes dir holds %q", v)
		}
		return err
	})

	g.MustRun("stop")
	g.Start()
	eventually(t, 10*time.Second, func() error {
		v, err := etcdGet(t, cli, "/apisix/routes/persist")
		if err == nil && v != `{"uri":"/persist"}` {
			return fmt.Errorf("value %q", v)
		}
		return err
	})

	g.MustRun("upgrade")
	eventually(t, 15*time.Second, func() error {
		v, err := etcdGet(t, cli, "/apisix/routes/persist")
		if err == nil && v != `{"uri":"/persist"}` {
			return fmt.Errorf("value %q", v)
		}
		return err
	})
	// Workers of the new master reconnect by themselves.
	eventually(t, 15*time.Second, func() error {
		for _, c := range workers(g.Status(), 0) {
			if c.EtcdReachable == nil || !*c.EtcdReachable {
				return fmt.Errorf("worker %d (gen %d) does not reach etcd", c.Slot, c.Generation)
			}
		}
		return nil
	})
	// The new master's etcd starts once the old one released the port and
	// data directory, which no longer waits on the workers' watch streams.
	eventually(t, 3*time.Second, func() error {
		if st := g.Status(); !st.Etcd.Running {
			return fmt.Errorf("embedded etcd not running in the new master")
		}
		return nil
	})
}

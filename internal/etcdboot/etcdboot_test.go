package etcdboot

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const readyTimeout = 30 * time.Second

// freeURL returns an http URL on a loopback port nothing listens on.
func freeURL(t *testing.T) (url, hostport string) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostport = ln.Addr().String()
	ln.Close()
	return "http://" + hostport, hostport
}

func start(t *testing.T, dir, url string) *Server {
	t.Helper()
	srv, err := Start(dir, url, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), readyTimeout)
	if err != nil {
		t.Fatalf("Start(%s, %s): %v", dir, url, err)
	}
	return srv
}

func client(t *testing.T, url string) *clientv3.Client {
	t.Helper()
	cli, err := Client([]string{url}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func get(t *testing.T, cli *clientv3.Client, key string) (string, bool) {
	t.Helper()
	resp, err := cli.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}

func TestStartInitDirsAndRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	url, _ := freeURL(t)
	srv := start(t, dir, url)
	closed := false
	defer func() {
		if !closed {
			srv.Close()
		}
	}()
	cli := client(t, url)

	if err := InitDirs(ctx(t), cli, "/apisix"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx(t), "/apisix/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != len(Dirs) {
		t.Errorf("%d keys under /apisix/, want %d", len(resp.Kvs), len(Dirs))
	}
	for _, d := range Dirs {
		if v, ok := get(t, cli, "/apisix/"+d+"/"); !ok || v != "init_dir" {
			t.Errorf("/apisix/%s/ = %q (present %v), want init_dir", d, v, ok)
		}
	}

	// A second InitDirs never overwrites what is there.
	if _, err := cli.Put(ctx(t), "/apisix/routes/", "changed"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx(t), "/apisix/ssls/"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx(t), "/apisix/routes/1", `{"uri":"/x"}`); err != nil {
		t.Fatal(err)
	}
	// A trailing slash on the prefix means the same keys.
	if err := InitDirs(ctx(t), cli, "/apisix/"); err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, cli, "/apisix/routes/"); v != "changed" {
		t.Errorf("/apisix/routes/ = %q after a second InitDirs, want the changed value", v)
	}
	if v, _ := get(t, cli, "/apisix/ssls/"); v != "init_dir" {
		t.Errorf("/apisix/ssls/ = %q, want it created again", v)
	}
	if _, ok := get(t, cli, "/apisix//routes/"); ok {
		t.Error("InitDirs with a trailing slash created //-keys")
	}

	// Data survives Close and Start again on the same directory.
	srv.Close()
	closed = true
	srv = start(t, dir, url)
	closed = false
	if v, _ := get(t, cli, "/apisix/routes/1"); v != `{"uri":"/x"}` {
		t.Errorf("/apisix/routes/1 after restart = %q", v)
	}
	if v, _ := get(t, cli, "/apisix/routes/"); v != "changed" {
		t.Errorf("/apisix/routes/ after restart = %q", v)
	}
	select {
	case err := <-srv.Err():
		t.Errorf("server reported %v", err)
	default:
	}
}

func TestStartOnTakenPortFails(t *testing.T) {
	held, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	addr := held.Addr().String()
	dir := filepath.Join(t.TempDir(), "etcd")

	srv, err := Start(dir, "http://"+addr, zerolog.Nop(), readyTimeout)
	if err == nil {
		srv.Close()
		t.Fatalf("Start on %s, which is taken, succeeded", addr)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name %s", err, addr)
	}

	// Nothing is left running: the same directory starts on a free port.
	url, _ := freeURL(t)
	srv = start(t, dir, url)
	defer srv.Close()
	if _, err := client(t, url).Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
}

func TestStartRejectsBadURL(t *testing.T) {
	dir := t.TempDir()
	for _, url := range []string{"https://127.0.0.1:2379", "://x"} {
		if srv, err := Start(dir, url, zerolog.Nop(), time.Second); err == nil {
			srv.Close()
			t.Errorf("Start(%q) succeeded", url)
		} else if !strings.Contains(err.Error(), url) {
			t.Errorf("Start(%q): error %q does not name the url", url, err)
		}
	}
}

// Two prefixes side by side: two servers, two directories, two client
// ports, and peer listeners that do not collide.
func TestTwoServersSideBySide(t *testing.T) {
	root := t.TempDir()
	url1, _ := freeURL(t)
	url2, _ := freeURL(t)
	s1 := start(t, filepath.Join(root, "one"), url1)
	defer s1.Close()
	s2 := start(t, filepath.Join(root, "two"), url2)
	defer s2.Close()

	c1, c2 := client(t, url1), client(t, url2)
	if _, err := c1.Put(ctx(t), "who", "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Put(ctx(t), "who", "two"); err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, c1, "who"); v != "one" {
		t.Errorf("server one: who = %q", v)
	}
	if v, _ := get(t, c2, "who"); v != "two" {
		t.Errorf("server two: who = %q", v)
	}
	for i, s := range []*Server{s1, s2} {
		select {
		case err := <-s.Err():
			t.Errorf("server %d reported %v", i+1, err)
		default:
		}
	}
}

// TestCloseDoesNotWaitForWatchers: a client's open watch stream used to
// hold Close for etcd's 5 s request timeout (gRPC's graceful stop waits for
// every stream), which delayed an upgrade's new master by as much. Close
// now ends the clients' connections, and the port and data directory are
// free for the next server at once.
func TestCloseDoesNotWaitForWatchers(t *testing.T) {
	dir := t.TempDir()
	url, _ := freeURL(t)
	srv := start(t, dir, url)
	cli := client(t, url)
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wch := cli.Watch(clientv3.WithRequireLeader(wctx), "/apisix/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	select {
	case resp := <-wch:
		if !resp.Created {
			t.Fatalf("first watch response %+v, want the created notice", resp)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch not created")
	}

	began := time.Now()
	srv.Close()
	// etcd's request timeout is 5 s; a second is far more than a close
	// without that wait takes.
	took := time.Since(began)
	t.Logf("Close took %v with a watcher open", took)
	if took > time.Second {
		t.Errorf("Close took %v with a watcher open, want well under etcd's 5 s request timeout", took)
	}
	next := start(t, dir, url)
	defer next.Close()
	if _, err := cli.Put(ctx(t), "/apisix/routes/after", "x"); err != nil {
		t.Errorf("the client does not reach the next server: %v", err)
	}
}

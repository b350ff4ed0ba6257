package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// shared is one embedded etcd used by the tests that do not restart or wipe
// it; each test works under its own prefix.
var shared struct {
	once sync.Once
	etcd *embed.Etcd
	url  string
	err  error
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.etcd != nil {
		shared.etcd.Close()
		os.RemoveAll(shared.dir)
	}
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits for goroutines running this package's code (other
// than the test runner's) to end, and returns their stacks if they do not.
func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "worker/store.") && !strings.Contains(g, "testing.(*M).Run") &&
				!strings.Contains(g, "store.TestMain") && !strings.Contains(g, "store.leakedGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sharedEtcd(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "store-etcd-")
		if shared.err != nil {
			return
		}
		hp := freeAddr(t)
		shared.etcd, shared.err = startEtcd(shared.dir, hp, nil)
		shared.url = "http://" + hp
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.url
}

// freeAddr returns a loopback host:port nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startEtcd runs a single-member embedded etcd serving hostport (https
// when tlsInfo is set) with its data in dir.
func startEtcd(dir, hostport string, tlsInfo *transport.TLSInfo) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "store-test"
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true
	scheme := "http"
	if tlsInfo != nil {
		scheme = "https"
		cfg.ClientTLSInfo = *tlsInfo
	}
	cu := url.URL{Scheme: scheme, Host: hostport}
	pu := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{cu}
	cfg.AdvertiseClientUrls = []url.URL{cu}
	cfg.ListenPeerUrls = []url.URL{pu}
	cfg.AdvertisePeerUrls = []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(20 * time.Second):
		e.Close()
		return nil, errors.New("embedded etcd not ready after 20s")
	}
}

// directClient talks to etcd without a bridge (the test's writer).
func directClient(t testing.TB, url string) *clientv3.Client {
	t.Helper()
	cli, err := NewClient(ClientConfig{Endpoints: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// bridge is a TCP proxy between a client and etcd that a test can cut or
// pause without touching etcd (after etcd's tests/framework/integration
// bridge.go).
type bridge struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	cut    bool
	open   chan struct{} // closed while bytes may flow
	closed chan struct{}
	wg     sync.WaitGroup
}

func newBridge(t testing.TB, target string) *bridge {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &bridge{ln: ln, target: strings.TrimPrefix(strings.TrimPrefix(target, "http://"), "https://"),
		conns: make(map[net.Conn]struct{}), open: make(chan struct{}), closed: make(chan struct{})}
	close(b.open)
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.Close)
	return b
}

func (b *bridge) Addr() string { return b.ln.Addr().String() }

func (b *bridge) accept() {
	defer b.wg.Done()
	for {
		in, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		if b.cut {
			b.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp4", b.target)
		if err != nil {
			b.mu.Unlock()
			in.Close()
			continue
		}
		b.conns[in] = struct{}{}
		b.conns[out] = struct{}{}
		b.wg.Add(2)
		b.mu.Unlock()
		go b.pipe(in, out)
		go b.pipe(out, in)
	}
}

// pipe copies src to dst, waiting at each chunk while the bridge is paused.
func (b *bridge) pipe(dst, src net.Conn) {
	defer b.wg.Done()
	defer func() {
		dst.Close()
		src.Close()
		b.mu.Lock()
		delete(b.conns, dst)
		delete(b.conns, src)
		b.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b.mu.Lock()
			open := b.open
			b.mu.Unlock()
			select {
			case <-open:
			case <-b.closed:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut closes every connection and refuses new ones until Restore.
func (b *bridge) Cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cut = true
	for c := range b.conns {
		c.Close()
	}
}

func (b *bridge) Restore() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cut = false
}

// Pause stops forwarding in both directions; connections stay open and
// the bytes wait in the socket buffers.
func (b *bridge) Pause() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open = make(chan struct{})
}

func (b *bridge) Resume() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.open:
	default:
		close(b.open)
	}
}

func (b *bridge) Close() {
	select {
	case <-b.closed:
		return
	default:
	}
	close(b.closed)
	b.ln.Close()
	b.Cut()
	b.wg.Wait()
}

// logBuf collects zerolog JSON lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ln := range strings.Split(l.b.String(), "\n") {
		if ln != "" {
			out = append(out, ln)
		}
	}
	return out
}

// count returns how many lines contain every one of subs.
func (l *logBuf) count(subs ...string) int {
	n := 0
next:
	for _, ln := range l.lines() {
		for _, s := range subs {
			if !strings.Contains(ln, s) {
				continue next
			}
		}
		n++
	}
	return n
}

// testValidator accepts JSON objects and rejects those with "bad": true (a
// schema violation stand-in) and anything that is not JSON.
func testValidator(kind, id string, value []byte) (any, error) {
	v, err := validJSON(kind, id, value)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(value, []byte(`"bad":true`)) {
		return nil, errors.New("schema: bad must not be true")
	}
	return v, nil
}

// fastOptions are Options with timings scaled down for tests.
func fastOptions(cli *clientv3.Client, prefix string, log io.Writer) Options {
	return Options{
		Client:         cli,
		Prefix:         prefix,
		Validate:       testValidator,
		Log:            zerolog.New(log),
		RequestTimeout: time.Second,
		ProbeInterval:  200 * time.Millisecond,
		ProbeTimeout:   500 * time.Millisecond,
		CacheInterval:  100 * time.Millisecond,
	}
}

// runStore creates and runs a store until the test ends.
func runStore(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return 10s after its context ended")
		}
	})
	return s
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func put(t testing.TB, cli *clientv3.Client, key, val string) int64 {
	t.Helper()
	resp, err := cli.Put(tctx(t), key, val)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return resp.Header.Revision
}

func del(t testing.TB, cli *clientv3.Client, key string) int64 {
	t.Helper()
	resp, err := cli.Delete(tctx(t), key)
	if err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
	return resp.Header.Revision
}

// expected reads the prefix straight from etcd and returns what a store
// that never saw an invalid value would serve: its rel keys ("kind/id") and
// hash, computed independently of the package (the documented encoding).
func expected(t testing.TB, cli *clientv3.Client, prefix string) (keys []string, hash string, rev int64) {
	t.Helper()
	resp, err := cli.Get(tctx(t), prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	// The documented hash, independently: the sum modulo 2^256 of one
	// SHA-256 per item over length-prefixed kind, id and value.
	sum := new(big.Int)
	for _, kv := range resp.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), prefix+"/")
		kind, id, slash := strings.Cut(rel, "/")
		if (slash && id == "") || kind == "gen_id" || kind == "data_plane" {
			continue
		}
		if _, err := testValidator(kind, id, kv.Value); err != nil {
			continue
		}
		h := sha256.New()
		for _, f := range [][]byte{[]byte(kind), []byte(id), kv.Value} {
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(len(f)))
			h.Write(n[:])
			h.Write(f)
		}
		sum.Add(sum, new(big.Int).SetBytes(h.Sum(nil)))
		keys = append(keys, rel)
	}
	var out [32]byte
	sum.Mod(sum, new(big.Int).Lsh(big.NewInt(1), 256)).FillBytes(out[:])
	sort.Strings(keys)
	return keys, hex.EncodeToString(out[:]), resp.Header.Revision
}

// relKeys lists a snapshot's items as sorted "kind/id".
func relKeys(s *Snapshot) []string {
	var out []string
	for kind, m := range s.Items {
		for id := range m {
			if id == "" {
				out = append(out, kind)
			} else {
				out = append(out, kind+"/"+id)
			}
		}
	}
	sort.Strings(out)
	return out
}

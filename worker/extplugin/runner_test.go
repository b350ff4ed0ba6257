package extplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Tests against the real runner (test/extrunner, on the official Go SDK).

func conf(plugin, value string) []Entry {
	return []Entry{{Name: plugin, Value: value, HasValue: true}}
}

func kv(name, value string) Entry { return Entry{Name: name, Value: value, HasValue: true} }
func del(name string) Entry       { return Entry{Name: name} }

// sorted orders entries whose order comes from a Go map in the runner.
func sorted(es []Entry) []Entry {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name+"="+a.Value, b.Name+"="+b.Value) })
	return out
}

type testInfo struct {
	vars     map[string]string
	body     []byte
	respBody []byte
	onVar    func()
	varCalls atomic.Int32
}

func (i *testInfo) Var(name string) (string, bool) {
	i.varCalls.Add(1)
	if i.onVar != nil {
		i.onVar()
	}
	v, ok := i.vars[name]
	return v, ok
}
func (i *testInfo) ReqBody() ([]byte, error)  { return i.body, nil }
func (i *testInfo) RespBody() ([]byte, error) { return i.respBody, nil }

func newClient(t testing.TB, sock string, o Options) *Client {
	o.Socket = sock
	c := New(o)
	t.Cleanup(func() { c.Close() })
	return c
}

func get(path string) *Request {
	return &Request{SrcIP: netip.MustParseAddr("10.0.0.7"), Method: "GET", Path: path, Args: []Entry{}, Headers: []Entry{kv("host", "example.com")}}
}

func TestRealRunnerStop(t *testing.T) {
	r := startRunner(t, t.TempDir(), 3600)
	c := newClient(t, r.sock, Options{})
	res, err := c.CallRequest(context.Background(), Key("route", "1", "ext-plugin-pre-req", "1"),
		conf("stop", `{"status":403,"headers":{"X-Stop":["a","b"]},"body":"stopped"}`), get("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Stop{Status: 403, Headers: []Entry{kv("X-Stop", "a"), kv("X-Stop", "b")}, Body: []byte("stopped")}
	if res.Rewrite != nil || !reflect.DeepEqual(res.Stop, want) {
		t.Fatalf("got stop %+v rewrite %+v, want stop %+v", res.Stop, res.Rewrite, want)
	}
}

func TestRealRunnerEcho(t *testing.T) {
	r := startRunner(t, t.TempDir(), 3600)
	c := newClient(t, r.sock, Options{})
	for _, tc := range []struct {
		ip, method, wantIP, wantMethod string
	}{
		{"192.0.2.1", "POST", "192.0.2.1", "POST"},
		{"::ffff:192.0.2.9", "PATCH", "192.0.2.9", "PATCH"},
		{"2001:db8::1", "DELETE", "2001:db8::1", "DELETE"},
		{"192.0.2.1", "CONNECT", "192.0.2.1", "GET"}, // no encoding: field omitted
	} {
		req := &Request{
			SrcIP:   netip.MustParseAddr(tc.ip),
			Method:  tc.method,
			Path:    "/a b/é",
			Args:    []Entry{kv("q", "1"), kv("q", "2"), del("flag"), kv("y", "")},
			Headers: []Entry{kv("host", "example.com"), kv("x-multi", "1"), kv("x-multi", "2")},
		}
		res, err := c.CallRequest(context.Background(), Key("route", "echo", "ext-plugin-pre-req", "1"), conf("echo", "{}"), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stop == nil {
			t.Fatalf("%s: no stop: %+v", tc.ip, res)
		}
		var got struct {
			SrcIP   string              `json:"src_ip"`
			Method  string              `json:"method"`
			Path    string              `json:"path"`
			Args    map[string][]string `json:"args"`
			Headers map[string][]string `json:"headers"`
		}
		if err := json.Unmarshal(res.Stop.Body, &got); err != nil {
			t.Fatalf("echo body %q: %v", res.Stop.Body, err)
		}
		if got.SrcIP != tc.wantIP || got.Method != tc.wantMethod || got.Path != "/a b/é" {
			t.Errorf("%s %s: runner saw ip %s method %s path %q", tc.ip, tc.method, got.SrcIP, got.Method, got.Path)
		}
		// The SDK reads a value-less arg as "": flag and y= look alike to it.
		wantArgs := map[string][]string{"q": {"1", "2"}, "flag": {""}, "y": {""}}
		if !reflect.DeepEqual(got.Args, wantArgs) {
			t.Errorf("args %v, want %v", got.Args, wantArgs)
		}
		wantHeaders := map[string][]string{"Host": {"example.com"}, "X-Multi": {"1", "2"}}
		if !reflect.DeepEqual(got.Headers, wantHeaders) {
			t.Errorf("headers %v, want %v", got.Headers, wantHeaders)
		}
	}
}

func TestRealRunnerRewrite(t *testing.T) {
	r := startRunner(t, t.TempDir(), 3600)
	c := newClient(t, r.sock, Options{})
	req := &Request{Method: "GET", Path: "/old",
		Args:    []Entry{kv("d", "1"), kv("keep", "2")},
		Headers: []Entry{kv("host", "h"), kv("x-del", "gone"), kv("x-keep", "k")}}
	res, err := c.CallRequest(context.Background(), Key("route", "1", "ext-plugin-post-req", "1"), conf("rewrite",
		`{"path":"/new","set_headers":{"X-A":"1"},"del_headers":["X-Del"],"set_args":{"a":"1"},"del_args":["d"],
		  "resp_headers":{"X-Resp":"r","Content-Type":"text/evil","Server":"evil","Location":"/x"}}`), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	rw := res.Rewrite
	if res.Stop != nil || rw == nil {
		t.Fatalf("got %+v, want a rewrite", res)
	}
	if rw.Path != "/new" || rw.HasBody {
		t.Errorf("path %q hasBody %v", rw.Path, rw.HasBody)
	}
	if want := []Entry{kv("X-A", "1"), del("X-Del")}; !reflect.DeepEqual(sorted(rw.Headers), want) {
		t.Errorf("headers %+v, want %+v", rw.Headers, want)
	}
	if want := []Entry{kv("a", "1"), del("d")}; !reflect.DeepEqual(sorted(rw.Args), want) {
		t.Errorf("args %+v, want %+v", rw.Args, want)
	}
	if want := []Entry{kv("X-Resp", "r")}; !reflect.DeepEqual(rw.RespHeaders, want) {
		t.Errorf("resp headers %+v, want %+v (ignored names filtered)", rw.RespHeaders, want)
	}

	// The SDK sends a Rewrite with empty vectors when a plugin only read
	// the headers and args: a no-op.
	res, err = c.CallRequest(context.Background(), Key("route", "2", "ext-plugin-post-req", "1"), conf("rewrite", `{}`), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != nil || res.Rewrite != nil {
		t.Fatalf("empty rewrite: got %+v %+v, want no-op", res.Stop, res.Rewrite)
	}
	res, err = c.CallRequest(context.Background(), Key("route", "3", "ext-plugin-post-req", "1"), conf("noop", `{}`), req, nil)
	if err != nil || res.Stop != nil || res.Rewrite != nil {
		t.Fatalf("noop: got %+v, %v", res, err)
	}
}

func TestRealRunnerExtraInfo(t *testing.T) {
	r := startRunner(t, t.TempDir(), 3600)
	c := newClient(t, r.sock, Options{})
	key := Key("route", "1", "ext-plugin-pre-req", "1")
	cf := conf("extra", `{"var":"remote_addr","header":"X-Var","body_header":"X-Body"}`)
	info := &testInfo{vars: map[string]string{"remote_addr": "10.0.0.7"}, body: []byte("hello body")}
	res, err := c.CallRequest(context.Background(), key, cf, get("/"), info)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rewrite == nil {
		t.Fatalf("got %+v, want a rewrite", res)
	}
	if want := []Entry{kv("X-Body", "hello body"), kv("X-Var", "10.0.0.7")}; !reflect.DeepEqual(sorted(res.Rewrite.Headers), want) {
		t.Errorf("headers %+v, want %+v", res.Rewrite.Headers, want)
	}

	// An unknown variable and no body leave the results unset: the
	// runner reads empty values and the connection stays in sync.
	res, err = c.CallRequest(context.Background(), key, cf, get("/"), &testInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Entry{kv("X-Body", ""), kv("X-Var", "")}; res.Rewrite == nil || !reflect.DeepEqual(sorted(res.Rewrite.Headers), want) {
		t.Errorf("got %+v, want headers %+v", res.Rewrite, want)
	}
	// A nil Info answers the same way.
	if _, err := c.CallRequest(context.Background(), key, cf, get("/"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestRealRunnerPostResp(t *testing.T) {
	r := startRunner(t, t.TempDir(), 3600)
	c := newClient(t, r.sock, Options{})
	resp := &Response{Status: 200, Headers: []Entry{kv("content-type", "text/plain"), kv("x-up", "1")}}
	info := &testInfo{respBody: []byte("upstream-body")}
	res, err := c.CallResponse(context.Background(), Key("route", "1", "ext-plugin-post-resp", "1"),
		conf("postresp", `{"status":201,"header":"X-Post","value":"v","body":"replaced","read_body":true}`), resp, info)
	if err != nil {
		t.Fatal(err)
	}
	want := &RespResult{Status: 201, Headers: []Entry{kv("X-Post", "v"), kv("X-Upstream-Len", "13")}, Body: []byte("replaced"), HasBody: true}
	res.Headers = sorted(res.Headers)
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("got %+v, want %+v", res, want)
	}

	res, err = c.CallResponse(context.Background(), Key("route", "2", "ext-plugin-post-resp", "1"), conf("postresp", `{}`), resp, info)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, &RespResult{}) {
		t.Fatalf("no-op post-resp: got %+v", res)
	}
}

func tagOf(t *testing.T, res *ReqResult) string {
	t.Helper()
	if res == nil || res.Rewrite == nil {
		t.Fatalf("got %+v, want a tag rewrite", res)
	}
	var req, resp string
	for _, h := range res.Rewrite.Headers {
		if h.Name == "X-Tag" {
			req = h.Value
		}
	}
	for _, h := range res.Rewrite.RespHeaders {
		if h.Name == "X-Tag" {
			resp = h.Value
		}
	}
	if req != resp {
		t.Fatalf("request tag %q, response tag %q", req, resp)
	}
	return req
}

func callTag(t *testing.T, c *Client, route, version, tag string) string {
	t.Helper()
	res, err := c.CallRequest(context.Background(), Key("route", route, "ext-plugin-pre-req", version),
		conf("tag", `{"tag":"`+tag+`"}`), get("/"), nil)
	if err != nil {
		t.Fatalf("route %s v%s: %v", route, version, err)
	}
	return tagOf(t, res)
}

func TestRealRunnerConfChange(t *testing.T) {
	r := startRunner(t, t.TempDir(), 3600)
	c := newClient(t, r.sock, Options{})
	if got := callTag(t, c, "1", "1", "A"); got != "A" {
		t.Fatalf("v1: tag %q", got)
	}
	if got := callTag(t, c, "1", "2", "B"); got != "B" {
		t.Fatalf("v2: tag %q, want the new conf at once", got)
	}
	// The runner keeps the conf of a key it knows: why the key carries
	// the version.
	c.Flush()
	if got := callTag(t, c, "1", "1", "C"); got != "A" {
		t.Fatalf("same key, new conf: tag %q, want the runner's A", got)
	}
}

func TestRealRunnerTokenExpiredInRunner(t *testing.T) {
	r := startRunner(t, t.TempDir(), 1) // runner keeps confs 1.2 s
	c := newClient(t, r.sock, Options{})
	key := Key("route", "1", "ext-plugin-pre-req", "1")
	callTag(t, c, "1", "1", "A")
	first := c.tokens[key].id
	// Waiting out the runner's TTL cannot be polled: every call would
	// extend it.
	time.Sleep(1500 * time.Millisecond)
	if got := callTag(t, c, "1", "1", "A"); got != "A" {
		t.Fatalf("after expiry: tag %q", got)
	}
	if again := c.tokens[key].id; again == first {
		t.Fatalf("token %d still cached: CONF_TOKEN_NOT_FOUND did not re-prepare", again)
	}
}

func TestRealRunnerTokenExpiredInCache(t *testing.T) {
	r := startRunner(t, t.TempDir(), 3600)
	c := newClient(t, r.sock, Options{ExpireTime: 50 * time.Millisecond})
	key := Key("route", "1", "ext-plugin-pre-req", "1")
	callTag(t, c, "1", "1", "A")
	before := c.tokens[key]
	for time.Now().Before(before.expires) {
		time.Sleep(10 * time.Millisecond)
	}
	callTag(t, c, "1", "1", "A")
	after := c.tokens[key]
	if !after.expires.After(before.expires) {
		t.Fatalf("expired token not re-prepared: %+v then %+v", before, after)
	}
	if after.id != before.id {
		t.Fatalf("runner gave token %d for a key it knows as %d", after.id, before.id)
	}
}

// TestRealRunnerRestart: a new runner numbers tokens from 1 again, so a
// stale token names another route's conf. On runner 1, A gets token 1 and
// B token 2; on runner 2, another worker prepares B first and gets token
// 1: calling A with its old token would answer with B's conf.
func TestRealRunnerRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  bool
	}{{"generation", true}, {"peer pid only", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var gen atomic.Int64
			o := Options{}
			if tc.gen {
				o.Generation = gen.Load
			}
			gen.Add(1)
			r1 := startRunner(t, dir, 3600)
			c := newClient(t, r1.sock, o)
			if callTag(t, c, "A", "1", "A") != "A" || callTag(t, c, "B", "1", "B") != "B" {
				t.Fatal("runner 1 answered with the wrong conf")
			}
			r1.kill()
			gen.Add(1) // the agent raises the count before it spawns
			startRunner(t, dir, 3600)
			other := newClient(t, r1.sock, Options{})
			if got := callTag(t, other, "B", "1", "B"); got != "B" {
				t.Fatalf("B from another worker: tag %q", got)
			}
			// No request fails because of the dead pooled connection,
			// and none gets the other route's conf.
			if got := callTag(t, c, "A", "1", "A"); got != "A" {
				t.Fatalf("A after restart: tag %q (stale token used)", got)
			}
			if got := callTag(t, c, "B", "1", "B"); got != "B" {
				t.Fatalf("B after restart: tag %q", got)
			}
			if tc.gen {
				for key, tok := range c.tokens {
					if tok.gen != gen.Load() {
						t.Errorf("token of %s from generation %d kept in generation %d", key, tok.gen, gen.Load())
					}
				}
			}
		})
	}
}

// TestRealRunnerGenerationMovesDuringCall: an answer that arrives after the
// generation moved is discarded and the call retried.
func TestRealRunnerGenerationMovesDuringCall(t *testing.T) {
	r := startRunner(t, t.TempDir(), 3600)
	var gen atomic.Int64
	c := newClient(t, r.sock, Options{Generation: gen.Load})
	cf := conf("extra", `{"var":"remote_addr","header":"X-Var"}`)
	key := Key("route", "1", "ext-plugin-pre-req", "1")
	var once sync.Once
	info := &testInfo{vars: map[string]string{"remote_addr": "1.2.3.4"}, onVar: func() { once.Do(func() { gen.Add(1) }) }}
	res, err := c.CallRequest(context.Background(), key, cf, get("/"), info)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.varCalls.Load(); n != 2 {
		t.Fatalf("var asked %d times, want 2 (the first answer discarded)", n)
	}
	if res.Rewrite == nil || !reflect.DeepEqual(res.Rewrite.Headers, []Entry{kv("X-Var", "1.2.3.4")}) {
		t.Fatalf("got %+v", res.Rewrite)
	}

	always := &testInfo{onVar: func() { gen.Add(1) }}
	_, err = c.CallRequest(context.Background(), key, cf, get("/"), always)
	if !errors.Is(err, ErrRunnerRestarted) || always.varCalls.Load() != maxAttempts {
		t.Fatalf("err %v after %d calls, want ErrRunnerRestarted after %d", err, always.varCalls.Load(), maxAttempts)
	}
}

// TestRealRunnerHung: a stopped runner fails calls at Timeout, and serves
// again after SIGCONT without anything being restarted.
func TestRealRunnerHung(t *testing.T) {
	r := startRunner(t, t.TempDir(), 3600)
	const timeout = 300 * time.Millisecond
	c := newClient(t, r.sock, Options{Timeout: timeout})
	callTag(t, c, "1", "1", "A") // cached token, pooled connection

	r.signal(t, syscall.SIGSTOP)
	for _, route := range []string{"1", "2"} { // pooled + cached; new connection + PrepareConf
		start := time.Now()
		_, err := c.CallRequest(context.Background(), Key("route", route, "ext-plugin-pre-req", "1"), conf("tag", `{"tag":"A"}`), get("/"), nil)
		took := time.Since(start)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("route %s: err %v, want a timeout", route, err)
		}
		if took < timeout || took > timeout+700*time.Millisecond {
			t.Fatalf("route %s: failed after %v, want about %v", route, took, timeout)
		}
	}
	r.signal(t, syscall.SIGCONT)
	if got := callTag(t, c, "1", "1", "A"); got != "A" {
		t.Fatalf("after SIGCONT: tag %q", got)
	}
}

func TestRealRunnerCancel(t *testing.T) {
	r := startRunner(t, t.TempDir(), 3600)
	c := newClient(t, r.sock, Options{})
	callTag(t, c, "1", "1", "A")
	r.signal(t, syscall.SIGSTOP)
	defer r.signal(t, syscall.SIGCONT)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.CallRequest(ctx, Key("route", "1", "ext-plugin-pre-req", "1"), conf("tag", `{"tag":"A"}`), get("/"), nil)
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("err %v after %v, want context.Canceled soon after 100ms", err, time.Since(start))
	}
	if len(c.idle) != 0 {
		t.Fatalf("%d idle connections after a cancelled call, want 0", len(c.idle))
	}
}

// TestRealRunnerConcurrentRestart: callers on four routes while the
// runner is killed and respawned. Calls may fail while no runner listens,
// but none is ever answered with another route's conf.
func TestRealRunnerConcurrentRestart(t *testing.T) {
	dir := t.TempDir()
	var gen atomic.Int64
	gen.Add(1)
	r1 := startRunner(t, dir, 3600)
	c := newClient(t, r1.sock, Options{Generation: gen.Load, WorkerID: 3})

	var wg sync.WaitGroup
	var ok, failed atomic.Int32
	stop := make(chan struct{})
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			route := fmt.Sprint(g % 4)
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := c.CallRequest(context.Background(), Key("route", route, "ext-plugin-pre-req", "1"),
					conf("tag", `{"tag":"T`+route+`"}`), get("/"), nil)
				if err != nil {
					failed.Add(1)
					continue
				}
				if res.Rewrite == nil || len(res.Rewrite.Headers) != 1 || res.Rewrite.Headers[0].Value != "T"+route {
					t.Errorf("route %s answered with %+v", route, res.Rewrite)
					return
				}
				ok.Add(1)
			}
		}()
	}
	waitCalls := func(n int32) {
		deadline := time.Now().Add(10 * time.Second)
		for start := ok.Load(); ok.Load()-start < n; {
			if time.Now().After(deadline) {
				t.Fatalf("only %d calls succeeded", ok.Load()-start)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitCalls(200)
	r1.kill()
	gen.Add(1)
	startRunner(t, dir, 3600)
	waitCalls(200)
	close(stop)
	wg.Wait()
	t.Logf("%d calls answered, %d failed while no runner listened", ok.Load(), failed.Load())
}

package extplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	A6 "github.com/api7/ext-plugin-proto/go/A6"
	aerr "github.com/api7/ext-plugin-proto/go/A6/Err"
	ei "github.com/api7/ext-plugin-proto/go/A6/ExtraInfo"
	hreq "github.com/api7/ext-plugin-proto/go/A6/HTTPReqCall"
	pc "github.com/api7/ext-plugin-proto/go/A6/PrepareConf"
	flatbuffers "github.com/google/flatbuffers/go"
	"golang.org/x/sys/unix"
)

// A fake runner: a unix listener in the test, scripted per connection,
// for what the real runner never does.

type fake struct {
	sock    string
	ln      net.Listener
	accepts atomic.Int32
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func startFake(t *testing.T, serve func(t *testing.T, nc net.Conn)) *fake {
	t.Helper()
	f := &fake{sock: filepath.Join(t.TempDir(), "f.sock")}
	ln, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepts.Add(1)
			f.mu.Lock()
			f.conns = append(f.conns, nc)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer nc.Close()
				serve(t, nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, nc := range f.conns {
			nc.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func readFrame(nc net.Conn) (byte, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(nc, h[:]); err != nil {
		return 0, nil, err
	}
	p := make([]byte, int(h[1])<<16|int(h[2])<<8|int(h[3]))
	_, err := io.ReadFull(nc, p)
	return h[0], p, err
}

func writeFrame(nc net.Conn, typ byte, p []byte) error {
	n := len(p)
	_, err := nc.Write(append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, p...))
	return err
}

func finished(b *flatbuffers.Builder, root flatbuffers.UOffsetT) []byte {
	b.Finish(root)
	return b.FinishedBytes()
}

func prepareAnswer(token uint32) []byte {
	b := flatbuffers.NewBuilder(64)
	pc.RespStart(b)
	pc.RespAddConfToken(b, token)
	return finished(b, pc.RespEnd(b))
}

func errAnswer(code aerr.Code) []byte {
	b := flatbuffers.NewBuilder(64)
	aerr.RespStart(b)
	aerr.RespAddCode(b, code)
	return finished(b, aerr.RespEnd(b))
}

// reqAnswer answers HTTPReqCall id with action (0 for NONE), built by
// action(b) before the Resp table.
func reqAnswer(id uint32, typ hreq.Action, action func(b *flatbuffers.Builder) flatbuffers.UOffsetT) []byte {
	b := flatbuffers.NewBuilder(256)
	var a flatbuffers.UOffsetT
	if action != nil {
		a = action(b)
	}
	hreq.RespStart(b)
	hreq.RespAddId(b, id)
	if action != nil {
		hreq.RespAddActionType(b, typ)
		hreq.RespAddAction(b, a)
	}
	return finished(b, hreq.RespEnd(b))
}

func askFrame(info ei.Info, name string) []byte {
	b := flatbuffers.NewBuilder(64)
	var t flatbuffers.UOffsetT
	switch info {
	case ei.InfoVar:
		n := b.CreateString(name)
		ei.VarStart(b)
		ei.VarAddName(b, n)
		t = ei.VarEnd(b)
	default:
		ei.ReqBodyStart(b)
		t = ei.ReqBodyEnd(b)
	}
	ei.ReqStart(b)
	ei.ReqAddInfoType(b, info)
	ei.ReqAddInfo(b, t)
	return finished(b, ei.ReqEnd(b))
}

// present tells whether the field at vtable offset slot is set.
func present(t flatbuffers.Table, slot flatbuffers.VOffsetT) bool { return t.Offset(slot) != 0 }

func callID(p []byte) uint32 { return hreq.GetRootAsReq(p, 0).Id() }

// serveCalls answers PrepareConf with token 1 and hands each HTTPReqCall to
// answer; it returns when the gateway closes the connection.
func serveCalls(answer func(nc net.Conn, id uint32) error) func(*testing.T, net.Conn) {
	return func(t *testing.T, nc net.Conn) {
		for {
			typ, p, err := readFrame(nc)
			if err != nil {
				return
			}
			switch typ {
			case typePrepare:
				err = writeFrame(nc, typePrepare, prepareAnswer(1))
			case typeReqCall:
				err = answer(nc, callID(p))
			default:
				t.Errorf("fake runner got frame type %d", typ)
				return
			}
			if err != nil {
				return
			}
		}
	}
}

func none(nc net.Conn, id uint32) error {
	return writeFrame(nc, typeReqCall, reqAnswer(id, 0, nil))
}

var testKey = Key("route", "1", "ext-plugin-pre-req", "1")

// TestOneWritePerFrame: the v0.5.0 runner reads a payload with one Read,
// so a frame written in two pieces is dropped when the runner reads between
// them. Timing rarely shows that on a stream socket, so the client is given
// a SOCK_SEQPACKET connection, on which every Write is one packet: the
// runner's side sees how many writes a frame took. It answers as the SDK
// does, header and payload in two writes.
func TestOneWritePerFrame(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ends := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "seqpacket")
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		ends[i] = nc.(*net.UnixConn)
	}
	runner := ends[1]
	defer runner.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1<<20)
		for {
			n, err := runner.Read(buf)
			if err != nil {
				return
			}
			size := int(buf[1])<<16 | int(buf[2])<<8 | int(buf[3])
			if n != headerLen+size {
				t.Errorf("a %d-byte frame came in a write of %d bytes", headerLen+size, n)
				return
			}
			p := prepareAnswer(1)
			if buf[0] == typeReqCall {
				p = reqAnswer(callID(buf[headerLen:n]), 0, nil)
			}
			if _, err := runner.Write([]byte{buf[0], byte(len(p) >> 16), byte(len(p) >> 8), byte(len(p))}); err != nil {
				return
			}
			if _, err := runner.Write(p); err != nil {
				return
			}
		}
	}()
	c := newClient(t, "/nonexistent", Options{Timeout: 2 * time.Second})
	c.idle = append(c.idle, &conn{nc: ends[0], idle: time.Now(), spin: &c.spin})
	for i := range 30 {
		req := get("/")
		req.Headers = append(req.Headers, kv("x-big", strings.Repeat("v", i*500)))
		if _, err := c.CallRequest(context.Background(), testKey, conf("p", "{}"), req, nil); err != nil {
			t.Fatal(err)
		}
	}
	if c.Close(); len(c.idle) != 0 {
		t.Fatal("idle connection left after Close")
	}
	<-done
}

func TestFakeRunnerErrors(t *testing.T) {
	for _, code := range []aerr.Code{aerr.CodeBAD_REQUEST, aerr.CodeSERVICE_UNAVAILABLE} {
		var calls atomic.Int32
		f := startFake(t, serveCalls(func(nc net.Conn, id uint32) error {
			calls.Add(1)
			return writeFrame(nc, typeError, errAnswer(code))
		}))
		c := newClient(t, f.sock, Options{})
		_, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil)
		var re *RunnerError
		if !errors.Is(err, ErrRunner) || !errors.As(err, &re) || re.Code != Code(code) || errors.Is(err, ErrConfTokenNotFound) {
			t.Errorf("%v: err %v", code, err)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("%v: %d calls, want 1 (not retried)", code, n)
		}
		if len(c.idle) != 0 {
			t.Errorf("%v: connection pooled after an error", code)
		}
	}
}

func TestFakeConfTokenNotFound(t *testing.T) {
	var prepares, calls atomic.Int32
	var succeedAt atomic.Int32
	f := startFake(t, func(t *testing.T, nc net.Conn) {
		for {
			typ, p, err := readFrame(nc)
			if err != nil {
				return
			}
			if typ == typePrepare {
				err = writeFrame(nc, typePrepare, prepareAnswer(uint32(prepares.Add(1))))
			} else if n := calls.Add(1); n == succeedAt.Load() {
				err = none(nc, callID(p))
			} else {
				err = writeFrame(nc, typeError, errAnswer(aerr.CodeCONF_TOKEN_NOT_FOUND))
			}
			if err != nil {
				return
			}
		}
	})
	c := newClient(t, f.sock, Options{})
	// Another key's token, to see the whole cache flushed.
	c.tokens["other"] = token{id: 9, expires: time.Now().Add(time.Hour)}

	succeedAt.Store(-1)
	_, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil)
	if !errors.Is(err, ErrConfTokenNotFound) || !errors.Is(err, ErrRunner) {
		t.Fatalf("err %v, want ErrConfTokenNotFound", err)
	}
	if p, n := prepares.Load(), calls.Load(); p != maxAttempts || n != maxAttempts {
		t.Fatalf("%d prepares and %d calls, want %d each", p, n, maxAttempts)
	}
	if _, ok := c.tokens["other"]; ok {
		t.Fatal("CONF_TOKEN_NOT_FOUND did not flush the whole cache")
	}

	// A cached token the runner no longer knows (the fake runs in this
	// process, so that is the peer pid).
	c.tokens[testKey] = token{id: 7, pid: int32(os.Getpid()), expires: time.Now().Add(time.Hour)}
	prepares.Store(0)
	calls.Store(0)
	succeedAt.Store(2)
	if _, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil); err != nil {
		t.Fatalf("second attempt should succeed: %v", err)
	}
	if p := prepares.Load(); p != 1 {
		t.Fatalf("%d prepares, want 1 (the first call used the cached, then expired, token)", p)
	}
}

func TestFakeProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(nc net.Conn, id uint32) error
		want   string
	}{
		{"unexpected type", func(nc net.Conn, id uint32) error {
			return writeFrame(nc, typeRespCall, reqAnswer(id, 0, nil))
		}, "answer of type 4"},
		{"mismatched id", func(nc net.Conn, id uint32) error {
			return writeFrame(nc, typeReqCall, reqAnswer(id+1, 0, nil))
		}, "for id"},
		{"unknown action", func(nc net.Conn, id uint32) error {
			return writeFrame(nc, typeReqCall, reqAnswer(id, 7, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
				hreq.StopStart(b)
				return hreq.StopEnd(b)
			}))
		}, "unknown HTTPReqCall action 7"},
		{"short payload", func(nc net.Conn, id uint32) error {
			return writeFrame(nc, typeReqCall, []byte{1, 2})
		}, "payload of 2 bytes"},
		{"garbage", func(nc net.Conn, id uint32) error {
			return writeFrame(nc, typeReqCall, []byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4})
		}, "malformed"},
		{"huge vector", func(nc net.Conn, id uint32) error {
			p := reqAnswer(id, hreq.ActionStop, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
				hreq.StopStartHeadersVector(b, 0)
				v := b.EndVector(0)
				hreq.StopStart(b)
				hreq.StopAddHeaders(b, v)
				return hreq.StopEnd(b)
			})
			// The empty vector's length is the first 4 zero bytes at its
			// offset; corrupt it to claim 2^30 entries.
			var tab flatbuffers.Table
			hreq.GetRootAsResp(p, 0).Action(&tab)
			at := tab.Vector(flatbuffers.UOffsetT(tab.Offset(6))) - flatbuffers.SizeUOffsetT
			flatbuffers.WriteUint32(p[at:], 1<<30)
			return writeFrame(nc, typeReqCall, p)
		}, "vector of 1073741824 entries"},
		{"unknown extra info", func(nc net.Conn, id uint32) error {
			return writeFrame(nc, typeExtraInfo, askFrame(9, ""))
		}, "unknown extra info type 9"},
		{"closed without answer", func(nc net.Conn, id uint32) error {
			return io.EOF
		}, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, serveCalls(tc.answer))
			c := newClient(t, f.sock, Options{})
			_, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if tc.name != "closed without answer" && !errors.Is(err, ErrProtocol) {
				t.Fatalf("err %v is not ErrProtocol", err)
			}
			if len(c.idle) != 0 {
				t.Fatal("connection pooled after an error")
			}
		})
	}
}

func TestFakePrepareAnsweredWithExtraInfo(t *testing.T) {
	f := startFake(t, func(t *testing.T, nc net.Conn) {
		if _, _, err := readFrame(nc); err == nil {
			_ = writeFrame(nc, typeExtraInfo, askFrame(ei.InfoReqBody, ""))
		}
		_, _, _ = readFrame(nc)
	})
	c := newClient(t, f.sock, Options{})
	_, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil)
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("err %v, want ErrProtocol", err)
	}
}

// TestFakePeerClosesMidAnswer: a truncated answer fails the call and is
// not retried, on a fresh or on a reused connection.
func TestFakePeerClosesMidAnswer(t *testing.T) {
	var n atomic.Int32
	f := startFake(t, serveCalls(func(nc net.Conn, id uint32) error {
		if n.Add(1) == 1 {
			return none(nc, id)
		}
		_, err := nc.Write([]byte{typeReqCall, 0, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
		if err == nil {
			err = io.EOF
		}
		return err
	}))
	c := newClient(t, f.sock, Options{})
	if _, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want io.ErrUnexpectedEOF", err)
	}
	if a := f.accepts.Load(); a != 1 || n.Load() != 2 {
		t.Fatalf("%d connections, %d calls: a partly answered call was retried", a, n.Load())
	}
}

// TestFakeReusedConnectionClosedAfterRead: the runner read the call and
// closed without a byte of answer (a plugin panic in the Go SDK): it may
// have run plugins, so the call is not repeated.
func TestFakeReusedConnectionClosedAfterRead(t *testing.T) {
	var n atomic.Int32
	f := startFake(t, serveCalls(func(nc net.Conn, id uint32) error {
		if n.Add(1) == 1 {
			return none(nc, id)
		}
		return io.EOF
	}))
	c := newClient(t, f.sock, Options{})
	if _, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil); !errors.Is(err, io.EOF) {
		t.Fatalf("err %v, want EOF", err)
	}
	if n.Load() != 2 {
		t.Fatalf("%d calls reached the runner, want 2 (no retry)", n.Load())
	}
}

// TestFakeDeadPooledConnection: a pooled connection the runner closed
// while idle costs no failed call: the frame is sent again on a new one.
func TestFakeDeadPooledConnection(t *testing.T) {
	closed := make(chan struct{}, 1)
	f := startFake(t, func(t *testing.T, nc net.Conn) {
		for {
			typ, p, err := readFrame(nc)
			if err != nil {
				return
			}
			if typ == typePrepare {
				err = writeFrame(nc, typePrepare, prepareAnswer(1))
			} else {
				err = none(nc, callID(p))
				nc.Close()
				closed <- struct{}{}
				return
			}
			if err != nil {
				return
			}
		}
	})
	c := newClient(t, f.sock, Options{})
	for i := range 3 {
		if _, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		<-closed
	}
	if a := f.accepts.Load(); a != 3 {
		t.Fatalf("%d connections, want 3", a)
	}
}

func TestFakeOversizedFrame(t *testing.T) {
	var calls atomic.Int32
	f := startFake(t, serveCalls(func(nc net.Conn, id uint32) error {
		calls.Add(1)
		return none(nc, id)
	}))
	c := newClient(t, f.sock, Options{})
	req := get("/")
	req.Headers = append(req.Headers, kv("x-huge", strings.Repeat("x", 1<<24)))
	_, err := c.CallRequest(context.Background(), testKey, nil, req, nil)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err %v, want ErrFrameTooLarge", err)
	}
	if calls.Load() != 0 {
		t.Fatal("an oversized frame reached the runner")
	}
	// Just under the limit goes out.
	req.Headers[1].Value = strings.Repeat("x", 1<<20)
	if _, err := c.CallRequest(context.Background(), testKey, nil, req, nil); err != nil {
		t.Fatal(err)
	}
}

func TestFakeDecoding(t *testing.T) {
	entries := func(b *flatbuffers.Builder, es ...Entry) flatbuffers.UOffsetT {
		e := &encoder{b: b}
		return e.entries(es)
	}
	for _, tc := range []struct {
		name   string
		action hreq.Action
		build  func(b *flatbuffers.Builder) flatbuffers.UOffsetT
		want   ReqResult
	}{
		{"stop status 0 is 200, empty body nil", hreq.ActionStop, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
			body := b.CreateByteVector(nil)
			hreq.StopStart(b)
			hreq.StopAddBody(b, body)
			return hreq.StopEnd(b)
		}, ReqResult{Stop: &Stop{Status: 200}}},
		{"rewrite of ignored resp headers only is a no-op", hreq.ActionRewrite, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
			v := entries(b, kv("Content-Type", "x"), kv("connection", "close"), kv("WWW-Authenticate", "x"))
			hreq.RewriteStart(b)
			hreq.RewriteAddRespHeaders(b, v)
			return hreq.RewriteEnd(b)
		}, ReqResult{}},
		{"rewrite body and deleted header", hreq.ActionRewrite, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
			v := entries(b, del("x-gone"), kv("host", "new"))
			body := b.CreateByteVector([]byte("new body"))
			hreq.RewriteStart(b)
			hreq.RewriteAddHeaders(b, v)
			hreq.RewriteAddBody(b, body)
			return hreq.RewriteEnd(b)
		}, ReqResult{Rewrite: &Rewrite{Headers: []Entry{del("x-gone"), kv("host", "new")}, Body: []byte("new body"), HasBody: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, serveCalls(func(nc net.Conn, id uint32) error {
				return writeFrame(nc, typeReqCall, reqAnswer(id, tc.action, tc.build))
			}))
			c := newClient(t, f.sock, Options{})
			res, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*res, tc.want) {
				t.Fatalf("got %+v / %+v, want %+v / %+v", res.Stop, res.Rewrite, tc.want.Stop, tc.want.Rewrite)
			}
		})
	}
}

// TestFakeRequestEncoding checks what the SDK's decoder cannot tell apart:
// omitted conf, present-but-empty vectors, value-less entries, the id.
func TestFakeRequestEncoding(t *testing.T) {
	type seen struct {
		confPresent bool
		key         string
		id          uint32
		argsPresent bool
		hdrsPresent bool
		args        []Entry
		srcIP       []byte
	}
	got := make(chan seen, 2)
	f := startFake(t, func(t *testing.T, nc net.Conn) {
		var s seen
		for {
			typ, p, err := readFrame(nc)
			if err != nil {
				return
			}
			if typ == typePrepare {
				r := pc.GetRootAsReq(p, 0)
				s.confPresent, s.key = present(r.Table(), 4), string(r.Key())
				err = writeFrame(nc, typePrepare, prepareAnswer(1))
			} else {
				r := hreq.GetRootAsReq(p, 0)
				s.id, s.srcIP = r.Id(), append([]byte(nil), r.SrcIpBytes()...)
				s.argsPresent, s.hdrsPresent = present(r.Table(), 12), present(r.Table(), 14)
				var te A6.TextEntry
				for i := range r.ArgsLength() {
					r.Args(&te, i)
					v := te.Value()
					s.args = append(s.args, Entry{Name: string(te.Name()), Value: string(v), HasValue: v != nil})
				}
				got <- s
				s = seen{}
				err = none(nc, r.Id())
			}
			if err != nil {
				return
			}
		}
	})
	c := newClient(t, f.sock, Options{WorkerID: 5})
	req := &Request{SrcIP: get("/").SrcIP, Method: "GET", Path: "/"}
	if _, err := c.CallRequest(context.Background(), testKey, nil, req, nil); err != nil {
		t.Fatal(err)
	}
	s := <-got
	if s.confPresent || s.key != testKey || !s.argsPresent || !s.hdrsPresent || s.id>>idBits != 5 || len(s.srcIP) != 4 {
		t.Fatalf("first call: %+v", s)
	}
	req.Args = []Entry{del("flag"), kv("y", "")}
	if _, err := c.CallRequest(context.Background(), Key("route", "2", "p", "1"), []Entry{}, req, nil); err != nil {
		t.Fatal(err)
	}
	s = <-got
	if !s.confPresent || !reflect.DeepEqual(s.args, req.Args) {
		t.Fatalf("second call: %+v", s)
	}
}

// TestFakeRespBodyOutsidePostResp: APISIX has no response body to give in
// a request call, so the question is answered unset without asking Info.
func TestFakeRespBodyOutsidePostResp(t *testing.T) {
	answered := make(chan bool, 1)
	f := startFake(t, serveCalls(func(nc net.Conn, id uint32) error {
		if err := writeFrame(nc, typeExtraInfo, askFrame(ei.InfoRespBody, "")); err != nil {
			return err
		}
		_, p, err := readFrame(nc)
		if err != nil {
			return err
		}
		answered <- present(ei.GetRootAsResp(p, 0).Table(), 4)
		return none(nc, id)
	}))
	c := newClient(t, f.sock, Options{})
	info := &panicInfo{}
	if _, err := c.CallRequest(context.Background(), testKey, nil, get("/"), info); err != nil {
		t.Fatal(err)
	}
	if <-answered {
		t.Fatal("RespBody answered with a result in a request call")
	}
}

type panicInfo struct{}

func (panicInfo) Var(string) (string, bool) { panic("Var asked") }
func (panicInfo) ReqBody() ([]byte, error)  { panic("ReqBody asked") }
func (panicInfo) RespBody() ([]byte, error) { panic("RespBody asked") }

// TestFakeSingleFlight: concurrent misses of one key share one PrepareConf.
func TestFakeSingleFlight(t *testing.T) {
	const callers = 8
	var prepares atomic.Int32
	release := make(chan struct{})
	f := startFake(t, func(t *testing.T, nc net.Conn) {
		for {
			typ, p, err := readFrame(nc)
			if err != nil {
				return
			}
			if typ == typePrepare {
				prepares.Add(1)
				<-release
				err = writeFrame(nc, typePrepare, prepareAnswer(1))
			} else {
				err = none(nc, callID(p))
			}
			if err != nil {
				return
			}
		}
	})
	c := newClient(t, f.sock, Options{})
	errs := make(chan error, callers)
	for range callers {
		go func() {
			_, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil)
			errs <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	// Each caller dials its own connection (the pool is empty), then looks
	// up the token; the first PrepareConf is held until all are connected.
	for f.accepts.Load() < callers {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections", f.accepts.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := prepares.Load(); n != 1 {
		t.Fatalf("%d PrepareConf for one key, want 1", n)
	}
}

func TestClosed(t *testing.T) {
	f := startFake(t, serveCalls(none))
	c := newClient(t, f.sock, Options{})
	if _, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallRequest(context.Background(), testKey, nil, get("/"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("err %v, want ErrClosed", err)
	}
}

// TestFakeExpiredTokensLeaveTheCache: every conf change prepares a new key,
// so tokens of keys no longer used must not pile up for the worker's life:
// an insert drops the expired ones.
func TestFakeExpiredTokensLeaveTheCache(t *testing.T) {
	f := startFake(t, serveCalls(func(nc net.Conn, id uint32) error { return none(nc, id) }))
	c := newClient(t, f.sock, Options{ExpireTime: time.Millisecond})
	cached := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.tokens)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		if _, err := c.CallRequest(context.Background(), fmt.Sprintf("route#1#%d", i), nil, get("/"), nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		// Once a millisecond passed between two calls, the cache holds
		// only the newest key.
		if i > 0 && cached() == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tokens cached after %d keys, all but the newest long expired", cached(), i+1)
		}
	}
}

package h1_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBodyFraming: a response whose handler declares no length gets one
// when its body fits the deferral buffer, is chunked when it does not
// (HTTP/1.1), and is delimited by the connection's close for HTTP/1.0.
func TestBodyFraming(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789", 500)
	cases := []struct {
		name        string
		req         string
		body        string
		wantCL      int64 // -1: no Content-Length
		wantChunked bool
		wantClose   bool
	}{
		{"empty body gets length 0", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", "", 0, false, false},
		{"small body gets a length", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", "hello", 5, false, false},
		{"2048 bytes get a length", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", big[:2048], 2048, false, false},
		{"2049 bytes are chunked", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", big[:2049], -1, true, false},
		{"large body is chunked", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", big, -1, true, false},
		{"HTTP/1.0 small body gets a length", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "hello", 5, false, false},
		{"HTTP/1.0 large body ends with the connection", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", big, -1, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
				// In pieces, so that the body crosses the deferral limit
				// inside a Write.
				for b := tc.body; len(b) > 0; {
					n := min(len(b), 700)
					if _, err := io.WriteString(w, b[:n]); err != nil {
						t.Errorf("Write: %v", err)
					}
					b = b[n:]
				}
			}))
			c := dial(t, ts.addr)
			c.send(tc.req)
			res, body := c.response("GET")
			if res.StatusCode != 200 || body != tc.body {
				t.Fatalf("got %s with %d bytes, want 200 with %d", res.Status, len(body), len(tc.body))
			}
			if res.ContentLength != tc.wantCL {
				t.Errorf("Content-Length %d, want %d", res.ContentLength, tc.wantCL)
			}
			if chunked := slices.Equal(res.TransferEncoding, []string{"chunked"}); chunked != tc.wantChunked {
				t.Errorf("Transfer-Encoding %q, want chunked %v", res.TransferEncoding, tc.wantChunked)
			}
			if res.Close != tc.wantClose {
				t.Errorf("Close %v, want %v (Connection %q)", res.Close, tc.wantClose, res.Header["Connection"])
			}
			if tc.wantClose {
				c.expectClosed()
			} else {
				c.expectOpen()
			}
		})
	}
}

// TestDeclaredLength: a declared Content-Length is kept; writing past it
// fails with http.ErrContentLength; writing less closes the connection
// (the client would wait for the rest).
func TestDeclaredLength(t *testing.T) {
	t.Parallel()
	t.Run("short body closes", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "hello")
		}))
		c := dial(t, ts.addr)
		c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
		res, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.ContentLength != 10 {
			t.Errorf("Content-Length %d, want 10", res.ContentLength)
		}
		b, err := io.ReadAll(res.Body)
		if string(b) != "hello" || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("body %q, %v; want \"hello\" then io.ErrUnexpectedEOF", b, err)
		}
		c.expectClosed()
	})
	t.Run("an invalid one is dropped", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "five")
			io.WriteString(w, "hello")
		}))
		c := dial(t, ts.addr)
		if res, body := c.get("/"); res.ContentLength != 5 || body != "hello" {
			t.Errorf("got Content-Length %d, body %q; want 5, \"hello\"", res.ContentLength, body)
		}
		c.expectOpen()
	})
	t.Run("writing past it fails", func(t *testing.T) {
		t.Parallel()
		type result struct {
			n   int
			err error
		}
		got := make(chan result, 1)
		ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			n, err := io.WriteString(w, "hello, world")
			got <- result{n, err}
			io.WriteString(w, "hello")
		}))
		c := dial(t, ts.addr)
		res, body := c.get("/")
		if r := <-got; r.n != 0 || !errors.Is(r.err, http.ErrContentLength) {
			t.Errorf("Write past the length: %d, %v; want 0, http.ErrContentLength", r.n, r.err)
		}
		if res.ContentLength != 5 || body != "hello" {
			t.Errorf("got Content-Length %d, body %q; want 5, \"hello\"", res.ContentLength, body)
		}
		c.expectOpen()
	})
}

// TestBodilessResponses: HEAD keeps the length but sends no body; 204 and
// 304 send no body, 204 no Content-Length. The next request on the
// connection parses, so no stray body byte was sent.
func TestBodilessResponses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		method    string
		status    int
		setCL     string
		wantCL    string // "" for none
		wantWrErr error
	}{
		{"HEAD with a declared length", "HEAD", 200, "5", "5", nil},
		{"HEAD without a declared length", "HEAD", 200, "", "", nil},
		{"204", "GET", 204, "5", "", http.ErrBodyNotAllowed},
		{"304 keeps its length", "GET", 304, "5", "5", http.ErrBodyNotAllowed},
		{"304", "GET", 304, "", "", http.ErrBodyNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wrErr := make(chan error, 1)
			ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/" {
					hello(w, r)
					return
				}
				if tc.setCL != "" {
					w.Header().Set("Content-Length", tc.setCL)
				}
				w.WriteHeader(tc.status)
				_, err := io.WriteString(w, "hello")
				wrErr <- err
			}))
			c := dial(t, ts.addr)
			c.send(tc.method + " / HTTP/1.1\r\nHost: t\r\n\r\n")
			status, fields := headFields(c.rawHead())
			if want := fmt.Sprintf("HTTP/1.1 %d %s", tc.status, http.StatusText(tc.status)); status != want {
				t.Errorf("status line %q, want %q", status, want)
			}
			var cl []string
			for _, f := range fields {
				if v, ok := strings.CutPrefix(f, "Content-Length: "); ok {
					cl = append(cl, v)
				}
				if strings.HasPrefix(f, "Transfer-Encoding:") {
					t.Errorf("unexpected %q", f)
				}
			}
			if want := []string{tc.wantCL}; tc.wantCL == "" && len(cl) != 0 || tc.wantCL != "" && !slices.Equal(cl, want) {
				t.Errorf("Content-Length %q, want %q", cl, tc.wantCL)
			}
			if err := <-wrErr; !errors.Is(err, tc.wantWrErr) {
				t.Errorf("handler's Write: %v, want %v", err, tc.wantWrErr)
			}
			c.expectOpen()
		})
	}
}

// TestFlushSendsHead: Flush of a response of unknown length sends a
// chunked head and what was written at once, while the handler runs.
func TestFlushSendsHead(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first,")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		select {
		case <-release:
		case <-time.After(testDeadline):
		}
		io.WriteString(w, "second")
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.TransferEncoding, []string{"chunked"}) {
		t.Errorf("Transfer-Encoding %q, want chunked", res.TransferEncoding)
	}
	first := make([]byte, len("first,"))
	if _, err := io.ReadFull(res.Body, first); err != nil || string(first) != "first," {
		t.Fatalf("before the handler returned: %q, %v", first, err)
	}
	close(release)
	rest, err := io.ReadAll(res.Body)
	if err != nil || string(rest) != "second" {
		t.Fatalf("rest of the body: %q, %v", rest, err)
	}
	c.expectOpen()
}

// TestFlushHeadOnly: Flush before any Write sends the head at once,
// chunked when no length is known and with the declared length otherwise.
func TestFlushHeadOnly(t *testing.T) {
	t.Parallel()
	for _, declared := range []bool{false, true} {
		t.Run(fmt.Sprintf("declared length %v", declared), func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
				if declared {
					w.Header().Set("Content-Length", "4")
				}
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-time.After(testDeadline):
				}
				io.WriteString(w, "body")
			}))
			c := dial(t, ts.addr)
			c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
			res, err := http.ReadResponse(c.br, nil)
			if err != nil {
				t.Fatal(err)
			}
			close(release)
			b, err := io.ReadAll(res.Body)
			if err != nil || string(b) != "body" {
				t.Fatalf("body %q, %v", b, err)
			}
			if chunked := slices.Equal(res.TransferEncoding, []string{"chunked"}); chunked == declared || declared && res.ContentLength != 4 {
				t.Errorf("Transfer-Encoding %q, Content-Length %d", res.TransferEncoding, res.ContentLength)
			}
			c.expectOpen()
		})
	}
}

// TestEmptyWriteAfterFlush: an empty Write on a chunked response writes
// nothing; it must not end the body with a zero-length chunk.
func TestEmptyWriteAfterFlush(t *testing.T) {
	t.Parallel()
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			hello(w, r)
			return
		}
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		if n, err := w.Write(nil); n != 0 || err != nil {
			t.Errorf("Write(nil): %d, %v", n, err)
		}
		io.WriteString(w, "")
		io.WriteString(w, "b")
	}))
	c := dial(t, ts.addr)
	res, body := c.get("/")
	if body != "ab" || !slices.Equal(res.TransferEncoding, []string{"chunked"}) {
		t.Fatalf("body %q, Transfer-Encoding %q; want \"ab\", chunked", body, res.TransferEncoding)
	}
	c.expectOpen()
}

// TestHeaderHygiene: what a handler puts in the header cannot split the
// response; invalid names are left out; Date is set; fields are sorted.
func TestHeaderHygiene(t *testing.T) {
	t.Parallel()
	ts := start(t, newServer(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Split"] = []string{"a\r\nSet-Cookie: evil=1", "b\nc\rd"}
		h["Bad Name"] = []string{"1"}
		h["Bad:Name"] = []string{"2"}
		h["Bad\r\nX-Injected"] = []string{"3"}
		h["Zeta"] = []string{"z"}
		h["Alpha"] = []string{"a"}
		h["Mid"] = []string{"m1", "m2"}
		io.WriteString(w, "ok")
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
	head := c.rawHead()
	_, fields := headFields(head)
	var names []string
	for _, f := range fields {
		name, _, ok := strings.Cut(f, ": ")
		if !ok {
			t.Errorf("malformed field line %q", f)
		}
		names = append(names, name)
	}
	want := []string{"Alpha", "Content-Length", "Date", "Mid", "Mid", "X-Split", "X-Split", "Zeta"}
	if !slices.Equal(names, want) {
		t.Errorf("field names %q, want %q (head %q)", names, want, head)
	}
	for _, f := range []string{"X-Split: a  Set-Cookie: evil=1", "X-Split: b c d", "Mid: m1", "Mid: m2"} {
		if !slices.Contains(fields, f) {
			t.Errorf("no field line %q in %q", f, head)
		}
	}
	for _, f := range fields {
		if d, ok := strings.CutPrefix(f, "Date: "); ok {
			if _, err := http.ParseTime(d); err != nil {
				t.Errorf("Date %q: %v", d, err)
			}
		}
	}
	if b := make([]byte, 2); mustReadFull(t, c, b) != "ok" {
		t.Errorf("body %q", b)
	}
	c.expectOpen()
}

func mustReadFull(t *testing.T, c *client, b []byte) string {
	t.Helper()
	if _, err := io.ReadFull(c.br, b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInformational: a 103 is sent at once with the fields set so far,
// then the final response; an HTTP/1.0 client, which knows no 1xx, gets
// only the final response.
func TestInformational(t *testing.T) {
	t.Parallel()
	handler := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			hello(w, r)
			return
		}
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "final")
	}
	t.Run("HTTP/1.1", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(handler))
		c := dial(t, ts.addr)
		c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
		res, _ := c.response("GET")
		if res.StatusCode != http.StatusEarlyHints || res.Header.Get("Link") != "</style.css>; rel=preload" {
			t.Fatalf("first response %s, Link %q; want 103 with the Link", res.Status, res.Header.Get("Link"))
		}
		res, body := c.response("GET")
		if res.StatusCode != 200 || body != "final" {
			t.Fatalf("final response %s %q", res.Status, body)
		}
		c.expectOpen()
	})
	t.Run("HTTP/1.0", func(t *testing.T) {
		t.Parallel()
		ts := start(t, newServer(handler))
		c := dial(t, ts.addr)
		c.send("GET / HTTP/1.0\r\n\r\n")
		res, body := c.response("GET")
		if res.StatusCode != 200 || body != "final" {
			t.Fatalf("response to HTTP/1.0: %s %q, want 200 \"final\"", res.Status, body)
		}
		c.expectClosed()
	})
}

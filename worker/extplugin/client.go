package extplugin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	ei "github.com/api7/ext-plugin-proto/go/A6/ExtraInfo"
)

// Entry is an A6.TextEntry: a missing value is meaningful (flag arg /
// delete header).
type Entry struct {
	Name     string
	Value    string
	HasValue bool
}

// Options configure a Client. Zero durations and sizes take APISIX's values.
type Options struct {
	Socket         string        // unix socket path (no "unix:" prefix)
	ConnectTimeout time.Duration // default 1s
	Timeout        time.Duration // each send / each read; default 60s
	ExpireTime     time.Duration // conf token TTL in this cache; default 3600s
	PoolSize       int           // idle connections kept; default 32
	IdleTimeout    time.Duration // default 180s
	WorkerID       int           // request ids are WorkerID<<22 | counter (counter wraps at 2^22)
	// Generation reports the runner generation: a counter the privileged
	// agent increments (in shared memory) BEFORE it spawns each new runner
	// process. nil means constant. See the package documentation.
	Generation func() int64
}

// Request is what HTTPReqCall carries (spec §8.2).
type Request struct {
	SrcIP netip.Addr // sent as 4 bytes for IPv4 (incl. v4-mapped), 16 for IPv6; omitted when invalid
	// Method is the HTTP method. One without an A6.Method encoding (CONNECT,
	// extension methods) is sent without the field, which runners read as
	// GET, the schema default.
	Method  string
	Path    string
	Args    []Entry
	Headers []Entry // names already lower-cased by the caller
}

// Info answers ExtraInfo questions (spec §8.3) during a call. A nil Info
// answers every question with an unset result.
type Info interface {
	Var(name string) (value string, ok bool) // !ok -> result left unset
	ReqBody() ([]byte, error)                // nil -> result unset
	RespBody() ([]byte, error)               // asked in CallResponse only; nil -> unset
}

// Stop ends the request with the runner's response. Status 0 is already
// mapped to 200; an empty body is nil. Header names are as the runner sent
// them: the first entry of a name sets, later ones add.
type Stop struct {
	Status  int
	Headers []Entry
	Body    []byte
}

// Rewrite changes the request and continues it (spec §8.2).
type Rewrite struct {
	Path        string  // "" = unchanged
	Headers     []Entry // with value: set; without: delete
	Args        []Entry // in order: without value: delete; first valued per name: replace; later: append
	RespHeaders []Entry // the spec's ignored names already filtered out
	Body        []byte
	HasBody     bool // only for a non-empty body, as APISIX
}

// ReqResult: exactly one of Stop / Rewrite non-nil, or both nil for action
// NONE. An empty Rewrite (no path, only empty vectors, no body) is returned
// as nil (no-op).
type ReqResult struct {
	Stop    *Stop
	Rewrite *Rewrite
}

// Response is what HTTPRespCall carries (spec §8.4).
type Response struct {
	Status  int
	Headers []Entry
}

// RespResult is the runner's answer to HTTPRespCall. Status 0 = keep the
// upstream status; HasBody only for a non-empty body (replace it); Headers
// are the changed headers only (without value: delete).
type RespResult struct {
	Status  int
	Headers []Entry
	Body    []byte
	HasBody bool
}

// Key is the PrepareConf idempotency key
// "<conf_type>#<conf_id>#<plugin name>#<conf version>".
func Key(confType, confID, plugin, version string) string {
	return confType + "#" + confID + "#" + plugin + "#" + version
}

const (
	maxAttempts = 3
	idBits      = 22
)

// Client talks to one plugin runner. It is safe for concurrent use.
type Client struct {
	o   Options
	seq atomic.Uint32
	// spin decides whether a call polls for its answer (spin.go).
	spin spinner

	mu     sync.Mutex
	closed bool
	gen    int64 // generation the tokens and idle connections belong to
	epoch  uint64
	idle   []*conn // oldest first
	tokens map[string]token
	// flights single-flights PrepareConf per key and runner.
	flights map[flightKey]*flight
}

type token struct {
	id      uint32
	gen     int64
	pid     int32
	expires time.Time
}

type flightKey struct {
	key string
	gen int64
	pid int32
}

type flight struct {
	done  chan struct{}
	token uint32
	err   error
}

// New returns a client; it connects lazily.
func New(o Options) *Client {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.ExpireTime <= 0 {
		o.ExpireTime = 3600 * time.Second
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 32
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 180 * time.Second
	}
	c := &Client{o: o, tokens: map[string]token{}, flights: map[flightKey]*flight{}}
	c.gen = c.generation()
	return c
}

// Close closes the idle connections; later calls fail with ErrClosed.
// Calls in flight finish and close their connections.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.dropIdle()
	return nil
}

// Flush drops every cached conf token and idle connection.
func (c *Client) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
}

func (c *Client) flushLocked() {
	c.flushTokensLocked()
	c.dropIdle()
}

func (c *Client) flushTokens() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushTokensLocked()
}

func (c *Client) flushTokensLocked() {
	c.epoch++
	clear(c.tokens)
}

func (c *Client) generation() int64 {
	if c.o.Generation == nil {
		return 0
	}
	return c.o.Generation()
}

// sync reads the generation and flushes what belongs to an older one.
func (c *Client) sync() (int64, error) {
	g := c.generation()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	if g != c.gen {
		c.gen = g
		c.flushLocked()
	}
	return g, nil
}

// call is one CallRequest or CallResponse: what to send and where the
// answer goes.
type call struct {
	key  string
	conf []Entry
	info Info
	req  *Request
	resp *Response

	reqOut  *ReqResult
	respOut *RespResult
}

// CallRequest runs HTTPReqCall (spec §8.2) for the plugin conf named by key
// (see Key); conf is the plugin conf's `conf` list, nil when absent.
func (c *Client) CallRequest(ctx context.Context, key string, conf []Entry, req *Request, info Info) (*ReqResult, error) {
	cl := call{key: key, conf: conf, info: info, req: req}
	if err := c.do(ctx, &cl); err != nil {
		return nil, fmt.Errorf("ext-plugin call %s: %w", key, err)
	}
	return cl.reqOut, nil
}

// CallResponse runs HTTPRespCall (spec §8.4) for the plugin conf named by
// key; conf as for CallRequest.
func (c *Client) CallResponse(ctx context.Context, key string, conf []Entry, resp *Response, info Info) (*RespResult, error) {
	cl := call{key: key, conf: conf, info: info, resp: resp}
	if err := c.do(ctx, &cl); err != nil {
		return nil, fmt.Errorf("ext-plugin response call %s: %w", key, err)
	}
	return cl.respOut, nil
}

// do is APISIX's communicate: up to maxAttempts, repeating only after
// CONF_TOKEN_NOT_FOUND (whole cache flushed) or a generation change (the
// answer was discarded).
func (c *Client) do(ctx context.Context, cl *call) error {
	var err error
	for range maxAttempts {
		var g int64
		if g, err = c.sync(); err != nil {
			return err
		}
		err = c.attempt(ctx, g, cl)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrConfTokenNotFound):
			c.flushTokens()
		case errors.Is(err, errStale):
			// the next sync flushes
		default:
			return err
		}
	}
	if errors.Is(err, errStale) {
		return ErrRunnerRestarted
	}
	return err
}

func (c *Client) attempt(ctx context.Context, g int64, cl *call) error {
	cn, err := c.get(ctx, g)
	if err != nil {
		return err
	}
	err = c.exchange(ctx, cn, g, cl)
	if err != nil && retryable(cn, err) && ctx.Err() == nil {
		cn.close()
		if cn, err = c.dial(ctx, g); err != nil {
			return err
		}
		err = c.exchange(ctx, cn, g, cl)
	}
	if err != nil {
		cn.close()
		return err
	}
	c.put(cn)
	return nil
}

// exchange gets the token (from the cache, or PrepareConf on cn) and runs
// the call on cn.
func (c *Client) exchange(ctx context.Context, cn *conn, g int64, cl *call) (err error) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
		defer func() {
			if !stop() {
				cn.broken = true
			}
		}()
	}
	tok, err := c.token(ctx, cn, g, cl.key, cl.conf)
	if err != nil {
		return err
	}
	id := uint32(c.o.WorkerID)<<idBits | c.seq.Add(1)&(1<<idBits-1)
	e := getEncoder()
	defer putEncoder(e)
	var frame []byte
	want := typeReqCall
	if cl.req != nil {
		frame, err = e.reqCall(id, tok, cl.req)
	} else {
		want = typeRespCall
		frame, err = e.respCall(id, tok, cl.resp)
	}
	if err != nil {
		return err
	}
	if err := cn.send(ctx, c.o.Timeout, frame); err != nil {
		return fmt.Errorf("send call: %w", err)
	}
	c.spin.begin()
	p, err := c.answer(ctx, cn, e, want, cl)
	c.spin.end()
	if err != nil {
		return err
	}
	// See the package documentation: an unchanged generation proves the
	// answer came from the runner that issued tok.
	if c.generation() != g {
		return errStale
	}
	if cl.req != nil {
		cl.reqOut, err = decodeReqAnswer(p, id)
	} else {
		cl.respOut, err = decodeRespAnswer(p, id)
	}
	return err
}

// answer reads frames until the one of type want, answering ExtraInfo
// questions on the way.
func (c *Client) answer(ctx context.Context, cn *conn, e *encoder, want byte, cl *call) ([]byte, error) {
	for {
		typ, p, err := cn.recv(ctx, c.o.Timeout)
		if err != nil {
			return nil, err
		}
		switch typ {
		case want:
			return p, nil
		case typeError:
			return nil, decodeError(p)
		case typeExtraInfo:
			q, err := decodeQuestion(p)
			if err != nil {
				return nil, err
			}
			result, err := c.ask(q, cl)
			if err != nil {
				return nil, err
			}
			e.b.Reset()
			frame, err := e.extraInfo(result)
			if err != nil {
				return nil, err
			}
			if err := cn.send(ctx, c.o.Timeout, frame); err != nil {
				return nil, fmt.Errorf("send extra info answer: %w", err)
			}
		default:
			return nil, protocolError("answer of type %d, want %d", typ, want)
		}
	}
}

func (c *Client) ask(q question, cl *call) ([]byte, error) {
	switch q.info {
	case ei.InfoVar:
		if cl.info == nil {
			return nil, nil
		}
		if v, ok := cl.info.Var(q.name); ok {
			return []byte(v), nil
		}
		return nil, nil
	case ei.InfoReqBody:
		if cl.info == nil {
			return nil, nil
		}
		b, err := cl.info.ReqBody()
		if err != nil {
			return nil, fmt.Errorf("extra info request body: %w", err)
		}
		return b, nil
	case ei.InfoRespBody:
		// APISIX has no response body to give outside post-resp.
		if cl.info == nil || cl.resp == nil {
			return nil, nil
		}
		b, err := cl.info.RespBody()
		if err != nil {
			return nil, fmt.Errorf("extra info response body: %w", err)
		}
		return b, nil
	default:
		return nil, protocolError("unknown extra info type %d", q.info)
	}
}

// token returns a conf token valid on cn: issued by cn's runner (same
// generation and peer pid) and not expired. A miss runs PrepareConf on cn,
// once per key and runner however many calls miss at the same time.
func (c *Client) token(ctx context.Context, cn *conn, g int64, key string, conf []Entry) (uint32, error) {
	fk := flightKey{key: key, gen: g, pid: cn.pid}
	for {
		now := time.Now()
		c.mu.Lock()
		if t, ok := c.tokens[key]; ok && t.gen == g && t.pid == cn.pid && now.Before(t.expires) {
			c.mu.Unlock()
			return t.id, nil
		}
		if f := c.flights[fk]; f != nil {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			// A leader whose own request was cancelled says nothing about
			// the runner: try again, possibly leading.
			if errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded) {
				continue
			}
			// Otherwise share the outcome: a hung runner must cost every
			// waiter one Timeout, not one each in turn.
			return f.token, f.err
		}
		f := &flight{done: make(chan struct{})}
		c.flights[fk] = f
		epoch := c.epoch
		c.mu.Unlock()

		f.token, f.err = c.prepare(ctx, cn, key, conf)

		c.mu.Lock()
		delete(c.flights, fk)
		// A flush during the prepare wins: the token is used for this call
		// only (it is valid on cn) but not cached.
		if f.err == nil && epoch == c.epoch && g == c.gen {
			// Every conf change makes a new key; the old keys' tokens go
			// once expired, so the cache holds what ExpireTime saw in use.
			maps.DeleteFunc(c.tokens, func(_ string, t token) bool { return !now.Before(t.expires) })
			c.tokens[key] = token{id: f.token, gen: g, pid: cn.pid, expires: now.Add(c.o.ExpireTime)}
		}
		c.mu.Unlock()
		close(f.done)
		return f.token, f.err
	}
}

func (c *Client) prepare(ctx context.Context, cn *conn, key string, conf []Entry) (uint32, error) {
	e := getEncoder()
	defer putEncoder(e)
	frame, err := e.prepareConf(key, conf)
	if err != nil {
		return 0, fmt.Errorf("prepare conf %s: %w", key, err)
	}
	if err := cn.send(ctx, c.o.Timeout, frame); err != nil {
		return 0, fmt.Errorf("prepare conf %s: send: %w", key, err)
	}
	typ, p, err := cn.recv(ctx, c.o.Timeout)
	if err != nil {
		return 0, fmt.Errorf("prepare conf %s: %w", key, err)
	}
	switch typ {
	case typePrepare:
		tok, err := decodePrepare(p)
		if err != nil {
			return 0, fmt.Errorf("prepare conf %s: %w", key, err)
		}
		return tok, nil
	case typeError:
		return 0, fmt.Errorf("prepare conf %s: %w", key, decodeError(p))
	default:
		return 0, fmt.Errorf("prepare conf %s: %w", key, protocolError("answer of type %d", typ))
	}
}

package etcdboot

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
)

// Server is a running embedded etcd.
type Server struct {
	etcd    *embed.Etcd
	closing *atomic.Bool
	// endStreams ends every client stream (see Close).
	endStreams context.CancelFunc
}

// Start runs an embedded etcd serving clientURL with data in dir.
func Start(dir, clientURL string, log zerolog.Logger, readyTimeout time.Duration) (*Server, error) {
	cu, err := url.Parse(clientURL)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd client url %q: %w", clientURL, err)
	}
	if cu.Scheme != "http" {
		return nil, fmt.Errorf("embedded etcd client url %q: only http is served by the embedded etcd", clientURL)
	}
	pu, _ := url.Parse("http://127.0.0.1:0")
	closing := new(atomic.Bool)

	cfg := embed.NewConfig()
	cfg.Name = "portico"
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(&zapCore{log: log, closing: closing}))
	streams, endStreams := context.WithCancel(context.Background())
	cfg.GRPCAdditionalServerOptions = []grpc.ServerOption{grpc.ChainStreamInterceptor(endWith(streams))}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		endStreams()
		return nil, fmt.Errorf("start embedded etcd on %s (data %s): %w", cu.Host, dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return &Server{etcd: e, closing: closing, endStreams: endStreams}, nil
	case err := <-e.Err():
		endStreams()
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedded etcd on %s: %w", cu.Host, err)
	case <-time.After(readyTimeout):
		endStreams()
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedded etcd on %s not ready after %s", cu.Host, readyTimeout)
	}
}

// Err reports asynchronous failures of the running server.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the server and releases its port and data directory lock.
//
// etcd's own Close stops gRPC gracefully, which waits for every open stream
// to end, and a watch stream only ends when its client cancels it: with any
// client watching (every worker does), Close took etcd's whole request
// timeout, 5 s, during which an upgrade's new master could not start its
// etcd. So Close first ends every stream's context, which etcd's stream
// handlers watch: they return at once, and clients reconnect as after any
// server restart.
func (s *Server) Close() {
	s.closing.Store(true)
	s.endStreams()
	s.etcd.Close()
}

// endWith is a stream interceptor whose streams' contexts also end when
// ctx does.
func endWith(ctx context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		sctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		return handler(srv, &endingStream{ServerStream: ss, ctx: sctx})
	}
}

type endingStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *endingStream) Context() context.Context { return s.ctx }

// zapCore forwards etcd's zap entries into zerolog. Once the server is
// closing, the "server closed" noise etcd logs at error level is dropped.
type zapCore struct {
	log     zerolog.Logger
	closing *atomic.Bool
	fields  []zapcore.Field
}

func (c *zapCore) Enabled(l zapcore.Level) bool { return l >= zapcore.WarnLevel }

func (c *zapCore) With(fields []zapcore.Field) zapcore.Core {
	return &zapCore{log: c.log, closing: c.closing, fields: append(append([]zapcore.Field{}, c.fields...), fields...)}
}

func (c *zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if c.closing.Load() && e.Level < zapcore.DPanicLevel {
		return nil
	}
	if e.Message == "request stats" {
		// Per-request accounting of failed compares: init_etcd's
		// create-if-missing transactions fail by design.
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field{}, c.fields...), fields...) {
		f.AddTo(enc)
	}
	var ev *zerolog.Event
	switch {
	case e.Level >= zapcore.ErrorLevel:
		ev = c.log.Error()
	default:
		// A single loopback member warns about things that only matter in a
		// cluster; keep them out of an operator's warn-level log.
		ev = c.log.Info()
	}
	ev.Fields(enc.Fields).Msg(e.Message)
	return nil
}

func (c *zapCore) Sync() error { return nil }

package etcdboot

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// Server is a running embedded etcd.
type Server struct {
	etcd    *embed.Etcd
	closing *atomic.Bool
	port    int // the client port
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
	port, err := strconv.Atoi(cu.Port())
	if err != nil {
		return nil, fmt.Errorf("embedded etcd client url %q: a numeric port is needed", clientURL)
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

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd on %s (data %s): %w", cu.Host, dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return &Server{etcd: e, closing: closing, port: port}, nil
	case err := <-e.Err():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedded etcd on %s: %w", cu.Host, err)
	case <-time.After(readyTimeout):
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
// etcd. So while Close runs, the clients' connections are shut down: their
// streams end at once, and clients reconnect as after any network failure.
func (s *Server) Close() {
	s.closing.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.etcd.Close()
	}()
	// Until Close has closed the listener, a client may reconnect, so the
	// sweep repeats.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		shutdownAccepted(s.port)
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
}

// shutdownAccepted shuts down this process's TCP connections accepted on
// port (not the listener itself, nor connections it dialled). shutdown(2)
// leaves the descriptor open, so the code that owns it (etcd's gRPC and
// HTTP servers) sees the connection end and closes it itself.
func shutdownAccepted(port int) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, f := range fds {
		fd, err := strconv.Atoi(f.Name())
		if err != nil {
			continue
		}
		if link, err := os.Readlink("/proc/self/fd/" + f.Name()); err != nil || !strings.HasPrefix(link, "socket:") {
			continue
		}
		if localPort(fd) != port {
			continue
		}
		if listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || listening != 0 {
			continue
		}
		unix.Shutdown(fd, unix.SHUT_RDWR)
	}
}

func localPort(fd int) int {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return -1
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	return -1
}

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

package master

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/conf"
	"github.com/portico-gw/portico/internal/etcdboot"
)

const (
	etcdReadyTimeout = 30 * time.Second
	// takeOverRetry paces a new master's attempts to start etcd while the
	// previous master is still releasing its port and data directory.
	takeOverRetry = 100 * time.Millisecond
)

// embeddedEtcd is the master's single-member etcd.
type embeddedEtcd struct {
	dir    string
	url    string
	prefix string
	log    zerolog.Logger

	mu      sync.Mutex
	srv     *etcdboot.Server
	stopped bool
}

func newEmbeddedEtcd(cfg *conf.Config, log zerolog.Logger) *embeddedEtcd {
	return &embeddedEtcd{
		dir:    filepath.Join(cfg.Prefix, "data", "etcd"),
		url:    cfg.Deployment.Etcd.Host[0],
		prefix: cfg.Deployment.Etcd.Prefix,
		log:    log.With().Str("component", "etcd").Logger(),
	}
}

func (e *embeddedEtcd) start() error {
	srv, err := etcdboot.Start(e.dir, e.url, e.log, etcdReadyTimeout)
	if err != nil {
		return fmt.Errorf("deployment.etcd (embedded): %w", err)
	}
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		srv.Close()
		return fmt.Errorf("master stopping")
	}
	e.srv = srv
	e.mu.Unlock()
	e.log.Info().Str("client_url", e.url).Str("data_dir", e.dir).Msg("embedded etcd started")
	go e.initDirs()
	return nil
}

// takeOver starts etcd once the previous master released it. The previous
// master stops its etcd as soon as this one is ready, so the wait is short;
// workers meanwhile serve from what they have.
func (e *embeddedEtcd) takeOver(upg *tableflip.Upgrader) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	parentGone := make(chan struct{})
	go func() { upg.WaitForParent(ctx); close(parentGone) }()
	var lastErr error
	for attempt := 0; ; attempt++ {
		e.mu.Lock()
		stopped := e.stopped
		e.mu.Unlock()
		if stopped {
			return
		}
		err := e.start()
		if err == nil {
			return
		}
		if attempt == 0 {
			e.log.Info().Err(err).Msg("waiting for the previous master to release etcd")
		}
		select {
		case <-parentGone:
			// The previous master is gone; a failure now is real.
			if lastErr != nil {
				e.log.Error().Err(err).Msg("embedded etcd cannot start")
				return
			}
			lastErr = err
		case <-time.After(takeOverRetry):
		}
	}
}

func (e *embeddedEtcd) initDirs() {
	cli, err := etcdboot.Client([]string{e.url}, 5*time.Second)
	if err != nil {
		e.log.Warn().Err(err).Msg("init_etcd skipped")
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := etcdboot.InitDirs(ctx, cli, e.prefix); err != nil {
		e.log.Warn().Err(err).Msg("init_etcd failed")
	}
}

func (e *embeddedEtcd) running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srv != nil
}

// stop closes the server, releasing its port and data directory.
func (e *embeddedEtcd) stop() {
	e.mu.Lock()
	srv := e.srv
	e.srv = nil
	e.stopped = true
	e.mu.Unlock()
	if srv != nil {
		srv.Close()
		e.log.Info().Msg("embedded etcd stopped")
	}
}

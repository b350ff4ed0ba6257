package worker

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/portico-gw/portico/tmpl"
)

// probeInterval is how often a worker checks that etcd answers. The config
// store (next) replaces polling with its watch; reachability stays.
const probeInterval = 2 * time.Second

// etcdProbe keeps a client to etcd and records whether it answers. The
// client reconnects by itself; the probe only observes.
type etcdProbe struct {
	cli    *clientv3.Client
	prefix string
	log    zerolog.Logger
	ok     atomic.Bool
	rev    atomic.Int64
	stopc  chan struct{}
	once   sync.Once
	done   chan struct{}
}

func newEtcdProbe(e tmpl.Etcd, log zerolog.Logger) (*etcdProbe, error) {
	cfg := clientv3.Config{
		Endpoints:   e.Endpoints,
		DialTimeout: 2 * time.Second,
		Username:    e.User,
		Password:    e.Password,
		Logger:      zap.NewNop(),
	}
	if len(e.Endpoints) > 0 && strings.HasPrefix(e.Endpoints[0], "https://") {
		tc := &tls.Config{InsecureSkipVerify: !e.TLSVerify, ServerName: e.TLSSNI}
		if e.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(e.TLSCert, e.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("etcd tls cert %s: %w", e.TLSCert, err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, err
	}
	return &etcdProbe{cli: cli, prefix: e.Prefix, log: log, stopc: make(chan struct{}), done: make(chan struct{})}, nil
}

func (p *etcdProbe) start() { go p.run() }

func (p *etcdProbe) run() {
	defer close(p.done)
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		p.check()
		select {
		case <-p.stopc:
			return
		case <-t.C:
		}
	}
}

func (p *etcdProbe) check() {
	ctx, cancel := context.WithTimeout(context.Background(), probeInterval)
	defer cancel()
	resp, err := p.cli.Get(ctx, p.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	was := p.ok.Load()
	if err != nil {
		p.ok.Store(false)
		if was {
			p.log.Warn().Err(err).Msg("etcd unreachable")
		}
		return
	}
	p.ok.Store(true)
	p.rev.Store(resp.Header.Revision)
	if !was {
		p.log.Info().Int64("rev", resp.Header.Revision).Msg("etcd reachable")
	}
}

func (p *etcdProbe) reachable() bool { return p.ok.Load() }
func (p *etcdProbe) revision() int64 { return p.rev.Load() }

func (p *etcdProbe) stop() {
	p.once.Do(func() {
		close(p.stopc)
		<-p.done
		p.cli.Close()
	})
}

package master

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/conf"
	"github.com/portico-gw/portico/internal/buildinfo"
	"github.com/portico-gw/portico/internal/logx"
	"github.com/portico-gw/portico/internal/proc"
)

// Environment variables the master uses to talk to itself across exec.
const (
	// EnvReadyFd names the pipe on which a freshly started master reports
	// "ok" or the reason it could not start, to the `portico start` that forked it.
	EnvReadyFd = "PORTICO_READY_FD"
	// envGeneration carries the generation counter to an upgraded master.
	envGeneration = "PORTICO_GENERATION"
)

// Timeouts of the process model.
const (
	childReadyTimeout = 30 * time.Second
	upgradeTimeout    = 60 * time.Second
	statusTimeout     = time.Second
	killGrace         = time.Second
	// agentKillGrace leaves the privileged agent time to stop its plugin
	// runner first (SIGTERM, SIGKILL after 1 s), so that a stop leaves no
	// runner socket behind.
	agentKillGrace = killGrace + 2*time.Second
)

// Options are the master's command line.
type Options struct {
	Prefix     string
	ConfigFile string // "" = <prefix>/conf/config.yaml
	Self       string // absolute path of the portico binary (re-executed for children and upgrades)
}

// Master is a running master process.
type Master struct {
	opts Options
	base zerolog.Logger // without component, for the master's subsystems
	log  zerolog.Logger
	upg  *tableflip.Upgrader

	errLog     *logx.Writer
	errLogFile *os.File // the master's current copy, handed to children
	accessFile *os.File // nil when the access log is off

	mu       sync.Mutex
	gen      *generation
	children map[*childProc]bool
	sockets  *socketTable
	zones    map[string]zone
	backoff  map[slotKey]*respawnState
	stopping bool

	opMu     sync.Mutex // one reload or upgrade at a time
	statusMu sync.Mutex
	etcd     *embeddedEtcd
	started  time.Time
	exits    chan *childProc
	sigs     chan os.Signal
	ctl      net.Listener // the control socket
}

// Run is `portico master`: it returns the process exit code.
func Run(opts Options) int {
	ready := readyPipe()
	m, err := start(opts)
	if err != nil {
		ready.fail(err)
		fmt.Fprintf(os.Stderr, "portico: %v\n", err)
		if errors.Is(err, errConfig) {
			return proc.ExitFatalConfig
		}
		return proc.ExitFailure
	}
	ready.ok()
	if ready.f == nil && !m.upg.HasParent() {
		// Started in the foreground (systemd, containers, `make run`).
		fmt.Fprintf(os.Stderr, "portico: master pid %d serving (prefix %s, logs in %s)\n", os.Getpid(), opts.Prefix, filepath.Dir(PidFile(opts.Prefix)))
	}
	return m.loop()
}

var errConfig = errors.New("configuration error")

func start(opts Options) (*Master, error) {
	// Catch signals before anything can report readiness: a HUP sent the
	// moment `portico start` returns must reload, not kill, the master.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	signal.Ignore(syscall.SIGPIPE)
	cfg, err := conf.Load(opts.Prefix, opts.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	for _, dir := range []string{"logs", "data", "conf"} {
		if err := os.MkdirAll(filepath.Join(cfg.Prefix, dir), 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	m := &Master{
		opts:     opts,
		children: map[*childProc]bool{},
		zones:    map[string]zone{},
		backoff:  map[slotKey]*respawnState{},
		started:  time.Now(),
		exits:    make(chan *childProc, 64),
		sigs:     sigs,
	}
	if err := m.openLogs(cfg); err != nil {
		return nil, err
	}
	m.log.Info().Str("version", buildinfo.Version).Str("prefix", cfg.Prefix).Msg("master starting")

	timeout := upgradeTimeout
	if cfg.TestOnly.UpgradeTimeout > 0 {
		timeout = cfg.TestOnly.UpgradeTimeout
	}
	upg, err := tableflip.New(tableflip.Options{
		PIDFile:        PidFile(cfg.Prefix),
		UpgradeTimeout: timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("tableflip: %w", err)
	}
	m.upg = upg
	m.sockets = newSocketTable(upg.Fds)
	m.ctl, err = m.listenControl(cfg.Prefix)
	if err != nil {
		upg.Stop()
		return nil, err
	}

	genNum := 0
	if v, err := strconv.Atoi(os.Getenv(envGeneration)); err == nil {
		genNum = v - 1
	}
	os.Unsetenv(envGeneration)

	if cfg.Deployment.Etcd.Embedded {
		m.etcd = newEmbeddedEtcd(cfg, m.base)
		if upg.HasParent() {
			// The previous master hands its etcd over when it starts
			// draining; take it as soon as it is free, without holding up
			// readiness (workers serve without etcd).
			go m.etcd.takeOver(upg)
		} else if err := m.etcd.start(); err != nil {
			m.abort()
			return nil, err
		}
	}

	gen, err := m.prepare(cfg, genNum+1)
	if err != nil {
		m.abort()
		return nil, err
	}
	if err := m.launch(gen); err != nil {
		m.abort()
		return nil, err
	}
	go m.serveControl()
	if err := upg.Ready(); err != nil {
		m.abort()
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	m.log.Info().Int(logx.FieldGeneration, gen.num).Int("workers", gen.rt.Processes.Workers).
		Str(logx.FieldConfigHash, gen.hash[:12]).Msg("master ready")
	return m, nil
}

// loop handles signals, child exits and the upgrade hand-off until the
// master exits.
func (m *Master) loop() int {
	for {
		select {
		case c := <-m.exits:
			m.onExit(c)
		case <-m.upg.Exit():
			return m.handOver()
		case s := <-m.sigs:
			switch s {
			case syscall.SIGTERM, syscall.SIGINT:
				m.log.Info().Str("signal", s.String()).Msg("fast shutdown")
				return m.shutdown(false)
			case syscall.SIGQUIT:
				m.log.Info().Msg("graceful shutdown")
				return m.shutdown(true)
			case syscall.SIGHUP:
				go m.Reload() // logs its outcome
			case syscall.SIGUSR2:
				go m.Upgrade() // logs its outcome
			case syscall.SIGUSR1:
				m.reopenLogs()
			}
		}
	}
}

package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
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
	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/logx"
	"github.com/portico-gw/portico/internal/proc"
	"github.com/portico-gw/portico/ipc"
	"github.com/portico-gw/portico/tmpl"
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
}

// generation is one rendered configuration and the children running it.
type generation struct {
	num      int
	cfg      *conf.Config
	rt       *tmpl.Runtime
	rendered []byte
	hash     string
	file     *os.File // the runtime file, opened after writing; children inherit it
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
	ctl, err := m.listenControl(cfg.Prefix)
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
	go m.serveControl(ctl)
	if err := upg.Ready(); err != nil {
		m.abort()
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	m.log.Info().Int(logx.FieldGeneration, gen.num).Int("workers", gen.rt.Processes.Workers).
		Str(logx.FieldConfigHash, gen.hash[:12]).Msg("master ready")
	return m, nil
}

// abort undoes a start that failed part-way.
func (m *Master) abort() {
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	m.terminateAll()
	if m.etcd != nil {
		m.etcd.stop()
	}
	m.upg.Stop()
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
				go func() {
					if err := m.Reload(); err != nil {
						m.log.Error().Err(err).Msg("reload failed, keeping the running generation")
					}
				}()
			case syscall.SIGUSR2:
				go func() {
					if err := m.Upgrade(); err != nil {
						m.log.Error().Err(err).Msg("upgrade failed, keeping this master")
					}
				}()
			case syscall.SIGUSR1:
				m.reopenLogs()
			}
		}
	}
}

// prepare loads nothing new: it renders cfg, binds what is missing and
// creates zones, returning a generation that is not running yet.
func (m *Master) prepare(cfg *conf.Config, num int) (*generation, error) {
	rendered, err := tmpl.Render(cfg, tmpl.Inputs{Version: buildinfo.Version})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	rt, err := tmpl.Parse(rendered)
	if err != nil {
		return nil, err
	}
	if rt.Processes.Workers < 1 {
		return nil, fmt.Errorf("%w: nginx_config.worker_processes: must be at least 1", errConfig)
	}
	if _, err := credentials(rt); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	file, err := WriteRuntime(cfg.Prefix, rendered)
	if err != nil {
		return nil, err
	}
	return &generation{num: num, cfg: cfg, rt: rt, rendered: rendered, hash: tmpl.Hash(rendered), file: file}, nil
}

// launch binds the generation's sockets and zones, starts its children and
// waits for all of them to be ready. On failure nothing of it remains.
func (m *Master) launch(gen *generation) error {
	m.mu.Lock()
	grown, err := m.sockets.ensure(gen.rt.Listeners, gen.rt.Processes.Workers)
	if err == nil {
		err = m.ensureZones(gen.rt.ShmZones)
	}
	if err != nil {
		m.sockets.undo(grown)
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	var kids []*childProc
	fail := func(err error) error {
		m.mu.Lock()
		for _, c := range kids {
			c.draining = true
		}
		m.mu.Unlock()
		for _, c := range kids {
			m.kill(c)
		}
		m.mu.Lock()
		m.sockets.undo(grown)
		m.mu.Unlock()
		return err
	}
	for slot := 0; slot < gen.rt.Processes.Workers; slot++ {
		c, err := m.spawn(gen, proc.RoleWorker, slot)
		if err != nil {
			return fail(err)
		}
		kids = append(kids, c)
	}
	c, err := m.spawn(gen, proc.RolePrivileged, 0)
	if err != nil {
		return fail(err)
	}
	kids = append(kids, c)
	deadline := time.NewTimer(childReadyTimeout)
	defer deadline.Stop()
	for _, c := range kids {
		select {
		case <-c.ready:
		case <-c.exited:
			return fail(fmt.Errorf("%s exited before it was ready (%s); see %s", c, exitText(c), gen.rt.Logs.ErrorLog))
		case <-deadline.C:
			return fail(fmt.Errorf("%s not ready after %s", c, childReadyTimeout))
		}
	}
	m.mu.Lock()
	old := m.gen
	m.gen = gen
	m.mu.Unlock()
	if old != nil {
		old.file.Close()
	}
	return nil
}

func exitText(c *childProc) string {
	if c.exitErr != nil {
		return c.exitErr.Error()
	}
	return "exit status 0"
}

// spawn forks one child of gen.
func (m *Master) spawn(gen *generation, role string, slot int) (*childProc, error) {
	conn, childEnd, err := ipc.NewPair()
	if err != nil {
		return nil, fmt.Errorf("spawn %s %d: %w", role, slot, err)
	}
	defer childEnd.Close()

	var files proc.Files
	spec := proc.Spec{Role: role, Slot: slot, Generation: gen.num, RuntimeHash: gen.hash, AccessLogFd: -1}
	spec.IPCFd = files.Add(childEnd)
	spec.RuntimeFd = files.Add(gen.file)
	m.mu.Lock()
	spec.ErrorLogFd = files.Add(m.errLogFile)
	if m.accessFile != nil && role == proc.RoleWorker {
		spec.AccessLogFd = files.Add(m.accessFile)
	}
	if role == proc.RoleWorker {
		for i, l := range gen.rt.Listeners {
			for _, f := range m.sockets.forWorker(addrKey{l.Network, l.Addr}, slot, gen.rt.Processes.Workers) {
				spec.Listeners = append(spec.Listeners, proc.ListenerFd{Index: i, Fd: files.Add(f)})
			}
		}
	}
	for _, z := range gen.rt.ShmZones {
		spec.Zones = append(spec.Zones, proc.ZoneFd{Name: z.Name, Fd: files.Add(m.zones[z.Name].File())})
	}
	stderr := m.errLogFile
	m.mu.Unlock()

	cred, _ := credentials(gen.rt) // checked in prepare
	cmd := &exec.Cmd{
		Path:       m.opts.Self,
		Args:       []string{m.opts.Self, role},
		Env:        append(childEnv(gen.rt.Env), proc.EnvSpec+"="+spec.Encode()),
		ExtraFiles: files.List(),
		Stdout:     stderr,
		Stderr:     stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Pdeathsig:  syscall.SIGKILL,
			Credential: cred,
		},
	}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("spawn %s %d: %w", role, slot, err)
	}
	c := &childProc{
		role: role, slot: slot, gen: gen.num, cmd: cmd, conn: conn, started: time.Now(),
		ready: make(chan struct{}), exited: make(chan struct{}), statusC: make(chan control.ChildReport, 1),
	}
	m.mu.Lock()
	m.children[c] = true
	m.mu.Unlock()
	go m.read(c)
	go func() {
		c.exitErr = cmd.Wait()
		conn.Close()
		close(c.exited)
		m.exits <- c
	}()
	m.log.Info().Str(logx.FieldRole, role).Int(logx.FieldSlot, slot).Int(logx.FieldGeneration, gen.num).
		Int("child_pid", cmd.Process.Pid).Msg("child started")
	return c, nil
}

// read consumes a child's messages until its channel closes.
func (m *Master) read(c *childProc) {
	var readyOnce sync.Once
	for {
		msg, err := c.conn.Receive()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, ipc.ErrProtocol) {
				m.log.Debug().Err(err).Str("child", c.String()).Msg("child channel closed")
			}
			if errors.Is(err, ipc.ErrProtocol) {
				continue
			}
			return
		}
		switch msg.Kind {
		case ipc.KindReady:
			readyOnce.Do(func() { close(c.ready) })
		case ipc.KindStatus:
			var rep control.ChildReport
			if msg.Decode(&rep) == nil {
				select {
				case c.statusC <- rep:
				default:
				}
			}
		}
		for _, f := range msg.Files {
			f.Close()
		}
	}
}

// kill terminates c: Terminate over the channel, SIGKILL after a grace period.
func (m *Master) kill(c *childProc) {
	c.send(ipc.KindTerminate)
	select {
	case <-c.exited:
	case <-time.After(killGrace):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

func (m *Master) terminateAll() {
	m.mu.Lock()
	var kids []*childProc
	for c := range m.children {
		c.draining = true
		kids = append(kids, c)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range kids {
		wg.Add(1)
		go func() { defer wg.Done(); m.kill(c) }()
	}
	wg.Wait()
}

// drainAll asks every child to finish in-flight work, then kills stragglers
// at the deadline.
func (m *Master) drainAll(kids []*childProc, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, c := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(ipc.KindQuit)
			select {
			case <-c.exited:
			case <-time.After(timeout + killGrace):
				m.log.Warn().Str("child", c.String()).Msg("drain deadline passed, killing")
				c.cmd.Process.Kill()
				<-c.exited
			}
		}()
	}
	wg.Wait()
}

func (m *Master) shutdown(graceful bool) int {
	m.mu.Lock()
	m.stopping = true
	var kids []*childProc
	for c := range m.children {
		c.draining = true
		kids = append(kids, c)
	}
	timeout := m.gen.rt.Processes.ShutdownTimeout
	m.mu.Unlock()
	if graceful {
		m.drainAll(kids, timeout)
	} else {
		m.terminateAll()
	}
	if m.etcd != nil {
		m.etcd.stop()
	}
	m.removePidFile()
	m.upg.Stop() // removes the control socket
	m.log.Info().Msg("master exited")
	return proc.ExitOK
}

// handOver runs when a new master has become ready after an upgrade: stop
// taking requests, release etcd for the successor, drain the children.
func (m *Master) handOver() int {
	m.log.Info().Msg("new master ready, draining this one")
	m.mu.Lock()
	m.stopping = true
	var kids []*childProc
	for c := range m.children {
		c.draining = true
		kids = append(kids, c)
	}
	timeout := m.gen.rt.Processes.ShutdownTimeout
	m.mu.Unlock()
	if m.etcd != nil {
		m.etcd.stop()
	}
	m.drainAll(kids, timeout)
	m.log.Info().Msg("old master exited")
	return proc.ExitOK
}

// Reload re-reads the configuration and replaces the running generation.
func (m *Master) Reload() error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return errors.New("master is shutting down")
	}
	old := m.gen
	m.mu.Unlock()

	m.log.Info().Int(logx.FieldGeneration, old.num).Msg("reload: reading configuration")
	cfg, err := conf.Load(m.opts.Prefix, m.opts.ConfigFile)
	if err != nil {
		return err
	}
	if cfg.Deployment.Etcd.Embedded != old.cfg.Deployment.Etcd.Embedded {
		return errors.New("deployment.etcd: switching between embedded and external etcd needs a restart")
	}
	gen, err := m.prepare(cfg, old.num+1)
	if err == nil {
		err = m.launch(gen)
		if err != nil {
			gen.file.Close()
		}
	}
	if err != nil {
		// Children of the old generation keep their own descriptor of the
		// old file; put it back on disk so that what is there is what runs.
		if f, werr := WriteRuntime(old.cfg.Prefix, old.rendered); werr == nil {
			old.file.Close()
			old.file = f
		}
		return err
	}
	m.mu.Lock()
	var olds []*childProc
	for c := range m.children {
		if c.gen < gen.num {
			c.draining = true
			olds = append(olds, c)
		}
	}
	m.sockets.retain(gen.rt.Listeners)
	m.retainZones(gen.rt.ShmZones)
	m.mu.Unlock()
	m.log.Info().Int(logx.FieldGeneration, gen.num).Int("workers", gen.rt.Processes.Workers).
		Str(logx.FieldConfigHash, gen.hash[:12]).Msg("reload: new generation serving, old one draining")
	go m.drainAll(olds, gen.rt.Processes.ShutdownTimeout)
	return nil
}

// Upgrade starts the binary on disk as the next master and hands it every
// socket and zone. It returns once the new master is ready, or why it is not.
func (m *Master) Upgrade() error {
	if !m.opMu.TryLock() {
		return errors.New("another reload or upgrade is in progress")
	}
	defer m.opMu.Unlock()
	m.mu.Lock()
	next := m.gen.num + 1
	m.mu.Unlock()
	m.log.Info().Str("binary", m.opts.Self).Msg("upgrade: starting new master")
	os.Setenv(envGeneration, strconv.Itoa(next))
	defer os.Unsetenv(envGeneration)
	if err := m.upg.Upgrade(); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	return nil
}

// PidFile is where the live master's pid is kept.
func PidFile(prefix string) string { return filepath.Join(prefix, "logs", "portico.pid") }

func (m *Master) removePidFile() {
	path := PidFile(m.opts.Prefix)
	data, err := os.ReadFile(path)
	if err == nil && string(data) == strconv.Itoa(os.Getpid()) {
		os.Remove(path)
	}
}

// WriteRuntime writes the runtime file atomically (0600: it holds secrets)
// and returns it opened for reading, for children to inherit.
func WriteRuntime(prefix string, data []byte) (*os.File, error) {
	path := filepath.Join(prefix, "conf", tmpl.FileName)
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+tmpl.FileName+".*")
	if err != nil {
		return nil, fmt.Errorf("write runtime file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write runtime file: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write runtime file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write runtime file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("write runtime file: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open runtime file: %w", err)
	}
	return f, nil
}

// Status collects the master's and every child's state.
func (m *Master) Status() *control.Status {
	m.statusMu.Lock()
	defer m.statusMu.Unlock()
	m.mu.Lock()
	gen := m.gen
	var kids []*childProc
	for c := range m.children {
		kids = append(kids, c)
	}
	m.mu.Unlock()
	st := &control.Status{
		Master: control.MasterStatus{
			Pid: os.Getpid(), Version: buildinfo.Version, Generation: gen.num, Started: m.started,
			RuntimeHash: gen.hash, ConfigFile: gen.cfg.File,
		},
		Etcd: control.EtcdStatus{Embedded: gen.rt.Etcd.Embedded, Endpoints: gen.rt.Etcd.Endpoints, Running: m.etcd != nil && m.etcd.running()},
	}
	m.mu.Lock()
	if z, ok := m.zones[tmpl.StatusZone]; ok {
		st.RequestsTotal = z.Load(tmpl.StatusSlotRequests)
	}
	m.mu.Unlock()
	for _, c := range kids {
		// Drain any stale answer before asking.
		select {
		case <-c.statusC:
		default:
		}
		c.send(ipc.KindStatusRequest)
	}
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	for _, c := range kids {
		cs := control.ChildStatus{Pid: c.pid(), Role: c.role, Slot: c.slot, Generation: c.gen, State: "starting", Respawns: m.respawnCount(c)}
		select {
		case <-c.ready:
			cs.State = "serving"
		default:
		}
		m.mu.Lock()
		if c.draining {
			cs.State = "draining"
		}
		m.mu.Unlock()
		if c.gen == gen.num {
			cs.RuntimeHash = gen.hash
		}
		select {
		case rep := <-c.statusC:
			cs.EtcdReachable = rep.EtcdReachable
			cs.ConfigRevision = rep.ConfigRevision
			cs.ConfigHash = rep.ConfigHash
		case <-c.exited:
		case <-ctx.Done():
		}
		st.Children = append(st.Children, cs)
	}
	sortChildren(st.Children)
	return st
}

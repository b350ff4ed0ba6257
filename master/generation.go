package master

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/portico-gw/portico/conf"
	"github.com/portico-gw/portico/internal/buildinfo"
	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/logx"
	"github.com/portico-gw/portico/internal/proc"
	"github.com/portico-gw/portico/ipc"
	"github.com/portico-gw/portico/tmpl"
)

// generation is one rendered configuration and the children running it.
type generation struct {
	num      int
	cfg      *conf.Config
	rt       *tmpl.Runtime
	rendered []byte
	hash     string
	file     *os.File // the runtime file, opened after writing; children inherit it
}

// prepare renders cfg into the runtime file and checks what can be checked
// before anything is bound or forked, returning a generation that is not
// running yet.
func (m *Master) prepare(cfg *conf.Config, num int) (*generation, error) {
	rendered, err := tmpl.Render(cfg, tmpl.Inputs{Version: buildinfo.Version, MasterPid: os.Getpid(), Generation: num, TempDir: os.TempDir()})
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
	cred, err := credentials(rt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	if err := childDir(filepath.Dir(rt.CacheFile), cred); err != nil {
		return nil, err
	}
	if r := rt.Runner; len(r.Cmd) > 0 && r.Dir == filepath.Join(cfg.Prefix, "logs", tmpl.RunnerDirName) {
		// The agent, running as the children's user, may not be allowed to
		// create it under logs/; one outside the prefix (sun_path fallback)
		// it creates itself, for a root master must not chown in /tmp.
		if err := childDir(r.Dir, cred); err != nil {
			return nil, err
		}
	}
	if err := raiseHardNofile(rt.Processes.RlimitNofile); err != nil {
		m.log.Warn().Err(err).Msg("open files limit")
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
	m.mu.Lock()
	spec.RuntimeFd = files.Add(gen.file) // restoreRuntime swaps it under m.mu
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
	// m.mu stays held until the fork: reopenLogs and restoreRuntime close
	// the files gathered above under it, and a closed (or reused) descriptor
	// must never reach a child.
	defer m.mu.Unlock()

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
	m.children[c] = true
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
		if errors.Is(err, ipc.ErrProtocol) {
			// The packet was dropped whole; the channel still works.
			m.log.Warn().Err(err).Str("child", c.String()).Msg("ignoring malformed message from child")
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				m.log.Warn().Err(err).Str("child", c.String()).Msg("child channel broken")
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

// Reload re-reads the configuration and replaces the running generation.
// A failure is logged once here, whoever asked (HUP or `portico reload`).
func (m *Master) Reload() (err error) {
	defer func() {
		if err != nil {
			m.log.Error().Err(err).Msg("reload failed, keeping the running generation")
		}
	}()
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
	if e, o := cfg.Deployment.Etcd, old.cfg.Deployment.Etcd; e.Embedded != o.Embedded || e.Embedded && e.Host[0] != o.Host[0] {
		// The embedded etcd lives in this process; moving it means a restart.
		return errors.New("deployment.etcd: switching between embedded and external etcd, or moving the embedded one, needs `portico restart`")
	}
	gen, err := m.prepare(cfg, old.num+1)
	if err == nil {
		err = m.launch(gen)
		if err != nil {
			gen.file.Close()
		}
	}
	if err != nil {
		m.restoreRuntime(old)
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

// restoreRuntime writes gen's runtime file back after a failed reload or
// upgrade rendered another one. Running children keep their own descriptor
// of the file they started with; this is so that what is on disk (and what
// `portico test -v` compares against) is what runs.
func (m *Master) restoreRuntime(gen *generation) {
	f, err := WriteRuntime(gen.cfg.Prefix, gen.rendered)
	if err != nil {
		m.log.Warn().Err(err).Msg("cannot restore the running generation's runtime file")
		return
	}
	m.mu.Lock()
	gen.file.Close()
	gen.file = f
	m.mu.Unlock()
}

// childDir creates a 0700 directory owned by the children's user: the one
// where children keep their last good snapshot (they write there after
// dropping privileges, and nowhere else under data/; the embedded etcd's
// files stay the master's), and the runner's socket directory.
func childDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	return nil
}

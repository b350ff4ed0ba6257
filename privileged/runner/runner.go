package runner

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/portico-gw/portico/internal/proc"
)

// MaxChunk bounds one logged piece of runner output (APISIX's 3800 bytes).
const MaxChunk = 3800

// Environment variables the runner is given (EXT_PLUGIN.md §3).
const (
	EnvListenAddress = "APISIX_LISTEN_ADDRESS"
	EnvExpireTime    = "APISIX_CONF_EXPIRE_TIME"
)

// Config is what a Supervisor runs.
type Config struct {
	Cmd    []string // argv; Cmd[0] relative to WorkDir unless absolute or a bare name on PATH
	Socket string   // the path the runner listens on
	// Dir is the socket's private directory, created 0700 when missing;
	// "" when the caller does not want it managed (path_for_test).
	Dir        string
	ExpireTime time.Duration // given as whole seconds, at least 1
	WorkDir    string        // the runner's working directory (the prefix)
	// Env is the runner's environment before the two APISIX_ variables
	// are added (see Environ).
	Env []string
	Log zerolog.Logger
	// BeforeSpawn runs before each spawn attempt; nil does nothing.
	BeforeSpawn func()
	Timing      Timing
}

// Timing tunes respawns and stops; zero fields take DefaultTiming's values.
type Timing struct {
	FirstDelay time.Duration // respawn delay after a runner that ran for Stable
	MaxDelay   time.Duration // the longest respawn delay in a crash loop
	Stable     time.Duration // uptime after which the delay starts over
	KillGrace  time.Duration // between SIGTERM and SIGKILL on Stop
}

// DefaultTiming respawns within 250 ms a runner that crashed after running a
// while, and at most every 3 s (APISIX's fixed delay) one that keeps exiting.
var DefaultTiming = Timing{FirstDelay: 250 * time.Millisecond, MaxDelay: 3 * time.Second, Stable: 10 * time.Second, KillGrace: time.Second}

func (t Timing) withDefaults() Timing {
	d := DefaultTiming
	if t.FirstDelay > 0 {
		d.FirstDelay = t.FirstDelay
	}
	if t.MaxDelay > 0 {
		d.MaxDelay = t.MaxDelay
	}
	if t.Stable > 0 {
		d.Stable = t.Stable
	}
	if t.KillGrace > 0 {
		d.KillGrace = t.KillGrace
	}
	return d
}

// nextDelay is the wait before the next spawn, given the previous wait and
// how long the runner that just exited had been up.
func (t Timing) nextDelay(prev, uptime time.Duration) time.Duration {
	if prev == 0 || uptime >= t.Stable {
		return t.FirstDelay
	}
	return min(2*prev, t.MaxDelay)
}

// Status is a snapshot of the supervisor's state.
type Status struct {
	Pid      int // 0 while no runner runs
	Restarts int // spawn attempts after the first
}

// Supervisor keeps one runner alive until Stop.
type Supervisor struct {
	cfg Config
	env []string

	stop      chan struct{}
	stopOnce  sync.Once
	done      chan struct{}
	first     chan struct{}
	firstOnce sync.Once

	createdDir bool // only touched by the supervising goroutine

	mu       sync.Mutex
	pid      int
	restarts int
}

// Start validates cfg and starts supervising; the first spawn happens at once.
func Start(cfg Config) (*Supervisor, error) {
	if len(cfg.Cmd) == 0 || cfg.Cmd[0] == "" {
		return nil, errors.New("runner: no command")
	}
	if cfg.Socket == "" {
		return nil, errors.New("runner: no socket path")
	}
	cfg.Timing = cfg.Timing.withDefaults()
	secs := max(1, int64(cfg.ExpireTime/time.Second))
	env := make([]string, 0, len(cfg.Env)+2)
	for _, kv := range cfg.Env {
		if k, _, _ := strings.Cut(kv, "="); k != EnvListenAddress && k != EnvExpireTime {
			env = append(env, kv)
		}
	}
	env = append(env, EnvListenAddress+"=unix:"+cfg.Socket, EnvExpireTime+"="+strconv.FormatInt(secs, 10))
	s := &Supervisor{cfg: cfg, env: env, stop: make(chan struct{}), done: make(chan struct{}), first: make(chan struct{})}
	go s.run()
	return s, nil
}

// Started is closed once the first runner listens, or once its start failed
// or it exited before listening.
func (s *Supervisor) Started() <-chan struct{} { return s.first }

// Status reports the running runner's pid and the number of restarts.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Pid: s.pid, Restarts: s.restarts}
}

// Stop stops the runner (SIGTERM, then SIGKILL after KillGrace), removes its
// socket and returns once it is reaped. It may be called more than once.
func (s *Supervisor) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

func (s *Supervisor) markStarted() { s.firstOnce.Do(func() { close(s.first) }) }

func (s *Supervisor) run() {
	defer close(s.done)
	defer s.cleanup()
	// Pdeathsig is sent when the thread that forked the runner exits. Go
	// ends a thread only when a goroutine exits while locked to it; pinning
	// this goroutine, which forks every runner, keeps its thread alive for
	// as long as any runner lives.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var delay time.Duration
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		started := time.Now()
		state, stopped := s.once()
		if stopped {
			return
		}
		delay = s.cfg.Timing.nextDelay(delay, time.Since(started))
		if state != nil {
			s.cfg.Log.Warn().Int("runner_pid", state.Pid()).Str("status", state.String()).
				Dur("uptime", time.Since(started)).Dur("respawn_in", delay).Msg("runner exited")
		}
		t := time.NewTimer(delay)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
	}
}

// once spawns one runner and supervises it until it exits or Stop. It
// returns the runner's exit state (nil when it could not be started) and
// whether Stop ended it.
func (s *Supervisor) once() (*os.ProcessState, bool) {
	cmd, out, err := s.spawn()
	if err != nil {
		s.cfg.Log.Error().Err(err).Msg("cannot start runner")
		s.markStarted()
		return nil, false
	}
	pid := cmd.Process.Pid
	s.mu.Lock()
	s.pid = pid
	s.mu.Unlock()
	log := s.cfg.Log.With().Int("runner_pid", pid).Logger()
	log.Info().Strs("cmd", s.cfg.Cmd).Str("socket", s.cfg.Socket).Msg("runner started")

	drained := make(chan struct{})
	go func() {
		defer close(drained)
		drain(out, log)
	}()
	// exited fires when the runner is a zombie: until it is reaped its pid,
	// and so its process group id, cannot be reused, which makes every
	// group signal below safe.
	exited := make(chan struct{})
	go func() {
		waitExit(pid)
		close(exited)
	}()

	stopped := false
	listening := false
	interval := 5 * time.Millisecond
	poll := time.NewTimer(interval)
	defer poll.Stop()
wait:
	for {
		select {
		case <-exited:
			break wait
		case <-s.stop:
			stopped = true
			s.terminate(pid, exited, log)
			break wait
		case <-poll.C:
			if s.checkSocket(log, &listening) {
				interval = time.Second // now only keeping the mode 0600
			} else {
				interval = min(2*interval, 100*time.Millisecond)
			}
			poll.Reset(interval)
		}
	}
	// Whatever the runner forked and left behind goes with it.
	signalGroup(pid, syscall.SIGKILL)
	cmd.Wait() // the state is in cmd.ProcessState; a non-zero exit is no error here
	s.mu.Lock()
	s.pid = 0
	s.mu.Unlock()
	select {
	case <-drained:
	case <-time.After(time.Second):
		// A process outside the group still holds the pipe's write end:
		// stop reading (closing the read end ends drain).
	}
	out.Close()
	<-drained
	if stopped {
		log.Info().Str("status", cmd.ProcessState.String()).Msg("runner stopped")
	}
	s.markStarted()
	return cmd.ProcessState, stopped
}

// spawn prepares the socket path and starts the runner.
func (s *Supervisor) spawn() (*exec.Cmd, *os.File, error) {
	if s.cfg.Dir != "" {
		created, err := SecureDir(s.cfg.Dir)
		if err != nil {
			return nil, nil, err
		}
		if created {
			s.createdDir = true
			s.cfg.Log.Info().Str("dir", s.cfg.Dir).Msg("created runner socket directory")
		}
	}
	if err := removeSocket(s.cfg.Socket); err != nil {
		return nil, nil, err
	}
	if err := closeOnExecAll(); err != nil {
		return nil, nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("runner output pipe: %w", err)
	}
	// A relative Cmd[0] with a slash is resolved after the chdir to WorkDir,
	// as APISIX's relative cmd is its working directory's.
	cmd := exec.Command(s.cfg.Cmd[0], s.cfg.Cmd[1:]...)
	cmd.Dir = s.cfg.WorkDir
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if s.cfg.BeforeSpawn != nil {
		s.cfg.BeforeSpawn()
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("start runner %q: %w", s.cfg.Cmd[0], err)
	}
	return cmd, r, nil
}

// terminate sends SIGTERM to the runner's group and SIGKILL after KillGrace;
// it returns once the runner exited.
func (s *Supervisor) terminate(pid int, exited <-chan struct{}, log zerolog.Logger) {
	signalGroup(pid, syscall.SIGTERM)
	t := time.NewTimer(s.cfg.Timing.KillGrace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		log.Warn().Dur("grace", s.cfg.Timing.KillGrace).Msg("runner still running after SIGTERM, sending SIGKILL")
		signalGroup(pid, syscall.SIGKILL)
		<-exited
	}
}

// checkSocket reports whether the socket exists, making it 0600 and logging
// the first time it is seen.
func (s *Supervisor) checkSocket(log zerolog.Logger, listening *bool) bool {
	fi, err := os.Lstat(s.cfg.Socket)
	if err != nil || fi.Mode().Type() != fs.ModeSocket {
		return false
	}
	if fi.Mode().Perm() != 0o600 {
		if err := os.Chmod(s.cfg.Socket, 0o600); err != nil {
			log.Error().Err(err).Str("socket", s.cfg.Socket).Msg("cannot make the runner socket 0600")
		}
	}
	if !*listening {
		*listening = true
		log.Info().Str("socket", s.cfg.Socket).Msg("runner listening")
		s.markStarted()
	}
	return true
}

// cleanup runs once the supervisor stopped: the socket goes, and so does the
// directory if this supervisor created it and nothing else is in it (the
// next generation's runner may be).
func (s *Supervisor) cleanup() {
	if err := removeSocket(s.cfg.Socket); err != nil {
		s.cfg.Log.Warn().Err(err).Msg("runner socket left behind")
	}
	if s.createdDir {
		os.Remove(s.cfg.Dir) // fails, as it should, when not empty
	}
}

// drain logs the runner's output at warn, one line (or MaxChunk bytes) at a
// time, until every writer closed the pipe or it is closed under it.
func drain(r io.Reader, log zerolog.Logger) {
	br := bufio.NewReaderSize(r, MaxChunk)
	for {
		line, err := br.ReadSlice('\n')
		if text := bytes.TrimRight(line, "\r\n"); len(text) > 0 {
			log.Warn().Msg(string(text))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// SecureDir makes dir a 0700 directory of the calling user: created when
// missing (its parent must exist), its mode repaired when looser, and an
// error when it is a symlink, not a directory, or someone else's. It reports
// whether it created dir.
func SecureDir(dir string) (bool, error) {
	created := false
	if err := os.Mkdir(dir, 0o700); err == nil {
		created = true
	} else if !errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("runner socket directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return false, fmt.Errorf("runner socket directory: %w", err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("runner socket directory %s is a %s, not a directory: remove it", dir, fi.Mode().Type())
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false, fmt.Errorf("runner socket directory %s: no owner information", dir)
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return false, fmt.Errorf("runner socket directory %s belongs to uid %d, not to the gateway's user (uid %d): remove it", dir, st.Uid, uid)
	}
	if fi.Mode().Perm() != 0o700 {
		// Mkdir's mode passed through the umask, and an old directory may be
		// looser: only the gateway's user may reach the socket.
		if err := os.Chmod(dir, 0o700); err != nil {
			return created, fmt.Errorf("runner socket directory: %w", err)
		}
	}
	return created, nil
}

// RemoveOrphans removes the sockets in dir that runners of masters no longer
// alive left behind: a master that died took its agents along (Pdeathsig),
// and they their runners, with no chance to remove anything. Sockets are
// named <master pid>-<generation>.sock (tmpl); one whose master pid names a
// live process stays.
func RemoveOrphans(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("runner socket directory: %w", err)
	}
	var removed []string
	for _, e := range entries {
		head, ok := strings.CutSuffix(e.Name(), ".sock")
		pidText, gen, found := strings.Cut(head, "-")
		if !ok || !found || e.Type() != fs.ModeSocket {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if _, gerr := strconv.Atoi(gen); err != nil || gerr != nil || pid <= 0 {
			continue
		}
		if syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}

// removeSocket removes a socket file at path; a missing file is fine,
// anything else at the path is an error.
func removeSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("runner socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("runner socket path %s holds a %s, not a socket: remove it", path, fi.Mode().Type())
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale runner socket: %w", err)
	}
	return nil
}

// closeOnExecAll marks every descriptor above stderr close-on-exec.
// Descriptors Go opens already are; those a child inherited from the master
// are not, and the runner must not get them.
func closeOnExecAll() error {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list open descriptors: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("list open descriptors: %w", err)
	}
	for _, name := range names {
		if fd, err := strconv.Atoi(name); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}

// waitExit blocks until pid has exited, without reaping it.
func waitExit(pid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// signalGroup signals the runner's process group (its pgid is its pid).
func signalGroup(pid int, sig syscall.Signal) {
	syscall.Kill(-pid, sig) // ESRCH: the group is already gone
}

// Environ is the environment a runner inherits from the agent's: what the
// master passed its children (nginx_config.envs and the ${{VAR}}s, PATH, TZ)
// without Portico's own: the child spec, and GOMAXPROCS=1, which the master
// sets for its children unless declared is where the user asked for it.
// declared lists names or NAME=VALUE entries (tmpl.Runtime.Env).
func Environ(agent, declared []string) []string {
	keepMaxProcs := false
	for _, d := range declared {
		if k, _, _ := strings.Cut(d, "="); k == "GOMAXPROCS" {
			keepMaxProcs = true
		}
	}
	out := make([]string, 0, len(agent))
	for _, kv := range agent {
		k, _, _ := strings.Cut(kv, "=")
		if k == proc.EnvSpec || k == "GOMAXPROCS" && !keepMaxProcs {
			continue
		}
		out = append(out, kv)
	}
	return out
}

package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/conf"
	"github.com/portico-gw/portico/internal/buildinfo"
	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/etcdboot"
	"github.com/portico-gw/portico/master"
	"github.com/portico-gw/portico/tmpl"
)

// How long verbs wait for a master.
const (
	startTimeout   = 90 * time.Second
	stopTimeout    = 10 * time.Second
	controlTimeout = 150 * time.Second // covers tableflip's one-minute upgrade timeout twice over
)

// ExitCode makes a verb end the process with a specific code.
type ExitCode int

func (e ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func runVersion(g *Globals, _ []string) error {
	fmt.Fprintln(g.Stdout, buildinfo.Version)
	return nil
}

func load(g *Globals) (*conf.Config, error) {
	return conf.Load(g.Prefix, g.ConfigFile)
}

// withAdminKeys gives every role admin entry of deployment.admin.admin_key without a
// key a random one, written into the config file (conf.GenerateAdminKeys), and returns
// the config read back. APISIX does the same at start. The one line printed says where
// the key is, never the key: terminal output ends up in CI logs and journals, while the
// config file is 0600.
func withAdminKeys(g *Globals, cfg *conf.Config) (*conf.Config, error) {
	cfg, gen, err := conf.GenerateAdminKeys(cfg)
	if err != nil {
		return nil, err
	}
	if gen != nil {
		fmt.Fprintf(g.Stdout, "generated a random Admin API key for %s; it is stored in %s\n", strings.Join(gen.Paths, ", "), gen.File)
	}
	return cfg, nil
}

func runInit(g *Globals, args []string) error {
	if err := verbFlags("init", args, g, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	cfg, err := load(g)
	if err != nil {
		return err
	}
	if cfg, err = withAdminKeys(g, cfg); err != nil {
		return err
	}
	rendered, err := tmpl.Render(cfg, tmpl.Inputs{Version: buildinfo.Version})
	if err != nil {
		return err
	}
	for _, dir := range []string{"logs", "data"} {
		if err := os.MkdirAll(cfg.Prefix+"/"+dir, 0o755); err != nil {
			return err
		}
	}
	f, err := master.WriteRuntime(cfg.Prefix, rendered)
	if err != nil {
		return err
	}
	f.Close()
	if err := handToUser(g, cfg); err != nil {
		return err
	}
	fmt.Fprintf(g.Stdout, "rendered %s\n", f.Name())
	return nil
}

func runInitEtcd(g *Globals, args []string) error {
	if err := verbFlags("init_etcd", args, g, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	cfg, err := load(g)
	if err != nil {
		return err
	}
	e := cfg.Deployment.Etcd
	if e.Embedded {
		if pid, _ := livePid(g.Prefix); pid == 0 {
			// Nothing serves the embedded etcd: run it just for this.
			srv, err := etcdboot.Start(cfg.Prefix+"/data/etcd", e.Host[0], zerolog.Nop(), 30*time.Second)
			if err != nil {
				return err
			}
			defer srv.Close()
		}
	}
	cli, err := etcdboot.Client(e.Host, 5*time.Second)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	if err := etcdboot.InitDirs(ctx, cli, e.Prefix); err != nil {
		return err
	}
	fmt.Fprintf(g.Stdout, "etcd %v: %s directories ready\n", e.Host, e.Prefix)
	return nil
}

// livePid returns the pid in the pid file when that process is alive, and
// the stale pid (with alive=false semantics: 0 returned) otherwise.
func livePid(prefix string) (pid int, stale int) {
	data, err := os.ReadFile(master.PidFile(prefix))
	if err != nil {
		return 0, 0
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || p <= 0 {
		return 0, 0
	}
	if processAlive(p) {
		return p, 0
	}
	return 0, p
}

// processAlive reports whether pid runs. A zombie does not: a daemonized
// master is reaped by init, which may take its time (or never come, in a
// container whose pid 1 does not reap).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}

func runStart(g *Globals, args []string) error {
	var foreground bool
	if err := verbFlags("start", args, g, func(fs *flag.FlagSet) {
		fs.BoolVar(&foreground, "foreground", false, "run the master in this process")
	}); err != nil {
		return err
	}
	cfg, err := load(g)
	if err != nil {
		return err
	}
	pid, stale := livePid(g.Prefix)
	if pid != 0 {
		return fmt.Errorf("portico is already running (pid %d, %s); the new one will not start", pid, master.PidFile(g.Prefix))
	}
	if stale != 0 {
		fmt.Fprintf(g.Stdout, "%s exists but there's no corresponding process with pid %d, the file will be overwritten\n", master.PidFile(g.Prefix), stale)
	}
	if cfg, err = withAdminKeys(g, cfg); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Prefix+"/logs", 0o755); err != nil {
		return err
	}
	if err := handToUser(g, cfg); err != nil {
		return err
	}
	if foreground {
		// Become `portico master` in this very process (same pid, for
		// systemd and containers): an upgrade re-executes the master's own
		// argv, which must not be `start` with its already-running check.
		err := syscall.Exec(g.Self, masterArgs(g), os.Environ())
		return fmt.Errorf("exec master: %w", err)
	}
	return daemonize(g, cfg)
}

// masterArgs is the command line of the master process.
func masterArgs(g *Globals) []string {
	args := []string{g.Self, "master", "-p", g.Prefix}
	if g.ConfigFile != "" {
		args = append(args, "-c", g.ConfigFile)
	}
	return args
}

// daemonize forks `portico master` in its own session and waits until it
// reports ready or why it is not.
func daemonize(g *Globals, cfg *conf.Config) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	logf, err := os.OpenFile(cfg.NginxConfig.ErrorLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.Close()
		return fmt.Errorf("nginx_config.error_log: %w", err)
	}
	defer logf.Close()
	cmd := &exec.Cmd{
		Path:        g.Self,
		Args:        masterArgs(g),
		Env:         append(os.Environ(), master.EnvReadyFd+"=3"),
		ExtraFiles:  []*os.File{w},
		Stdout:      logf, // a panic before the logger exists still lands in the error log
		Stderr:      logf,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("fork master: %w", err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	select {
	case line := <-lines:
		switch {
		case strings.HasPrefix(line, "ok "):
			fmt.Fprintf(g.Stdout, "portico started (master pid %s, prefix %s)\n", strings.TrimPrefix(line, "ok "), g.Prefix)
			return nil
		case strings.HasPrefix(line, "error "):
			<-exited
			return errors.New(strings.TrimPrefix(line, "error "))
		default:
			err := <-exited
			return fmt.Errorf("master exited before it was ready (%v); see %s", err, cfg.NginxConfig.ErrorLog)
		}
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		return fmt.Errorf("master not ready after %s; see %s", startTimeout, cfg.NginxConfig.ErrorLog)
	}
}

// signalMaster sends sig to the live master.
func signalMaster(g *Globals, sig syscall.Signal) (int, error) {
	pid, _ := livePid(g.Prefix)
	if pid == 0 {
		return 0, fmt.Errorf("%w (no live pid in %s)", errNotRunning, master.PidFile(g.Prefix))
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return 0, fmt.Errorf("signal master %d: %w", pid, err)
	}
	return pid, nil
}

func waitGone(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !processAlive(pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("master %d still running after %s", pid, timeout)
}

func runStop(g *Globals, args []string) error {
	if err := verbFlags("stop", args, g, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	pid, err := signalMaster(g, syscall.SIGTERM)
	if err != nil {
		return err
	}
	if err := waitGone(pid, stopTimeout); err != nil {
		return err
	}
	return afterExit(g)
}

// afterExit hands what the stopped master wrote to nginx_config.user.
func afterExit(g *Globals) error {
	cfg, err := load(g)
	if err != nil {
		return nil // nothing to hand over without a config; the master is gone either way
	}
	return handToUser(g, cfg)
}

func runQuit(g *Globals, args []string) error {
	if err := verbFlags("quit", args, g, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	return quit(g)
}

func quit(g *Globals) error {
	timeout := 240 * time.Second
	if cfg, err := load(g); err == nil {
		timeout = cfg.NginxConfig.WorkerShutdownTimeout
	}
	pid, err := signalMaster(g, syscall.SIGQUIT)
	if err != nil {
		return err
	}
	if err := waitGone(pid, timeout+stopTimeout); err != nil {
		return err
	}
	return afterExit(g)
}

func runReopen(g *Globals, args []string) error {
	if err := verbFlags("reopen", args, g, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	_, err := signalMaster(g, syscall.SIGUSR1)
	return err
}

func call(g *Globals, cmd string) (*control.Response, error) {
	resp, err := control.Call(g.Prefix, cmd, controlTimeout)
	if err != nil {
		if pid, _ := livePid(g.Prefix); pid == 0 {
			return nil, errNotRunning
		}
		return nil, err
	}
	if !resp.OK {
		return nil, errors.New(resp.Error)
	}
	return resp, nil
}

func runReload(g *Globals, args []string) error {
	if err := verbFlags("reload", args, g, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	// A key emptied since start is filled again, as APISIX does on every (re)load. A
	// config that does not load is left to the master, which reports and logs it.
	if pid, _ := livePid(g.Prefix); pid != 0 {
		if cfg, err := load(g); err == nil {
			if _, err := withAdminKeys(g, cfg); err != nil {
				return fmt.Errorf("reload failed, the running configuration is kept: %w", err)
			}
		}
	}
	if _, err := call(g, control.CmdReload); err != nil {
		return fmt.Errorf("reload failed, the running configuration is kept: %w", err)
	}
	fmt.Fprintln(g.Stdout, "reloaded")
	return nil
}

func runUpgrade(g *Globals, args []string) error {
	if err := verbFlags("upgrade", args, g, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	old, _ := livePid(g.Prefix)
	if _, err := call(g, control.CmdUpgrade); err != nil {
		return fmt.Errorf("upgrade failed, the running master %d keeps serving: %w", old, err)
	}
	pid, _ := livePid(g.Prefix)
	fmt.Fprintf(g.Stdout, "upgraded: new master pid %d (old master %d draining)\n", pid, old)
	return nil
}

func runRestart(g *Globals, args []string) error {
	if err := verbFlags("restart", args, g, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	if _, err := testConfig(g); err != nil {
		return err
	}
	if pid, _ := livePid(g.Prefix); pid != 0 {
		if err := quit(g); err != nil {
			return err
		}
	}
	return runStart(g, nil)
}

func testConfig(g *Globals) ([]byte, error) {
	cfg, err := load(g)
	if err != nil {
		return nil, fmt.Errorf("configuration test failed: %w", err)
	}
	rendered, err := tmpl.Render(cfg, tmpl.Inputs{Version: buildinfo.Version})
	if err != nil {
		return nil, fmt.Errorf("configuration test failed: %w", err)
	}
	return rendered, nil
}

func runTest(g *Globals, args []string) error {
	var verbose bool
	if err := verbFlags("test", args, g, func(fs *flag.FlagSet) {
		fs.BoolVar(&verbose, "v", false, "print the runtime file")
	}); err != nil {
		return err
	}
	rendered, err := testConfig(g)
	if err != nil {
		return err
	}
	if verbose {
		g.Stdout.Write(rendered)
	}
	fmt.Fprintln(g.Stdout, "configuration test is successful")
	return nil
}

func runStatus(g *Globals, args []string) error {
	var asJSON bool
	if err := verbFlags("status", args, g, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}); err != nil {
		return err
	}
	resp, err := call(g, control.CmdStatus)
	if err != nil {
		return err
	}
	st := resp.Status
	if asJSON {
		enc := json.NewEncoder(g.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintf(g.Stdout, "master pid %d, version %s, generation %d, up %s\n", st.Master.Pid, st.Master.Version,
		st.Master.Generation, time.Since(st.Master.Started).Round(time.Second))
	fmt.Fprintf(g.Stdout, "etcd %v embedded=%v; requests answered %d\n", st.Etcd.Endpoints, st.Etcd.Embedded, st.RequestsTotal)
	for _, l := range st.Listeners {
		var queued uint32
		for _, s := range l.Sockets {
			queued += s.Queued
		}
		fmt.Fprintf(g.Stdout, "listen %s (%s): %d sockets, %d queued, %d established\n", l.Addr, l.Role, len(l.Sockets), queued, l.Established)
	}
	tw := tabwriter.NewWriter(g.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tROLE\tSLOT\tGEN\tSTATE\tRESPAWNS\tETCD")
	for _, c := range st.Children {
		etcd := "?"
		if c.EtcdReachable != nil {
			etcd = map[bool]string{true: "reachable", false: "unreachable"}[*c.EtcdReachable]
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%d\t%s\n", c.Pid, c.Role, c.Slot, c.Generation, c.State, c.Respawns, etcd)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range st.Children {
		if r := c.Runner; r != nil {
			fmt.Fprintf(g.Stdout, "plugin runner pid %d (agent %d, generation %d): %d restarts, socket %s\n", r.Pid, c.Pid, c.Generation, r.Restarts, r.Socket)
		}
	}
	return nil
}

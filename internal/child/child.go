// Package child is the process skeleton shared by workers and the privileged
// agent: it turns what the master handed over (spec, runtime file, log files,
// sockets, zones, the ipc channel) into an Env, runs a role's Service and
// answers the master's messages.
//
// Invariants:
//   - A child reports Ready only after its Service started serving.
//   - Quit drains within the runtime file's shutdown_timeout, then exits 0;
//     Terminate, SIGTERM/SIGINT, or EOF on the channel (the master died) exit
//     at once. The kernel's Pdeathsig is the backstop for the last case.
//   - A child never binds a socket and never opens a log file by path: both
//     come from the master, so a child that dropped privileges still works.
package child

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/logx"
	"github.com/portico-gw/portico/internal/proc"
	"github.com/portico-gw/portico/ipc"
	"github.com/portico-gw/portico/tmpl"
)

// Service is what a role runs.
type Service interface {
	// Start begins serving and returns once it is serving.
	Start() error
	// Shutdown stops accepting and waits for in-flight work until ctx ends.
	Shutdown(ctx context.Context) error
	// Close stops at once.
	Close() error
	// Report is this child's part of `portico status`.
	Report() control.ChildReport
}

// Listener is an inherited socket with its role from the runtime file.
type Listener struct {
	Role string
	Addr string
	net.Listener
}

// Env is everything a role gets from the master.
type Env struct {
	Spec        proc.Spec
	Runtime     *tmpl.Runtime
	RuntimeHash string
	Log         zerolog.Logger
	AccessLog   io.Writer // nil when access_log is off
	Listeners   []Listener
	Zones       map[string]*ipc.Zone
}

// Main runs a child of the given role and returns its exit code.
func Main(role string, build func(*Env) (Service, error)) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	// Reload, upgrade and reopen are the master's business: a signal sent to
	// the whole process group must not kill children.
	signal.Ignore(syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE)

	spec, err := proc.FromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "portico %s: %v\n", role, err)
		return proc.ExitFatalConfig
	}
	env, conn, errLog, accessLog, err := open(spec)
	if err != nil {
		fmt.Fprintf(os.Stderr, "portico %s: %v\n", role, err)
		return proc.ExitFatalConfig
	}
	log := env.Log
	if err := limitOpenFiles(env.Runtime.Processes.RlimitNofile); err != nil {
		log.Warn().Err(err).Msg("open files limit not applied")
	}
	svc, err := build(env)
	if err != nil {
		log.Error().Err(err).Msg("cannot build service")
		return proc.ExitFatalConfig
	}
	if err := svc.Start(); err != nil {
		log.Error().Err(err).Msg("cannot start serving")
		return proc.ExitFailure
	}
	if err := send(conn, ipc.KindReady, nil); err != nil {
		log.Error().Err(err).Msg("cannot report ready: master gone")
		svc.Close()
		return proc.ExitFailure
	}
	log.Info().Msg("child serving")

	msgs := make(chan ipc.Message)
	readErr := make(chan error, 1)
	go func() {
		for {
			m, err := conn.Receive()
			if errors.Is(err, ipc.ErrProtocol) {
				// The packet was dropped whole; the channel still works.
				log.Warn().Err(err).Msg("ignoring malformed message from master")
				continue
			}
			if err != nil {
				readErr <- err
				return
			}
			msgs <- m
		}
	}()

	drain := func(reason string) int {
		timeout := env.Runtime.Processes.ShutdownTimeout
		log.Info().Str("reason", reason).Dur("timeout", timeout).Msg("child draining")
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			log.Warn().Err(err).Msg("drain deadline reached, closing remaining connections")
			svc.Close()
		}
		log.Info().Msg("child exiting")
		return proc.ExitOK
	}
	for {
		select {
		case m := <-msgs:
			switch m.Kind {
			case ipc.KindQuit:
				return drain("quit")
			case ipc.KindTerminate:
				svc.Close()
				return proc.ExitOK
			case ipc.KindReopen:
				reopen(m.Files, errLog, accessLog, log)
			case ipc.KindStatusRequest:
				rep := svc.Report()
				if err := send(conn, ipc.KindStatus, rep); err != nil {
					log.Warn().Err(err).Msg("cannot answer status")
				}
			default:
				log.Warn().Uint8("kind", uint8(m.Kind)).Msg("unexpected message from master")
			}
		case err := <-readErr:
			if !errors.Is(err, io.EOF) {
				log.Error().Err(err).Msg("channel to master broken")
			}
			svc.Close()
			return proc.ExitOK
		case s := <-sigs:
			if s == syscall.SIGQUIT {
				return drain("SIGQUIT")
			}
			svc.Close()
			return proc.ExitOK
		}
	}
}

func send(conn *ipc.Conn, kind ipc.Kind, v any) error {
	m, err := ipc.NewMessage(kind, v)
	if err != nil {
		return err
	}
	return conn.Send(m)
}

// reopen swaps in the log files the master freshly opened: Files[0] is the
// error log, Files[1] (when present) the access log.
func reopen(files []*os.File, errLog, accessLog *logx.Writer, log zerolog.Logger) {
	if len(files) > 0 {
		errLog.Swap(files[0]).Close()
	}
	if len(files) > 1 && accessLog != nil {
		accessLog.Swap(files[1]).Close()
	}
	for _, f := range files[min(len(files), 2):] {
		f.Close()
	}
	log.Info().Msg("log files reopened")
}

func open(spec proc.Spec) (*Env, *ipc.Conn, *logx.Writer, *logx.Writer, error) {
	rf, err := proc.File(spec.RuntimeFd, "runtime")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	rt, data, err := tmpl.Read(rf)
	rf.Close()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	hash := tmpl.Hash(data)
	if spec.RuntimeHash != "" && hash != spec.RuntimeHash {
		return nil, nil, nil, nil, fmt.Errorf("runtime file hash %s, master sent %s", hash, spec.RuntimeHash)
	}
	ef, err := proc.File(spec.ErrorLogFd, "error_log")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	errLog := logx.NewWriter(ef)
	log := logx.New(errLog, rt.Logs.ErrorLogLevel).With().
		Str(logx.FieldRole, spec.Role).Int(logx.FieldSlot, spec.Slot).Int(logx.FieldGeneration, spec.Generation).Logger()

	var accessLog *logx.Writer
	env := &Env{Spec: spec, Runtime: rt, RuntimeHash: hash, Log: log, Zones: map[string]*ipc.Zone{}}
	if spec.AccessLogFd >= 0 {
		af, err := proc.File(spec.AccessLogFd, "access_log")
		if err != nil {
			return nil, nil, nil, nil, err
		}
		accessLog = logx.NewWriter(af)
		env.AccessLog = accessLog
	}
	cf, err := proc.File(spec.IPCFd, "ipc")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	conn, err := ipc.FromFile(cf)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("open channel to master: %w", err)
	}
	for _, l := range spec.Listeners {
		if l.Index < 0 || l.Index >= len(rt.Listeners) {
			return nil, nil, nil, nil, fmt.Errorf("listener index %d outside the runtime file's %d listeners", l.Index, len(rt.Listeners))
		}
		f, err := proc.File(l.Fd, "listener")
		if err != nil {
			return nil, nil, nil, nil, err
		}
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("inherited listener %s: %w", rt.Listeners[l.Index].Addr, err)
		}
		env.Listeners = append(env.Listeners, Listener{Role: rt.Listeners[l.Index].Role, Addr: rt.Listeners[l.Index].Addr, Listener: ln})
	}
	for _, z := range spec.Zones {
		f, err := proc.File(z.Fd, "zone")
		if err != nil {
			return nil, nil, nil, nil, err
		}
		zone, err := ipc.OpenZone(z.Name, f)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("shared zone %s: %w", z.Name, err)
		}
		env.Zones[z.Name] = zone
	}
	return env, conn, errLog, accessLog, nil
}

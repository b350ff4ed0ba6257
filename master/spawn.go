package master

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/proc"
	"github.com/portico-gw/portico/ipc"
	"github.com/portico-gw/portico/tmpl"
)

// childProc is one forked child as the master sees it.
type childProc struct {
	role    string
	slot    int
	gen     int
	cmd     *exec.Cmd
	conn    *ipc.Conn
	started time.Time

	ready    chan struct{} // closed on its Ready message
	exited   chan struct{} // closed once reaped
	exitErr  error         // valid after exited
	statusC  chan control.ChildReport
	draining bool // told to quit; never respawned
}

func (c *childProc) pid() int { return c.cmd.Process.Pid }

func (c *childProc) exitCode() int {
	if c.cmd.ProcessState == nil {
		return -1
	}
	return c.cmd.ProcessState.ExitCode()
}

func (c *childProc) String() string {
	return fmt.Sprintf("%s %d (pid %d, generation %d)", c.role, c.slot, c.pid(), c.gen)
}

func (c *childProc) send(kind ipc.Kind, files ...*os.File) error {
	m, err := ipc.NewMessage(kind, nil)
	if err != nil {
		return err
	}
	m.Files = files
	return c.conn.Send(m)
}

// credentials resolves nginx_config.user for children. Only root can switch
// users; otherwise children run as the master does.
func credentials(rt *tmpl.Runtime) (*syscall.Credential, error) {
	if rt.Processes.User == "" || os.Geteuid() != 0 {
		return nil, nil
	}
	uid, gid, err := proc.LookupUser(rt.Processes.User, rt.Processes.Group)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// childEnv keeps what nginx keeps (TZ) plus the variables the runtime file
// lists, and drops the rest, including tableflip's marker: a child is never
// an upgrade target.
//
// Children run with GOMAXPROCS=1, as nginx workers are single-threaded: the
// node scales by worker processes (one per CPU by default), and a Go runtime
// per worker sized for every CPU oversubscribes the machine. Measured with
// bench/load on 2 CPUs and 2 workers: new-connection throughput 8.5k -> 11.7k
// req/s. Listing GOMAXPROCS in nginx_config.envs overrides it (the last
// duplicate wins in exec).
func childEnv(keep []string) []string {
	env := []string{"GOMAXPROCS=1"}
	if v, ok := os.LookupEnv("TZ"); ok {
		env = append(env, "TZ="+v)
	}
	if v, ok := os.LookupEnv("PATH"); ok {
		env = append(env, "PATH="+v)
	}
	for _, k := range keep {
		if strings.Contains(k, "=") {
			env = append(env, k)
			continue
		}
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

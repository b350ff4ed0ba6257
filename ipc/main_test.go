package ipc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// Cross-process tests re-exec the test binary with helperEnv naming a
// helper role; TestMain runs the helper instead of the tests and exits.
const helperEnv = "PORTICO_IPC_TEST_HELPER"

func TestMain(m *testing.M) {
	switch role := os.Getenv(helperEnv); role {
	case "":
		os.Exit(m.Run())
	case "child":
		os.Exit(helperChild())
	case "zone":
		os.Exit(helperZone())
	default:
		fmt.Fprintf(os.Stderr, "unknown helper role %q\n", role)
		os.Exit(100)
	}
}

// helperCmd returns a command running the test binary as helper role, with
// files inherited as fd 3, 4, ...
func helperCmd(t *testing.T, role string, files ...*os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+role)
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd
}

type readyInfo struct {
	Pid  int    `json:"pid"`
	Role string `json:"role"`
	Slot int    `json:"slot"`
}

type statusInfo struct {
	Pid      int `json:"pid"`
	Requests int `json:"requests"`
}

// helperChild plays a worker: Ready, answer StatusRequest, write to the
// files of a Reopen, exit 0 on Quit.
func helperChild() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 1 }
	c, err := FromFile(os.NewFile(3, "ipc"))
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	m, err := NewMessage(KindReady, readyInfo{Pid: os.Getpid(), Role: "worker", Slot: 7})
	if err != nil {
		return fail(err)
	}
	if err := c.Send(m); err != nil {
		return fail(err)
	}
	for {
		m, err := c.Receive()
		if err != nil {
			return fail(err)
		}
		switch m.Kind {
		case KindStatusRequest:
			r, err := NewMessage(KindStatus, statusInfo{Pid: os.Getpid(), Requests: 42})
			if err == nil {
				err = c.Send(r)
			}
			if err != nil {
				return fail(err)
			}
		case KindReopen:
			for _, f := range m.Files {
				if _, err := io.WriteString(f, "reopened"); err != nil {
					return fail(err)
				}
				f.Close()
			}
		case KindQuit:
			return 0
		default:
			return fail(fmt.Errorf("unexpected %v", m.Kind))
		}
	}
}

const (
	zoneIters = 100000
	casIters  = 20000
	zoneProcs = 3 // parent + 2 children

	slotCounter = 0
	slotCAS     = 1
	slotBarrier = 2
)

// zoneWork is run by the parent and each child on the same zone: wait until
// all participants are present, then hammer slot 0 with Add and slot 1 with
// a CompareAndSwap increment loop.
func zoneWork(z *Zone) error {
	z.Add(slotBarrier, 1)
	deadline := time.Now().Add(30 * time.Second)
	for z.Load(slotBarrier) < zoneProcs {
		if time.Now().After(deadline) {
			return errors.New("timed out waiting for the other processes")
		}
		runtime.Gosched()
	}
	for i := 0; i < zoneIters; i++ {
		z.Add(slotCounter, 1)
	}
	for i := 0; i < casIters; i++ {
		for {
			v := z.Load(slotCAS)
			if z.CompareAndSwap(slotCAS, v, v+1) {
				break
			}
		}
	}
	return nil
}

func helperZone() int {
	z, err := OpenZone("test-counters", os.NewFile(3, "zone"))
	if err == nil {
		err = zoneWork(z)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "zone child:", err)
		return 1
	}
	return 0
}

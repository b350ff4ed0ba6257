// Package proc is the contract between the master and the children it forks:
// how a child learns its role, slot, generation and which inherited
// descriptor is which, and what its exit code tells the master.
//
// Invariants:
//   - The master is the only writer of a Spec and children only read it; the
//     Spec travels in the EnvSpec variable, the descriptors as ExtraFiles, so
//     fd N in a child is ExtraFiles[N-3] in the master.
//   - ExitFatalConfig means "the configuration cannot work": the master never
//     respawns a child that exits with it (nginx's fatal code 2).
package proc

import (
	"encoding/json"
	"fmt"
	"os"
)

// EnvSpec carries the JSON Spec to a child.
const EnvSpec = "PORTICO_CHILD"

// Child roles.
const (
	RoleWorker     = "worker"
	RolePrivileged = "privileged"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitFatalConfig = 2
)

// Spec tells a child who it is and where its descriptors are.
type Spec struct {
	Role        string `json:"role"`
	Slot        int    `json:"slot"`
	Generation  int    `json:"generation"`
	RuntimeHash string `json:"runtime_hash"`

	IPCFd       int `json:"ipc_fd"`
	RuntimeFd   int `json:"runtime_fd"`
	ErrorLogFd  int `json:"error_log_fd"`
	AccessLogFd int `json:"access_log_fd"` // -1 when the access log is off

	Listeners []ListenerFd `json:"listeners,omitempty"`
	Zones     []ZoneFd     `json:"zones,omitempty"`
}

// ListenerFd is one inherited listening socket; Index points into the
// runtime file's listeners list.
type ListenerFd struct {
	Index int `json:"index"`
	Fd    int `json:"fd"`
}

// ZoneFd is one inherited shared-memory zone.
type ZoneFd struct {
	Name string `json:"name"`
	Fd   int    `json:"fd"`
}

// Files assembles ExtraFiles and records each file's child fd number.
type Files struct {
	list []*os.File
}

// Add appends f and returns the descriptor number it will have in the child.
func (fs *Files) Add(f *os.File) int {
	fs.list = append(fs.list, f)
	return 2 + len(fs.list)
}

// List returns the files in ExtraFiles order.
func (fs *Files) List() []*os.File { return fs.list }

// Encode renders s for EnvSpec.
func (s Spec) Encode() string {
	b, _ := json.Marshal(s) // a struct of ints and strings always marshals
	return string(b)
}

// FromEnv reads the Spec the master put into the environment and removes the
// variable, so nothing the child starts (the plugin runner) inherits it.
func FromEnv() (Spec, error) {
	raw, ok := os.LookupEnv(EnvSpec)
	if !ok {
		return Spec{}, fmt.Errorf("%s is not set: this entry point is started by the master", EnvSpec)
	}
	os.Unsetenv(EnvSpec)
	var s Spec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return Spec{}, fmt.Errorf("decode %s: %w", EnvSpec, err)
	}
	return s, nil
}

// File wraps an inherited descriptor.
func File(fd int, name string) (*os.File, error) {
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		return nil, fmt.Errorf("inherited fd %d (%s) is not valid", fd, name)
	}
	return f, nil
}

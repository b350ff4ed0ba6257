package master

import (
	"fmt"
	"os"
	"strconv"
)

// readyReporter tells the `portico start` that forked this master whether it
// came up. It is a no-op for a master started in the foreground or by an
// upgrade.
type readyReporter struct{ f *os.File }

func readyPipe() readyReporter {
	v, ok := os.LookupEnv(EnvReadyFd)
	os.Unsetenv(EnvReadyFd) // an upgraded master must not inherit it
	if !ok {
		return readyReporter{}
	}
	fd, err := strconv.Atoi(v)
	if err != nil {
		return readyReporter{}
	}
	return readyReporter{f: os.NewFile(uintptr(fd), "ready")}
}

func (r readyReporter) ok() {
	if r.f != nil {
		fmt.Fprintf(r.f, "ok %d\n", os.Getpid())
		r.f.Close()
	}
}

func (r readyReporter) fail(err error) {
	if r.f != nil {
		fmt.Fprintf(r.f, "error %s\n", err)
		r.f.Close()
	}
}

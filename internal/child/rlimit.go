package child

import (
	"fmt"
	"syscall"
)

// limitOpenFiles sets RLIMIT_NOFILE to nginx_config.worker_rlimit_nofile,
// soft and hard, as nginx workers do. It has to happen in the child: every
// Go program raises its own soft limit to the hard one at start-up, so only
// the hard limit, set here, makes the configured value hold, for the child
// and for anything it starts (the plugin runner).
func limitOpenFiles(want int) error {
	if want <= 0 {
		return nil
	}
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	n := min(uint64(want), cur.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		return fmt.Errorf("setrlimit nofile %d: %w", n, err)
	}
	return nil
}

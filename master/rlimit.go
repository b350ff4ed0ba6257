package master

import (
	"fmt"
	"syscall"
)

// raiseHardNofile lifts this process's RLIMIT_NOFILE hard limit to
// nginx_config.worker_rlimit_nofile when it is lower, so that children
// (which set soft = hard = the configured value themselves, as nginx
// workers do, see child.limitOpenFiles) can have it after dropping
// privileges. Only a process with CAP_SYS_RESOURCE may raise a hard limit;
// otherwise children get the current hard limit and this says so.
func raiseHardNofile(want int) error {
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if want <= 0 || uint64(want) <= cur.Max {
		return nil
	}
	next := syscall.Rlimit{Cur: cur.Cur, Max: uint64(want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		return fmt.Errorf("nginx_config.worker_rlimit_nofile %d exceeds the hard limit %d, which this process may not raise (%v): children get %d", want, cur.Max, err, cur.Max)
	}
	return nil
}

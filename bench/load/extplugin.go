package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// buildRunner builds the test plugin runner (the official Go runner SDK
// with Portico's test plugins) into dir.
func buildRunner(dir string) string {
	out := runnerPath(dir)
	if b, err := exec.Command("go", "build", "-o", out, "./test/extrunner").CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("build the plugin runner: %v\n%s", err, b))
	}
	return out
}

func runnerPath(dir string) string { return filepath.Join(dir, "extrunner") }

// extPluginRows measures a plain route and a route whose ext-plugin-pre-req
// runs one no-op plugin in the runner the gateway supervises: throughput
// with the usual wrk load, then latency with one connection, where the
// difference of the medians is the per-request cost of the RPC. It does so
// twice: with the runner in the environment Portico gives it by default,
// then with GOMAXPROCS=1 declared in nginx_config.envs, which spares the Go
// runner's runtime a hand-off between its threads on every call.
func extPluginRows(gw *portico, upAddr, runner string) {
	cli := etcdOf(gw)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for id, body := range map[string]string{
		"plain": fmt.Sprintf(`{"uri":"/plain","upstream":{"nodes":{"%s":1}}}`, upAddr),
		"ext":   fmt.Sprintf(`{"uri":"/ext","plugins":{"ext-plugin-pre-req":{"conf":[{"name":"noop","value":"{}"}]}},"upstream":{"nodes":{"%s":1}}}`, upAddr),
	} {
		if _, err := cli.Put(ctx, "/apisix/routes/bench-"+id, body); err != nil {
			fatal(err.Error())
		}
	}
	waitStatus(gw.base+"/plain", 200, 10*time.Second)
	waitStatus(gw.base+"/ext", 200, 10*time.Second)

	report("route without ext-plugin", runWrk(gw.base+"/plain"))
	extOverhead(gw, "")

	const env = "GOMAXPROCS=1"
	gw.writeConfig([]string{env})
	gw.reload()
	waitRunnerEnv(runner, env, 30*time.Second)
	waitStatus(gw.base+"/ext", 200, 10*time.Second)
	extOverhead(gw, ", runner "+env)

	fmt.Printf("%-42s %s (the floor under the overhead: %d-byte echo, gateway's CPU to the runner's)\n",
		"unix socket round trip, bare", unixRoundTrip(), roundTripFrame)
}

// extOverhead prints the ext-plugin route's throughput and its overhead
// over the plain route at one connection. One connection measures latency,
// which on an idle machine swings with CPU wake-ups from run to run;
// alternating short runs of both routes and taking the median of the
// pairs' differences cancels that drift. A difference of p99s would not
// mean anything (two tails of 1 s runs), so each route's median p99 is
// printed instead.
func extOverhead(gw *portico, label string) {
	report("route with ext-plugin-pre-req (no-op)"+label, runWrk(gw.base+"/ext"))
	one := []string{"-t", "1", "-c", "1", "-d", overheadPairDuration.String()}
	var d50, plain99, ext99 []time.Duration
	for range overheadPairs {
		plain1 := runWrk(gw.base+"/plain", one...)
		ext1 := runWrk(gw.base+"/ext", one...)
		d50 = append(d50, wrkDuration(ext1.p50)-wrkDuration(plain1.p50))
		plain99 = append(plain99, wrkDuration(plain1.p99))
		ext99 = append(ext99, wrkDuration(ext1.p99))
	}
	fmt.Printf("%-42s p50 %s (pairs %s) per request; p99 %s with, %s without (1 connection, median of %d pairs of %s runs)\n",
		"ext-plugin overhead"+label, median(d50), spread(d50), median(ext99), median(plain99), overheadPairs, overheadPairDuration)
}

// waitRunnerEnv waits until every process running the runner binary has
// env in its environment, and there is at least one: the reload replaced
// the runner.
func waitRunnerEnv(runner, env string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		found, all := 0, true
		pids, _ := filepath.Glob("/proc/[0-9]*")
		for _, dir := range pids {
			if exe, err := os.Readlink(dir + "/exe"); err != nil || exe != runner {
				continue
			}
			environ, err := os.ReadFile(dir + "/environ")
			if err != nil {
				continue // exited meanwhile
			}
			found++
			all = all && slices.Contains(strings.Split(string(environ), "\x00"), env)
		}
		if found > 0 && all {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fatal(fmt.Sprintf("the plugin runner %s did not restart with %s within %s", runner, env, timeout))
}

const (
	overheadPairs        = 7
	overheadPairDuration = time.Second
)

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Microsecond)
}

func spread(ds []time.Duration) string {
	return fmt.Sprintf("%s..%s", slices.Min(ds).Round(time.Microsecond), slices.Max(ds).Round(time.Microsecond))
}

func wrkDuration(s string) time.Duration {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			f, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			if err != nil {
				return -1
			}
			return time.Duration(f * float64(u.unit))
		}
	}
	return -1
}

// runnerConfig is the ext-plugin section naming the runner, built into
// dir, in its quiet mode (the default dev mode logs every call).
func runnerConfig(dir string) string {
	argv, err := json.Marshal(pinnedArgv(runnerCPUs(), buildRunner(dir), "run", "-m", "prod"))
	if err != nil {
		fatal(err.Error())
	}
	return fmt.Sprintf("ext-plugin:\n  cmd: %s\n", argv)
}

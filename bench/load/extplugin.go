package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// buildRunner builds the test plugin runner (the official Go runner SDK
// with Portico's test plugins) into dir.
func buildRunner(dir string) string {
	out := filepath.Join(dir, "extrunner")
	if b, err := exec.Command("go", "build", "-o", out, "./test/extrunner").CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("build the plugin runner: %v\n%s", err, b))
	}
	return out
}

// extPluginRows measures a plain route and a route whose ext-plugin-pre-req
// runs one no-op plugin in the runner the gateway supervises: throughput
// with the usual wrk load, then latency with one connection, where the
// difference of the medians is the per-request cost of the RPC.
func extPluginRows(gw *portico, upAddr string) {
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

	plain := runWrk(gw.base + "/plain")
	report("route without ext-plugin", plain)
	ext := runWrk(gw.base + "/ext")
	report("route with ext-plugin-pre-req (no-op)", ext)
	one := []string{"-t", "1", "-c", "1"}
	plain1 := runWrk(gw.base+"/plain", one...)
	report("without ext-plugin, 1 connection", plain1)
	ext1 := runWrk(gw.base+"/ext", one...)
	report("with ext-plugin-pre-req, 1 connection", ext1)
	fmt.Printf("%-42s p50 %s, p99 %s per request (1 connection: with minus without)\n", "ext-plugin overhead",
		diff(ext1.p50, plain1.p50), diff(ext1.p99, plain1.p99))
}

// diff subtracts two wrk latencies ("85.00us", "1.20ms").
func diff(a, b string) string {
	da, db := wrkDuration(a), wrkDuration(b)
	if da < 0 || db < 0 {
		return "?"
	}
	return (da - db).Round(time.Microsecond).String()
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
	return fmt.Sprintf("ext-plugin:\n  cmd: [%q, \"run\", \"-m\", \"prod\"]\n", buildRunner(dir))
}

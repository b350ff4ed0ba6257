package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	// One connection measures latency, which on an idle machine swings with
	// CPU wake-ups from run to run; alternating short runs of both routes
	// and taking the median of the pairs' differences cancels that drift.
	one := []string{"-t", "1", "-c", "1", "-d", overheadPairDuration.String()}
	var d50, d99 []time.Duration
	var plain1, ext1 wrkResult
	for range overheadPairs {
		plain1 = runWrk(gw.base+"/plain", one...)
		ext1 = runWrk(gw.base+"/ext", one...)
		d50 = append(d50, wrkDuration(ext1.p50)-wrkDuration(plain1.p50))
		d99 = append(d99, wrkDuration(ext1.p99)-wrkDuration(plain1.p99))
	}
	report("without ext-plugin, 1 connection (last)", plain1)
	report("with ext-plugin-pre-req, 1 connection (last)", ext1)
	fmt.Printf("%-42s p50 %s (pairs %s), p99 %s per request (1 connection, with minus without, median of %d pairs of %s runs)\n",
		"ext-plugin overhead", median(d50), spread(d50), median(d99), overheadPairs, overheadPairDuration)
	fmt.Printf("%-42s %s (the floor under the overhead: %d-byte echo, gateway's CPU to the runner's)\n",
		"unix socket round trip, bare", unixRoundTrip(), roundTripFrame)
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

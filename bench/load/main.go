// Command load measures a running-from-scratch Portico on loopback with wrk:
// steady-state throughput and latency of the data plane, the same under
// repeated reloads (with the failure count), and, when nginx is installed,
// nginx answering the same 404 on the same machine for a ratio.
//
// It is run by `make bench`, never by `make test`: its figures depend on the
// machine. Every run is bounded (durations below) and binds 127.0.0.1 only.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

var (
	bin      = flag.String("bin", "bin/portico", "portico binary")
	duration = flag.Duration("d", 5*time.Second, "duration of each wrk run")
	conns    = flag.Int("c", 64, "wrk connections")
	threads  = flag.Int("t", 2, "wrk threads")
	workers  = flag.Int("workers", 2, "portico worker processes (and nginx worker_processes)")
	pin      = flag.Bool("pin", true, "pin with taskset: the gateway under test (Portico or nginx) on CPU 0, wrk and the upstream on the others")
	only     = flag.String("only", "", `"proxy": only the proxy rows (upstream direct, Portico 1 route, nginx proxy), for quick comparisons; "ext": only the ext-plugin rows`)
)

// pinned runs name on the given CPU list when pinning is on and possible.
func pinned(cpus, name string, args ...string) *exec.Cmd {
	argv := pinnedArgv(cpus, append([]string{name}, args...)...)
	return exec.Command(argv[0], argv[1:]...)
}

// pinnedArgv is the command line that runs argv on cpus.
func pinnedArgv(cpus string, argv ...string) []string {
	if *pin && numCPU() >= 2 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			return append([]string{ts, "-c", cpus}, argv...)
		}
	}
	return argv
}

// Where pinned processes run. The plugin runner is a process of its own
// that a server's scheduler places on any CPU; left inside the gateway's
// pinning (the agent that spawns it inherits it) it would share the
// gateway's one CPU, which no deployment does.
func gatewayCPUs() string { return "0" }
func otherCPUs() string   { return fmt.Sprintf("1-%d", max(numCPU()-1, 1)) }
func runnerCPUs() string  { return fmt.Sprintf("0-%d", max(numCPU()-1, 0)) }

func main() {
	if runRole() {
		return
	}
	flag.Parse()
	if _, err := exec.LookPath("wrk"); err != nil {
		fatal("wrk not found: `make bench` installs it (apt-get install wrk)")
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fatal(err.Error())
	}
	*bin = abs

	fmt.Printf("machine: %d CPUs; wrk -t%d -c%d -d%s; portico and nginx %d workers; pinned %v (gateway on CPU %s, wrk and upstream on CPU %s)\n\n",
		numCPU(), *threads, *conns, *duration, *workers, *pin, gatewayCPUs(), otherCPUs())
	runnerDir, err := os.MkdirTemp("", "portico-bench-runner")
	if err != nil {
		fatal(err.Error())
	}
	defer onFatal(func() { os.RemoveAll(runnerDir) })()
	gw := startPortico(runnerConfig(runnerDir))
	defer gw.stop()
	switch *only {
	case "proxy":
		proxyOnly(gw)
		return
	case "ext":
		upstream := startUpstream()
		defer upstream.stop()
		extPluginRows(gw, strings.TrimPrefix(strings.TrimSuffix(upstream.url, "/bench"), "http://"), runnerPath(runnerDir))
		return
	}

	steady := runWrk(gw.url)
	report("portico 404, keep-alive", steady)

	closeRes := runWrk(gw.url, "-H", "Connection: close")
	report("portico 404, new connection per request", closeRes)

	reloads, failures := reloadUnderLoad(gw)
	fmt.Printf("%-42s %d reloads during %s; wrk: %.0f req/s, p99 %s, %d socket errors, %d non-2xx/3xx (all 404 expected: %d)\n",
		"portico 404 under reload", reloads, *duration, failures.rps, failures.p99, failures.socketErrors, failures.non2xx, failures.requests)

	// Proxying: a local upstream, reached directly, through Portico (one
	// route from etcd) and through nginx as a keep-alive reverse proxy.
	upstream := startUpstream()
	defer upstream.stop()
	direct := runWrk(upstream.url)
	report("upstream direct", direct)
	upAddr := strings.TrimPrefix(strings.TrimSuffix(upstream.url, "/bench"), "http://")
	putRoute(gw, upAddr)
	viaPortico := runWrk(gw.url)
	report("portico proxy, 1 route", viaPortico)
	p50, p99 := putToServed(gw, upAddr, "small", 100)
	fmt.Printf("%-42s p50 %s, p99 %s (100 puts, every worker)\n", "etcd put -> served, small table", p50, p99)

	// 10,000 routes, the request matching one in the middle; then the same
	// with 3 vars conditions on every route.
	middle := putManyRoutes(gw, upAddr, 10000, false)
	many := runWrk(gw.base + middle)
	report("portico proxy, 10,000 routes", many)
	middle = putManyRoutes(gw, upAddr, 10000, true)
	manyVars := runWrk(gw.base+middle+"?env=bench", "-H", "X-Team: core")
	report("portico proxy, 10,000 routes + 3 vars", manyVars)
	fmt.Printf("%-42s %.1f%% (10,000 routes), %.1f%% (with vars)\n", "cost of 10,000 routes vs 1", 100*(1-many.rps/viaPortico.rps), 100*(1-manyVars.rps/viaPortico.rps))

	p50, p99 = putToServed(gw, upAddr, "large", 100)
	fmt.Printf("%-42s p50 %s, p99 %s (100 puts, every worker)\n", "etcd put -> served, 10,000 routes", p50, p99)

	extPluginRows(gw, upAddr, runnerPath(runnerDir))

	if nginxBin, err := exec.LookPath("nginx"); err == nil {
		ng := startNginx(nginxBin, strings.TrimPrefix(strings.TrimSuffix(upstream.url, "/bench"), "http://"))
		defer ng.stop()
		nres := runWrk(ng.url + "404")
		report("nginx 404, keep-alive", nres)
		ncl := runWrk(ng.url+"404", "-H", "Connection: close")
		report("nginx 404, new connection per request", ncl)
		nproxy := runWrk(ng.url + "bench")
		report("nginx proxy (keep-alive upstream)", nproxy)
		fmt.Printf("\nratio portico/nginx: 404 keep-alive %.2f, 404 new connections %.2f, proxy %.2f (1 route), %.2f (10,000 routes), %.2f (10,000 routes + 3 vars)\n",
			steady.rps/nres.rps, closeRes.rps/ncl.rps, viaPortico.rps/nproxy.rps, many.rps/nproxy.rps, manyVars.rps/nproxy.rps)
	} else {
		fmt.Println("\nnginx not installed: no ratio")
	}
}

// proxyOnly measures the upstream directly, through Portico with one route
// and through nginx, and prints the ratio.
func proxyOnly(gw *portico) {
	upstream := startUpstream()
	defer upstream.stop()
	report("upstream direct", runWrk(upstream.url))
	upAddr := strings.TrimPrefix(strings.TrimSuffix(upstream.url, "/bench"), "http://")
	putRoute(gw, upAddr)
	viaPortico := runWrk(gw.url)
	report("portico proxy, 1 route", viaPortico)
	nginxBin, err := exec.LookPath("nginx")
	if err != nil {
		fmt.Println("\nnginx not installed: no ratio")
		return
	}
	ng := startNginx(nginxBin, upAddr)
	defer ng.stop()
	nproxy := runWrk(ng.url + "bench")
	report("nginx proxy (keep-alive upstream)", nproxy)
	fmt.Printf("\nratio portico/nginx: proxy %.2f\n", viaPortico.rps/nproxy.rps)
}

// startUpstream serves a small 200 from nginx when installed (so the
// upstream is not the bottleneck), else from a Go server in this process.
func startUpstream() *server {
	port := freePort()
	if nginxBin, err := exec.LookPath("nginx"); err == nil {
		return runNginx(nginxBin, otherCPUs(), 1, fmt.Sprintf(`
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:%d;
    location / { return 200 'hello from upstream\n'; }
  }`, port), fmt.Sprintf("http://127.0.0.1:%d/bench", port))
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fatal(err.Error())
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello from upstream\n")) })}
	go srv.Serve(ln)
	return &server{url: fmt.Sprintf("http://127.0.0.1:%d/bench", port), stop: onFatal(func() { srv.Close() })}
}

// putRoute writes route 1 (/bench -> upstream) into the gateway's etcd and
// waits until it is served.
func putRoute(p *portico, upstream string) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", p.etcdPort)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fatal(err.Error())
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	route := fmt.Sprintf(`{"uri":"/bench","upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, upstream)
	if _, err := cli.Put(ctx, "/apisix/routes/1", route); err != nil {
		fatal(err.Error())
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fatal("route not served")
}

type wrkResult struct {
	rps          float64
	p50, p99     string
	requests     int
	socketErrors int
	non2xx       int
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reP50      = regexp.MustCompile(`\n\s+50%\s+(\S+)`)
	reP99      = regexp.MustCompile(`\n\s+99%\s+(\S+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func runWrk(url string, extra ...string) wrkResult {
	args := append([]string{"--latency", "-t", fmt.Sprint(*threads), "-c", fmt.Sprint(*conns), "-d", duration.String()}, extra...)
	out, err := pinned(otherCPUs(), "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		fatal(fmt.Sprintf("wrk: %v\n%s", err, out))
	}
	s := string(out)
	var r wrkResult
	if m := reRPS.FindStringSubmatch(s); m != nil {
		fmt.Sscan(m[1], &r.rps)
	}
	if m := reP50.FindStringSubmatch(s); m != nil {
		r.p50 = m[1]
	}
	if m := reP99.FindStringSubmatch(s); m != nil {
		r.p99 = m[1]
	}
	if m := reRequests.FindStringSubmatch(s); m != nil {
		fmt.Sscan(m[1], &r.requests)
	}
	if m := reSocket.FindStringSubmatch(s); m != nil {
		for _, v := range m[1:] {
			var n int
			fmt.Sscan(v, &n)
			r.socketErrors += n
		}
	}
	if m := reNon2xx.FindStringSubmatch(s); m != nil {
		fmt.Sscan(m[1], &r.non2xx)
	}
	return r
}

func report(name string, r wrkResult) {
	fmt.Printf("%-42s %10.0f req/s  p50 %-8s p99 %-8s socket errors %d\n", name, r.rps, r.p50, r.p99, r.socketErrors)
}

type server struct {
	url  string
	stop func()
}

type portico struct {
	server
	prefix    string
	etcdPort  int
	port      int
	adminPort int
	extra     string // config appended after the gateway's own keys
	base      string // http://127.0.0.1:port
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err.Error())
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startPortico(extra string) *portico {
	prefix, err := os.MkdirTemp("", "portico-bench")
	if err != nil {
		fatal(err.Error())
	}
	os.MkdirAll(filepath.Join(prefix, "conf"), 0o755)
	p := &portico{prefix: prefix, etcdPort: freePort(), port: freePort(), adminPort: freePort(), extra: extra}
	p.writeConfig(nil)
	// The master and all its children inherit the affinity.
	if out, err := pinned(gatewayCPUs(), *bin, "start", "-p", prefix).CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("portico start: %v\n%s", err, out))
	}
	p.base = fmt.Sprintf("http://127.0.0.1:%d", p.port)
	p.url = p.base + "/bench"
	p.server.stop = onFatal(func() {
		exec.Command(*bin, "stop", "-p", prefix).Run()
		os.RemoveAll(prefix)
	})
	waitHTTP(p.url)
	return p
}

func (p *portico) stop() { p.server.stop() }

// writeConfig writes the gateway's config.yaml, with envs as
// nginx_config.envs (the environment its children, the plugin runner
// among them, get).
func (p *portico) writeConfig(envs []string) {
	envYAML := ""
	if len(envs) > 0 {
		b, err := json.Marshal(envs)
		if err != nil {
			fatal(err.Error())
		}
		envYAML = "\n  envs: " + string(b)
	}
	cfg := fmt.Sprintf(`apisix:
  node_listen: [{ip: 127.0.0.1, port: %d}]
  enable_ipv6: false
nginx_config:
  worker_processes: %d%s
  http:
    enable_access_log: false
deployment:
  admin:
    admin_listen: {ip: 127.0.0.1, port: %d}
  etcd:
    embedded: true
    host: ["http://127.0.0.1:%d"]
%s`, p.port, *workers, envYAML, p.adminPort, p.etcdPort, p.extra)
	if err := os.WriteFile(filepath.Join(p.prefix, "conf", "config.yaml"), []byte(cfg), 0o644); err != nil {
		fatal(err.Error())
	}
}

func (p *portico) reload() {
	if out, err := exec.Command(*bin, "reload", "-p", p.prefix).CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("reload: %v\n%s", err, out))
	}
}

// reloadUnderLoad reloads once a second while wrk runs.
func reloadUnderLoad(p *portico) (int, wrkResult) {
	done := make(chan wrkResult)
	go func() { done <- runWrk(p.url) }()
	n := 0
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return n, r
		case <-tick.C:
			p.reload()
			n++
		}
	}
}

func startNginx(nginxBin, upstream string) *server {
	port := freePort()
	return runNginx(nginxBin, gatewayCPUs(), *workers, fmt.Sprintf(`
  upstream backend {
    server %s;
    keepalive 320;
  }
  server {
    listen 127.0.0.1:%d reuseport;
    location /bench {
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://backend;
    }
    location / {
      default_type application/json;
      return 404 '{"error_msg":"404 Route Not Found"}\n';
    }
  }`, upstream, port), fmt.Sprintf("http://127.0.0.1:%d/", port))
}

// runNginx starts nginx pinned to cpus with the given http{} contents in a
// prefix of its own, and waits until url answers.
func runNginx(nginxBin, cpus string, workers int, httpBody, url string) *server {
	dir, err := os.MkdirTemp("", "nginx-bench")
	if err != nil {
		fatal(err.Error())
	}
	conf := fmt.Sprintf("worker_processes %d;\npid %s/nginx.pid;\nerror_log %s/error.log;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;%s\n}\n",
		workers, dir, dir, httpBody)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		fatal(err.Error())
	}
	if out, err := pinned(cpus, nginxBin, "-p", dir, "-c", path).CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("nginx: %v\n%s", err, out))
	}
	s := &server{url: url}
	s.stop = onFatal(func() {
		exec.Command(nginxBin, "-p", dir, "-c", path, "-s", "quit").Run()
		// nginx removes its pid file when it has exited.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(dir, "nginx.pid")); os.IsNotExist(err) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		os.RemoveAll(dir)
	})
	waitHTTP(s.url)
	return s
}

func waitHTTP(url string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fatal("not serving: " + url)
}

func numCPU() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "processor") {
			n++
		}
	}
	return n
}

// cleanups stop what the bench started, newest first, when it fails half
// way: a failed run must not leave gateways and upstreams behind.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// onFatal registers stop to run if the bench fails and returns it made
// safe to call twice.
func onFatal(stop func()) func() {
	once := sync.OnceFunc(stop)
	cleanupMu.Lock()
	cleanups = append(cleanups, once)
	cleanupMu.Unlock()
	return once
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "bench:", msg)
	cleanupMu.Lock()
	pending := slices.Clone(cleanups)
	cleanupMu.Unlock()
	for _, stop := range slices.Backward(pending) {
		stop()
	}
	os.Exit(1)
}

func etcdOf(p *portico) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", p.etcdPort)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fatal(err.Error())
	}
	return cli
}

// putManyRoutes writes n routes /r/<i>/* (optionally each with 3 vars
// conditions the benchmark request satisfies), waits until the middle one is
// served, and returns its path.
func putManyRoutes(p *portico, upstream string, n int, vars bool) string {
	cli := etcdOf(p)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cond := ""
	if vars {
		cond = `,"vars":[["arg_env","==","bench"],["http_x_team","==","core"],["request_method","==","GET"]]`
	}
	const batch = 100 // etcd's default max operations per transaction is 128
	for i := 0; i < n; i += batch {
		var ops []clientv3.Op
		for j := i; j < i+batch && j < n; j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("/apisix/routes/r%d", j),
				fmt.Sprintf(`{"uri":"/r/%d/*"%s,"upstream":{"nodes":{"%s":1}}}`, j, cond, upstream)))
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			fatal(err.Error())
		}
	}
	middle := fmt.Sprintf("/r/%d/x", n/2)
	waitStatus(p.base+middle, 200, 2*time.Minute)
	waitConverged(p, 2*time.Minute)
	return middle
}

// waitConverged waits until every worker serves etcd's head revision, so a
// measurement never overlaps the rebuilds of a bulk load.
func waitConverged(p *portico, timeout time.Duration) {
	cli := etcdOf(p)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	head, err := cli.Get(ctx, "/apisix/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		fatal(err.Error())
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		out, err := exec.Command(*bin, "status", "--json", "-p", p.prefix).Output()
		if err == nil {
			var st struct {
				Children []struct {
					Role           string `json:"role"`
					ConfigRevision int64  `json:"config_revision"`
				} `json:"children"`
			}
			json.Unmarshal(out, &st)
			done := len(st.Children) > 0
			for _, c := range st.Children {
				if c.Role == "worker" && c.ConfigRevision < head.Header.Revision {
					done = false
				}
			}
			if done {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	fatal("workers did not converge")
}

// putToServed measures from an etcd put of a new route to the moment every
// worker serves it: new connections land on every worker's socket, so the
// route counts as served once 20 fresh connections in a row get a 200.
func putToServed(p *portico, upstream, tag string, n int) (time.Duration, time.Duration) {
	cli := etcdOf(p)
	defer cli.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	var took []time.Duration
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("/fresh/%s/%d", tag, i)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/apisix/routes/fresh-%s-%d", tag, i), fmt.Sprintf(`{"uri":"%s","upstream":{"nodes":{"%s":1}}}`, path, upstream))
		cancel()
		if err != nil {
			fatal(err.Error())
		}
		ok := 0
		for ok < 20 && time.Since(start) < 10*time.Second {
			resp, err := client.Get(p.base + path)
			if err == nil {
				resp.Body.Close()
			}
			if err == nil && resp.StatusCode == 200 {
				ok++
			} else {
				ok = 0
			}
		}
		took = append(took, time.Since(start))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	return took[len(took)/2].Round(time.Millisecond), took[len(took)*99/100].Round(time.Millisecond)
}

func waitStatus(url string, code int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == code {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	fatal(fmt.Sprintf("%s never answered %d", url, code))
}

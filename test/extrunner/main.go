// Command extrunner is a plugin runner for tests, built from the official
// Go runner SDK (github.com/apache/apisix-go-plugin-runner v0.5.0), so the
// gateway's ext-plugin client is tested against the real RPC server. It
// keeps the SDK command's CLI: `run [-m dev|prod|prof]` and `version`.
//
// Plugins (each conf value is a JSON document; every field optional):
//
//	noop      does nothing (benchmarks).
//	echo      {} answers 200 with a JSON body describing the request as the SDK
//	          decoded it (src_ip, method, path, args, headers), so the
//	          gateway's encoding is checked by the runner's own decoder.
//	stop      {"status":403,"headers":{"X-Stop":["a","b"]},"body":"stopped"}
//	          answers the request itself; several values of one header go out
//	          as several entries (set, then add).
//	rewrite   {"path":"/new","set_headers":{"X-A":"1"},"del_headers":["X-Del"],
//	          "set_args":{"a":"1"},"del_args":["d"],"resp_headers":{"X-Resp":"r"}}
//	          it always reads the headers and args, so `{}` makes the SDK send
//	          the empty Rewrite a gateway must treat as a no-op.
//	extra     {"var":"remote_addr","header":"X-Var","body_header":"X-Body"}
//	          asks the gateway for a variable and for the request body
//	          (ExtraInfo) and sets request header <header> to the variable and
//	          <body_header> to the body itself.
//	tag       {"tag":"A"} sets request header and response header X-Tag: A.
//	postresp  {"status":201,"header":"X-Post","value":"v","body":"replaced","read_body":true}
//	          response filter; read_body asks for the upstream body (ExtraInfo
//	          RespBody) and sets X-Upstream-Len to its length.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"

	pkgHTTP "github.com/apache/apisix-go-plugin-runner/pkg/http"
	"github.com/apache/apisix-go-plugin-runner/pkg/plugin"
	"github.com/apache/apisix-go-plugin-runner/pkg/runner"
	"go.uber.org/zap/zapcore"
)

const version = "portico-test-runner 0.5.0"

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "version":
		fmt.Println("version", version)
	case "run":
		fs := flag.NewFlagSet("run", flag.ExitOnError)
		mode := fs.String("m", "dev", "the runner's run mode; can be 'prod', 'prof' or 'dev'")
		fs.StringVar(mode, "mode", "dev", "same as -m")
		_ = fs.Parse(os.Args[2:])
		if err := run(*mode); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: extrunner run [-m dev|prod|prof] | extrunner version")
	os.Exit(2)
}

// run mirrors the SDK command: dev logs everything to stdout, prod logs
// warnings to ./logs/runner.log, prof also writes CPU and heap profiles.
func run(mode string) error {
	for _, p := range []plugin.Plugin{&noop{}, &echo{}, &stop{}, &rewrite{}, &extra{}, &tag{}, &postResp{}} {
		if err := plugin.RegisterPlugin(p); err != nil {
			return fmt.Errorf("register %s: %w", p.Name(), err)
		}
	}
	cfg := runner.RunnerConfig{}
	switch mode {
	case "dev":
	case "prod", "prof":
		cfg.LogLevel = zapcore.WarnLevel
		f, err := openLog("./logs/runner.log")
		if err != nil {
			return err
		}
		cfg.LogOutput = f
		if mode == "prof" {
			stop, err := profile("./logs/profile.")
			if err != nil {
				return err
			}
			defer stop()
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	runner.Run(cfg)
	return nil
}

func openLog(name string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

func profile(prefix string) (func(), error) {
	cpu, err := os.Create(prefix + "cpu")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		if mem, err := os.Create(prefix + "mem"); err == nil {
			runtime.GC()
			_ = pprof.WriteHeapProfile(mem)
			mem.Close()
		}
	}, nil
}

func parse[T any](in []byte) (any, error) {
	var c T
	err := json.Unmarshal(in, &c)
	return c, err
}

type noop struct{ plugin.DefaultPlugin }

func (*noop) Name() string                     { return "noop" }
func (*noop) ParseConf(in []byte) (any, error) { return nil, nil }

type echo struct{ plugin.DefaultPlugin }

func (*echo) Name() string                     { return "echo" }
func (*echo) ParseConf(in []byte) (any, error) { return nil, nil }

func (*echo) RequestFilter(_ any, w http.ResponseWriter, r pkgHTTP.Request) {
	b, err := json.Marshal(map[string]any{
		"src_ip":  r.SrcIP().String(),
		"method":  r.Method(),
		"path":    string(r.Path()),
		"args":    r.Args(),
		"headers": r.Header().View(),
	})
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(b)
}

type stopConf struct {
	Status  int                 `json:"status"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

type stop struct{ plugin.DefaultPlugin }

func (*stop) Name() string                     { return "stop" }
func (*stop) ParseConf(in []byte) (any, error) { return parse[stopConf](in) }

func (*stop) RequestFilter(conf any, w http.ResponseWriter, _ pkgHTTP.Request) {
	c := conf.(stopConf)
	for name, values := range c.Headers {
		for _, v := range values {
			w.Header().Add(name, v)
		}
	}
	if c.Status != 0 {
		w.WriteHeader(c.Status)
	}
	if c.Body != "" {
		_, _ = w.Write([]byte(c.Body))
	}
}

type rewriteConf struct {
	Path        string            `json:"path"`
	SetHeaders  map[string]string `json:"set_headers"`
	DelHeaders  []string          `json:"del_headers"`
	SetArgs     map[string]string `json:"set_args"`
	DelArgs     []string          `json:"del_args"`
	RespHeaders map[string]string `json:"resp_headers"`
}

type rewrite struct{ plugin.DefaultPlugin }

func (*rewrite) Name() string                     { return "rewrite" }
func (*rewrite) ParseConf(in []byte) (any, error) { return parse[rewriteConf](in) }

func (*rewrite) RequestFilter(conf any, _ http.ResponseWriter, r pkgHTTP.Request) {
	c := conf.(rewriteConf)
	if c.Path != "" {
		r.SetPath([]byte(c.Path))
	}
	h := r.Header()
	for name, v := range c.SetHeaders {
		h.Set(name, v)
	}
	for _, name := range c.DelHeaders {
		h.Del(name)
	}
	args := r.Args()
	for name, v := range c.SetArgs {
		args.Set(name, v)
	}
	for _, name := range c.DelArgs {
		args.Del(name)
	}
	for name, v := range c.RespHeaders {
		r.RespHeader().Set(name, v)
	}
}

type extraConf struct {
	Var        string `json:"var"`
	Header     string `json:"header"`
	BodyHeader string `json:"body_header"`
}

type extra struct{ plugin.DefaultPlugin }

func (*extra) Name() string                     { return "extra" }
func (*extra) ParseConf(in []byte) (any, error) { return parse[extraConf](in) }

func (*extra) RequestFilter(conf any, w http.ResponseWriter, r pkgHTTP.Request) {
	c := conf.(extraConf)
	if c.Var != "" && c.Header != "" {
		v, err := r.Var(c.Var)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		r.Header().Set(c.Header, string(v))
	}
	if c.BodyHeader != "" {
		b, err := r.Body()
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		r.Header().Set(c.BodyHeader, string(b))
	}
}

type tagConf struct {
	Tag string `json:"tag"`
}

type tag struct{ plugin.DefaultPlugin }

func (*tag) Name() string                     { return "tag" }
func (*tag) ParseConf(in []byte) (any, error) { return parse[tagConf](in) }

func (*tag) RequestFilter(conf any, _ http.ResponseWriter, r pkgHTTP.Request) {
	t := conf.(tagConf).Tag
	r.RespHeader().Set("X-Tag", t)
	r.Header().Set("X-Tag", t)
}

type postRespConf struct {
	Status   int    `json:"status"`
	Header   string `json:"header"`
	Value    string `json:"value"`
	Body     string `json:"body"`
	ReadBody bool   `json:"read_body"`
}

type postResp struct{ plugin.DefaultPlugin }

func (*postResp) Name() string                     { return "postresp" }
func (*postResp) ParseConf(in []byte) (any, error) { return parse[postRespConf](in) }

func (*postResp) ResponseFilter(conf any, w pkgHTTP.Response) {
	c := conf.(postRespConf)
	if c.ReadBody {
		b, err := w.ReadBody()
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Header().Set("X-Upstream-Len", strconv.Itoa(len(b)))
	}
	if c.Status != 0 {
		w.WriteHeader(c.Status)
	}
	if c.Header != "" {
		w.Header().Set(c.Header, c.Value)
	}
	if c.Body != "" {
		_, _ = w.Write([]byte(c.Body))
	}
}

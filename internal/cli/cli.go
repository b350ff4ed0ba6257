package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Exit codes of the CLI.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitNotRunning follows LSB's "program is not running" for status.
	exitNotRunning = 3
)

// errNotRunning reports a verb that needs a live master.
var errNotRunning = errors.New("portico is not running")

// Globals are the options every verb takes.
type Globals struct {
	Prefix     string
	ConfigFile string
	Self       string // absolute path of this binary
	Stdout     io.Writer
	Stderr     io.Writer
}

type verb struct {
	name  string
	usage string
	run   func(g *Globals, args []string) error
}

var verbs []verb

func init() {
	verbs = []verb{
		{"help", "print this help", func(g *Globals, _ []string) error { usage(g.Stdout); return nil }},
		{"version", "print the version", runVersion},
		{"init", "validate the config, create logs/ and data/, render the runtime file", runInit},
		{"init_etcd", "create the /apisix directory keys in etcd", runInitEtcd},
		{"start", "start the gateway (--foreground: do not daemonize)", runStart},
		{"stop", "fast shutdown (SIGTERM)", runStop},
		{"quit", "graceful shutdown: finish in-flight requests (SIGQUIT)", runQuit},
		{"reload", "re-read the config and replace the workers without dropping a request (SIGHUP)", runReload},
		{"restart", "test the config, quit, then start", runRestart},
		{"upgrade", "start the binary on disk as the new master, hand over every socket (SIGUSR2)", runUpgrade},
		{"reopen", "reopen the log files (SIGUSR1)", runReopen},
		{"test", "validate the config and the runtime file (-v: print the runtime file)", runTest},
		{"status", "print the master, its children and etcd reachability (--json)", runStatus},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: portico [action] [-p PREFIX] [-c CONFIG]")
	fmt.Fprintln(w)
	for _, v := range verbs {
		fmt.Fprintf(w, "  %-10s %s\n", v.name, v.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  -p, --prefix DIR   the home holding conf/, logs/ and data/")
	fmt.Fprintln(w, "                     (default: the parent of the binary's directory when it has conf/)")
	fmt.Fprintln(w, "  -c, --config FILE  the config file (default: PREFIX/conf/config.yaml)")
}

// Main runs the CLI with args (without the program name).
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return exitOK
	}
	name := args[0]
	var v *verb
	for i := range verbs {
		if verbs[i].name == name {
			v = &verbs[i]
		}
	}
	if v == nil {
		fmt.Fprintf(stderr, "invalid argument: %s\n", name)
		usage(stderr)
		return exitUsage
	}
	g := &Globals{Stdout: stdout, Stderr: stderr}
	rest, err := g.parse(name, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "portico %s: %v\n", name, err)
		return exitUsage
	}
	if err := v.run(g, rest); err != nil {
		var code ExitCode
		if errors.As(err, &code) {
			return int(code)
		}
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "portico %s: %v\n", name, err)
		if errors.Is(err, errNotRunning) && name == "status" {
			return exitNotRunning
		}
		return exitFailure
	}
	return exitOK
}

// parse reads -p/-c (anywhere among args) and returns what is left.
func (g *Globals) parse(name string, args []string) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(g.Stderr)
	fs.StringVar(&g.Prefix, "p", "", "prefix")
	fs.StringVar(&g.Prefix, "prefix", "", "prefix")
	fs.StringVar(&g.ConfigFile, "c", "", "config file")
	fs.StringVar(&g.ConfigFile, "config", "", "config file")
	var rest []string
	// Verb flags (--foreground, --json, -v) are left to the verb.
	var own []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-p" || a == "--prefix" || a == "-c" || a == "--config":
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%s needs a value", a)
			}
			own = append(own, a, args[i+1])
			i++
		case strings.HasPrefix(a, "--prefix=") || strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-p=") || strings.HasPrefix(a, "-c="):
			own = append(own, a)
		default:
			rest = append(rest, a)
		}
	}
	if err := fs.Parse(own); err != nil {
		return nil, err
	}
	self, err := selfPath()
	if err != nil {
		return nil, err
	}
	g.Self = self
	if g.Prefix == "" {
		g.Prefix = defaultPrefix(self)
	}
	if g.Prefix, err = filepath.Abs(g.Prefix); err != nil {
		return nil, err
	}
	if g.ConfigFile != "" {
		if g.ConfigFile, err = filepath.Abs(g.ConfigFile); err != nil {
			return nil, err
		}
	}
	return rest, nil
}

// selfPath is this binary's absolute path as invoked (symlinks kept, so an
// upgrade re-executes whatever the path points to then).
func selfPath() (string, error) {
	p := os.Args[0]
	if !strings.Contains(p, "/") {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("locate own binary: %w", err)
		}
		return exe, nil
	}
	return filepath.Abs(p)
}

// PackagePrefix is the home of an installed package.
const PackagePrefix = "/usr/local/portico"

// defaultPrefix is the parent of the binary's directory when it holds conf/
// (bin/portico in a checkout uses the checkout), else the package home.
func defaultPrefix(self string) string {
	parent := filepath.Dir(filepath.Dir(self))
	if st, err := os.Stat(filepath.Join(parent, "conf")); err == nil && st.IsDir() {
		return parent
	}
	return PackagePrefix
}

// verbFlags parses a verb's own flags.
func verbFlags(name string, args []string, g *Globals, def func(fs *flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(g.Stderr)
	def(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

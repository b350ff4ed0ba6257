// Command portico is the gateway's single binary: the CLI verbs, and the
// hidden entry points the master re-executes for its children.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/portico-gw/portico/internal/cli"
	"github.com/portico-gw/portico/master"
	"github.com/portico-gw/portico/privileged"
	"github.com/portico-gw/portico/worker"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "master":
			os.Exit(runMaster(os.Args[2:]))
		case "worker":
			os.Exit(worker.Main())
		case "privileged":
			os.Exit(privileged.Main())
		}
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}

// runMaster is started by `portico start` (and re-executed by upgrades).
func runMaster(args []string) int {
	fs := flag.NewFlagSet("master", flag.ContinueOnError)
	var opts master.Options
	fs.StringVar(&opts.Prefix, "p", "", "prefix")
	fs.StringVar(&opts.ConfigFile, "c", "", "config file")
	if err := fs.Parse(args); err != nil || opts.Prefix == "" {
		fmt.Fprintln(os.Stderr, "portico master: started by `portico start`, needs -p PREFIX")
		return 2
	}
	opts.Self = os.Args[0]
	return master.Run(opts)
}

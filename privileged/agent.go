package privileged

import (
	"context"
	"os"
	"time"

	"github.com/portico-gw/portico/internal/child"
	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/logx"
	"github.com/portico-gw/portico/privileged/runner"
	"github.com/portico-gw/portico/tmpl"
	"github.com/portico-gw/portico/worker/dns"
	"github.com/portico-gw/portico/worker/health"
	"github.com/portico-gw/portico/worker/source"
	"github.com/portico-gw/portico/worker/store"
)

// Main is the entry point of `portico privileged`, started by the master.
func Main() int { return child.Main("privileged", New) }

// runnerStartWait bounds how long Start waits for the first runner to
// listen: long enough that a reload's new runner listens before the old one
// is stopped, short of the master's readiness deadline. A runner that takes
// longer is still supervised.
const runnerStartWait = 10 * time.Second

// Agent is the privileged agent's service: the external plugin runner and
// the health checks, active (its probes) and passive (judging what workers
// report).
type Agent struct {
	env       *child.Env
	runnerCfg *runner.Config     // nil when ext-plugin.cmd is empty
	runner    *runner.Supervisor // set by Start
	source    source.Source
	checker   *health.Checker // nil when the health zone is absent or unusable
	stop      context.CancelFunc
}

// New builds the agent.
func New(env *child.Env) (child.Service, error) {
	a := &Agent{env: env}
	a.runnerCfg = runnerConfig(env)
	z := env.Zones[health.ZoneName]
	if z == nil {
		env.Log.Warn().Str("zone", health.ZoneName).Msg("no shared zone for health checks: health checks are off")
		return a, nil
	}
	table := health.NewTable(z)
	if err := table.Err(); err != nil {
		env.Log.Error().Err(err).Msg("health checks are off")
		return a, nil
	}
	log := env.Log.With().Str(logx.FieldComponent, "healthcheck").Logger()
	// Probes resolve domain nodes as workers do; without a resolver they
	// fall back to the system's.
	var resolver health.Resolver
	if r, err := dns.New(dns.ConfigFrom(env.Runtime.DNS)); err != nil {
		log.Error().Err(err).Msg("probes resolve domain nodes with the system resolver")
	} else {
		resolver = r
	}
	a.checker = health.NewChecker(table, resolver, log)
	src, err := source.New(env.Runtime, env.Log.With().Str(logx.FieldComponent, "store").Logger(), a.update)
	if err != nil {
		return nil, err
	}
	a.source = src
	a.update(src.Snapshot())
	return a, nil
}

// runnerConfig is the supervisor's configuration, or nil without a cmd.
func runnerConfig(env *child.Env) *runner.Config {
	r := env.Runtime.Runner
	log := env.Log.With().Str(logx.FieldComponent, "runner").Logger()
	if len(r.Cmd) == 0 {
		if r.Socket != "" && r.Dir == "" {
			log.Info().Str("socket", r.Socket).Msg("ext-plugin.path_for_test without cmd: the runner is started by hand")
		}
		return nil
	}
	cfg := &runner.Config{
		Cmd: r.Cmd, Socket: r.Socket, Dir: r.Dir, ExpireTime: r.ExpireTime,
		WorkDir: env.Runtime.Prefix,
		Env:     runner.Environ(os.Environ(), env.Runtime.Env),
		Log:     log,
	}
	if z := env.Zones[tmpl.StatusZone]; z != nil {
		cfg.BeforeSpawn = func() { z.Add(tmpl.StatusSlotRunnerGeneration, 1) }
	} else {
		log.Error().Str("zone", tmpl.StatusZone).Msg("no status zone: workers cannot tell a respawned runner from the one their conf tokens came from")
	}
	return cfg
}

func (a *Agent) update(snap *store.Snapshot) {
	if a.checker != nil {
		a.checker.Update(snap)
	}
}

// Start follows the configuration and starts the runner, returning once it
// listens (or runnerStartWait passed, or its first start failed: the
// supervisor keeps trying either way).
func (a *Agent) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	if a.source != nil {
		go a.source.Run(ctx)
	}
	if a.runnerCfg != nil {
		if dir := a.runnerCfg.Dir; dir != "" {
			// Missing on a first start with the sun_path fallback: the
			// supervisor creates it.
			if removed, err := runner.RemoveOrphans(dir); err == nil && len(removed) > 0 {
				a.runnerCfg.Log.Info().Strs("sockets", removed).Str("dir", dir).Msg("removed sockets of runners whose master is gone")
			}
		}
		sup, err := runner.Start(*a.runnerCfg)
		if err != nil {
			return err
		}
		a.runner = sup
		select {
		case <-sup.Started():
		case <-time.After(runnerStartWait):
			a.runnerCfg.Log.Warn().Dur("waited", runnerStartWait).Msg("runner not listening yet")
		}
	}
	return nil
}

// Shutdown stops at once: the agent serves no traffic to drain.
func (a *Agent) Shutdown(context.Context) error { return a.Close() }

// Close stops the checks and the runner, returning once the runner is gone.
func (a *Agent) Close() error {
	if a.stop != nil {
		a.stop()
	}
	if a.checker != nil {
		a.checker.Stop()
	}
	if a.runner != nil {
		a.runner.Stop()
	}
	return nil
}

// Report is the agent's part of `portico status`.
func (a *Agent) Report() control.ChildReport {
	var rep control.ChildReport
	if a.source != nil {
		snap := a.source.Snapshot()
		rep = control.ChildReport{EtcdReachable: a.source.Reachable(), ConfigRevision: snap.Revision, ConfigHash: snap.Hash}
	}
	if a.runner != nil {
		st := a.runner.Status()
		rep.Runner = &control.RunnerStatus{Pid: st.Pid, Restarts: st.Restarts, Socket: a.runnerCfg.Socket}
	}
	return rep
}

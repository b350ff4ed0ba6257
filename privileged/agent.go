package privileged

import (
	"context"

	"github.com/portico-gw/portico/internal/child"
	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/logx"
	"github.com/portico-gw/portico/worker/dns"
	"github.com/portico-gw/portico/worker/health"
	"github.com/portico-gw/portico/worker/source"
	"github.com/portico-gw/portico/worker/store"
)

// Main is the entry point of `portico privileged`, started by the master.
func Main() int { return child.Main("privileged", New) }

// Agent is the privileged agent's service: today the health checks, active
// (its probes) and passive (judging what workers report).
type Agent struct {
	env     *child.Env
	source  source.Source
	checker *health.Checker // nil when the health zone is absent or unusable
	stop    context.CancelFunc
}

// New builds the agent.
func New(env *child.Env) (child.Service, error) {
	a := &Agent{env: env}
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

func (a *Agent) update(snap *store.Snapshot) {
	if a.checker != nil {
		a.checker.Update(snap)
	}
}

// Start follows the configuration.
func (a *Agent) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	if a.source != nil {
		go a.source.Run(ctx)
	}
	return nil
}

// Shutdown stops at once: the agent serves no traffic to drain.
func (a *Agent) Shutdown(context.Context) error { return a.Close() }

// Close stops the checks.
func (a *Agent) Close() error {
	if a.stop != nil {
		a.stop()
	}
	if a.checker != nil {
		a.checker.Stop()
	}
	return nil
}

// Report is the agent's part of `portico status`.
func (a *Agent) Report() control.ChildReport {
	if a.source == nil {
		return control.ChildReport{}
	}
	snap := a.source.Snapshot()
	return control.ChildReport{EtcdReachable: a.source.Reachable(), ConfigRevision: snap.Revision, ConfigHash: snap.Hash}
}

package privileged

import (
	"context"

	"github.com/portico-gw/portico/internal/child"
	"github.com/portico-gw/portico/internal/control"
)

// Main is the entry point of `portico privileged`, started by the master.
func Main() int { return child.Main("privileged", New) }

// Agent is the privileged agent's service.
type Agent struct {
	env *child.Env
}

// New builds the agent.
func New(env *child.Env) (child.Service, error) {
	return &Agent{env: env}, nil
}

func (a *Agent) Start() error { return nil }

func (a *Agent) Shutdown(ctx context.Context) error { return a.Close() }

func (a *Agent) Close() error { return nil }

func (a *Agent) Report() control.ChildReport { return control.ChildReport{} }

package rollout

import (
	"context"
	"os"
)

// FromEnvironment builds the Hooks of one function at cold start: the
// environment is parsed once and the SDK clients are built once. A bad
// environment does not stop the function: every invocation then fails with
// that error and, as a lifecycle hook, still reports Failed instead of
// leaving the deployment hanging. Only clients that cannot be built at all
// end the process.
func FromEnvironment(hook Hook) *Hooks {
	logger := NewLogger(os.Stdout)
	cfg, cfgErr := ConfigFromEnv(os.LookupEnv, hook)
	if cfgErr != nil {
		logger.Error("invalid configuration", "hook", string(hook), "step", "init", "error", cfgErr.Error())
	}
	clients, err := LoadClients(context.Background())
	if err != nil {
		logger.Error("cannot build AWS clients", "hook", string(hook), "step", "init", "error", err.Error())
		os.Exit(1)
	}
	return &Hooks{
		Config:       cfg,
		ConfigErr:    cfgErr,
		ECS:          clients.ECS,
		ELB:          clients.ELB,
		CodeDeploy:   clients.CodeDeploy,
		CodePipeline: clients.CodePipeline,
		Logger:       logger,
	}
}

// Command unpin is the AfterAllowTraffic lifecycle hook of the Stable deployment: it moves
// the catch-all rule back above the tenant rules and scales the stable service to
// zero, then reports to CodeDeploy.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func main() {
	logger := rollout.NewLogger(os.Stdout)
	cfg, cfgErr := rollout.ConfigFromEnv(os.LookupEnv, rollout.HookUnpin)
	if cfgErr != nil {
		// Keep serving: every invocation fails with this error and, as a
		// lifecycle hook, still reports Failed instead of hanging the deployment.
		logger.Error("invalid configuration", "hook", string(rollout.HookUnpin), "step", "init", "error", cfgErr.Error())
	}
	clients, err := rollout.LoadClients(context.Background())
	if err != nil {
		logger.Error("cannot build AWS clients", "hook", string(rollout.HookUnpin), "step", "init", "error", err.Error())
		os.Exit(1)
	}
	hooks := &rollout.Hooks{
		Config:     cfg,
		ConfigErr:  cfgErr,
		ECS:        clients.ECS,
		ELB:        clients.ELB,
		CodeDeploy: clients.CodeDeploy,
		Logger:     logger,
	}
	lambda.Start(hooks.Unpin)
}

// Command pin is the BeforeInstall lifecycle hook of the Latest deployment: it scales the
// stable service up, waits for it to be healthy and moves the catch-all rule below
// the tenant rules, then reports to CodeDeploy.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func main() {
	logger := rollout.NewLogger(os.Stdout)
	cfg, cfgErr := rollout.ConfigFromEnv(os.LookupEnv, rollout.HookPin)
	if cfgErr != nil {
		// Keep serving: every invocation fails with this error and, as a
		// lifecycle hook, still reports Failed instead of hanging the deployment.
		logger.Error("invalid configuration", "hook", string(rollout.HookPin), "step", "init", "error", cfgErr.Error())
	}
	clients, err := rollout.LoadClients(context.Background())
	if err != nil {
		logger.Error("cannot build AWS clients", "hook", string(rollout.HookPin), "step", "init", "error", err.Error())
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
	lambda.Start(hooks.Pin)
}

// Command cleanup handles EventBridge CodeDeploy deployment state-change events: when the
// Latest deployment fails or is stopped it unpins tenants and scales the stable
// service to zero.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func main() {
	lambda.Start(rollout.FromEnvironment(rollout.HookCleanup).Cleanup)
}

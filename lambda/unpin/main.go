// Command unpin is the AfterAllowTraffic lifecycle hook of the Stable deployment: it moves
// the catch-all rule back above the tenant rules and scales the stable service to
// zero, then reports to CodeDeploy.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func main() {
	lambda.Start(rollout.FromEnvironment(rollout.HookUnpin).Unpin)
}

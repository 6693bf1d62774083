// Command unpin is the AfterAllowTraffic lifecycle hook of the Stable
// deployment: it moves the catch-all rule back above the tenant rules,
// releasing the pinned tenants onto latest, but only when no Latest
// deployment is unfinished and latest serves the image stable now serves
// (the one just approved); otherwise the tenants stay on stable. Either way
// it reports to CodeDeploy. It never scales stable down: the original task
// set must outlive the termination wait, and cleanup scales stable to zero
// once the Stable deployment has ended.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func main() {
	lambda.Start(rollout.FromEnvironment(rollout.HookUnpin).Unpin)
}

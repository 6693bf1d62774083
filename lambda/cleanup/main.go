// Command cleanup handles EventBridge CodeDeploy deployment state-change
// events of either deployment group (succeeded, failed or stopped), and the
// pipeline's execution state-change events (failed, canceled or stopped),
// and brings the system to rest from the state it reads, never from the
// event's deployment id: while a deployment is unfinished it does nothing; it
// rejects a pending approval about another image than latest serves and
// awaits one about latest's image; when latest serves stable's image it
// moves the catch-all rule back above the tenant rules and scales the
// stable service to zero; otherwise it says at WARN that the split is held.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func main() {
	lambda.Start(rollout.FromEnvironment(rollout.HookCleanup).CleanupEvent)
}

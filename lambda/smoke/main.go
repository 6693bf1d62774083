// Command smoke is the AfterAllowTestTraffic lifecycle hook of both stages:
// it sends the stack's smoke requests to the replacement task set through
// the deployment group's test listener and reports Failed, stopping the
// stage before any production traffic moves, when a check fails. A
// replacement task set of 0 tasks (a Stable deployment while no tenant is
// pinned) serves no request and has nothing to test: it reports Succeeded.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func main() {
	lambda.Start(rollout.SmokeFromEnvironment().Run)
}

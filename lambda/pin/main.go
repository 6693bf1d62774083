// Command pin is the BeforeInstall lifecycle hook of the Latest deployment: it scales the
// stable service up, waits for it to be healthy and moves the catch-all rule below
// the tenant rules, then reports to CodeDeploy.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func main() {
	lambda.Start(rollout.FromEnvironment(rollout.HookPin).Pin)
}

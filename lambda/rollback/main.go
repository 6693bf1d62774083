// Command rollback puts everyone back on the version the stable service
// serves: run by EventBridge when the Approve action fails (rejected or
// expired) and by `tenant-canary rollback`.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func main() {
	lambda.Start(rollout.FromEnvironment(rollout.HookRollback).Rollback)
}

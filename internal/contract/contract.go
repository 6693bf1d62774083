// Package contract holds the names the Pulumi program and the hook functions
// share: the hooks' names and the environment variables the pipeline
// component sets on them and lambda/rollout reads. Defined once, here, so the
// two sides cannot drift.
package contract

// Hook names one hook function. It is also the name of its source folder
// under lambda/ and appears as "hook" on every log line.
type Hook string

// The hooks of the rollout protocol (docs/design.md §4).
const (
	HookPin     Hook = "pin"
	HookUnpin   Hook = "unpin"
	HookCleanup Hook = "cleanup"
)

// Environment variables of the hook functions.
const (
	EnvClusterName               = "CLUSTER_NAME"
	EnvStableServiceName         = "STABLE_SERVICE_NAME"
	EnvStableDesiredCount        = "STABLE_DESIRED_COUNT"
	EnvListenerARN               = "LISTENER_ARN"
	EnvStableTargetGroupARNs     = "STABLE_TARGET_GROUP_ARNS"
	EnvCatchAllRuleARN           = "CATCH_ALL_RULE_ARN"
	EnvCatchAllPriorityUnpinned  = "CATCH_ALL_PRIORITY_UNPINNED"
	EnvCatchAllPriorityPinned    = "CATCH_ALL_PRIORITY_PINNED"
	EnvCodeDeployApplicationName = "CODEDEPLOY_APPLICATION_NAME"
	EnvLatestDeploymentGroupName = "LATEST_DEPLOYMENT_GROUP_NAME"
	EnvLatestServiceName         = "LATEST_SERVICE_NAME"
)

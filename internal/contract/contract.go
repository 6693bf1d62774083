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
	// HookRollback puts everyone back on the version stable serves after a
	// rejected or expired approval, or when an operator asks for it.
	HookRollback Hook = "rollback"
	// HookSmoke checks the replacement task set through the test listener
	// at AfterAllowTestTraffic, in both stages, when smokeTest is enabled.
	HookSmoke Hook = "smoke"
)

// Hooks lists every hook function, in the order they act in a rollout.
var Hooks = []Hook{HookPin, HookUnpin, HookCleanup, HookRollback}

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
	// EnvAnchorRuleARN is stable's permanent rule: it never matches a real
	// request and keeps stable's target groups on the production listener
	// whatever the allow-list; the hooks never count it as a tenant rule.
	EnvAnchorRuleARN             = "ANCHOR_RULE_ARN"
	EnvStableDeploymentGroupName = "STABLE_DEPLOYMENT_GROUP_NAME"
	EnvPipelineName              = "PIPELINE_NAME"
	// Rollback only: what a rejected or expired approval does (OnReject…),
	// and the rendered AppSpec of the Latest stage, whose task definition
	// placeholder the rollback fills with stable's task definition.
	EnvOnReject      = "ON_REJECT"
	EnvAppSpecLatest = "APPSPEC_LATEST"
	// EnvReleaseDelaySeconds (cleanup and rollback only) is how long
	// release leaves stable's targets serving after it moves the catch-all
	// above the tenant rules, before it scales stable to zero: the target
	// groups' deregistration delay (stack config
	// service.deregistrationDelaySeconds). AWS documents no time within
	// which every load balancer node applies a new rule order.
	EnvReleaseDelaySeconds = "RELEASE_DELAY_SECONDS"
)

// Values of EnvOnReject (stack config approval.onReject).
const (
	OnRejectRollback = "rollback"
	OnRejectHold     = "hold"
)

// Pipeline stage and action names the hooks look up.
const (
	StageApprove  = "Approve"
	ActionApprove = "Approve"
	// StageLatest and StageStable are the stages that deploy latest and
	// stable: cleanup reads their latest executions.
	StageLatest = "Latest"
	StageStable = "Stable"
)

// Environment variables of the smoke hook.
const (
	// EnvSmokeTargets is a JSON object: deployment group name → base URL of
	// that group's test listener, e.g. {"tc-dev-latest":"http://alb:9080"}.
	EnvSmokeTargets = "SMOKE_TARGETS"
	// EnvSmokeChecks is the JSON of SmokeChecks.
	EnvSmokeChecks = "SMOKE_CHECKS"
)

// SmokeChecks is what the smoke hook sends and expects, rendered by the
// program from the stack's smokeTest and tenantMatch config.
type SmokeChecks struct {
	// Requests are sent in order, each Count times.
	Requests []SmokeRequest `json:"requests"`
	Count    int            `json:"count"`
	// ExpectStatus is the status every response must have.
	ExpectStatus int `json:"expectStatus"`
	// ExpectBody, when set, must appear in every response body.
	ExpectBody string `json:"expectBody,omitempty"`
	// TimeoutSeconds bounds each request.
	TimeoutSeconds int `json:"timeoutSeconds"`
}

// SmokeRequest is one GET of the smoke test.
type SmokeRequest struct {
	// Path is the path and query, starting with '/'.
	Path string `json:"path"`
	// Host, when set, is sent as the Host header (tenant by host).
	Host string `json:"host,omitempty"`
	// Headers are added to the request (tenant by header).
	Headers map[string]string `json:"headers,omitempty"`
}

// ReleaseTagPrefix starts the key of the tag a cleanup or rollback
// invocation puts on the catch-all rule for as long as it may move it
// (the key ends with the invocation's request id, the value is when the
// claim expires). pin waits while one is there: see lambda/rollout
// (guards.go) for why.
const ReleaseTagPrefix = "tenant-canary:releasing:"

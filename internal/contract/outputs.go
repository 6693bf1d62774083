package contract

// StackOutputs is every output the program exports (main.go, "Stack
// outputs"), as `pulumi stack output --json` prints them: the JSON names
// are the output names. The operator CLI (cmd/tenant-canary), the watcher
// and the fake AWS stack all read this one type; a test of the program
// checks that it exports exactly these names.
type StackOutputs struct {
	AlbURL                    string                   `json:"albUrl"`
	ClusterName               string                   `json:"clusterName"`
	LatestServiceName         string                   `json:"latestServiceName"`
	StableServiceName         string                   `json:"stableServiceName"`
	ListenerArn               string                   `json:"listenerArn"`
	CatchAllRuleArn           string                   `json:"catchAllRuleArn"`
	AnchorRuleArn             string                   `json:"anchorRuleArn"`
	TenantRuleArns            []string                 `json:"tenantRuleArns"`
	TargetGroups              map[string][]TargetGroup `json:"targetGroups"` // "latest" and "stable": the blue/green pair
	PinnedTenants             []string                 `json:"pinnedTenants"`
	RepositoryURL             string                   `json:"repositoryUrl"`
	ImageTag                  string                   `json:"imageTag"`
	PipelineName              string                   `json:"pipelineName"`
	PipelineURL               string                   `json:"pipelineUrl"`
	ApplicationName           string                   `json:"applicationName"`
	LatestDeploymentGroupName string                   `json:"latestDeploymentGroupName"`
	StableDeploymentGroupName string                   `json:"stableDeploymentGroupName"`
	ApprovalTopicArn          string                   `json:"approvalTopicArn"`
	DashboardURL              string                   `json:"dashboardUrl"`
	// HookFunctionNames maps each Hook to its function's name ("smoke"
	// only when the smoke test is enabled).
	HookFunctionNames map[string]string `json:"hookFunctionNames"`
}

// TargetGroup is one target group of a service's pair.
type TargetGroup struct {
	Name string `json:"name"`
	Arn  string `json:"arn"`
}

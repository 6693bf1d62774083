package plan

import "fmt"

// PipelineRole is what the CodePipeline service role may touch.
type PipelineRole struct {
	Stack                Stack
	BucketArn            string
	RepositoryArn        string
	ApplicationArn       string
	DeploymentGroupArns  []string
	DeploymentConfigName string
	TaskRoleArns         []string
	// ApprovalTopicArn is "" when the pipeline has no approval stage.
	ApprovalTopicArn string
}

// Policy is the pipeline role's inline policy (the actions CodePipeline's
// S3, ECR, CodeDeployToECS and Manual actions call, from "CodePipeline
// service role permissions" in the CodePipeline user guide).
func (p PipelineRole) Policy() PolicyDocument {
	st := []Statement{
		// Source (S3) reads the bundle; every action reads and writes
		// artifacts under the bucket.
		Allow("ArtifactObjects", []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}, p.BucketArn+"/*"),
		// The S3 source action checks that the bucket is versioned.
		Allow("ArtifactBucket", []string{"s3:GetBucketVersioning", "s3:GetBucketLocation", "s3:ListBucket"}, p.BucketArn),
		// Source (ECR) resolves the pushed tag to a digest.
		Allow("EcrSource", []string{"ecr:DescribeImages"}, p.RepositoryArn),
		Allow("CodeDeployDeployments", []string{"codedeploy:CreateDeployment", "codedeploy:GetDeployment"}, sorted(p.DeploymentGroupArns...)...),
		Allow("CodeDeployApplication", []string{"codedeploy:GetApplication", "codedeploy:GetApplicationRevision", "codedeploy:RegisterApplicationRevision"}, p.ApplicationArn),
		Allow("CodeDeployConfig", []string{"codedeploy:GetDeploymentConfig"}, p.Stack.CodeDeployConfigArn(p.DeploymentConfigName)),
		// Unscoped (see UnscopedActions): CodeDeployToECS registers the
		// rendered taskdef.json as a new task definition revision.
		Allow("RegisterTaskDefinition", []string{"ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"}, "*"),
		PassTaskRoles(sorted(p.TaskRoleArns...)...),
	}
	if p.ApprovalTopicArn != "" {
		// The Manual approval action publishes its notification with this role.
		st = append(st, Allow("ApprovalNotification", []string{"sns:Publish"}, p.ApprovalTopicArn))
	}
	return Doc(st...)
}

// CodeDeployRole is what the CodeDeploy service role may touch: a scoped
// replacement for the managed AWSCodeDeployRoleForECS policy, whose
// statements all use Resource "*".
type CodeDeployRole struct {
	ClusterArn   string
	ServiceNames []string
	ListenerArn  string
	// TestListenerArns are the smoke test's listeners, whose default
	// action CodeDeploy points at the replacement target group.
	TestListenerArns []string
	// HookFunctionArns are the functions the AppSpecs name (pin, unpin,
	// and smoke when the smoke test is on).
	HookFunctionArns []string
	BucketArn        string
	TaskRoleArns     []string
}

// Policy is the CodeDeploy role's inline policy.
func (c CodeDeployRole) Policy() (PolicyDocument, error) {
	rules, err := ListenerRulesArn(c.ListenerArn)
	if err != nil {
		return PolicyDocument{}, fmt.Errorf("codedeploy policy: %w", err)
	}
	var ecsResources []string
	for _, svc := range sorted(c.ServiceNames...) {
		service, taskSets, err := EcsServiceArns(c.ClusterArn, svc)
		if err != nil {
			return PolicyDocument{}, fmt.Errorf("codedeploy policy: %w", err)
		}
		ecsResources = append(ecsResources, service, taskSets)
	}
	return Doc(
		// Blue/green on ECS: a replacement task set per deployment, made
		// primary once traffic has moved, the original one deleted after the
		// termination wait.
		Allow("EcsTaskSets", []string{"ecs:CreateTaskSet", "ecs:DeleteTaskSet", "ecs:DescribeServices", "ecs:UpdateServicePrimaryTaskSet"}, ecsResources...),
		// Traffic shifting rewrites the forward weights of the production
		// listener and of its rules that point at the target group pair.
		Allow("ShiftListenerTraffic", []string{"elasticloadbalancing:ModifyListener"}, append([]string{c.ListenerArn}, sorted(c.TestListenerArns...)...)...),
		Allow("ShiftRuleTraffic", []string{"elasticloadbalancing:ModifyRule"}, rules),
		// Unscoped (see UnscopedActions): reads of the load balancer's
		// configuration and of the deployment group's alarms.
		Allow("DescribeTrafficAndAlarms", []string{
			"cloudwatch:DescribeAlarms",
			"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
			"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
		}, "*"),
		Allow("InvokeLifecycleHooks", []string{"lambda:InvokeFunction"}, sorted(c.HookFunctionArns...)...),
		Allow("ReadRevision", []string{"s3:GetObject", "s3:GetObjectVersion"}, c.BucketArn+"/*"),
		PassTaskRoles(sorted(c.TaskRoleArns...)...),
	), nil
}

// HookRole is what one hook function may touch (docs/design.md §4: scale the
// stable service, move the catch-all rule, report to CodeDeploy; pin also
// repairs tenant rules, cleanup also checks its event and the images).
type HookRole struct {
	Stack             Stack
	ClusterArn        string
	StableServiceName string
	CatchAllRuleArn   string
	// DeploymentGroupArns are the groups whose lifecycle events this hook
	// reports on; none for cleanup, which EventBridge invokes.
	DeploymentGroupArns []string
	LogGroupName        string

	// RepairRulesOfListenerArn (pin only) is the production listener whose
	// tenant rules pin points at stable's active target group.
	RepairRulesOfListenerArn string
	// LatestServiceName and LatestDeploymentGroupArn (cleanup only): cleanup
	// compares latest's image with stable's and checks that its event is
	// the Latest group's last attempted deployment.
	LatestServiceName        string
	LatestDeploymentGroupArn string
}

// Policy is the hook role's inline policy.
func (h HookRole) Policy() (PolicyDocument, error) {
	stable, _, err := EcsServiceArns(h.ClusterArn, h.StableServiceName)
	if err != nil {
		return PolicyDocument{}, fmt.Errorf("hook policy: %w", err)
	}
	st := []Statement{
		Allow("ScaleStableService", []string{"ecs:DescribeServices", "ecs:UpdateService"}, stable),
		// Only the catch-all rule ever moves (docs/design.md §4).
		Allow("MoveCatchAllRule", []string{"elasticloadbalancing:SetRulePriorities"}, h.CatchAllRuleArn),
		// Unscoped (see UnscopedActions): the hooks read the tenant rules
		// and the stable targets' health.
		Allow("ReadRoutingAndHealth", []string{"elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTargetHealth"}, "*"),
		Allow("WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, h.Stack.LogGroupArns(h.LogGroupName)...),
	}
	if h.RepairRulesOfListenerArn != "" {
		rules, err := ListenerRulesArn(h.RepairRulesOfListenerArn)
		if err != nil {
			return PolicyDocument{}, fmt.Errorf("hook policy: %w", err)
		}
		// pin rewrites the forward action of a tenant rule that points at
		// the idle stable target group; only this listener's rules.
		st = append(st, Allow("RepairTenantRules", []string{"elasticloadbalancing:ModifyRule"}, rules))
	}
	if h.LatestServiceName != "" || h.LatestDeploymentGroupArn != "" {
		if h.LatestServiceName == "" || h.LatestDeploymentGroupArn == "" {
			return PolicyDocument{}, fmt.Errorf("hook policy: the latest service and the Latest deployment group ARN go together")
		}
		latest, _, err := EcsServiceArns(h.ClusterArn, h.LatestServiceName)
		if err != nil {
			return PolicyDocument{}, fmt.Errorf("hook policy: %w", err)
		}
		st = append(st,
			// cleanup reads both services in one DescribeServices call;
			// stable's half is granted above.
			Allow("ReadLatestService", []string{"ecs:DescribeServices"}, latest),
			// Unscoped (see UnscopedActions): the images of the primary task
			// sets' task definitions.
			Allow("ReadTaskDefinitions", []string{"ecs:DescribeTaskDefinition"}, "*"),
			// GetDeploymentGroup takes the deploymentgroup resource type.
			Allow("CheckLatestDeployment", []string{"codedeploy:GetDeploymentGroup"}, h.LatestDeploymentGroupArn),
		)
	}
	if len(h.DeploymentGroupArns) > 0 {
		// PutLifecycleEventHookExecutionStatus takes the deploymentgroup
		// resource type (Service Authorization Reference, "Actions defined by
		// AWS CodeDeploy"; AWS CDK's grantPutLifecycleEventHookExecutionStatus
		// grants it on the deployment group ARN as well), so the report is
		// limited to this stack's groups.
		st = append(st, Allow("ReportLifecycleHook", []string{"codedeploy:PutLifecycleEventHookExecutionStatus"}, sorted(h.DeploymentGroupArns...)...))
	}
	return Doc(st...), nil
}

// TriggerPolicy lets EventBridge start this pipeline and nothing else.
func TriggerPolicy(pipelineArn string) PolicyDocument {
	return Doc(Allow("StartThisPipeline", []string{"codepipeline:StartPipelineExecution"}, pipelineArn))
}

// TLSOnlyBucketPolicy denies every request to the bucket that does not use
// TLS (aws:SecureTransport is "false" for plain HTTP).
func TLSOnlyBucketPolicy(bucketArn string) PolicyDocument {
	return Doc(Statement{
		Sid: "DenyInsecureTransport", Effect: "Deny",
		Principal: &Principal{AWS: []string{"*"}},
		Action:    []string{"s3:*"},
		Resource:  []string{bucketArn, bucketArn + "/*"},
		Condition: map[string]map[string][]string{"Bool": {"aws:SecureTransport": {"false"}}},
	})
}

// TaskImagePullPolicy lets the tasks' execution role pull images from the
// stack's repository. ecr:GetAuthorizationToken, which takes no resource,
// is granted with the role by the service component.
func TaskImagePullPolicy(repositoryArn string) PolicyDocument {
	return Doc(Allow("PullStackImages",
		[]string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
		repositoryArn))
}

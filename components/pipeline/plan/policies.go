package plan

import (
	"fmt"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

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

// HookResources are the stack's resources the hook functions act on, from
// which each hook's policy grants exactly the calls lambda/rollout makes for
// that hook.
type HookResources struct {
	Stack             Stack
	ClusterArn        string
	LatestServiceName string
	StableServiceName string
	// ListenerArn is the production listener; CatchAllRuleArn the one rule
	// the hooks move.
	ListenerArn     string
	CatchAllRuleArn string
	// ApplicationArn, the deployment groups and the deployment config of
	// the CodeDeploy application.
	ApplicationArn       string
	LatestGroupArn       string
	StableGroupArn       string
	DeploymentConfigName string
	// PipelineName is the pipeline's physical name; ApprovalRequired says
	// whether it has the Approve stage.
	PipelineName     string
	ApprovalRequired bool
}

// PipelineArn is the ARN of the pipeline (CodePipeline permissions
// reference, https://docs.aws.amazon.com/codepipeline/latest/userguide/permissions-reference.html:
// GetPipelineState, GetPipelineExecution and ListPipelineExecutions take
// arn:aws:codepipeline:<region>:<account>:<pipeline-name>).
func (r HookResources) PipelineArn() string { return r.Stack.Arn("codepipeline", r.PipelineName) }

// ApproveActionArn is the ARN of the Approve action, the resource
// PutApprovalResult takes (same reference:
// arn:aws:codepipeline:<region>:<account>:<pipeline-name>/<stage-name>/<action-name>).
func (r HookResources) ApproveActionArn() string {
	return r.Stack.Arn("codepipeline", r.PipelineName+"/"+contract.StageApprove+"/"+contract.ActionApprove)
}

// HookPolicy is one hook function's inline policy: exactly the calls
// lambda/rollout makes for that hook (docs/hooks.md lists them), on this
// stack's resources. The CodeDeploy resource types are the CodeDeploy User
// Guide's ("CodeDeploy permissions reference",
// https://docs.aws.amazon.com/codedeploy/latest/userguide/auth-and-access-control-permissions-reference.html):
// ListDeployments (for one group) and CreateDeployment take the
// deploymentgroup ARN,
// GetDeploymentConfig the deploymentconfig ARN, GetApplicationRevision and
// RegisterApplicationRevision the application ARN. GetDeploymentTarget and
// PutLifecycleEventHookExecutionStatus are granted on "*": see
// UnscopedActions.
func HookPolicy(hook contract.Hook, r HookResources, logGroupName string) (PolicyDocument, error) {
	stable, _, err := EcsServiceArns(r.ClusterArn, r.StableServiceName)
	if err != nil {
		return PolicyDocument{}, fmt.Errorf("%s hook policy: %w", hook, err)
	}
	latest, _, err := EcsServiceArns(r.ClusterArn, r.LatestServiceName)
	if err != nil {
		return PolicyDocument{}, fmt.Errorf("%s hook policy: %w", hook, err)
	}
	var missing []string
	for what, v := range map[string]string{
		"catch-all rule": r.CatchAllRuleArn, "latest deployment group": r.LatestGroupArn,
		"stable deployment group": r.StableGroupArn, "pipeline name": r.PipelineName, "log group": logGroupName,
	} {
		if v == "" {
			missing = append(missing, what)
		}
	}
	if len(missing) > 0 {
		return PolicyDocument{}, fmt.Errorf("%s hook policy: missing %v", hook, sorted(missing...))
	}
	st := []Statement{
		// Only the catch-all rule ever moves (docs/design.md §4).
		Allow("MoveCatchAllRule", []string{"elasticloadbalancing:SetRulePriorities"}, r.CatchAllRuleArn),
		Allow("WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, r.Stack.LogGroupArns(logGroupName)...),
	}
	// Unscoped (see UnscopedActions): every hook reads the listener's rules.
	reads := []string{"elasticloadbalancing:DescribeRules"}
	switch hook {
	case contract.HookPin:
		rules, err := ListenerRulesArn(r.ListenerArn)
		if err != nil {
			return PolicyDocument{}, fmt.Errorf("%s hook policy: %w", hook, err)
		}
		// pin waits until no earlier rollout's unpin is running: the
		// Stable group's unfinished deployments and their ECS target.
		// ... and until no cleanup, rollback or unpin holds a claim on the
		// catch-all rule (its tags).
		reads = append(reads, "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags")
		st = append(st,
			Allow("ScaleStableService", []string{"ecs:DescribeServices", "ecs:UpdateService"}, stable),
			Allow("WatchStableDeployments", []string{"codedeploy:ListDeployments"}, r.StableGroupArn),
			// Unscoped (see UnscopedActions): the Service Authorization
			// Reference lists no resource type for GetDeploymentTarget, so a
			// grant on the Stable group's ARN would be denied and every
			// push during a Stable deployment would fail pin.
			Allow("WatchUnpinHook", []string{"codedeploy:GetDeploymentTarget"}, "*"),
			// pin points the anchor and any tenant rule at the active
			// stable target group: only this listener's rules.
			Allow("RepairTenantRules", []string{"elasticloadbalancing:ModifyRule"}, rules),
			// Unscoped (see UnscopedActions): no resource type in the
			// Service Authorization Reference.
			Allow("ReportLifecycleHook", []string{"codedeploy:PutLifecycleEventHookExecutionStatus"}, "*"),
		)
	case contract.HookUnpin:
		// unpin claims the catch-all rule before its checks, as cleanup
		// and rollback do (docs/hooks.md), and reads the rule's tags when
		// they are full, to remove expired claims.
		reads = append(reads, "elasticloadbalancing:DescribeTags")
		st = append(st, claimCatchAllRule(r.CatchAllRuleArn),
			// unpin reads both services in one call and never scales.
			Allow("ReadServices", []string{"ecs:DescribeServices"}, sorted(latest, stable)...),
			Allow("WatchLatestDeployments", []string{"codedeploy:ListDeployments"}, r.LatestGroupArn),
			// ... and its own Stable deployment's status: GetDeployment
			// takes the deploymentgroup resource type (Service
			// Authorization Reference, "Actions defined by AWS CodeDeploy").
			Allow("ReadOwnDeployment", []string{"codedeploy:GetDeployment"}, r.StableGroupArn),
			// ... and its own AfterAllowTraffic event. Unscoped (see
			// UnscopedActions): no resource type in the Service
			// Authorization Reference.
			Allow("ReadOwnHook", []string{"codedeploy:GetDeploymentTarget"}, "*"),
			// Unscoped (see UnscopedActions): no resource type in the
			// Service Authorization Reference.
			Allow("ReportLifecycleHook", []string{"codedeploy:PutLifecycleEventHookExecutionStatus"}, "*"),
		)
	case contract.HookCleanup, contract.HookRollback:
		claim := claimCatchAllRule(r.CatchAllRuleArn)
		// ... and reads the rule's tags when they are full, to remove
		// expired claims.
		reads = append(reads, "elasticloadbalancing:DescribeTags")
		st = append(st, claim,
			Allow("ReadServices", []string{"ecs:DescribeServices"}, sorted(latest, stable)...),
			Allow("ScaleStableService", []string{"ecs:UpdateService"}, stable),
			Allow("WatchDeployments", []string{"codedeploy:ListDeployments"}, sorted(r.LatestGroupArn, r.StableGroupArn)...),
		)
		pipelineReads := []string{"codepipeline:GetPipelineExecution"}
		if r.ApplicationArn == "" || r.DeploymentConfigName == "" {
			return PolicyDocument{}, fmt.Errorf("%s hook policy: the application ARN and the deployment config name are required", hook)
		}
		// Both redeploy latest with stable's task definition: rollback
		// after a rejection or an operator's request, cleanup after a
		// failed or stopped Stable stage. CreateDeployment also needs
		// GetDeploymentConfig on the group's config and
		// GetApplicationRevision or RegisterApplicationRevision on the
		// application (footnote 1 of the permissions reference above). The
		// task definition is registered already and CodeDeploy's own role
		// creates the task set, so no iam:PassRole.
		st = append(st,
			Allow("RedeployLatest", []string{"codedeploy:CreateDeployment"}, r.LatestGroupArn),
			Allow("RedeployConfig", []string{"codedeploy:GetDeploymentConfig"}, r.Stack.CodeDeployConfigArn(r.DeploymentConfigName)),
			Allow("RedeployRevision", []string{"codedeploy:GetApplicationRevision", "codedeploy:RegisterApplicationRevision"}, r.ApplicationArn),
		)
		// Both leave a rejected image in place while an older, approved
		// execution has not finished its Stable stage: they list the
		// executions and read the stages' latest executions
		// (ListPipelineExecutions and GetPipelineState take the pipeline
		// ARN). cleanup also finds a pending approval there.
		pipelineReads = append(pipelineReads, "codepipeline:ListPipelineExecutions", "codepipeline:GetPipelineState")
		if hook == contract.HookCleanup {
			// cleanup rejects a pending approval a newer push superseded.
			if r.ApprovalRequired {
				st = append(st, Allow("RejectSupersededApproval", []string{"codepipeline:PutApprovalResult"}, r.ApproveActionArn()))
			}
		}
		st = append(st, Allow("ReadPipeline", sorted(pipelineReads...), r.PipelineArn()))
	default:
		return PolicyDocument{}, fmt.Errorf("no policy for hook %q", hook)
	}
	if hook != contract.HookPin {
		// Unscoped (see UnscopedActions): the images of the task definitions
		// latest and stable serve.
		st = append(st, Allow("ReadTaskDefinitions", []string{"ecs:DescribeTaskDefinition"}, "*"))
	}
	// Unscoped (see UnscopedActions): reads of the rules and, for pin, of
	// the stable targets' health.
	st = append(st, Allow("ReadRouting", sorted(reads...), "*"))
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

// claimCatchAllRule lets a function put and remove its release claim on the
// catch-all rule: only the claim's own tag keys (Service Authorization
// Reference, Elastic Load Balancing V2: AddTags and RemoveTags take the
// aws:TagKeys condition key).
func claimCatchAllRule(catchAllRuleArn string) Statement {
	claim := Allow("ClaimCatchAllRule", []string{"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"}, catchAllRuleArn)
	claim.Condition = map[string]map[string][]string{
		"ForAllValues:StringLike": {"aws:TagKeys": {contract.ReleaseTagPrefix + "*"}},
	}
	return claim
}

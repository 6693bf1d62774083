// Package pipeline is the canary pipeline ComponentResource (docs/design.md §3–§4):
// `docker push <repositoryUrl>:<imageTag>` → EventBridge → CodePipeline V2
// `Source` (ECR image + S3 deploy bundle) → `Latest` (CodeDeploy canary on the
// `latest` service, pin hook) → `Approve` (optional) → `Stable` (CodeDeploy on
// the `stable` service, unpin hook), with rollback alarms (error share,
// connection errors, latency, unhealthy targets) that roll a stage back, an
// optional smoke test through test listeners before production traffic
// moves, one CloudWatch dashboard, the hook Lambda functions built from
// ./lambda at program run time, and a least-privilege IAM role per actor.
//
// The pure decisions live in subpackages: plan (IAM documents, event
// patterns, deployment config, alarm math, names), build (reproducible hook
// builds, deterministic zips) and the top-level appspec package (templates).
package pipeline

import (
	"fmt"

	"github.com/tenant-canary/tenant-canary/internal/contract"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "tenant-canary:pipeline:CanaryPipeline"

// TargetGroup is one target group of a service's blue/green pair.
type TargetGroup struct {
	// Name is what CodeDeploy's targetGroupPairInfo refers to.
	Name pulumi.StringInput
	Arn  pulumi.StringInput
	// ArnSuffix is the CloudWatch dimension TargetGroup (targetgroup/<name>/<id>).
	ArnSuffix pulumi.StringInput
}

// Args are the pipeline's inputs: validated plain config plus the IDs and
// ARNs of the network and service components.
type Args struct {
	// Plain, validated config.
	Traffic  config.Traffic
	Approval config.Approval
	Rollback config.Rollback
	// SmokeTest, when Enabled, adds the test listeners and the smoke hook;
	// its Paths must be resolved (config.Config.SmokePaths).
	SmokeTest config.SmokeTest
	// TenantMatch is how the smoke test impersonates SmokeTest.Tenant.
	TenantMatch       config.TenantMatch
	Service           config.Service
	ImageTag          string
	ForceDeleteImages bool
	// TaskFamily is the task definition family the service component
	// registered; each deployment adds a revision to it.
	TaskFamily string
	// ContainerEnvironment is optional extra environment of the deployed
	// container (PORT is always set from Service.Port).
	ContainerEnvironment map[string]string

	// From the network and service components.
	ClusterName       pulumi.StringInput
	ClusterArn        pulumi.StringInput
	LatestServiceName pulumi.StringInput
	StableServiceName pulumi.StringInput
	// LatestTargetGroups[0] is the group the service starts on (blue), [1]
	// the replacement (green); the same for StableTargetGroups.
	LatestTargetGroups [2]TargetGroup
	StableTargetGroups [2]TargetGroup
	// ListenerArn is the production listener (HTTPS :443 with a certificate,
	// else HTTP :80).
	ListenerArn pulumi.StringInput
	// LoadBalancerArnSuffix is the CloudWatch dimension LoadBalancer.
	LoadBalancerArnSuffix pulumi.StringInput
	CatchAllRuleArn       pulumi.StringInput
	// AnchorRuleArn is stable's permanent, never-matching rule.
	AnchorRuleArn        pulumi.StringInput
	TaskExecutionRoleArn pulumi.StringInput
	// TaskExecutionRoleName gets the permission to pull from the repository.
	TaskExecutionRoleName pulumi.StringInput
	TaskRoleArn           pulumi.StringInput
	// LogGroupName is the tasks' awslogs group.
	LogGroupName pulumi.StringInput
	// AlbURL is linked from the approval request.
	AlbURL pulumi.StringInput

	// Only with SmokeTest.Enabled: the load balancer the test listeners
	// join, its security group, the subnets and VPC the smoke hook runs in,
	// and the NAT gateways' addresses, the only sources the test listeners
	// admit.
	AlbArn             pulumi.StringInput
	AlbSecurityGroupId pulumi.StringInput
	AlbDnsName         pulumi.StringInput
	VpcId              pulumi.StringInput
	TaskSubnetIds      pulumi.StringArrayInput
	NatPublicIps       []pulumi.StringOutput

	// SourceDir is the project root, where ./lambda/<hook> resolves; ""
	// means the current directory (Pulumi runs the program in the project
	// root).
	SourceDir string
}

// Pipeline is the canary pipeline component.
type Pipeline struct {
	pulumi.ResourceState

	// RepositoryUrl is where `docker push` sends the image that starts a rollout.
	RepositoryUrl  pulumi.StringOutput `pulumi:"repositoryUrl"`
	RepositoryName pulumi.StringOutput `pulumi:"repositoryName"`
	PipelineName   pulumi.StringOutput `pulumi:"pipelineName"`
	// PipelineUrl is the pipeline's page in the AWS console.
	PipelineUrl               pulumi.StringOutput `pulumi:"pipelineUrl"`
	ArtifactBucketName        pulumi.StringOutput `pulumi:"artifactBucketName"`
	ApplicationName           pulumi.StringOutput `pulumi:"applicationName"`
	LatestDeploymentGroupName pulumi.StringOutput `pulumi:"latestDeploymentGroupName"`
	StableDeploymentGroupName pulumi.StringOutput `pulumi:"stableDeploymentGroupName"`
	// ApprovalTopicArn is "" when approval is not required.
	ApprovalTopicArn     pulumi.StringOutput `pulumi:"approvalTopicArn"`
	PinFunctionName      pulumi.StringOutput `pulumi:"pinFunctionName"`
	UnpinFunctionName    pulumi.StringOutput `pulumi:"unpinFunctionName"`
	CleanupFunctionName  pulumi.StringOutput `pulumi:"cleanupFunctionName"`
	RollbackFunctionName pulumi.StringOutput `pulumi:"rollbackFunctionName"`
	// SmokeFunctionName is "" unless the smoke test is enabled.
	SmokeFunctionName pulumi.StringOutput `pulumi:"smokeFunctionName"`
	// DashboardUrl is the stack's CloudWatch dashboard in the console.
	DashboardUrl pulumi.StringOutput `pulumi:"dashboardUrl"`
}

// Stage and artifact names of the pipeline.
const (
	StageSource   = "Source"
	StageLatest   = contract.StageLatest
	StageApprove  = contract.StageApprove
	StageStable   = contract.StageStable
	ArtifactImage = "Image"
	// ArtifactBundle is the deploy bundle (taskdef.json and the AppSpecs).
	ArtifactBundle = "Bundle"
	// BundleKey is the bundle's object key in the artifact bucket.
	BundleKey = "deploy-bundle/bundle.zip"
)

// ExecutionMode is SUPERSEDED. In this mode CodePipeline locks stages, not
// the whole pipeline, so a second push runs `Latest` while the first
// execution waits at `Approve`; `latest` then serves the newer image.
// SUPERSEDED replaces only an execution that is waiting *between* stages: the stage
// that holds a pending manual approval stays locked, so the older
// execution's approval is still pending, about an image `latest` no longer
// serves, and the newer execution waits behind it (CodePipeline User
// Guide, "How pipeline executions work",
// https://docs.aws.amazon.com/codepipeline/latest/userguide/concepts-how-it-works.html).
// The cleanup hook therefore rejects such an approval once the newer
// canary has ended (newest push wins), and unpin never releases the
// tenants onto an image their approval did not cover (docs/design.md §4).
const ExecutionMode = "SUPERSEDED"

// Hook names (directories under ./lambda).
const (
	HookPin      = string(contract.HookPin)
	HookUnpin    = string(contract.HookUnpin)
	HookCleanup  = string(contract.HookCleanup)
	HookRollback = string(contract.HookRollback)
	HookSmoke    = string(contract.HookSmoke)
)

// stackFacts resolves the partition, region and account every ARN in the
// policies is built from, from the provider — never written by hand.
type stackFacts struct {
	region    pulumi.StringOutput
	account   pulumi.StringOutput
	callerArn pulumi.StringOutput
}

// with runs fn over the stack facts and extra inputs.
func (s stackFacts) with(fn func(st plan.Stack, vals []interface{}) (string, error), extra ...interface{}) pulumi.StringOutput {
	all := append([]interface{}{s.region, s.account, s.callerArn}, extra...)
	return pulumi.All(all...).ApplyT(func(vals []interface{}) (string, error) {
		st := plan.Stack{
			Region:    vals[0].(string),
			Account:   vals[1].(string),
			Partition: plan.PartitionFromArn(vals[2].(string)),
		}
		if err := st.Validate(); err != nil {
			return "", err
		}
		return fn(st, vals[3:])
	}).(pulumi.StringOutput)
}

// NewPipeline creates the canary pipeline and everything it runs.
func NewPipeline(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Pipeline, error) {
	if args == nil {
		return nil, fmt.Errorf("pipeline %s: args are required", name)
	}
	if err := args.validate(); err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", name, err)
	}
	comp := &Pipeline{}
	if err := ctx.RegisterComponentResource(TypeToken, name, comp, opts...); err != nil {
		return nil, fmt.Errorf("register pipeline component: %w", err)
	}
	parent := pulumi.Parent(comp)
	region := aws.GetRegionOutput(ctx, aws.GetRegionOutputArgs{}, parent)
	caller := aws.GetCallerIdentityOutput(ctx, aws.GetCallerIdentityOutputArgs{}, parent)
	b := &builder{
		ctx: ctx, name: name, args: args, comp: comp, parent: parent,
		facts: stackFacts{region: region.Name(), account: caller.AccountId(), callerArn: caller.Arn()},
	}
	for _, step := range []struct {
		what string
		run  func() error
	}{
		{"repository", b.repository},
		{"artifact bucket", b.artifactBucket},
		{"codedeploy application", b.application},
		{"hook functions", b.hookFunctions},
		{"smoke test", b.smokeTest},
		{"deploy bundle", b.deployBundle},
		{"codedeploy deployment groups", b.deploymentGroups},
		{"dashboard", b.dashboard},
		{"hook permissions", b.hookPolicies},
		{"approval topic", b.approvalTopic},
		{"pipeline", b.pipeline},
		{"push trigger", b.trigger},
		{"cleanup trigger", b.cleanupTrigger},
		{"rollback trigger", b.rollbackTrigger},
	} {
		if err := step.run(); err != nil {
			return nil, fmt.Errorf("pipeline %s: %s: %w", name, step.what, err)
		}
	}

	comp.RepositoryUrl = b.repo.RepositoryUrl
	comp.RepositoryName = b.repo.Name
	comp.PipelineName = b.pipe.Name
	comp.PipelineUrl = pulumi.Sprintf("https://%s.console.aws.amazon.com/codesuite/codepipeline/pipelines/%s/view?region=%s", b.facts.region, b.pipe.Name, b.facts.region)
	comp.ArtifactBucketName = b.bucket.Bucket
	comp.ApplicationName = b.app.Name
	comp.LatestDeploymentGroupName = b.groups[roleLatest].DeploymentGroupName
	comp.StableDeploymentGroupName = b.groups[roleStable].DeploymentGroupName
	comp.ApprovalTopicArn = pulumi.String("").ToStringOutput()
	if b.topic != nil {
		comp.ApprovalTopicArn = b.topic.Arn
	}
	comp.PinFunctionName = b.hooks[HookPin].fn.Name
	comp.UnpinFunctionName = b.hooks[HookUnpin].fn.Name
	comp.CleanupFunctionName = b.hooks[HookCleanup].fn.Name
	comp.RollbackFunctionName = b.hooks[HookRollback].fn.Name
	comp.DashboardUrl = b.dashboardURL
	comp.SmokeFunctionName = pulumi.String("").ToStringOutput()
	if h, ok := b.hooks[HookSmoke]; ok {
		comp.SmokeFunctionName = h.fn.Name
	}

	if err := ctx.RegisterResourceOutputs(comp, pulumi.Map{
		"repositoryUrl":             comp.RepositoryUrl,
		"repositoryName":            comp.RepositoryName,
		"pipelineName":              comp.PipelineName,
		"pipelineUrl":               comp.PipelineUrl,
		"artifactBucketName":        comp.ArtifactBucketName,
		"applicationName":           comp.ApplicationName,
		"latestDeploymentGroupName": comp.LatestDeploymentGroupName,
		"stableDeploymentGroupName": comp.StableDeploymentGroupName,
		"approvalTopicArn":          comp.ApprovalTopicArn,
		"pinFunctionName":           comp.PinFunctionName,
		"unpinFunctionName":         comp.UnpinFunctionName,
		"cleanupFunctionName":       comp.CleanupFunctionName,
		"rollbackFunctionName":      comp.RollbackFunctionName,
		"dashboardUrl":              comp.DashboardUrl,
		"smokeFunctionName":         comp.SmokeFunctionName,
	}); err != nil {
		return nil, fmt.Errorf("register pipeline outputs: %w", err)
	}
	return comp, nil
}

// validate rejects Args the lead could wire wrongly; the config values were
// validated by config.Load already.
func (a *Args) validate() error {
	var missing []string
	for field, in := range map[string]pulumi.StringInput{
		"ClusterName": a.ClusterName, "ClusterArn": a.ClusterArn,
		"LatestServiceName": a.LatestServiceName, "StableServiceName": a.StableServiceName,
		"ListenerArn": a.ListenerArn, "LoadBalancerArnSuffix": a.LoadBalancerArnSuffix,
		"CatchAllRuleArn": a.CatchAllRuleArn, "AnchorRuleArn": a.AnchorRuleArn, "TaskExecutionRoleArn": a.TaskExecutionRoleArn,
		"TaskRoleArn": a.TaskRoleArn, "LogGroupName": a.LogGroupName, "AlbURL": a.AlbURL,
	} {
		if in == nil {
			missing = append(missing, field)
		}
	}
	for i := range 2 {
		for svc, tgs := range map[string][2]TargetGroup{"LatestTargetGroups": a.LatestTargetGroups, "StableTargetGroups": a.StableTargetGroups} {
			if tgs[i].Name == nil || tgs[i].Arn == nil || tgs[i].ArnSuffix == nil {
				missing = append(missing, fmt.Sprintf("%s[%d]", svc, i))
			}
		}
	}
	if len(missing) > 0 {
		sortStrings(missing)
		return fmt.Errorf("missing args: %v", missing)
	}
	if a.ImageTag == "" || a.TaskFamily == "" || a.Service.ContainerName == "" {
		return fmt.Errorf("ImageTag, TaskFamily and Service.ContainerName are required")
	}
	if _, err := plan.Routing(a.Traffic); err != nil {
		return err
	}
	if a.SmokeTest.Enabled {
		var missing []string
		for field, in := range map[string]interface{}{
			"AlbArn": a.AlbArn, "AlbSecurityGroupId": a.AlbSecurityGroupId, "AlbDnsName": a.AlbDnsName,
			"VpcId": a.VpcId, "TaskSubnetIds": a.TaskSubnetIds,
		} {
			if isNil(in) {
				missing = append(missing, field)
			}
		}
		if len(a.NatPublicIps) == 0 {
			missing = append(missing, "NatPublicIps (the smoke test needs NAT)")
		}
		if len(a.SmokeTest.Paths) == 0 {
			missing = append(missing, "SmokeTest.Paths")
		}
		if len(missing) > 0 {
			sortStrings(missing)
			return fmt.Errorf("smoke test enabled but missing args: %v", missing)
		}
	}
	return nil
}

func isNil(v interface{}) bool {
	switch x := v.(type) {
	case pulumi.StringInput:
		return x == nil
	case pulumi.StringArrayInput:
		return x == nil
	}
	return v == nil
}

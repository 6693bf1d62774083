package pipeline

import (
	"fmt"
	"strconv"

	"github.com/tenant-canary/tenant-canary/internal/contract"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/components/pipeline/build"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/components/routing"
)

// hookEnvironment is exactly the contract of lambda/rollout's ConfigFromEnv
// for hook h: what every hook reads, for rollback what a rejection does,
// and for cleanup and rollback the Latest stage's AppSpec (a test parses each function's
// environment with ConfigFromEnv).
func (b *builder) hookEnvironment(h string) pulumi.StringMap {
	a := b.args
	env := pulumi.StringMap{
		contract.EnvClusterName:               a.ClusterName,
		contract.EnvStableServiceName:         a.StableServiceName,
		contract.EnvStableDesiredCount:        pulumi.String(strconv.Itoa(a.Service.StableCount)),
		contract.EnvListenerARN:               a.ListenerArn,
		contract.EnvStableTargetGroupARNs:     pulumi.Sprintf("%s,%s", a.StableTargetGroups[0].Arn, a.StableTargetGroups[1].Arn),
		contract.EnvCatchAllRuleARN:           a.CatchAllRuleArn,
		contract.EnvAnchorRuleARN:             a.AnchorRuleArn,
		contract.EnvCatchAllPriorityUnpinned:  pulumi.String(strconv.Itoa(routing.CatchAllPriorityUnpinned)),
		contract.EnvCatchAllPriorityPinned:    pulumi.String(strconv.Itoa(routing.CatchAllPriorityPinned)),
		contract.EnvCodeDeployApplicationName: b.app.Name,
		contract.EnvLatestDeploymentGroupName: pulumi.String(b.groupNames[roleLatest]),
		contract.EnvStableDeploymentGroupName: pulumi.String(b.groupNames[roleStable]),
		contract.EnvLatestServiceName:         a.LatestServiceName,
		// The physical name, known before the pipeline exists (the
		// pipeline depends on the hooks' policies).
		contract.EnvPipelineName: pulumi.String(b.pipelineName()),
	}
	if h == HookCleanup || h == HookRollback {
		// The same value the service component gives the target groups'
		// deregistration delay: release waits it out between moving the
		// catch-all and scaling stable to zero.
		env[contract.EnvReleaseDelaySeconds] = pulumi.String(strconv.Itoa(a.Service.DeregistrationDelaySeconds))
	}
	if h == HookCleanup || h == HookRollback {
		// The rollback function holds a rejection under hold; cleanup
		// rolls back a rejected image it still finds on latest (one the
		// rollback function left because a deployment was unfinished)
		// only under rollback.
		env[contract.EnvOnReject] = pulumi.String(a.Approval.OnReject)
	}
	if h == HookCleanup || h == HookRollback {
		// The Latest stage's AppSpec, its pin hook included, with the
		// <TASK_DEFINITION> placeholder filled in when latest is rolled
		// back (after a rejection, or a failed or stopped Stable stage).
		env[contract.EnvAppSpecLatest] = b.renderBundle().MapIndex(pulumi.String(appspec.FileAppSpecLatest)).
			ApplyT(func(spec string) string { return appspec.WithoutComments([]byte(spec)) }).(pulumi.StringOutput)
	}
	return env
}

// hookFunctions builds each hook from source (once per program run, in
// preview and update alike, so the preview shows the real hash) and deploys
// it with its own role and log group.
func (b *builder) hookFunctions() error {
	b.hooks = map[string]*hook{}
	for _, hk := range contract.Hooks {
		h := string(hk)
		parts, err := b.newHookParts(h)
		if err != nil {
			return err
		}
		args := parts.functionArgs(hookTimeout(h, b.args.Service), b.hookEnvironment(h), fmt.Sprintf("tenant-canary %s hook (docs/design.md §4)", h))
		fn, err := lambda.NewFunction(b.ctx, b.child(h+"-hook"), args, b.parent, pulumi.DependsOn([]pulumi.Resource{parts.logGroup}))
		if err != nil {
			return fmt.Errorf("create %s hook function: %w", h, err)
		}
		// CodeDeploy invokes lifecycle hooks asynchronously and waits for
		// their status call, not their return value. pin and unpin have
		// already reported when they return an error, and Lambda's default
		// two retries of an async invocation could re-pin tenants after a
		// failed deployment's cleanup released them: no retries. cleanup
		// and rollback, which EventBridge invokes, keep the retries (they
		// decide from the state they read and report nothing) but drop
		// events older than CleanupMaxEventAgeSeconds.
		invoke := &lambda.FunctionEventInvokeConfigArgs{FunctionName: fn.Name, MaximumRetryAttempts: pulumi.Int(0)}
		if h == HookCleanup || h == HookRollback {
			invoke.MaximumRetryAttempts = pulumi.Int(CleanupMaxRetryAttempts)
			invoke.MaximumEventAgeInSeconds = pulumi.Int(CleanupMaxEventAgeSeconds)
		}
		if _, err := lambda.NewFunctionEventInvokeConfig(b.ctx, b.child(h+"-hook-invoke"), invoke, b.parent); err != nil {
			return fmt.Errorf("configure %s hook async invocation: %w", h, err)
		}
		b.hooks[h] = &hook{name: parts.name, fn: fn, role: parts.role, logGroup: parts.logGroupName}
	}
	return nil
}

// hookPolicies grants each hook exactly the calls lambda/rollout makes for
// it (plan.HookPolicy).
func (b *builder) hookPolicies() error {
	a := b.args
	for _, hk := range contract.Hooks {
		h := string(hk)
		logGroup := b.hooks[h].logGroup
		doc := b.facts.with(func(st plan.Stack, v []interface{}) (string, error) {
			d, err := plan.HookPolicy(hk, plan.HookResources{
				Stack: st, ClusterArn: v[0].(string),
				LatestServiceName: v[1].(string), StableServiceName: v[2].(string),
				ListenerArn: v[3].(string), CatchAllRuleArn: v[4].(string),
				ApplicationArn: v[5].(string), LatestGroupArn: v[6].(string), StableGroupArn: v[7].(string),
				DeploymentConfigName: v[8].(string),
				PipelineName:         b.pipelineName(), ApprovalRequired: a.Approval.Required,
			}, logGroup)
			return d.JSON(), err
		}, a.ClusterArn, a.LatestServiceName, a.StableServiceName, a.ListenerArn, a.CatchAllRuleArn,
			b.app.Arn, b.groups[roleLatest].Arn, b.groups[roleStable].Arn, b.deployConfigName)
		p, err := b.rolePolicy(h+"-hook", b.hooks[h].role, doc)
		if err != nil {
			return err
		}
		b.hookPolicyRes = append(b.hookPolicyRes, p)
	}
	return nil
}

// hookParts is what every hook function is made of: its built zip, its
// physical name, its log group and its role.
type hookParts struct {
	artifact     build.Artifact
	name         string
	logGroupName string
	logGroup     *cloudwatch.LogGroup
	role         *iam.Role
}

// newHookParts builds hook h from source (once per program run, in preview
// and update alike, so the preview shows the real hash) and creates its log
// group — before the function, so Lambda never auto-creates it without
// retention — and its role.
func (b *builder) newHookParts(h string) (hookParts, error) {
	artifact, err := build.Default.Hook(b.ctx.Context(), b.args.SourceDir, h)
	if err != nil {
		return hookParts{}, fmt.Errorf("build %s hook: %w", h, err)
	}
	p := hookParts{artifact: artifact, name: b.hookName(h)}
	p.logGroupName = "/aws/lambda/" + p.name
	p.logGroup, err = cloudwatch.NewLogGroup(b.ctx, b.child(h+"-logs"), &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(p.logGroupName),
		RetentionInDays: pulumi.Int(b.args.Service.LogRetentionDays),
	}, b.parent)
	if err != nil {
		return hookParts{}, fmt.Errorf("create %s hook log group: %w", h, err)
	}
	if p.role, err = b.newRole(h+"-hook", plan.ServiceLambda); err != nil {
		return hookParts{}, err
	}
	return p, nil
}

// functionArgs are the Lambda function of the hook: provided.al2023 on
// arm64 running the zip's bootstrap, logging JSON lines to its log group.
func (p hookParts) functionArgs(timeoutSeconds int, env pulumi.StringMapInput, description string) *lambda.FunctionArgs {
	return &lambda.FunctionArgs{
		Name:           pulumi.String(p.name),
		Role:           p.role.Arn,
		Runtime:        pulumi.String(HookRuntime),
		Architectures:  pulumi.StringArray{pulumi.String(HookArchitecture)},
		Handler:        pulumi.String(HookHandler),
		Code:           pulumi.NewFileArchive(p.artifact.Path),
		SourceCodeHash: pulumi.String(p.artifact.SourceCodeHash),
		Timeout:        pulumi.Int(timeoutSeconds),
		MemorySize:     pulumi.Int(HookMemoryMB),
		Environment:    &lambda.FunctionEnvironmentArgs{Variables: env},
		LoggingConfig: &lambda.FunctionLoggingConfigArgs{
			// The hooks write log/slog JSON lines.
			LogFormat: pulumi.String("JSON"),
			LogGroup:  p.logGroup.Name,
		},
		Description: pulumi.String(description),
	}
}

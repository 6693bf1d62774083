package pipeline

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/codepipeline"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
)

// deployAction is a CodeDeployToECS action: CodePipeline registers
// taskdef.json (with <IMAGE1_NAME> replaced by the pushed image's URI) as a
// new task definition revision, puts its ARN into the AppSpec's
// <TASK_DEFINITION> and starts a CodeDeploy blue/green deployment
// (docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECSbluegreen.html;
// the configuration keys are docs/design.md §6's).
func (b *builder) deployAction(group pulumi.StringInput, appSpecFile string) codepipeline.PipelineStageActionArray {
	return codepipeline.PipelineStageActionArray{&codepipeline.PipelineStageActionArgs{
		Name:           pulumi.String("Deploy"),
		Category:       pulumi.String("Deploy"),
		Owner:          pulumi.String("AWS"),
		Provider:       pulumi.String("CodeDeployToECS"),
		Version:        pulumi.String("1"),
		InputArtifacts: pulumi.StringArray{pulumi.String(ArtifactBundle), pulumi.String(ArtifactImage)},
		Configuration: pulumi.StringMap{
			"ApplicationName":                b.app.Name,
			"DeploymentGroupName":            group,
			"TaskDefinitionTemplateArtifact": pulumi.String(ArtifactBundle),
			"TaskDefinitionTemplatePath":     pulumi.String(appspec.FileTaskDefinition),
			"AppSpecTemplateArtifact":        pulumi.String(ArtifactBundle),
			"AppSpecTemplatePath":            pulumi.String(appSpecFile),
			"Image1ArtifactName":             pulumi.String(ArtifactImage),
			// Not the container's name: the placeholder text in
			// taskdef.json, without its angle brackets, that CodePipeline
			// replaces with the pushed image's URI (AWS CDK calls it
			// taskDefinitionPlaceholder).
			"Image1ContainerName": pulumi.String(appspec.ImagePlaceholderName()),
		},
	}}
}

func (b *builder) pipeline() error {
	a := b.args
	role, err := b.newRole("pipeline", plan.ServiceCodePipeline)
	if err != nil {
		return err
	}
	topicArn := pulumi.String("").ToStringOutput()
	if b.topic != nil {
		topicArn = b.topic.Arn
	}
	doc := b.facts.with(func(st plan.Stack, v []interface{}) (string, error) {
		return plan.PipelineRole{
			Stack: st, BucketArn: v[0].(string), RepositoryArn: v[1].(string), ApplicationArn: v[2].(string),
			DeploymentGroupArns: []string{v[3].(string), v[4].(string)}, DeploymentConfigName: v[5].(string),
			TaskRoleArns: []string{v[6].(string), v[7].(string)}, ApprovalTopicArn: v[8].(string),
		}.Policy().JSON(), nil
	}, b.bucket.Arn, b.repo.Arn, b.app.Arn, b.groups[roleLatest].Arn, b.groups[roleStable].Arn,
		b.deployConfigName, a.TaskExecutionRoleArn, a.TaskRoleArn, topicArn)
	policy, err := b.rolePolicy("pipeline", role, doc)
	if err != nil {
		return err
	}

	stages := codepipeline.PipelineStageArray{
		&codepipeline.PipelineStageArgs{
			Name: pulumi.String(StageSource),
			Actions: codepipeline.PipelineStageActionArray{
				&codepipeline.PipelineStageActionArgs{
					Name: pulumi.String("Image"), Category: pulumi.String("Source"), Owner: pulumi.String("AWS"),
					Provider: pulumi.String("ECR"), Version: pulumi.String("1"),
					Configuration: pulumi.StringMap{
						"RepositoryName": b.repo.Name,
						"ImageTag":       pulumi.String(a.ImageTag),
					},
					OutputArtifacts: pulumi.StringArray{pulumi.String(ArtifactImage)},
				},
				&codepipeline.PipelineStageActionArgs{
					Name: pulumi.String("Bundle"), Category: pulumi.String("Source"), Owner: pulumi.String("AWS"),
					Provider: pulumi.String("S3"), Version: pulumi.String("1"),
					Configuration: pulumi.StringMap{
						"S3Bucket":    b.bucket.Bucket,
						"S3ObjectKey": b.bundle.Key,
						// The bundle changes with `pulumi up`, which must not
						// start a rollout; only a push does (EventBridge).
						"PollForSourceChanges": pulumi.String("false"),
					},
					OutputArtifacts: pulumi.StringArray{pulumi.String(ArtifactBundle)},
				},
			},
		},
		&codepipeline.PipelineStageArgs{
			Name:    pulumi.String(StageLatest),
			Actions: b.deployAction(b.groups[roleLatest].DeploymentGroupName, appspec.FileAppSpecLatest),
		},
	}
	if a.Approval.Required {
		pipelineURL := pulumi.Sprintf("https://%s.console.aws.amazon.com/codesuite/codepipeline/pipelines/%s/view?region=%s",
			b.facts.region, b.pipelineName(), b.facts.region)
		approve := &codepipeline.PipelineStageActionArgs{
			Name: pulumi.String("Approve"), Category: pulumi.String("Approval"), Owner: pulumi.String("AWS"),
			Provider: pulumi.String("Manual"), Version: pulumi.String("1"),
			Configuration: pulumi.StringMap{
				"NotificationArn": b.topic.Arn,
				// CustomData is at most 500 characters.
				"CustomData": pulumi.Sprintf("Stage 1 is done: the new image serves every tenant except the pinned ones. "+
					"Check it at the link below, then approve to move the pinned tenants too, or reject to keep them on the previous version. Pipeline: %s", pipelineURL),
				"ExternalEntityLink": a.AlbURL,
			},
		}
		if a.Approval.TimeoutMinutes > 0 {
			// Available only on manual approval actions; an expired
			// approval fails the stage like a rejection.
			approve.TimeoutInMinutes = pulumi.IntPtr(a.Approval.TimeoutMinutes)
		}
		stages = append(stages, &codepipeline.PipelineStageArgs{
			Name:    pulumi.String(StageApprove),
			Actions: codepipeline.PipelineStageActionArray{approve},
		})
	}
	stages = append(stages, &codepipeline.PipelineStageArgs{
		Name:    pulumi.String(StageStable),
		Actions: b.deployAction(b.groups[roleStable].DeploymentGroupName, appspec.FileAppSpecStable),
	})

	deps := append([]pulumi.Resource{policy}, b.hookPolicyRes...)
	pipe, err := codepipeline.NewPipeline(b.ctx, b.child("pipeline"), &codepipeline.PipelineArgs{
		Name:          pulumi.String(b.pipelineName()),
		PipelineType:  pulumi.String("V2"),
		ExecutionMode: pulumi.String(ExecutionMode),
		RoleArn:       role.Arn,
		ArtifactStores: codepipeline.PipelineArtifactStoreArray{
			&codepipeline.PipelineArtifactStoreArgs{Location: b.bucket.Bucket, Type: pulumi.String("S3")},
		},
		Stages: stages,
	}, b.parent, pulumi.DependsOn(deps))
	if err != nil {
		return fmt.Errorf("create pipeline: %w", err)
	}
	b.pipe = pipe
	return nil
}

// trigger starts the pipeline when the configured tag is pushed.
func (b *builder) trigger() error {
	role, err := b.newRole("trigger", plan.ServiceEvents)
	if err != nil {
		return err
	}
	doc := b.pipe.Arn.ApplyT(func(arn string) string { return plan.TriggerPolicy(arn).JSON() }).(pulumi.StringOutput)
	policy, err := b.rolePolicy("trigger", role, doc)
	if err != nil {
		return err
	}
	tag := b.args.ImageTag
	rule, err := cloudwatch.NewEventRule(b.ctx, b.child("push"), &cloudwatch.EventRuleArgs{
		Description: pulumi.Sprintf("docker push of :%s starts a rollout", tag),
		EventPattern: b.repo.Name.ApplyT(func(repo string) string {
			return plan.ECRPushPattern(repo, tag).JSON()
		}).(pulumi.StringOutput),
	}, b.parent)
	if err != nil {
		return fmt.Errorf("create push rule: %w", err)
	}
	if _, err := cloudwatch.NewEventTarget(b.ctx, b.child("push-target"), &cloudwatch.EventTargetArgs{
		Rule:    rule.Name,
		Arn:     b.pipe.Arn,
		RoleArn: role.Arn,
	}, b.parent, pulumi.DependsOn([]pulumi.Resource{policy})); err != nil {
		return fmt.Errorf("target pipeline from push rule: %w", err)
	}
	return nil
}

// cleanupTrigger runs the cleanup hook whenever a deployment of either group
// ends (succeeded, failed or stopped): CodeDeploy does not run the AppSpec's
// later hooks after a failure, a rollback's success must unpin, and a
// Stable deployment's end scales stable down; cleanup decides from the
// state it reads (lambda/rollout/cleanup.go).
//
// A pipeline execution that failed, was canceled (a `pulumi up` changed the
// pipeline's definition mid-rollout) or was stopped runs it too: such an
// end may leave the tenants pinned with no deployment ending after it.
func (b *builder) cleanupTrigger() error {
	if err := b.eventTrigger(HookCleanup, "deployment-ended", "latest-failed", HookCleanup+"-invoke",
		"the end of a deployment of either group runs the cleanup hook",
		pulumi.All(b.app.Name, b.groups[roleLatest].DeploymentGroupName, b.groups[roleStable].DeploymentGroupName).ApplyT(func(v []interface{}) string {
			return plan.DeploymentEndedPattern(v[0].(string), v[1].(string), v[2].(string)).JSON()
		}).(pulumi.StringOutput)); err != nil {
		return err
	}
	return b.eventTrigger(HookCleanup, "pipeline-ended", "", HookCleanup+"-invoke-pipeline-ended",
		"a failed, canceled or stopped pipeline execution runs the cleanup hook",
		pulumi.String(plan.PipelineEndedPattern(b.pipelineName()).JSON()).ToStringOutput())
}

// rollbackTrigger runs the rollback hook when the Approve action fails
// (rejected, or its timeout expired): it puts everyone back on the version
// stable serves, or holds, as approval.onReject says. Without the Approve
// stage there is nothing to trigger on; an operator still invokes the
// function (`tenant-canary rollback`).
func (b *builder) rollbackTrigger() error {
	if !b.args.Approval.Required {
		return nil
	}
	return b.eventTrigger(HookRollback, "approval-failed", "", HookRollback+"-invoke",
		"a rejected or expired approval runs the rollback hook",
		pulumi.String(plan.ApprovalFailedPattern(b.pipelineName()).JSON()).ToStringOutput())
}

// eventTrigger is an EventBridge rule that invokes hook h, and only this
// rule may invoke it through the permission named permission. previous, if
// set, is the suffix the rule had before (aliases keep an existing stack's
// rule and target instead of replacing them).
func (b *builder) eventTrigger(h, suffix, previous, permission, description string, pattern pulumi.StringOutput) error {
	fn := b.hooks[h]
	alias := func(s string) pulumi.ResourceOption {
		if previous == "" {
			return pulumi.Aliases(nil)
		}
		return pulumi.Aliases([]pulumi.Alias{{Name: pulumi.String(b.child(previous + s))}})
	}
	rule, err := cloudwatch.NewEventRule(b.ctx, b.child(suffix), &cloudwatch.EventRuleArgs{
		Description:  pulumi.String(description),
		EventPattern: pattern,
	}, b.parent, alias(""))
	if err != nil {
		return fmt.Errorf("create %s rule: %w", h, err)
	}
	perm, err := lambda.NewPermission(b.ctx, b.child(permission), &lambda.PermissionArgs{
		Action:    pulumi.String("lambda:InvokeFunction"),
		Function:  fn.fn.Name,
		Principal: pulumi.String(plan.ServiceEvents),
		SourceArn: rule.Arn,
	}, b.parent)
	if err != nil {
		return fmt.Errorf("allow the %s rule to invoke the %s hook: %w", suffix, h, err)
	}
	if _, err := cloudwatch.NewEventTarget(b.ctx, b.child(suffix+"-target"), &cloudwatch.EventTargetArgs{
		Rule: rule.Name,
		Arn:  fn.fn.Arn,
	}, b.parent, alias("-target"), pulumi.DependsOn([]pulumi.Resource{perm})); err != nil {
		return fmt.Errorf("target the %s hook from the %s rule: %w", h, suffix, err)
	}
	return nil
}

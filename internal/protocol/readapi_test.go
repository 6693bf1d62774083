package protocol

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	smithy "github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func errCode(t *testing.T, err error) string {
	t.Helper()
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	return apiErr.ErrorCode()
}

// canaryOfV1 is a Direct whose v1 Latest deployment is at its canary
// step, each step a minute after the last.
func canaryOfV1(t *testing.T) *Direct {
	t.Helper()
	d := NewDirectFromStack(fixture("tenants-2"), Scenario{Pushes: 2})
	for _, e := range []string{"PUSH v1", "enters Latest", "CodeDeploy starts", "creates the replacement", "shifts the canary"} {
		d.Advance(time.Minute)
		require.NoError(t, d.Steps(context.Background(), e))
	}
	return d
}

// What the operator reads comes with the times things happened at, by the
// Direct's clock: the execution's start, the canary step's start (the
// CLI's "next step in"), the deployment's creation.
func TestReadAnswersCarryTheTimesOfTheRollout(t *testing.T) {
	d := canaryOfV1(t)
	start := directEpoch.Add(time.Minute)
	d.Advance(3 * time.Minute)
	api, st := d.Operator(), d.w.st
	ctx := context.Background()

	execs, err := api.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(st.pipeline)})
	require.NoError(t, err)
	require.Len(t, execs.PipelineExecutionSummaries, 1)
	assert.Equal(t, start, *execs.PipelineExecutionSummaries[0].StartTime)
	assert.Equal(t, Digest(1), *execs.PipelineExecutionSummaries[0].SourceRevisions[0].RevisionId)

	dep, err := api.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String("d-1")})
	require.NoError(t, err)
	assert.Equal(t, start.Add(time.Minute), *dep.DeploymentInfo.CreateTime, "created when the execution entered Latest")
	assert.Nil(t, dep.DeploymentInfo.CompleteTime)
	assert.Equal(t, st.group(st.latestGroup).DeploymentConfigName, dep.DeploymentInfo.DeploymentConfigName)

	target, err := api.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{DeploymentId: aws.String("d-1"), TargetId: aws.String(st.cluster + ":" + st.latestService)})
	require.NoError(t, err)
	events := map[string]cdtypes.LifecycleEvent{}
	for _, ev := range target.DeploymentTarget.EcsTarget.LifecycleEvents {
		events[aws.ToString(ev.LifecycleEventName)] = ev
	}
	assert.Equal(t, cdtypes.LifecycleEventStatusSucceeded, events["BeforeInstall"].Status, "pin reported")
	assert.Equal(t, cdtypes.LifecycleEventStatusInProgress, events["AllowTraffic"].Status)
	assert.Equal(t, start.Add(4*time.Minute), *events["AllowTraffic"].StartTime, "the canary step")
	assert.Equal(t, cdtypes.LifecycleEventStatusPending, events["AfterAllowTraffic"].Status)
	weights := map[cdtypes.TargetLabel]float64{}
	for _, ts := range target.DeploymentTarget.EcsTarget.TaskSetsInfo {
		weights[ts.TaskSetLabel] = ts.TrafficWeight
	}
	assert.Equal(t, map[cdtypes.TargetLabel]float64{cdtypes.TargetLabelBlue: 90, cdtypes.TargetLabelGreen: 10}, weights)

	// The clock only goes forward.
	assert.Panics(t, func() { d.SetNow(directEpoch) })
}

// Lists page as the API references say, and bad input is refused with
// AWS's error codes.
func TestReadOperationsPageAndRefuseLikeAWS(t *testing.T) {
	d := canaryOfV1(t)
	require.NoError(t, d.Steps(context.Background(), "PUSH v2"))
	api, st := d.Operator(), d.w.st
	ctx := context.Background()

	first, err := api.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(st.pipeline), MaxResults: aws.Int32(1)})
	require.NoError(t, err)
	require.Len(t, first.PipelineExecutionSummaries, 1)
	assert.Equal(t, "exec-2", *first.PipelineExecutionSummaries[0].PipelineExecutionId, "newest first")
	require.NotNil(t, first.NextToken)
	second, err := api.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(st.pipeline), MaxResults: aws.Int32(1), NextToken: first.NextToken})
	require.NoError(t, err)
	assert.Equal(t, "exec-1", *second.PipelineExecutionSummaries[0].PipelineExecutionId)
	assert.Nil(t, second.NextToken)

	for _, tt := range []struct {
		name string
		call func() error
		code string
	}{
		{"maxResults beyond 100", func() error {
			_, err := api.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(st.pipeline), MaxResults: aws.Int32(101)})
			return err
		}, "ValidationException"},
		{"a token never given", func() error {
			_, err := api.ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{PipelineName: aws.String(st.pipeline), NextToken: aws.String("x")})
			return err
		}, "InvalidNextTokenException"},
		{"another pipeline", func() error {
			_, err := api.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("other")})
			return err
		}, "PipelineNotFoundException"},
		{"26 deployments at once", func() error {
			ids := make([]string, 26)
			for i := range ids {
				ids[i] = "d-1"
			}
			_, err := api.BatchGetDeployments(ctx, &codedeploy.BatchGetDeploymentsInput{DeploymentIds: ids})
			return err
		}, "BatchLimitExceededException"},
		{"a group of another application", func() error {
			_, err := api.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String("other"), DeploymentGroupName: aws.String(st.latestGroup)})
			return err
		}, "ApplicationDoesNotExistException"},
		{"a config the stack does not declare", func() error {
			_, err := api.GetDeploymentConfig(ctx, &codedeploy.GetDeploymentConfigInput{DeploymentConfigName: aws.String("CodeDeployDefault.ECSLinear10PercentEvery1Minutes")})
			return err
		}, "DeploymentConfigDoesNotExistException"},
		{"stop an unknown deployment", func() error {
			_, err := api.StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String("d-99")})
			return err
		}, "DeploymentDoesNotExistException"},
		{"101 alarm names", func() error {
			_, err := api.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: make([]string, 101)})
			return err
		}, "InvalidParameterValue"},
		{"another repository", func() error {
			_, err := api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("other")})
			return err
		}, "RepositoryNotFoundException"},
		{"an image never pushed", func() error {
			_, repo := st.repository()
			_, err := api.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(Digest(7))}}})
			return err
		}, "ImageNotFoundException"},
		{"an unknown function", func() error {
			_, err := api.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException"},
		{"an approval at a stage without one", func() error {
			_, err := api.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{PipelineName: aws.String(st.pipeline), StageName: aws.String(StageLatest),
				ActionName: aws.String("Deploy"), Token: aws.String("token-1"), Result: &cptypes.ApprovalResult{Status: cptypes.ApprovalStatusApproved, Summary: aws.String("ok")}})
			return err
		}, "ActionNotFoundException"},
		{"rules by listener and ARN at once", func() error {
			_, err := api.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(st.listenerARN), RuleArns: []string{st.catchAllARN}})
			return err
		}, "ValidationError"},
	} {
		assert.Equal(t, tt.code, errCode(t, tt.call()), tt.name)
	}
}

// An operator's stop with autoRollbackEnabled ends the deployment Stopped
// with traffic back on the original task set; the deployment then cannot
// be stopped again. The fixture's groups roll back on failure and alarm,
// not on request: a stop that does not ask leaves traffic where it is. Invoke runs the rollback
// function's real handler with the caller's payload.
func TestReadStopAndInvokeAreTheOperatorsPath(t *testing.T) {
	d := canaryOfV1(t)
	api, st := d.Operator(), d.w.st
	ctx := context.Background()
	other := canaryOfV1(t)
	_, err := other.Operator().StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String("d-1")})
	require.NoError(t, err)
	other.Inspect(func(w *World) {
		assert.Equal(t, DepStopped, w.deployment("d-1").Status)
		assert.Equal(t, []Weighted{{st.latestTG[0], 90}, {st.latestTG[1], 10}}, w.rule(st.defaultARN).Forward, "no rollback asked, none configured")
	})

	_, err = api.StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String("d-1"), AutoRollbackEnabled: aws.Bool(true)})
	require.NoError(t, err)
	require.NoError(t, d.Steps(ctx, "traffic back on the original task set"))
	dep, err := api.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String("d-1")})
	require.NoError(t, err)
	assert.Equal(t, cdtypes.DeploymentStatusStopped, dep.DeploymentInfo.Status)
	assert.Nil(t, dep.DeploymentInfo.ErrorInformation, "stopped by a person, not an alarm")
	d.Inspect(func(w *World) {
		for _, f := range w.rule(st.defaultARN).Forward {
			if f.Weight > 0 {
				assert.Equal(t, st.latestTG[0], f.TG, "traffic back on the original")
			}
		}
	})
	_, err = api.StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String("d-1")})
	assert.Equal(t, "DeploymentAlreadyCompletedException", errCode(t, err))

	var got any
	d.RunFunction(contract.HookRollback, func(_ context.Context, p any) (any, error) {
		got = p
		return map[string]string{"outcome": "nothing-to-do"}, nil
	})
	out, err := api.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(st.decl.Outputs.HookFunctionNames["rollback"]), Payload: []byte(`{"reason":"latency"}`)})
	require.NoError(t, err)
	assert.Equal(t, rollout.RollbackRequest{Reason: "latency"}, got)
	assert.JSONEq(t, `{"outcome":"nothing-to-do"}`, string(out.Payload))
	assert.Empty(t, d.Invocations(), "a RequestResponse invocation ran, none is left queued")

	// The real handler: latest serves v0 again, stable v0: it releases
	// the tenants.
	d.RunFunction(contract.HookRollback, nil)
	out, err = api.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(st.decl.Outputs.HookFunctionNames["rollback"]), Payload: []byte(`{"reason":"latency"}`)})
	require.NoError(t, err)
	assert.Nil(t, out.FunctionError, string(out.Payload))
	assert.Contains(t, string(out.Payload), `"outcome":"unpinned"`)
	d.Inspect(func(w *World) { assert.False(t, w.catchAllPinned()) })
}

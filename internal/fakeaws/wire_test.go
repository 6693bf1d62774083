package fakeaws_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	smithy "github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func sdkConfig(t *testing.T, h http.Handler) aws.Config {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		}),
		Retryer: fakeaws.Retryer,
	}
}

// rolloutAt is the one model of AWS (internal/protocol) with a declared
// stack, run to a point of a rollout: v1 pushed and its Latest deployment
// at its canary step, then (approval) waiting for its approval.
func rolloutAt(t *testing.T, approval bool) (*protocol.Direct, *declared.Stack) {
	t.Helper()
	stack, err := protocol.LoadStack("../protocol/testdata/stacks/tenants-2.json")
	require.NoError(t, err)
	d := protocol.NewDirectFromStack(stack, protocol.Scenario{Pushes: 1})
	ctx := context.Background()
	require.NoError(t, d.Steps(ctx, "PUSH v1", "enters Latest", "CodeDeploy starts", "creates the replacement", "shifts the canary"))
	if approval {
		require.NoError(t, d.Steps(ctx, "shifts all traffic", "termination wait ends"))
		require.NoError(t, d.DeliverAll(ctx))
		require.NoError(t, d.Steps(ctx, "enters Approve"))
	}
	return d, stack
}

// Every operation answers through the real SDK client with what the backend
// returns when called directly: the reflective wire encoding loses nothing
// the SDK reads.
func TestEveryOperationRoundTripsThroughTheRealSDK(t *testing.T) {
	for _, approval := range []bool{false, true} {
		t.Run(map[bool]string{false: "canary", true: "approval"}[approval], func(t *testing.T) {
			d, stack := rolloutAt(t, approval)
			s, o := d.Operator(), stack.Outputs
			cfg := sdkConfig(t, d.Handler())
			ctx := context.Background()
			cp, cd, ec, el := codepipeline.NewFromConfig(cfg), codedeploy.NewFromConfig(cfg), ecs.NewFromConfig(cfg), elbv2.NewFromConfig(cfg)
			cw, lb, er := cloudwatch.NewFromConfig(cfg), lambda.NewFromConfig(cfg), ecr.NewFromConfig(cfg)

			same := func(want, got any, err error) {
				t.Helper()
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}
			{
				in := &codepipeline.GetPipelineStateInput{Name: aws.String(o.PipelineName)}
				want, _ := s.GetPipelineState(ctx, in)
				got, err := cp.GetPipelineState(ctx, in)
				same(want.StageStates, got.StageStates, err)
			}
			{
				in := &codepipeline.GetPipelineInput{Name: aws.String(o.PipelineName)}
				want, _ := s.GetPipeline(ctx, in)
				got, err := cp.GetPipeline(ctx, in)
				same(want.Pipeline, got.Pipeline, err)
			}
			{
				in := &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(o.PipelineName), MaxResults: aws.Int32(5)}
				want, _ := s.ListPipelineExecutions(ctx, in)
				got, err := cp.ListPipelineExecutions(ctx, in)
				same(want.PipelineExecutionSummaries, got.PipelineExecutionSummaries, err)
			}
			for _, g := range []string{o.LatestDeploymentGroupName, o.StableDeploymentGroupName} {
				in := &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String(o.ApplicationName), DeploymentGroupName: aws.String(g)}
				want, _ := s.GetDeploymentGroup(ctx, in)
				got, err := cd.GetDeploymentGroup(ctx, in)
				same(want.DeploymentGroupInfo, got.DeploymentGroupInfo, err)
			}
			ids, err := cd.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: aws.String(o.ApplicationName), DeploymentGroupName: aws.String(o.LatestDeploymentGroupName)})
			require.NoError(t, err)
			require.NotEmpty(t, ids.Deployments)
			for _, id := range ids.Deployments {
				want, _ := s.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
				got, err := cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
				same(want.DeploymentInfo, got.DeploymentInfo, err)
				targets, err := cd.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(id)})
				require.NoError(t, err)
				for _, target := range targets.TargetIds {
					in := &codedeploy.GetDeploymentTargetInput{DeploymentId: aws.String(id), TargetId: aws.String(target)}
					want, _ := s.GetDeploymentTarget(ctx, in)
					got, err := cd.GetDeploymentTarget(ctx, in)
					same(want.DeploymentTarget, got.DeploymentTarget, err)
				}
			}
			{
				in := &codedeploy.GetDeploymentConfigInput{DeploymentConfigName: stack.CodeDeploy.DeploymentConfig.DeploymentConfigName}
				want, _ := s.GetDeploymentConfig(ctx, in)
				got, err := cd.GetDeploymentConfig(ctx, in)
				same(want.DeploymentConfigInfo, got.DeploymentConfigInfo, err)
			}
			{
				in := &ecs.DescribeServicesInput{Cluster: aws.String(o.ClusterName), Services: []string{o.LatestServiceName, o.StableServiceName}}
				want, _ := s.DescribeServices(ctx, in)
				got, err := ec.DescribeServices(ctx, in)
				same(want.Services, got.Services, err)
				for _, ts := range got.Services[0].TaskSets {
					in := &ecs.DescribeTaskDefinitionInput{TaskDefinition: ts.TaskDefinition}
					want, _ := s.DescribeTaskDefinition(ctx, in)
					got, err := ec.DescribeTaskDefinition(ctx, in)
					same(want.TaskDefinition, got.TaskDefinition, err)
				}
			}
			{
				_, repo, _ := strings.Cut(o.RepositoryURL, "/")
				in := &ecr.DescribeImagesInput{RepositoryName: aws.String(repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(protocol.Digest(1))}}}
				want, _ := s.DescribeImages(ctx, in)
				got, err := er.DescribeImages(ctx, in)
				same(want.ImageDetails, got.ImageDetails, err)
			}
			{
				in := &elbv2.DescribeRulesInput{RuleArns: append([]string{o.CatchAllRuleArn}, o.TenantRuleArns...)}
				want, _ := s.DescribeRules(ctx, in)
				got, err := el.DescribeRules(ctx, in)
				same(want.Rules, got.Rules, err)
				in2 := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(o.TargetGroups["latest"][0].Arn)}
				want2, _ := s.DescribeTargetHealth(ctx, in2)
				got2, err := el.DescribeTargetHealth(ctx, in2)
				same(want2.TargetHealthDescriptions, got2.TargetHealthDescriptions, err)
			}
			{
				var names []string
				for _, a := range stack.Alarms {
					names = append(names, aws.ToString(a.Definition.AlarmName))
				}
				in := &cloudwatch.DescribeAlarmsInput{AlarmNames: names, MaxRecords: aws.Int32(100)}
				want, _ := s.DescribeAlarms(ctx, in)
				got, err := cw.DescribeAlarms(ctx, in)
				require.Len(t, want.MetricAlarms, len(names))
				require.NoError(t, err)
				for i := range got.MetricAlarms { // the CBOR decoder gives local time
					got.MetricAlarms[i].StateUpdatedTimestamp = aws.Time(got.MetricAlarms[i].StateUpdatedTimestamp.UTC())
				}
				same(want.MetricAlarms, got.MetricAlarms, err)
			}
			{
				// The function gets the caller's payload and its answer
				// comes back.
				d.RunFunction(contract.HookRollback, func(_ context.Context, payload any) (any, error) {
					return map[string]any{"outcome": "busy", "detail": payload.(rollout.RollbackRequest).Reason}, nil
				})
				got, err := lb.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(o.HookFunctionNames["rollback"]), Payload: []byte(`{"reason":"test"}`)})
				require.NoError(t, err)
				assert.JSONEq(t, `{"outcome":"busy","detail":"test"}`, string(got.Payload))
				assert.Nil(t, got.FunctionError)
			}
		})
	}
}

func TestErrorsReachTheSDKWithTheirCodeInEveryProtocol(t *testing.T) {
	d, stack := rolloutAt(t, true)
	o := stack.Outputs
	cfg := sdkConfig(t, d.Handler())
	ctx := context.Background()
	code := func(err error) string {
		var apiErr smithy.APIError
		require.True(t, errors.As(err, &apiErr), "%v", err)
		return apiErr.ErrorCode()
	}
	_, err := codepipeline.NewFromConfig(cfg).PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{PipelineName: aws.String(o.PipelineName),
		StageName: aws.String("Approve"), ActionName: aws.String("Approve"), Token: aws.String("wrong"),
		Result: &cptypes.ApprovalResult{Status: cptypes.ApprovalStatusApproved, Summary: aws.String("ok")}})
	assert.Equal(t, "InvalidApprovalTokenException", code(err))

	d.FailNext("DescribeAlarms", &fakeaws.APIError{Code: "AccessDenied", Message: "not allowed", Status: 403})
	_, err = cloudwatch.NewFromConfig(cfg).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"x"}})
	assert.Equal(t, "AccessDenied", code(err))

	_, err = lambda.NewFromConfig(cfg).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("nope")})
	assert.Equal(t, "ResourceNotFoundException", code(err))

	d.FailNext("DescribeRules", &fakeaws.APIError{Code: "ListenerNotFound", Message: "gone"})
	_, err = elbv2.NewFromConfig(cfg).DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(o.ListenerArn)})
	assert.Equal(t, "ListenerNotFound", code(err))
}

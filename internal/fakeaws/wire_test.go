package fakeaws_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

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

	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
)

func sdkConfig(t *testing.T, s *fakeaws.Stack) aws.Config {
	t.Helper()
	srv := httptest.NewServer(fakeaws.NewServer(s, nil))
	t.Cleanup(srv.Close)
	return aws.Config{
		Region: fakeaws.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		}),
		RetryMaxAttempts: 1,
	}
}

// Every operation answers through the real SDK client with what the backend
// returns when called directly: the reflective wire encoding loses nothing
// the SDK reads.
func TestEveryOperationRoundTripsThroughTheRealSDK(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, state := range []fakeaws.RolloutState{fakeaws.StateCanary, fakeaws.StateApproval, fakeaws.StateStable, fakeaws.StateRolledBack} {
		t.Run(string(state), func(t *testing.T) {
			s := fakeaws.NewStack(state, now)
			cfg := sdkConfig(t, s)
			ctx := context.Background()
			cp, cd, ec, el := codepipeline.NewFromConfig(cfg), codedeploy.NewFromConfig(cfg), ecs.NewFromConfig(cfg), elbv2.NewFromConfig(cfg)
			cw, lb, er := cloudwatch.NewFromConfig(cfg), lambda.NewFromConfig(cfg), ecr.NewFromConfig(cfg)

			same := func(want, got any, err error) {
				t.Helper()
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}
			{
				in := &codepipeline.GetPipelineStateInput{Name: aws.String(fakeaws.PipelineName)}
				want, _ := s.GetPipelineState(ctx, in)
				got, err := cp.GetPipelineState(ctx, in)
				same(want.StageStates, got.StageStates, err)
			}
			{
				in := &codepipeline.GetPipelineInput{Name: aws.String(fakeaws.PipelineName)}
				want, _ := s.GetPipeline(ctx, in)
				got, err := cp.GetPipeline(ctx, in)
				same(want.Pipeline, got.Pipeline, err)
			}
			{
				in := &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(fakeaws.PipelineName), MaxResults: aws.Int32(5)}
				want, _ := s.ListPipelineExecutions(ctx, in)
				got, err := cp.ListPipelineExecutions(ctx, in)
				same(want.PipelineExecutionSummaries, got.PipelineExecutionSummaries, err)
			}
			for _, g := range []string{fakeaws.LatestGroup, fakeaws.StableGroup} {
				in := &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String(fakeaws.CodeDeployApp), DeploymentGroupName: aws.String(g)}
				want, _ := s.GetDeploymentGroup(ctx, in)
				got, err := cd.GetDeploymentGroup(ctx, in)
				same(want.DeploymentGroupInfo, got.DeploymentGroupInfo, err)
			}
			ids, err := cd.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: aws.String(fakeaws.CodeDeployApp), DeploymentGroupName: aws.String(fakeaws.LatestGroup)})
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
				in := &codedeploy.GetDeploymentConfigInput{DeploymentConfigName: aws.String(fakeaws.CanaryConfig)}
				want, _ := s.GetDeploymentConfig(ctx, in)
				got, err := cd.GetDeploymentConfig(ctx, in)
				same(want.DeploymentConfigInfo, got.DeploymentConfigInfo, err)
			}
			{
				in := &ecs.DescribeServicesInput{Cluster: aws.String(fakeaws.Cluster), Services: []string{fakeaws.LatestService, fakeaws.StableService}}
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
				in := &ecr.DescribeImagesInput{RepositoryName: aws.String("tc-dev"), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String("sha256:" + fakeaws.ImageV2[len(fakeaws.ImageV2)-64:])}}}
				want, _ := s.DescribeImages(ctx, in)
				got, err := er.DescribeImages(ctx, in)
				same(want.ImageDetails, got.ImageDetails, err)
			}
			{
				in := &elbv2.DescribeRulesInput{RuleArns: append([]string{fakeaws.CatchAllRuleARN}, fakeaws.TenantRuleARNs...)}
				want, _ := s.DescribeRules(ctx, in)
				got, err := el.DescribeRules(ctx, in)
				same(want.Rules, got.Rules, err)
				in2 := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(fakeaws.LatestBlueTG)}
				want2, _ := s.DescribeTargetHealth(ctx, in2)
				got2, err := el.DescribeTargetHealth(ctx, in2)
				same(want2.TargetHealthDescriptions, got2.TargetHealthDescriptions, err)
			}
			{
				in := &cloudwatch.DescribeAlarmsInput{AlarmNames: append(fakeaws.AlarmNames[fakeaws.LatestGroup], fakeaws.AlarmNames[fakeaws.StableGroup]...)}
				want, _ := s.DescribeAlarms(ctx, in)
				got, err := cw.DescribeAlarms(ctx, in)
				require.Len(t, want.MetricAlarms, 4)
				require.NoError(t, err)
				for i := range got.MetricAlarms { // the CBOR decoder gives local time
					got.MetricAlarms[i].StateUpdatedTimestamp = aws.Time(got.MetricAlarms[i].StateUpdatedTimestamp.UTC())
				}
				same(want.MetricAlarms, got.MetricAlarms, err)
			}
			{
				got, err := lb.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fakeaws.RollbackFunction), Payload: []byte(`{"reason":"test"}`)})
				require.NoError(t, err)
				assert.Contains(t, string(got.Payload), `"outcome"`)
				assert.Nil(t, got.FunctionError)
			}
		})
	}
}

func TestErrorsReachTheSDKWithTheirCodeInEveryProtocol(t *testing.T) {
	s := fakeaws.NewStack(fakeaws.StateApproval, time.Now())
	cfg := sdkConfig(t, s)
	ctx := context.Background()
	code := func(err error) string {
		var apiErr smithy.APIError
		require.True(t, errors.As(err, &apiErr), "%v", err)
		return apiErr.ErrorCode()
	}
	_, err := codepipeline.NewFromConfig(cfg).PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{PipelineName: aws.String(fakeaws.PipelineName),
		StageName: aws.String("Approve"), ActionName: aws.String("Approve"), Token: aws.String("wrong"),
		Result: &cptypes.ApprovalResult{Status: cptypes.ApprovalStatusApproved, Summary: aws.String("ok")}})
	assert.Equal(t, "InvalidApprovalTokenException", code(err))

	s.FailNext("DescribeAlarms", &fakeaws.APIError{Code: "AccessDenied", Message: "not allowed", Status: 403})
	_, err = cloudwatch.NewFromConfig(cfg).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"x"}})
	assert.Equal(t, "AccessDenied", code(err))

	_, err = lambda.NewFromConfig(cfg).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("nope")})
	assert.Equal(t, "ResourceNotFoundException", code(err))

	s.FailNext("DescribeRules", &fakeaws.APIError{Code: "ListenerNotFound", Message: "gone"})
	_, err = elbv2.NewFromConfig(cfg).DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(fakeaws.ListenerARN)})
	assert.Equal(t, "ListenerNotFound", code(err))
}

package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/tenant-canary/tenant-canary/internal/outputs"
)

// region is where the stack lives: the SDK's own setting (AWS_REGION,
// profile) or else the listener ARN's region.
func region(o *outputs.Read) string {
	if a, err := arn.Parse(o.ListenerArn); err == nil {
		return a.Region
	}
	return ""
}

// operatorOutputs are the outputs every command but watch needs.
var operatorOutputs = []string{"clusterName", "latestServiceName", "stableServiceName", "listenerArn", "catchAllRuleArn",
	"pipelineName", "applicationName", "latestDeploymentGroupName", "stableDeploymentGroupName"}

// AWS clients the CLI uses, as interfaces of the SDK clients' methods.
type (
	pipelineAPI interface {
		GetPipelineState(context.Context, *codepipeline.GetPipelineStateInput, ...func(*codepipeline.Options)) (*codepipeline.GetPipelineStateOutput, error)
		GetPipeline(context.Context, *codepipeline.GetPipelineInput, ...func(*codepipeline.Options)) (*codepipeline.GetPipelineOutput, error)
		ListPipelineExecutions(context.Context, *codepipeline.ListPipelineExecutionsInput, ...func(*codepipeline.Options)) (*codepipeline.ListPipelineExecutionsOutput, error)
		PutApprovalResult(context.Context, *codepipeline.PutApprovalResultInput, ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error)
		ListActionExecutions(context.Context, *codepipeline.ListActionExecutionsInput, ...func(*codepipeline.Options)) (*codepipeline.ListActionExecutionsOutput, error)
	}
	deployAPI interface {
		GetDeploymentGroup(context.Context, *codedeploy.GetDeploymentGroupInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentGroupOutput, error)
		ListDeployments(context.Context, *codedeploy.ListDeploymentsInput, ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error)
		GetDeployment(context.Context, *codedeploy.GetDeploymentInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error)
		BatchGetDeployments(context.Context, *codedeploy.BatchGetDeploymentsInput, ...func(*codedeploy.Options)) (*codedeploy.BatchGetDeploymentsOutput, error)
		GetDeploymentConfig(context.Context, *codedeploy.GetDeploymentConfigInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentConfigOutput, error)
		ListDeploymentTargets(context.Context, *codedeploy.ListDeploymentTargetsInput, ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error)
		GetDeploymentTarget(context.Context, *codedeploy.GetDeploymentTargetInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentTargetOutput, error)
		StopDeployment(context.Context, *codedeploy.StopDeploymentInput, ...func(*codedeploy.Options)) (*codedeploy.StopDeploymentOutput, error)
	}
	ecsAPI interface {
		DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
		DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	}
	elbAPI interface {
		DescribeRules(context.Context, *elbv2.DescribeRulesInput, ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
		DescribeTargetHealth(context.Context, *elbv2.DescribeTargetHealthInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error)
	}
	alarmAPI interface {
		DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
	}
	lambdaAPI interface {
		Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
	}
	ecrAPI interface {
		DescribeImages(context.Context, *ecr.DescribeImagesInput, ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
	}
)

type clients struct {
	pipeline pipelineAPI
	deploy   deployAPI
	ecs      ecsAPI
	elb      elbAPI
	alarms   alarmAPI
	lambda   lambdaAPI
	ecr      ecrAPI
}

// credentialsError marks a failure to find credentials, whatever the SDK
// wraps it in.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// loadAWS is the SDK's default configuration (environment, shared files,
// SSO, IMDS; AWS_ENDPOINT_URL too), in the stack's region unless one is set.
func loadAWS(ctx context.Context, region string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = region
	}
	return cfg, nil
}

func newClients(cfg aws.Config) *clients {
	if inner := cfg.Credentials; inner != nil {
		cfg.Credentials = aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
			c, err := inner.Retrieve(ctx)
			if err != nil {
				return c, &credentialsError{err}
			}
			return c, nil
		})
	}
	return &clients{
		pipeline: codepipeline.NewFromConfig(cfg), deploy: codedeploy.NewFromConfig(cfg), ecs: ecs.NewFromConfig(cfg),
		elb: elbv2.NewFromConfig(cfg), alarms: cloudwatch.NewFromConfig(cfg), lambda: lambda.NewFromConfig(cfg), ecr: ecr.NewFromConfig(cfg),
	}
}

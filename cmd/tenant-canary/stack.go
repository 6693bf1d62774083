package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"

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
)

// outputsSource prints a stack's outputs as `pulumi stack output --json`
// does; pulumiCLI runs pulumi, tests inject a fake.
type outputsSource interface {
	Outputs(ctx context.Context, stack string) ([]byte, error)
}

// Stack problems, each its own exit code and line.
var (
	errPulumiMissing = errors.New("the pulumi CLI is not on PATH; it reads the stack's outputs")
	errNoStack       = errors.New("no stack selected: run `pulumi stack select <name>` or pass --stack")
)

// notDeployedError: the stack exists but has no outputs (or lacks one the
// command needs), so it was never (fully) deployed by this program.
type notDeployedError struct{ stack, detail string }

func (e *notDeployedError) Error() string {
	name := e.stack
	if name == "" {
		name = "the selected stack"
	} else {
		name = "stack " + name
	}
	return fmt.Sprintf("%s %s: run `pulumi up` first", name, e.detail)
}

type pulumiCLI struct{}

func (pulumiCLI) Outputs(ctx context.Context, stack string) ([]byte, error) {
	if _, err := exec.LookPath("pulumi"); err != nil {
		return nil, errPulumiMissing
	}
	args := []string{"stack", "output", "--json"}
	if stack != "" {
		args = append(args, "--stack", stack)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "pulumi", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "no stack selected") {
			return nil, errNoStack
		}
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Errorf("pulumi %s: %s", strings.Join(args, " "), cmp(msg, err.Error()))
	}
	return out, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// stackOutputs are the outputs the CLI reads (docs/configuration.md, "Stack outputs").
type stackOutputs struct {
	stack                     string
	ClusterName               string            `json:"clusterName"`
	LatestServiceName         string            `json:"latestServiceName"`
	StableServiceName         string            `json:"stableServiceName"`
	ListenerArn               string            `json:"listenerArn"`
	CatchAllRuleArn           string            `json:"catchAllRuleArn"`
	TenantRuleArns            []string          `json:"tenantRuleArns"`
	PinnedTenants             []string          `json:"pinnedTenants"`
	RepositoryURL             string            `json:"repositoryUrl"`
	PipelineName              string            `json:"pipelineName"`
	ApplicationName           string            `json:"applicationName"`
	LatestDeploymentGroupName string            `json:"latestDeploymentGroupName"`
	StableDeploymentGroupName string            `json:"stableDeploymentGroupName"`
	HookFunctionNames         map[string]string `json:"hookFunctionNames"`
}

func readOutputs(ctx context.Context, src outputsSource, stack string) (*stackOutputs, error) {
	raw, err := src.Outputs(ctx, stack)
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, fmt.Errorf("reading the stack outputs: %w", err)
	}
	if len(all) == 0 {
		return nil, &notDeployedError{stack, "has no outputs: it was never deployed"}
	}
	out := &stackOutputs{stack: stack}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("reading the stack outputs: %w", err)
	}
	for name, v := range map[string]string{
		"clusterName": out.ClusterName, "latestServiceName": out.LatestServiceName, "stableServiceName": out.StableServiceName,
		"listenerArn": out.ListenerArn, "catchAllRuleArn": out.CatchAllRuleArn, "pipelineName": out.PipelineName,
		"applicationName": out.ApplicationName, "latestDeploymentGroupName": out.LatestDeploymentGroupName,
		"stableDeploymentGroupName": out.StableDeploymentGroupName,
	} {
		if v == "" {
			return nil, &notDeployedError{stack, "has no output " + name}
		}
	}
	return out, nil
}

// region is where the stack lives: the SDK's own setting (AWS_REGION,
// profile) or else the listener ARN's region.
func (o *stackOutputs) region() string {
	if a, err := arn.Parse(o.ListenerArn); err == nil {
		return a.Region
	}
	return ""
}

// AWS clients the CLI uses, as interfaces of the SDK clients' methods.
type (
	pipelineAPI interface {
		GetPipelineState(context.Context, *codepipeline.GetPipelineStateInput, ...func(*codepipeline.Options)) (*codepipeline.GetPipelineStateOutput, error)
		GetPipeline(context.Context, *codepipeline.GetPipelineInput, ...func(*codepipeline.Options)) (*codepipeline.GetPipelineOutput, error)
		ListPipelineExecutions(context.Context, *codepipeline.ListPipelineExecutionsInput, ...func(*codepipeline.Options)) (*codepipeline.ListPipelineExecutionsOutput, error)
		PutApprovalResult(context.Context, *codepipeline.PutApprovalResultInput, ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error)
	}
	deployAPI interface {
		GetDeploymentGroup(context.Context, *codedeploy.GetDeploymentGroupInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentGroupOutput, error)
		ListDeployments(context.Context, *codedeploy.ListDeploymentsInput, ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error)
		GetDeployment(context.Context, *codedeploy.GetDeploymentInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error)
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

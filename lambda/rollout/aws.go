package rollout

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// ECS is the part of the ECS API the hooks use.
type ECS interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, optFns ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
}

// ELB is the part of the Elastic Load Balancing v2 API the hooks use.
type ELB interface {
	DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
	DescribeTargetHealth(ctx context.Context, in *elbv2.DescribeTargetHealthInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error)
	SetRulePriorities(ctx context.Context, in *elbv2.SetRulePrioritiesInput, optFns ...func(*elbv2.Options)) (*elbv2.SetRulePrioritiesOutput, error)
	ModifyRule(ctx context.Context, in *elbv2.ModifyRuleInput, optFns ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error)
	AddTags(ctx context.Context, in *elbv2.AddTagsInput, optFns ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error)
	RemoveTags(ctx context.Context, in *elbv2.RemoveTagsInput, optFns ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error)
	DescribeTags(ctx context.Context, in *elbv2.DescribeTagsInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error)
}

// CodeDeploy is the part of the CodeDeploy API the hooks use.
type CodeDeploy interface {
	PutLifecycleEventHookExecutionStatus(ctx context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, optFns ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error)
	ListDeployments(ctx context.Context, in *codedeploy.ListDeploymentsInput, optFns ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error)
	GetDeployment(ctx context.Context, in *codedeploy.GetDeploymentInput, optFns ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error)
	GetDeploymentTarget(ctx context.Context, in *codedeploy.GetDeploymentTargetInput, optFns ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentTargetOutput, error)
	CreateDeployment(ctx context.Context, in *codedeploy.CreateDeploymentInput, optFns ...func(*codedeploy.Options)) (*codedeploy.CreateDeploymentOutput, error)
}

// CodePipeline is the part of the CodePipeline API the guards use: which
// approval is pending and which image it is about, and rejecting it.
type CodePipeline interface {
	GetPipelineState(ctx context.Context, in *codepipeline.GetPipelineStateInput, optFns ...func(*codepipeline.Options)) (*codepipeline.GetPipelineStateOutput, error)
	GetPipelineExecution(ctx context.Context, in *codepipeline.GetPipelineExecutionInput, optFns ...func(*codepipeline.Options)) (*codepipeline.GetPipelineExecutionOutput, error)
	PutApprovalResult(ctx context.Context, in *codepipeline.PutApprovalResultInput, optFns ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error)
	ListPipelineExecutions(ctx context.Context, in *codepipeline.ListPipelineExecutionsInput, optFns ...func(*codepipeline.Options)) (*codepipeline.ListPipelineExecutionsOutput, error)
}

// Clients holds the SDK clients, built once per cold start.
type Clients struct {
	ECS          *ecs.Client
	ELB          *elbv2.Client
	CodeDeploy   *codedeploy.Client
	CodePipeline *codepipeline.Client
}

// Retry tuning. The SDK's standard retryer retries throttling (Throttling,
// ThrottlingException, …), 5xx and connection errors with jittered exponential
// backoff, and returns every other API error (AccessDenied, ValidationError,
// ServiceNotFoundException, …) at once, so permanent errors fail fast. More
// attempts than the default 3 ride out a burst of ELB/ECS API throttling
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html);
// every attempt still stops at the invocation's deadline.
const (
	RetryMaxAttempts = 8
	RetryMaxBackoff  = 10 * time.Second
)

// NewRetryer returns the retryer the hooks use: the SDK's standard retryer
// with more attempts and a capped backoff.
func NewRetryer(maxAttempts int, maxBackoff time.Duration) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
	})
}

// LoadClients builds the SDK clients from the Lambda environment (region and
// credentials from the execution role). LoadDefaultConfig honours
// AWS_ENDPOINT_URL, which the tests use to point every client at a local fake.
func LoadClients(ctx context.Context) (Clients, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRetryer(func() aws.Retryer { return NewRetryer(RetryMaxAttempts, RetryMaxBackoff) }),
		config.WithHTTPClient(CloseSafeHTTPClient{awshttp.NewBuildableClient()}),
	)
	if err != nil {
		return Clients{}, fmt.Errorf("load AWS config: %w", err)
	}
	return NewClients(cfg), nil
}

// NewClients builds the three clients from one aws.Config.
func NewClients(cfg aws.Config) Clients {
	return Clients{
		ECS:          ecs.NewFromConfig(cfg),
		ELB:          elbv2.NewFromConfig(cfg),
		CodeDeploy:   codedeploy.NewFromConfig(cfg),
		CodePipeline: codepipeline.NewFromConfig(cfg),
	}
}

// CloseSafeHTTPClient works around a race between smithy-go and net/http
// that kills a connection under a response being read. smithy-go closes the
// request body as soon as Do returns (transport/http/client.go), and its
// closed body answers WriteTo with io.EOF. net/http's writeLoop, after it
// has sent Content-Length bytes, copies the body once more to check for
// extra bytes (io.Copy, which prefers WriteTo); when the response came back
// first (the server needs only the bytes already sent), that copy gets
// io.EOF as an error, the request counts as failed to write, and the
// transport closes the connection while the caller still reads the
// response: "use of closed network connection", a retryable error, so the
// SDK sends the call again although the service already ran it (a second
// CreateDeployment, say). Hiding WriteTo makes that last copy use Read,
// whose io.EOF is the clean end of the body.
type CloseSafeHTTPClient struct{ aws.HTTPClient }

// Do sends r with its body stripped of WriteTo.
func (c CloseSafeHTTPClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = readCloser{r.Body}
	}
	return c.HTTPClient.Do(r)
}

// readCloser exposes only Read and Close of its body.
type readCloser struct{ io.ReadCloser }

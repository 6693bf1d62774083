package pipeline

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/codedeploy"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/codepipeline"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
)

// Sizes and retention of the pipeline's own resources.
const (
	// KeepImages bounds the repository by count (see plan.ECRLifecyclePolicy
	// for why never by age): about the last 30 rollouts.
	KeepImages = 30
	// ArtifactRetentionDays expires old pipeline artifacts and old versions
	// of the bundle: executions only read the artifacts of their own run.
	ArtifactRetentionDays = 30
	// Hook timeouts, well under Lambda's 15-minute limit. pin waits for the
	// stable tasks to become healthy, so it gets the longest budget; the
	// hooks bound their own waits inside these (lambda/rollout).
	// The pin budget is the one config validation counts into a
	// deployment's length (config.PinHookMinutes).
	PinTimeoutSeconds   = config.PinHookMinutes * 60
	UnpinTimeoutSeconds = 120
	// cleanup and rollback get this for their work plus the target
	// groups' deregistration delay, which release waits out (see
	// releaseHookTimeout).
	CleanupTimeoutSeconds  = config.ReleaseHookWorkSeconds
	RollbackTimeoutSeconds = config.ReleaseHookWorkSeconds
	HookMemoryMB           = 128
	// cleanup's and rollback's asynchronous invocations (EventBridge
	// invokes both asynchronously): Lambda's two retries stay (both decide
	// from the state they read, so a retry repeats nothing that is done),
	// but an event older than ten minutes is dropped instead of being kept
	// for Lambda's default six hours; a newer rollout decides by then.
	CleanupMaxRetryAttempts   = 2
	CleanupMaxEventAgeSeconds = 600
	// HookRuntime runs the `bootstrap` executable of the zip.
	HookRuntime      = "provided.al2023"
	HookArchitecture = "arm64"
	HookHandler      = "bootstrap"
	// AppLogStreamPrefix is the awslogs stream prefix of the deployed tasks.
	AppLogStreamPrefix = "app"
)

// hookTimeouts are the per-hook function timeouts, before releaseHookTimeout.
var hookTimeouts = map[string]int{
	HookPin: PinTimeoutSeconds, HookUnpin: UnpinTimeoutSeconds,
	HookCleanup: CleanupTimeoutSeconds, HookRollback: RollbackTimeoutSeconds,
}

// hookTimeout is hook h's Lambda timeout: cleanup and rollback may release
// the pinned tenants, which leaves stable serving for the deregistration
// delay after the catch-all moves, so their timeout holds that wait on top
// of their work (config validation keeps the sum within Lambda's limit).
func hookTimeout(h string, svc config.Service) int {
	if h == HookCleanup || h == HookRollback {
		return hookTimeouts[h] + svc.DeregistrationDelaySeconds
	}
	return hookTimeouts[h]
}

type serviceRole string

const (
	roleLatest serviceRole = "latest"
	roleStable serviceRole = "stable"
)

// rollbackAlarm is one created rollback alarm, for the dashboard.
type rollbackAlarm struct {
	service   serviceRole
	pairIndex int
	signal    string
	alarm     *cloudwatch.MetricAlarm
}

type hook struct {
	name     string // physical function name
	fn       *lambda.Function
	role     *iam.Role
	logGroup string
}

// builder creates the component's children in dependency order.
type builder struct {
	ctx    *pulumi.Context
	name   string
	args   *Args
	comp   *Pipeline
	parent pulumi.ResourceOrInvokeOption
	facts  stackFacts

	repo             *ecr.Repository
	bucket           *s3.BucketV2
	bucketReady      []pulumi.Resource
	app              *codedeploy.Application
	groupNames       map[serviceRole]string
	hooks            map[string]*hook
	bundle           *s3.BucketObjectv2
	deployConfigName pulumi.StringOutput
	groups           map[serviceRole]*codedeploy.DeploymentGroup
	alarms           []rollbackAlarm
	dashboardURL     pulumi.StringOutput
	testListeners    map[serviceRole]*lb.Listener
	hookPolicyRes    []pulumi.Resource
	bundleFiles      pulumi.StringMapOutput
	topic            *sns.Topic
	pipe             *codepipeline.Pipeline
}

// child names a child resource after the component.
func (b *builder) child(suffix string) string { return b.name + "-" + suffix }

// physical is an AWS-side name unique per project, stack and component.
func (b *builder) physical(maxLen int, suffix string) string {
	return plan.PhysicalName(maxLen, b.ctx.Project(), b.ctx.Stack(), b.name, suffix)
}

func sortStrings(s []string) { sort.Strings(s) }

// pipelineName is the pipeline's physical name, known before it exists so
// the approval message and the artifact lifecycle can name it.
func (b *builder) pipelineName() string { return b.physical(100, "pipeline") }

// hookName is a hook function's physical name, known before it exists (its
// log group, the AppSpecs and the rollback's environment name it).
func (b *builder) hookName(h string) string { return b.physical(64, h) }

// artifactPrefix is the folder CodePipeline writes a pipeline's artifacts to.
func artifactPrefix(pipelineName string) string {
	if len(pipelineName) > 20 {
		pipelineName = pipelineName[:20]
	}
	return pipelineName + "/"
}

// newRole creates a role the given service assumes.
func (b *builder) newRole(suffix, service string) (*iam.Role, error) {
	role, err := iam.NewRole(b.ctx, b.child(suffix), &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(plan.AssumeRolePolicy(service).JSON()),
	}, b.parent)
	if err != nil {
		return nil, fmt.Errorf("create %s role: %w", suffix, err)
	}
	return role, nil
}

func (b *builder) rolePolicy(suffix string, role *iam.Role, doc pulumi.StringOutput) (*iam.RolePolicy, error) {
	p, err := iam.NewRolePolicy(b.ctx, b.child(suffix), &iam.RolePolicyArgs{
		Role:   role.ID(),
		Policy: doc,
	}, b.parent)
	if err != nil {
		return nil, fmt.Errorf("attach %s policy: %w", suffix, err)
	}
	return p, nil
}

// Package declared describes what the Pulumi program declares for one stack:
// the load balancer's listeners and rules, the target groups, the ECS
// cluster and services, the CodeDeploy application, deployment config,
// deployment groups and their rollback alarms, the pipeline, the
// EventBridge rules, the hook functions and the stack outputs.
//
// The root program writes it with `go run . declare --stack NAME`: the
// stack's real program evaluated under the Pulumi SDK's mocks, with no
// Pulumi CLI and no AWS (see declare.go at the repository root). A local
// rehearsal materialises it into the model of AWS; the operator CLI reads
// the same names from Outputs.
//
// Each part is held as the AWS SDK describes it where a type fits (what
// DescribeRules, DescribeTargetGroups, DescribeServices, GetDeploymentGroup,
// GetPipeline and PutMetricAlarm use), so the model can answer with it as it
// is. Values AWS computes (ARNs, DNS names) are the mock's deterministic
// ones: account 123456789012, the stack's region.
//
// The JSON form is encoding/json's of these types (the SDK's types have no
// JSON tags, so their fields keep their Go names); Version changes when a
// reader written for an older form would misread it.
package declared

import (
	cwsdk "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// Version of the JSON form.
const Version = 1

// Stack is everything the program declares for one stack.
type Stack struct {
	Version int    `json:"version"`
	Project string `json:"project"`
	Stack   string `json:"stack"`
	Region  string `json:"region"`
	Account string `json:"account"`

	LoadBalancer LoadBalancer  `json:"loadBalancer"`
	TargetGroups []TargetGroup `json:"targetGroups"`
	ECS          ECS           `json:"ecs"`
	CodeDeploy   CodeDeploy    `json:"codeDeploy"`
	Alarms       []Alarm       `json:"alarms"`
	Pipeline     Pipeline      `json:"pipeline"`
	EventRules   []EventRule   `json:"eventRules"`
	Functions    []Function    `json:"functions"`

	// Outputs are the stack outputs, as `pulumi stack output --json`
	// would print them.
	Outputs contract.StackOutputs `json:"outputs"`
}

// LoadBalancer is the application load balancer and its listeners.
type LoadBalancer struct {
	Name      string `json:"name"`
	Arn       string `json:"arn"`
	ArnSuffix string `json:"arnSuffix"` // the CloudWatch dimension LoadBalancer
	DNSName   string `json:"dnsName"`
	// Listeners, production first.
	Listeners []Listener `json:"listeners"`
}

// ListenerRole says what a listener is for.
type ListenerRole string

// Listener roles.
const (
	// ListenerProduction serves every request; CodeDeploy shifts
	// traffic on it. HTTPS :443 with a certificate, else HTTP :80.
	ListenerProduction ListenerRole = "production"
	// ListenerRedirect is HTTP :80 redirecting to HTTPS (certificate only).
	ListenerRedirect ListenerRole = "redirect"
	// ListenerTestLatest and ListenerTestStable are the smoke test's
	// test listeners of the latest and stable deployment groups.
	ListenerTestLatest ListenerRole = "test-latest"
	ListenerTestStable ListenerRole = "test-stable"
)

// Listener is one listener with its rules.
type Listener struct {
	Role ListenerRole `json:"role"`
	// Listener as DescribeListeners returns it.
	Listener elbtypes.Listener `json:"listener"`
	// Rules as DescribeRules returns them: the default rule (IsDefault,
	// priority "default", the listener's default actions) last, the
	// others by priority. Only the production listener has rules besides
	// the default one.
	Rules []Rule `json:"rules"`
}

// RuleRole is a listener rule's part in the rollout protocol
// (docs/design.md §4).
type RuleRole string

// Rule roles.
const (
	// RuleDefault is the listener's default action.
	RuleDefault RuleRole = "default"
	// RuleCatchAll matches every request and forwards to latest; the only
	// rule the hooks move.
	RuleCatchAll RuleRole = "catch-all"
	// RuleAnchor keeps stable's pair on the listener; no request matches it.
	RuleAnchor RuleRole = "anchor"
	// RuleTenant forwards pinned tenants to stable.
	RuleTenant RuleRole = "tenant"
)

// Rule is one listener rule.
type Rule struct {
	Role RuleRole `json:"role"`
	// Tenants are the pinned tenants whose condition values the rule
	// carries (tenant rules only; a path tenant's two values may span two
	// rules, and it is listed on both).
	Tenants []string      `json:"tenants,omitempty"`
	Rule    elbtypes.Rule `json:"rule"`
}

// TargetGroup is one target group of a service's blue/green pair.
type TargetGroup struct {
	// Service is "latest" or "stable".
	Service string `json:"service"`
	// PairIndex is 0 for the group the service starts on, 1 for the
	// other one (CodeDeploy alternates between them).
	PairIndex int `json:"pairIndex"`
	// ArnSuffix is the CloudWatch dimension TargetGroup.
	ArnSuffix string `json:"arnSuffix"`
	// TargetGroup as DescribeTargetGroups returns it: health check path,
	// interval, timeout, thresholds and matcher included.
	TargetGroup elbtypes.TargetGroup `json:"targetGroup"`
	// DeregistrationDelaySeconds is the attribute
	// deregistration_delay.timeout_seconds.
	DeregistrationDelaySeconds int `json:"deregistrationDelaySeconds"`
}

// ECS is the cluster, the two services and their task definitions.
type ECS struct {
	ClusterName string `json:"clusterName"`
	ClusterArn  string `json:"clusterArn"`
	// Services are latest, then stable, as DescribeServices returns them
	// when Pulumi has created them: before the first push both run the
	// placeholder task definition.
	Services []Service `json:"services"`
	// PlaceholderTaskDefinition is what both services run until the first
	// push (the placeholder image).
	PlaceholderTaskDefinition ecstypes.TaskDefinition `json:"placeholderTaskDefinition"`
	// DeployTaskDefinition is the template every push registers
	// (taskdef.json of the deploy bundle): its image is the placeholder
	// CodePipeline replaces with the pushed image's URI.
	DeployTaskDefinition ecstypes.TaskDefinition `json:"deployTaskDefinition"`
}

// Service is one of the two ECS services.
type Service struct {
	// Role is "latest" or "stable".
	Role    string           `json:"role"`
	Service ecstypes.Service `json:"service"`
}

// CodeDeploy is the application, its deployment config and its two groups.
type CodeDeploy struct {
	ApplicationName string `json:"applicationName"`
	ApplicationArn  string `json:"applicationArn"`
	// DeploymentConfig as GetDeploymentConfig returns it; for all-at-once
	// the predefined CodeDeployDefault.ECSAllAtOnce, which the program
	// uses without creating it.
	DeploymentConfig cdtypes.DeploymentConfigInfo `json:"deploymentConfig"`
	// Groups are latest's, then stable's.
	Groups []DeploymentGroup `json:"groups"`
}

// DeploymentGroup is one CodeDeploy deployment group.
type DeploymentGroup struct {
	// Role is "latest" or "stable".
	Role string `json:"role"`
	Arn  string `json:"arn"`
	// Group as GetDeploymentGroup returns it: deployment config name,
	// termination wait, alarm names, auto-rollback settings, ECS service
	// and target group pair with its listeners.
	Group cdtypes.DeploymentGroupInfo `json:"group"`
}

// Alarm is one CloudWatch metric alarm the program creates.
type Alarm struct {
	// DeploymentGroup is the role ("latest", "stable") of the group whose
	// alarm configuration names it, TargetGroupArn the target group its
	// metrics are about.
	DeploymentGroup string `json:"deploymentGroup"`
	TargetGroupArn  string `json:"targetGroupArn"`
	// Definition is the alarm resource's inputs as PutMetricAlarm takes
	// them: what internal/cloudwatch compiles and evaluates.
	Definition cwsdk.PutMetricAlarmInput `json:"definition"`
}

// Pipeline is the CodePipeline pipeline and its deploy bundle.
type Pipeline struct {
	Arn string `json:"arn"`
	// Declaration as GetPipeline returns it: stages, actions (the
	// approval's TimeoutInMinutes among them), execution mode.
	Declaration cptypes.PipelineDeclaration `json:"declaration"`
	// Bundle is the deploy bundle the Source stage reads: file name →
	// content (taskdef.json and the two AppSpecs).
	Bundle map[string]string `json:"bundle"`
}

// EventRule is one EventBridge rule and what it starts.
type EventRule struct {
	Name         string        `json:"name"`
	Arn          string        `json:"arn"`
	Description  string        `json:"description"`
	EventPattern string        `json:"eventPattern"`
	Targets      []EventTarget `json:"targets"`
}

// EventTarget is one target of a rule.
type EventTarget struct {
	Arn     string `json:"arn"`
	RoleArn string `json:"roleArn,omitempty"`
	// Function is the hook function's name when the target is one.
	Function string `json:"function,omitempty"`
	// Pipeline is the pipeline's name when the target is the pipeline.
	Pipeline string `json:"pipeline,omitempty"`
}

// Function is one hook function.
type Function struct {
	Hook           contract.Hook     `json:"hook"`
	Name           string            `json:"name"`
	Arn            string            `json:"arn"`
	Role           string            `json:"role"`
	Runtime        string            `json:"runtime"`
	Handler        string            `json:"handler"`
	Architectures  []string          `json:"architectures"`
	TimeoutSeconds int               `json:"timeoutSeconds"`
	MemoryMB       int               `json:"memoryMB"`
	Environment    map[string]string `json:"environment"`
	// MaximumRetryAttempts and MaximumEventAgeSeconds are its
	// asynchronous invocation config (0 age: Lambda's default).
	MaximumRetryAttempts   int `json:"maximumRetryAttempts"`
	MaximumEventAgeSeconds int `json:"maximumEventAgeSeconds,omitempty"`
}

// Production is the production listener.
func (s *Stack) Production() *Listener {
	for i := range s.LoadBalancer.Listeners {
		if s.LoadBalancer.Listeners[i].Role == ListenerProduction {
			return &s.LoadBalancer.Listeners[i]
		}
	}
	return nil
}

// Function is the function of hook h, or nil.
func (s *Stack) Function(h contract.Hook) *Function {
	for i := range s.Functions {
		if s.Functions[i].Hook == h {
			return &s.Functions[i]
		}
	}
	return nil
}

// Approval is the pipeline's manual approval action, or nil when approval
// is not required. Its TimeoutInMinutes is nil when the stack sets none:
// the execution then fails if "no approval response is received within
// seven days" ("Approve or reject an approval action in CodePipeline",
// https://docs.aws.amazon.com/codepipeline/latest/userguide/approvals-approve-or-reject.html).
func (p *Pipeline) Approval() *cptypes.ActionDeclaration {
	for i := range p.Declaration.Stages {
		for j := range p.Declaration.Stages[i].Actions {
			a := &p.Declaration.Stages[i].Actions[j]
			if a.ActionTypeId != nil && a.ActionTypeId.Category == cptypes.ActionCategoryApproval {
				return a
			}
		}
	}
	return nil
}

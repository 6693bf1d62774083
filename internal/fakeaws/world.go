// Package fakeaws is an in-memory stand-in for the slice of ECS, Elastic Load
// Balancing v2, CodeDeploy and CodePipeline the hooks use. A World implements the rollout
// package's interfaces directly (for logic tests) and serves the services'
// wire protocols over HTTP (for tests of the real SDK and the real binary).
// Every call, every retry attempt included, is recorded in order.
package fakeaws

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tenant-canary/tenant-canary/internal/contract"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Operation names, as they appear on the wire (X-Amz-Target suffix or Action).
const (
	OpDescribeServices     = "DescribeServices"
	OpUpdateService        = "UpdateService"
	OpDescribeRules        = "DescribeRules"
	OpDescribeTargetHealth = "DescribeTargetHealth"
	OpSetRulePriorities    = "SetRulePriorities"
	OpPutHookStatus        = "PutLifecycleEventHookExecutionStatus"
	OpModifyRule           = "ModifyRule"
	OpDescribeTaskDef      = "DescribeTaskDefinition"
	OpGetDeploymentGroup   = "GetDeploymentGroup"
)

// Names and ARNs of the standard world.
const (
	Region          = "us-east-1"
	Account         = "123456789012"
	Cluster         = "tc-dev"
	StableService   = "stable"
	LatestService   = "latest"
	ContainerName   = "app"
	CodeDeployApp   = "tc-dev"
	LatestGroup     = "latest"
	StableGroup     = "stable"
	ListenerARN     = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/tc-dev/50dc6c495c0c9188/f2f7dc8efc522ab2"
	CatchAllRuleARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/tc-dev/50dc6c495c0c9188/f2f7dc8efc522ab2/ca7c4a11ca7c4a11"
	AnchorRuleARN   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/tc-dev/50dc6c495c0c9188/f2f7dc8efc522ab2/a9c4a9c4a9c4a9c4"
	DefaultRuleARN  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/tc-dev/50dc6c495c0c9188/f2f7dc8efc522ab2/defa017defa017de"
	StableBlueTG    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tc-dev-stable-blue/1111111111111111"
	StableGreenTG   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tc-dev-stable-green/2222222222222222"
	LatestBlueTG    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tc-dev-latest-blue/3333333333333333"
	LatestGreenTG   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tc-dev-latest-green/4444444444444444"

	// Task definitions: CodeDeployToECS registers a new revision for every
	// deployment, so after a completed rollout latest and stable run
	// different revisions of the same image.
	TaskDefLatestV0 = "arn:aws:ecs:us-east-1:123456789012:task-definition/tc-dev:1"
	TaskDefStableV0 = "arn:aws:ecs:us-east-1:123456789012:task-definition/tc-dev:2"
	TaskDefV1       = "arn:aws:ecs:us-east-1:123456789012:task-definition/tc-dev:3"
	TaskDefV2       = "arn:aws:ecs:us-east-1:123456789012:task-definition/tc-dev:4"
	ImageV0         = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tc-dev@sha256:0000000000000000000000000000000000000000000000000000000000000000"
	ImageV1         = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tc-dev@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	ImageV2         = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tc-dev@sha256:2222222222222222222222222222222222222222222222222222222222222222"

	ruleARNPrefix = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/tc-dev/50dc6c495c0c9188/f2f7dc8efc522ab2"

	PriorityUnpinned = 1
	PriorityPinned   = 50000
	DesiredCount     = 2
)

// Env is the hooks' environment for the standard world.
func Env() map[string]string {
	return map[string]string{
		contract.EnvClusterName:               Cluster,
		contract.EnvStableServiceName:         StableService,
		contract.EnvLatestServiceName:         LatestService,
		contract.EnvStableDesiredCount:        strconv.Itoa(DesiredCount),
		contract.EnvListenerARN:               ListenerARN,
		contract.EnvStableTargetGroupARNs:     StableBlueTG + "," + StableGreenTG,
		contract.EnvCatchAllRuleARN:           CatchAllRuleARN,
		contract.EnvCatchAllPriorityUnpinned:  strconv.Itoa(PriorityUnpinned),
		contract.EnvCatchAllPriorityPinned:    strconv.Itoa(PriorityPinned),
		contract.EnvCodeDeployApplicationName: CodeDeployApp,
		contract.EnvLatestDeploymentGroupName: LatestGroup,
		contract.EnvAnchorRuleARN:             AnchorRuleARN,
		contract.EnvStableDeploymentGroupName: StableGroup,
		contract.EnvPipelineName:              PipelineName,
		contract.EnvOnReject:                  contract.OnRejectRollback,
		contract.EnvAppSpecLatest:             AppSpecLatest,
		// No wait between moving the catch-all and scaling stable down;
		// the tests of that wait set Config.ReleaseDelay.
		contract.EnvReleaseDelaySeconds: "0",
	}
}

// Rule is a listener rule. Forward holds weighted target groups
// (ForwardConfig); Target a single target group (TargetGroupArn).
type Rule struct {
	ARN       string
	Priority  string // "default" for the default rule
	IsDefault bool
	Forward   []elbtypes.TargetGroupTuple
	Target    string
	// Hosts is the rule's host-header condition (none when empty).
	Hosts []string
}

// Call is one request the world received.
type Call struct {
	Op     string
	Detail string
}

// Report is one PutLifecycleEventHookExecutionStatus the world accepted.
type Report struct {
	DeploymentID, ExecutionID, Status string
}

// World is the state of the fake account. Set fields before use; lock-free
// reads of the fields are only safe while no call is in flight.
type World struct {
	mu sync.Mutex

	DesiredCount   int32
	ServiceMissing bool
	Rules          []*Rule

	// StablePrimaryTG is the target group of the stable service's PRIMARY
	// task set, where its tasks register. "" means the service has no task
	// sets yet (before its first deployment): DescribeServices then reports
	// none, only the service-level load balancer StableBlueTG, which is
	// where the tasks register.
	StablePrimaryTG string
	// StableTaskSetStatus is the status of that task set ("": PRIMARY).
	StableTaskSetStatus string
	// Health: stable's tasks turn healthy after PollsUntilHealthy
	// DescribeTargetHealth calls, unless NeverHealthy.
	PollsUntilHealthy int
	NeverHealthy      bool
	healthPolls       int

	// Task definitions of the services' PRIMARY task sets, and the
	// container image of each task definition DescribeTaskDefinition knows.
	LatestTaskDef string
	StableTaskDef string
	Images        map[string]string

	// LastAttemptedDeployment is the Latest deployment group's
	// lastAttemptedDeployment.deploymentId ("" reports none).
	LastAttemptedDeployment string

	// RulesPageSize caps DescribeRules pages (0: as requested) to exercise
	// NextMarker.
	RulesPageSize int

	calls   []Call
	reports []Report
	errs    map[string][]error
	panics  map[string]bool

	// What the guards read (world_deployments.go, world_codepipeline.go,
	// world_tags.go).
	deploymentState
	pipelineState
	tagState
}

// NewWorld returns a listener with a default rule, the catch-all rule above
// tenants (priority 1), stable's anchor rule (priority 2, a host header no
// request carries) and tenantRules tenant rules, the anchor and the tenant
// rules forwarding to the stable target group activeTG (weight 100, the
// other one weight 0), with stable scaled to zero and its PRIMARY task set
// in activeTG. Both services run image v0 (different task definition
// revisions), and the Latest group's last attempted deployment is
// "d-LATEST". No deployment is unfinished and no approval is pending.
func NewWorld(tenantRules int, activeTG string) *World {
	w := &World{
		StablePrimaryTG: activeTG,
		LatestTaskDef:   TaskDefLatestV0, StableTaskDef: TaskDefStableV0,
		Images: map[string]string{
			TaskDefLatestV0: ImageV0, TaskDefStableV0: ImageV0, TaskDefV1: ImageV1, TaskDefV2: ImageV2,
			TaskDefStableV1: ImageV1,
		},
		LastAttemptedDeployment: "d-LATEST",
	}
	w.Rules = append(w.Rules,
		&Rule{ARN: DefaultRuleARN, Priority: "default", IsDefault: true, Forward: weighted(LatestBlueTG, 100, LatestGreenTG, 0)},
		&Rule{ARN: CatchAllRuleARN, Priority: strconv.Itoa(PriorityUnpinned), Forward: weighted(LatestBlueTG, 100, LatestGreenTG, 0)},
	)
	other := StableBlueTG
	if activeTG == StableBlueTG {
		other = StableGreenTG
	}
	w.Rules = append(w.Rules, &Rule{ARN: AnchorRuleARN, Priority: strconv.Itoa(AnchorPriority),
		Forward: weighted(activeTG, 100, other, 0), Hosts: []string{AnchorHost}})
	for i := range tenantRules {
		w.Rules = append(w.Rules, &Rule{
			ARN:      fmt.Sprintf("%s/%016x", ruleARNPrefix, 0xa000+i),
			Priority: strconv.Itoa(10 + i),
			Forward:  weighted(activeTG, 100, other, 0),
		})
	}
	return w
}

func weighted(a string, wa int32, b string, wb int32) []elbtypes.TargetGroupTuple {
	return []elbtypes.TargetGroupTuple{
		{TargetGroupArn: aws.String(a), Weight: aws.Int32(wa)},
		{TargetGroupArn: aws.String(b), Weight: aws.Int32(wb)},
	}
}

// FailNext makes the next calls of op fail with errs, one per call, in order.
func (w *World) FailNext(op string, errs ...error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.errs == nil {
		w.errs = map[string][]error{}
	}
	w.errs[op] = append(w.errs[op], errs...)
}

// PanicOn makes every call of op panic (in the caller's goroutine when the
// world is used directly).
func (w *World) PanicOn(op string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.panics == nil {
		w.panics = map[string]bool{}
	}
	w.panics[op] = true
}

// Calls returns every call received so far.
func (w *World) Calls() []Call {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

// Ops returns the operation names of Calls.
func (w *World) Ops() []string {
	var ops []string
	for _, c := range w.Calls() {
		ops = append(ops, c.Op)
	}
	return ops
}

// Reports returns the accepted CodeDeploy reports.
func (w *World) Reports() []Report {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.reports)
}

// Desired returns the stable service's desired count.
func (w *World) Desired() int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.DesiredCount
}

// CatchAllPriority returns the catch-all rule's priority.
func (w *World) CatchAllPriority() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rule(CatchAllRuleARN).Priority
}

// Reset forgets calls and reports (not state), e.g. between two invocations.
func (w *World) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls, w.reports = nil, nil
}

// stableTG is where stable's tasks register. Must hold mu.
func (w *World) stableTG() string {
	if w.StablePrimaryTG == "" {
		return StableBlueTG
	}
	return w.StablePrimaryTG
}

// Rule returns a copy of the rule with that ARN (nil if none).
func (w *World) Rule(arn string) *Rule {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.rule(arn)
	if r == nil {
		return nil
	}
	c := *r
	c.Forward, c.Hosts = slices.Clone(r.Forward), slices.Clone(r.Hosts)
	return &c
}

func (w *World) rule(arn string) *Rule {
	for _, r := range w.Rules {
		if r.ARN == arn {
			return r
		}
	}
	return nil
}

// begin records a call and returns its injected error, if any. Must hold mu.
func (w *World) begin(op, detail string) error {
	w.calls = append(w.calls, Call{Op: op, Detail: detail})
	w.fire(op)
	if w.panics[op] {
		panic("fakeaws: injected panic in " + op)
	}
	if q := w.errs[op]; len(q) > 0 {
		w.errs[op] = q[1:]
		return q[0]
	}
	return nil
}

// DescribeServices implements rollout.ECS. Both services are CODE_DEPLOY
// services: their versions live in task sets, the PRIMARY one serving.
func (w *World) DescribeServices(_ context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(OpDescribeServices, strings.Join(in.Services, ",")); err != nil {
		return nil, err
	}
	if aws.ToString(in.Cluster) != Cluster {
		return nil, &APIError{Code: "ClusterNotFoundException", Message: "Cluster not found.", Status: 400}
	}
	if len(in.Services) == 0 || len(in.Services) > 10 {
		return nil, &APIError{Code: "InvalidParameterException", Message: "services must hold 1 to 10 names", Status: 400}
	}
	out := &ecs.DescribeServicesOutput{}
	for _, name := range in.Services {
		arn := fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, Account, Cluster, name)
		var svc ecstypes.Service
		switch {
		case name == StableService && !w.ServiceMissing:
			svc = ecstypes.Service{DesiredCount: w.DesiredCount, RunningCount: w.DesiredCount,
				TaskDefinition: aws.String(w.StableTaskDef), LoadBalancers: []ecstypes.LoadBalancer{lbOf(StableBlueTG)}}
			if w.StablePrimaryTG != "" {
				status := cmp.Or(w.StableTaskSetStatus, "PRIMARY")
				svc.TaskSets = []ecstypes.TaskSet{taskSet(name, "ecs-svc/1111", status, w.StableTaskDef, w.StablePrimaryTG, w.DesiredCount)}
			}
			svc.TaskSets = append(svc.TaskSets, w.extraTaskSets(name)...)
		case name == LatestService:
			svc = ecstypes.Service{DesiredCount: 2, RunningCount: 2,
				TaskDefinition: aws.String(w.LatestTaskDef), LoadBalancers: []ecstypes.LoadBalancer{lbOf(LatestBlueTG)},
				TaskSets: []ecstypes.TaskSet{taskSet(name, "ecs-svc/3333", "PRIMARY", w.LatestTaskDef, LatestBlueTG, 2)}}
			svc.TaskSets = append(svc.TaskSets, w.extraTaskSets(name)...)
		default:
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
			continue
		}
		svc.ServiceName, svc.ServiceArn, svc.Status = aws.String(name), aws.String(arn), aws.String("ACTIVE")
		svc.ClusterArn = aws.String(fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", Region, Account, Cluster))
		svc.DeploymentController = &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy}
		out.Services = append(out.Services, svc)
	}
	return out, nil
}

func lbOf(tg string) ecstypes.LoadBalancer {
	return ecstypes.LoadBalancer{TargetGroupArn: aws.String(tg), ContainerName: aws.String(ContainerName), ContainerPort: aws.Int32(8080)}
}

func taskSet(service, id, status, taskDef, tg string, count int32) ecstypes.TaskSet {
	return ecstypes.TaskSet{
		Id:                   aws.String(id),
		TaskSetArn:           aws.String(fmt.Sprintf("arn:aws:ecs:%s:%s:task-set/%s/%s/%s", Region, Account, Cluster, service, id)),
		Status:               aws.String(status),
		TaskDefinition:       aws.String(taskDef),
		LoadBalancers:        []ecstypes.LoadBalancer{lbOf(tg)},
		ComputedDesiredCount: count, RunningCount: count,
	}
}

// DescribeTaskDefinition implements rollout.ECS: one container, ContainerName,
// with the task definition's image.
func (w *World) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	td := aws.ToString(in.TaskDefinition)
	if err := w.begin(OpDescribeTaskDef, td); err != nil {
		return nil, err
	}
	image, ok := w.Images[td]
	if !ok {
		return nil, &APIError{Code: "ClientException", Message: "Unable to describe task definition.", Status: 400}
	}
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &ecstypes.TaskDefinition{
		TaskDefinitionArn:    aws.String(td),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String(ContainerName), Image: aws.String(image)}},
	}}, nil
}

// GetDeploymentGroup implements rollout.CodeDeploy for the Latest group.
func (w *World) GetDeploymentGroup(_ context.Context, in *codedeploy.GetDeploymentGroupInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentGroupOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(OpGetDeploymentGroup, aws.ToString(in.ApplicationName)+"/"+aws.ToString(in.DeploymentGroupName)); err != nil {
		return nil, err
	}
	if aws.ToString(in.ApplicationName) != CodeDeployApp {
		return nil, &APIError{Code: "ApplicationDoesNotExistException", Message: "No application found for name: " + aws.ToString(in.ApplicationName), Status: 400}
	}
	if g := aws.ToString(in.DeploymentGroupName); g != LatestGroup && g != StableGroup {
		return nil, &APIError{Code: "DeploymentGroupDoesNotExistException", Message: "No Deployment Group found for name: " + g, Status: 400}
	}
	info := &cdtypes.DeploymentGroupInfo{
		ApplicationName: in.ApplicationName, DeploymentGroupName: in.DeploymentGroupName,
		DeploymentGroupId: aws.String("9fd2fbef-2157-40d8-91e7-6845af69e2d2"), ComputePlatform: cdtypes.ComputePlatformEcs,
	}
	if aws.ToString(in.DeploymentGroupName) == LatestGroup && w.LastAttemptedDeployment != "" {
		info.LastAttemptedDeployment = &cdtypes.LastDeploymentInfo{DeploymentId: aws.String(w.LastAttemptedDeployment), Status: cdtypes.DeploymentStatusFailed}
	}
	return &codedeploy.GetDeploymentGroupOutput{DeploymentGroupInfo: info}, nil
}

// UpdateService implements rollout.ECS.
func (w *World) UpdateService(_ context.Context, in *ecs.UpdateServiceInput, _ ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(OpUpdateService, fmt.Sprintf("%s desiredCount=%d", aws.ToString(in.Service), aws.ToInt32(in.DesiredCount))); err != nil {
		return nil, err
	}
	if aws.ToString(in.Cluster) != Cluster {
		return nil, &APIError{Code: "ClusterNotFoundException", Message: "Cluster not found.", Status: 400}
	}
	if aws.ToString(in.Service) != StableService || w.ServiceMissing {
		return nil, &APIError{Code: "ServiceNotFoundException", Message: "Service not found.", Status: 400}
	}
	if in.DesiredCount != nil {
		if *in.DesiredCount > w.DesiredCount {
			w.healthPolls = 0 // new tasks start in the "initial" state
		}
		w.DesiredCount = *in.DesiredCount
	}
	return &ecs.UpdateServiceOutput{Service: &ecstypes.Service{
		ServiceName: aws.String(StableService), DesiredCount: w.DesiredCount, Status: aws.String("ACTIVE"),
	}}, nil
}

// DescribeRules implements rollout.ELB.
func (w *World) DescribeRules(_ context.Context, in *elbv2.DescribeRulesInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(OpDescribeRules, "marker="+aws.ToString(in.Marker)); err != nil {
		return nil, err
	}
	if aws.ToString(in.ListenerArn) != ListenerARN {
		return nil, &APIError{Code: "ListenerNotFound", Message: "One or more listeners not found", Status: 400}
	}
	start := 0
	if m := aws.ToString(in.Marker); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 || n > len(w.Rules) {
			return nil, &APIError{Code: "ValidationError", Message: "Invalid marker", Status: 400}
		}
		start = n
	}
	size := int(aws.ToInt32(in.PageSize))
	if size <= 0 {
		size = len(w.Rules)
	}
	if w.RulesPageSize > 0 {
		size = min(size, w.RulesPageSize)
	}
	end := min(start+size, len(w.Rules))
	out := &elbv2.DescribeRulesOutput{}
	for _, r := range w.Rules[start:end] {
		out.Rules = append(out.Rules, r.sdk())
	}
	if end < len(w.Rules) {
		out.NextMarker = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (r *Rule) sdk() elbtypes.Rule {
	action := elbtypes.Action{Type: elbtypes.ActionTypeEnumForward, Order: aws.Int32(1)}
	if r.Target != "" {
		action.TargetGroupArn = aws.String(r.Target)
	} else {
		action.ForwardConfig = &elbtypes.ForwardActionConfig{TargetGroups: slices.Clone(r.Forward)}
	}
	rule := elbtypes.Rule{
		RuleArn: aws.String(r.ARN), Priority: aws.String(r.Priority), IsDefault: aws.Bool(r.IsDefault),
		Actions: []elbtypes.Action{action},
	}
	if len(r.Hosts) > 0 {
		rule.Conditions = []elbtypes.RuleCondition{{Field: aws.String("host-header"),
			HostHeaderConfig: &elbtypes.HostHeaderConditionConfig{Values: slices.Clone(r.Hosts)}}}
	}
	return rule
}

// DescribeTargetHealth implements rollout.ELB.
func (w *World) DescribeTargetHealth(_ context.Context, in *elbv2.DescribeTargetHealthInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	tg := aws.ToString(in.TargetGroupArn)
	if err := w.begin(OpDescribeTargetHealth, tg); err != nil {
		return nil, err
	}
	if !strings.Contains(tg, ":targetgroup/") {
		return nil, &APIError{Code: "TargetGroupNotFound", Message: "One or more target groups not found", Status: 400}
	}
	out := &elbv2.DescribeTargetHealthOutput{}
	if tg != w.stableTG() || w.DesiredCount == 0 {
		return out, nil
	}
	w.healthPolls++
	state, reason := elbtypes.TargetHealthStateEnumHealthy, elbtypes.TargetHealthReasonEnum("")
	if w.NeverHealthy {
		state, reason = elbtypes.TargetHealthStateEnumUnhealthy, elbtypes.TargetHealthReasonEnumFailedHealthChecks
	} else if w.healthPolls <= w.PollsUntilHealthy {
		state, reason = elbtypes.TargetHealthStateEnumInitial, elbtypes.TargetHealthReasonEnumRegistrationInProgress
	}
	for i := range w.DesiredCount {
		th := &elbtypes.TargetHealth{State: state}
		if reason != "" {
			th.Reason = reason
		}
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, elbtypes.TargetHealthDescription{
			Target:       &elbtypes.TargetDescription{Id: aws.String(fmt.Sprintf("10.0.1.%d", 10+i)), Port: aws.Int32(8080)},
			TargetHealth: th,
		})
	}
	return out, nil
}

// SetRulePriorities implements rollout.ELB. Like the ALB, it rejects a
// priority already used by another rule of the listener.
func (w *World) SetRulePriorities(_ context.Context, in *elbv2.SetRulePrioritiesInput, _ ...func(*elbv2.Options)) (*elbv2.SetRulePrioritiesOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for _, p := range in.RulePriorities {
		parts = append(parts, fmt.Sprintf("%s=%d", aws.ToString(p.RuleArn), aws.ToInt32(p.Priority)))
	}
	if err := w.begin(OpSetRulePriorities, strings.Join(parts, ",")); err != nil {
		return nil, err
	}
	out := &elbv2.SetRulePrioritiesOutput{}
	for _, p := range in.RulePriorities {
		r := w.rule(aws.ToString(p.RuleArn))
		if r == nil {
			return nil, &APIError{Code: "RuleNotFound", Message: "One or more rules not found", Status: 400}
		}
		prio := aws.ToInt32(p.Priority)
		if prio < 1 || prio > 50000 {
			return nil, &APIError{Code: "ValidationError", Message: "Priority must be between 1 and 50000", Status: 400}
		}
		for _, other := range w.Rules {
			if other != r && other.Priority == strconv.Itoa(int(prio)) {
				return nil, &APIError{Code: "PriorityInUse", Message: fmt.Sprintf("Priority '%d' is currently in use", prio), Status: 400}
			}
		}
	}
	for _, p := range in.RulePriorities {
		r := w.rule(aws.ToString(p.RuleArn))
		r.Priority = strconv.Itoa(int(aws.ToInt32(p.Priority)))
		out.Rules = append(out.Rules, r.sdk())
	}
	return out, nil
}

// ModifyRule implements rollout.ELB for a rule's forward action: a plain
// TargetGroupArn or a ForwardConfig, replacing the rule's action as the ALB
// does (the actions given are the rule's new actions).
func (w *World) ModifyRule(_ context.Context, in *elbv2.ModifyRuleInput, _ ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for _, a := range in.Actions {
		if a.ForwardConfig != nil {
			for _, tg := range a.ForwardConfig.TargetGroups {
				parts = append(parts, fmt.Sprintf("%s:%d", aws.ToString(tg.TargetGroupArn), aws.ToInt32(tg.Weight)))
			}
		} else {
			parts = append(parts, aws.ToString(a.TargetGroupArn))
		}
	}
	if err := w.begin(OpModifyRule, aws.ToString(in.RuleArn)+" "+string(elbtypes.ActionTypeEnumForward)+"="+strings.Join(parts, ",")); err != nil {
		return nil, err
	}
	r := w.rule(aws.ToString(in.RuleArn))
	if r == nil {
		return nil, &APIError{Code: "RuleNotFound", Message: "One or more rules not found", Status: 400}
	}
	if len(in.Actions) != 1 || in.Actions[0].Type != elbtypes.ActionTypeEnumForward {
		return nil, ValidationError("fakeaws: ModifyRule takes exactly one forward action")
	}
	a := in.Actions[0]
	known := func(tg string) bool {
		return tg == StableBlueTG || tg == StableGreenTG || tg == LatestBlueTG || tg == LatestGreenTG
	}
	switch {
	case a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0:
		for _, tg := range a.ForwardConfig.TargetGroups {
			if !known(aws.ToString(tg.TargetGroupArn)) {
				return nil, &APIError{Code: "TargetGroupNotFound", Message: "One or more target groups not found", Status: 400}
			}
		}
		r.Forward, r.Target = slices.Clone(a.ForwardConfig.TargetGroups), ""
	case aws.ToString(a.TargetGroupArn) != "":
		if !known(aws.ToString(a.TargetGroupArn)) {
			return nil, &APIError{Code: "TargetGroupNotFound", Message: "One or more target groups not found", Status: 400}
		}
		r.Forward, r.Target = nil, aws.ToString(a.TargetGroupArn)
	default:
		return nil, ValidationError("A forward action needs a target group")
	}
	return &elbv2.ModifyRuleOutput{Rules: []elbtypes.Rule{r.sdk()}}, nil
}

// PutLifecycleEventHookExecutionStatus implements rollout.CodeDeploy.
func (w *World) PutLifecycleEventHookExecutionStatus(_ context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, _ ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(OpPutHookStatus, string(in.Status)); err != nil {
		return nil, err
	}
	if aws.ToString(in.DeploymentId) == "" {
		return nil, &APIError{Code: "DeploymentIdRequiredException", Message: "Deployment ID is required", Status: 400}
	}
	if aws.ToString(in.LifecycleEventHookExecutionId) == "" {
		return nil, &APIError{Code: "InvalidLifecycleEventHookExecutionIdException", Message: "Lifecycle event hook execution id is required", Status: 400}
	}
	if in.Status != cdtypes.LifecycleEventStatusSucceeded && in.Status != cdtypes.LifecycleEventStatusFailed {
		return nil, &APIError{Code: "InvalidLifecycleEventHookExecutionStatusException", Message: "Status must be Succeeded or Failed", Status: 400}
	}
	w.reports = append(w.reports, Report{
		DeploymentID: aws.ToString(in.DeploymentId), ExecutionID: aws.ToString(in.LifecycleEventHookExecutionId), Status: string(in.Status),
	})
	return &codedeploy.PutLifecycleEventHookExecutionStatusOutput{LifecycleEventHookExecutionId: in.LifecycleEventHookExecutionId}, nil
}

package fakeaws

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/tenant-canary/tenant-canary/appspec"
)

// Operations the guards and the rollback function add.
const (
	OpListDeployments     = "ListDeployments"
	OpGetDeploymentTarget = "GetDeploymentTarget"
	OpCreateDeployment    = "CreateDeployment"
)

// More names of the standard world.
const (
	// The digests of ImageV0..V2, as the ECR source action reports them.
	DigestV0 = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	DigestV1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	DigestV2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"

	// AppSpecLatest is the Latest stage's AppSpec as the pipeline renders it
	// (appspec/appspec-latest.yaml), task definition placeholder included.
	AppSpecLatest = `version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: "` + appspec.TaskDefinitionPlaceholder + `"
        LoadBalancerInfo:
          ContainerName: "app"
          ContainerPort: 8080
Hooks:
  - BeforeInstall: "tc-dev-pin"`
)

// ecsLifecycleEvents are the lifecycle events of an ECS deployment's
// target, in order
// (https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-hooks.html#appspec-hooks-ecs).
var ecsLifecycleEvents = []string{
	"BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
	"BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic",
}

// Deployment is one CodeDeploy deployment of the application.
type Deployment struct {
	ID     string
	Group  string // LatestGroup or StableGroup
	Status cdtypes.DeploymentStatus
	// Events are the statuses of its ECS target's lifecycle events by name
	// (an event not named is Pending). nil: the deployment has not created
	// its target yet (GetDeploymentTarget answers
	// DeploymentTargetDoesNotExistException).
	Events map[string]cdtypes.LifecycleEventStatus
	// Description and AppSpec are what CreateDeployment was given.
	Description, AppSpec string
	created              bool
}

// TaskSet is a task set beside a service's PRIMARY one: the original
// during a deployment's termination wait (ACTIVE), or the replacement a
// rollback is still removing.
type TaskSet struct {
	Status      string // "ACTIVE" if empty
	TaskDef     string
	TargetGroup string
}

// deploymentState is the part of World the CodeDeploy guards read.
type deploymentState struct {
	// Deployments are the application's deployments, oldest first;
	// ListDeployments answers newest first.
	Deployments []*Deployment
	// DeploymentsPageSize caps ListDeployments pages (0: one page) to
	// exercise nextToken.
	DeploymentsPageSize int
	// ExtraTaskSets are more task sets of a service, by service name.
	ExtraTaskSets map[string][]TaskSet

	created  int
	triggers []*trigger
}

// trigger changes the world when it receives the nth call of an operation.
type trigger struct {
	op     string
	n, got int
	fn     func(w *World)
}

// On makes the world run fn when it receives the nth call of op from now
// on (n ≥ 1), before it answers that call: e.g. an unpin that ends while
// pin polls, or a tenant rule added during pin's health wait. fn runs with
// the world locked, so it changes fields directly and calls no method.
func (w *World) On(op string, n int, fn func(w *World)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.triggers = append(w.triggers, &trigger{op: op, n: n, fn: fn})
}

// fire runs the triggers of op's call. Must hold mu.
func (w *World) fire(op string) {
	for _, t := range w.triggers {
		if t.op != op || t.got >= t.n {
			continue
		}
		if t.got++; t.got == t.n {
			t.fn(w)
		}
	}
}

// StartDeployment adds an InProgress deployment of group whose target's
// lifecycle events have the given statuses (nil: no target yet).
func (w *World) StartDeployment(group, id string, events map[string]cdtypes.LifecycleEventStatus) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Deployments = append(w.Deployments, &Deployment{ID: id, Group: group, Status: cdtypes.DeploymentStatusInProgress, Events: events})
}

// UnpinRunning is the lifecycle events of a Stable deployment whose
// AfterAllowTraffic hook (unpin) is running.
func UnpinRunning() map[string]cdtypes.LifecycleEventStatus {
	events := map[string]cdtypes.LifecycleEventStatus{}
	for _, name := range ecsLifecycleEvents {
		events[name] = cdtypes.LifecycleEventStatusSucceeded
	}
	events["AfterAllowTraffic"] = cdtypes.LifecycleEventStatusInProgress
	return events
}

// CreatedDeployments returns copies of the deployments CreateDeployment
// created, in order.
func (w *World) CreatedDeployments() []Deployment {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Deployment
	for _, d := range w.Deployments {
		if d.created {
			out = append(out, *d)
		}
	}
	return out
}

func (w *World) deployment(id string) *Deployment {
	for _, d := range w.Deployments {
		if d.ID == id {
			return d
		}
	}
	return nil
}

// extraTaskSets renders ExtraTaskSets[service]. Must hold mu.
func (w *World) extraTaskSets(service string) []ecstypes.TaskSet {
	var out []ecstypes.TaskSet
	for i, ts := range w.ExtraTaskSets[service] {
		count := int32(2)
		if service == StableService {
			count = w.DesiredCount
		}
		out = append(out, taskSet(service, fmt.Sprintf("ecs-svc/9%03d", i), cmp.Or(ts.Status, "ACTIVE"), ts.TaskDef, ts.TargetGroup, count))
	}
	return out
}

func (w *World) checkGroup(app, group string) error {
	if app != CodeDeployApp {
		return &APIError{Code: "ApplicationDoesNotExistException", Message: "No application found for name: " + app, Status: 400}
	}
	if group != LatestGroup && group != StableGroup {
		return &APIError{Code: "DeploymentGroupDoesNotExistException", Message: "No Deployment Group found for name: " + group, Status: 400}
	}
	return nil
}

// ListDeployments implements rollout.CodeDeploy: the group's deployments
// with one of the statuses asked for (any status if none), newest first.
func (w *World) ListDeployments(_ context.Context, in *codedeploy.ListDeploymentsInput, _ ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var statuses []string
	for _, s := range in.IncludeOnlyStatuses {
		statuses = append(statuses, string(s))
	}
	app, group := aws.ToString(in.ApplicationName), aws.ToString(in.DeploymentGroupName)
	if err := w.begin(OpListDeployments, ListDeploymentsDetail(app, group, statuses...)); err != nil {
		return nil, err
	}
	if err := w.checkGroup(app, group); err != nil {
		return nil, err
	}
	var ids []string
	for i := len(w.Deployments) - 1; i >= 0; i-- {
		d := w.Deployments[i]
		if d.Group == group && (len(in.IncludeOnlyStatuses) == 0 || slices.Contains(in.IncludeOnlyStatuses, d.Status)) {
			ids = append(ids, d.ID)
		}
	}
	start := 0
	if t := aws.ToString(in.NextToken); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > len(ids) {
			return nil, &APIError{Code: "InvalidNextTokenException", Message: "The next token was specified in an invalid format.", Status: 400}
		}
		start = n
	}
	end := len(ids)
	if w.DeploymentsPageSize > 0 {
		end = min(end, start+w.DeploymentsPageSize)
	}
	out := &codedeploy.ListDeploymentsOutput{Deployments: slices.Clone(ids[start:end])}
	if end < len(ids) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// ListDeploymentsDetail is the Call.Detail of a ListDeployments call.
func ListDeploymentsDetail(app, group string, statuses ...string) string {
	return app + "/" + group + " " + strings.Join(statuses, ",")
}

// GetDeploymentTarget implements rollout.CodeDeploy for the ECS target
// "<cluster>:<service>" of a deployment of either group.
func (w *World) GetDeploymentTarget(_ context.Context, in *codedeploy.GetDeploymentTargetInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentTargetOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, target := aws.ToString(in.DeploymentId), aws.ToString(in.TargetId)
	if err := w.begin(OpGetDeploymentTarget, id+" "+target); err != nil {
		return nil, err
	}
	d := w.deployment(id)
	if d == nil {
		return nil, &APIError{Code: "DeploymentDoesNotExistException", Message: "The deployment " + id + " does not exist.", Status: 400}
	}
	service := StableService
	if d.Group == LatestGroup {
		service = LatestService
	}
	if target != Cluster+":"+service || d.Events == nil {
		return nil, &APIError{Code: "DeploymentTargetDoesNotExistException", Message: "The provided target ID does not belong to the deployment " + id + ".", Status: 400}
	}
	ecsTarget := &cdtypes.ECSTarget{
		DeploymentId: aws.String(id), TargetId: aws.String(target),
		TargetArn: aws.String(fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, Account, Cluster, service)),
		Status:    targetStatus(d.Status),
	}
	for _, name := range ecsLifecycleEvents {
		status := d.Events[name]
		if status == "" {
			status = cdtypes.LifecycleEventStatusPending
		}
		ecsTarget.LifecycleEvents = append(ecsTarget.LifecycleEvents, cdtypes.LifecycleEvent{LifecycleEventName: aws.String(name), Status: status})
	}
	return &codedeploy.GetDeploymentTargetOutput{DeploymentTarget: &cdtypes.DeploymentTarget{
		DeploymentTargetType: cdtypes.DeploymentTargetTypeEcsTarget, EcsTarget: ecsTarget,
	}}, nil
}

func targetStatus(s cdtypes.DeploymentStatus) cdtypes.TargetStatus {
	switch s {
	case cdtypes.DeploymentStatusSucceeded:
		return cdtypes.TargetStatusSucceeded
	case cdtypes.DeploymentStatusFailed:
		return cdtypes.TargetStatusFailed
	case cdtypes.DeploymentStatusReady:
		return cdtypes.TargetStatusReady
	case cdtypes.DeploymentStatusCreated, cdtypes.DeploymentStatusQueued:
		return cdtypes.TargetStatusPending
	}
	return cdtypes.TargetStatusInProgress
}

// CreateDeployment implements rollout.CodeDeploy for an ECS deployment
// given as inline AppSpec content. The new deployment is Created (so it is
// unfinished) and has no target yet.
func (w *World) CreateDeployment(_ context.Context, in *codedeploy.CreateDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.CreateDeploymentOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	app, group := aws.ToString(in.ApplicationName), aws.ToString(in.DeploymentGroupName)
	if err := w.begin(OpCreateDeployment, app+"/"+group); err != nil {
		return nil, err
	}
	if err := w.checkGroup(app, group); err != nil {
		return nil, err
	}
	rev := in.Revision
	if rev == nil {
		return nil, &APIError{Code: "RevisionRequiredException", Message: "The revision ID was not specified.", Status: 400}
	}
	if rev.RevisionType != cdtypes.RevisionLocationTypeAppSpecContent || rev.AppSpecContent == nil || aws.ToString(rev.AppSpecContent.Content) == "" {
		return nil, &APIError{Code: "InvalidRevisionException", Message: "fakeaws: an ECS deployment needs revisionType AppSpecContent with content", Status: 400}
	}
	w.created++
	d := &Deployment{
		ID: fmt.Sprintf("d-CREATED%02d", w.created), Group: group, Status: cdtypes.DeploymentStatusCreated,
		Description: aws.ToString(in.Description), AppSpec: aws.ToString(rev.AppSpecContent.Content), created: true,
	}
	w.Deployments = append(w.Deployments, d)
	return &codedeploy.CreateDeploymentOutput{DeploymentId: aws.String(d.ID)}, nil
}

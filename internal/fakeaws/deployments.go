package fakeaws

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// OpGetDeployment is CodeDeploy's GetDeployment, which the smoke hook calls
// to learn its deployment's group; OpListDeploymentTargets and
// GetDeploymentTarget tell it how many tasks the replacement task set has.
const (
	OpGetDeployment         = "GetDeployment"
	OpListDeploymentTargets = "ListDeploymentTargets"
)

// SmokeDesiredCount is the size of both task sets of a standard smoke
// deployment unless Deployments.Replacement says otherwise.
const SmokeDesiredCount = 2

// Deployments are the smoke test's standard deployments: one per stage.
const (
	LatestDeploymentID = "d-SMOKELATEST"
	StableDeploymentID = "d-SMOKESTABLE"
)

// Deployments is the CodeDeploy the smoke hook talks to: GetDeployment
// answers with a known deployment's group, and the lifecycle hook status
// reports are recorded. It implements the rollout package's CodeDeploy and
// DeploymentReader interfaces directly and serves CodeDeploy's AWS JSON 1.1
// protocol over HTTP through a Server, for the real SDK and the real binary.
type Deployments struct {
	mu sync.Mutex
	// Groups maps a deployment id to its deployment group.
	Groups map[string]string
	// Replacement maps a deployment id to the desired count of its
	// replacement (Green) task set; absent means SmokeDesiredCount.
	Replacement map[string]int64
	// NoTaskSets makes GetDeploymentTarget answer without taskSetsInfo.
	NoTaskSets bool
	calls      []Call
	reports    []Report
	fail       map[string][]error
}

// NewDeployments knows LatestDeploymentID (group LatestGroup) and
// StableDeploymentID (group StableGroup).
func NewDeployments() *Deployments {
	return &Deployments{Groups: map[string]string{LatestDeploymentID: LatestGroup, StableDeploymentID: StableGroup}}
}

// FailNext makes the next calls of op fail with errs, in order.
func (d *Deployments) FailNext(op string, errs ...error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail == nil {
		d.fail = map[string][]error{}
	}
	d.fail[op] = append(d.fail[op], errs...)
}

// Ops are the operations called so far, retries included.
func (d *Deployments) Ops() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range d.calls {
		out = append(out, c.Op)
	}
	return out
}

// Reports are the lifecycle hook statuses reported so far.
func (d *Deployments) Reports() []Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Report(nil), d.reports...)
}

func (d *Deployments) begin(op, detail string) error {
	d.calls = append(d.calls, Call{Op: op, Detail: detail})
	if errs := d.fail[op]; len(errs) > 0 {
		d.fail[op] = errs[1:]
		return errs[0]
	}
	return nil
}

// GetDeployment implements rollout.DeploymentReader.
func (d *Deployments) GetDeployment(_ context.Context, in *codedeploy.GetDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := aws.ToString(in.DeploymentId)
	if err := d.begin(OpGetDeployment, id); err != nil {
		return nil, err
	}
	group, ok := d.Groups[id]
	if !ok {
		return nil, &APIError{Code: "DeploymentDoesNotExistException", Message: "The deployment " + id + " could not be found", Status: 400}
	}
	return &codedeploy.GetDeploymentOutput{DeploymentInfo: &cdtypes.DeploymentInfo{
		DeploymentId: aws.String(id), ApplicationName: aws.String(CodeDeployApp), DeploymentGroupName: aws.String(group),
	}}, nil
}

// ListDeployments completes rollout.CodeDeploy; the smoke hook never calls
// it, and its role may not.
func (d *Deployments) ListDeployments(_ context.Context, in *codedeploy.ListDeploymentsInput, _ ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error) {
	return nil, d.denied(OpListDeployments, aws.ToString(in.DeploymentGroupName))
}

// ecsTargetID is the ECS target of a standard deployment,
// "<cluster>:<service>" (CodeDeploy API Reference, ECSTarget).
func (d *Deployments) ecsTargetID(id string) (string, error) {
	group, ok := d.Groups[id]
	if !ok {
		return "", &APIError{Code: "DeploymentDoesNotExistException", Message: "The deployment " + id + " could not be found", Status: 400}
	}
	service := StableService
	if group == LatestGroup {
		service = LatestService
	}
	return Cluster + ":" + service, nil
}

// ListDeploymentTargets implements rollout.DeploymentReader: an ECS
// deployment has one target, its service.
func (d *Deployments) ListDeploymentTargets(_ context.Context, in *codedeploy.ListDeploymentTargetsInput, _ ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := aws.ToString(in.DeploymentId)
	if err := d.begin(OpListDeploymentTargets, id); err != nil {
		return nil, err
	}
	target, err := d.ecsTargetID(id)
	if err != nil {
		return nil, err
	}
	return &codedeploy.ListDeploymentTargetsOutput{TargetIds: []string{target}}, nil
}

// GetDeploymentTarget implements rollout.DeploymentReader: the ECS target
// with its original (Blue) and replacement (Green) task sets.
func (d *Deployments) GetDeploymentTarget(_ context.Context, in *codedeploy.GetDeploymentTargetInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentTargetOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, target := aws.ToString(in.DeploymentId), aws.ToString(in.TargetId)
	if err := d.begin(OpGetDeploymentTarget, id+" "+target); err != nil {
		return nil, err
	}
	want, err := d.ecsTargetID(id)
	if err != nil {
		return nil, err
	}
	if target != want {
		return nil, &APIError{Code: "DeploymentTargetDoesNotExistException", Message: "The provided target ID does not belong to the deployment " + id + ".", Status: 400}
	}
	t := &cdtypes.ECSTarget{DeploymentId: aws.String(id), TargetId: aws.String(target), Status: cdtypes.TargetStatusInProgress}
	if !d.NoTaskSets {
		green, ok := d.Replacement[id]
		if !ok {
			green = SmokeDesiredCount
		}
		t.TaskSetsInfo = []cdtypes.ECSTaskSet{
			{Identifer: aws.String("ecs-svc/1111"), TaskSetLabel: cdtypes.TargetLabelBlue, Status: aws.String("PRIMARY"),
				DesiredCount: green, RunningCount: green, TrafficWeight: 100},
			{Identifer: aws.String("ecs-svc/2222"), TaskSetLabel: cdtypes.TargetLabelGreen, Status: aws.String("ACTIVE"),
				DesiredCount: green, RunningCount: green},
		}
	}
	return &codedeploy.GetDeploymentTargetOutput{DeploymentTarget: &cdtypes.DeploymentTarget{
		DeploymentTargetType: cdtypes.DeploymentTargetTypeEcsTarget, EcsTarget: t,
	}}, nil
}

// CreateDeployment completes rollout.CodeDeploy; the smoke hook never calls
// it, and its role may not.
func (d *Deployments) CreateDeployment(_ context.Context, in *codedeploy.CreateDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.CreateDeploymentOutput, error) {
	return nil, d.denied(OpCreateDeployment, aws.ToString(in.DeploymentGroupName))
}

// denied records a call of op the smoke hook's role is not allowed.
func (d *Deployments) denied(op, detail string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(op, detail); err != nil {
		return err
	}
	return AccessDenied(op)
}

// PutLifecycleEventHookExecutionStatus implements rollout.CodeDeploy.
func (d *Deployments) PutLifecycleEventHookExecutionStatus(_ context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, _ ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(OpPutHookStatus, string(in.Status)); err != nil {
		return nil, err
	}
	if aws.ToString(in.DeploymentId) == "" || aws.ToString(in.LifecycleEventHookExecutionId) == "" {
		return nil, &APIError{Code: "InvalidLifecycleEventHookExecutionIdException", Message: "deployment and execution ids are required", Status: 400}
	}
	if in.Status != cdtypes.LifecycleEventStatusSucceeded && in.Status != cdtypes.LifecycleEventStatusFailed {
		return nil, &APIError{Code: "InvalidLifecycleEventHookExecutionStatusException", Message: "Status must be Succeeded or Failed", Status: 400}
	}
	d.reports = append(d.reports, Report{
		DeploymentID: aws.ToString(in.DeploymentId), ExecutionID: aws.ToString(in.LifecycleEventHookExecutionId), Status: string(in.Status),
	})
	return &codedeploy.PutLifecycleEventHookExecutionStatusOutput{LifecycleEventHookExecutionId: in.LifecycleEventHookExecutionId}, nil
}

// ServeHTTP speaks CodeDeploy's AWS JSON 1.1 protocol for the two calls,
// through a Server.
func (d *Deployments) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	NewServer(d, nil).ServeHTTP(rw, r)
}

// SmokeEnv is the smoke hook's environment for the standard deployments,
// with the test listeners at latestURL and stableURL.
func SmokeEnv(latestURL, stableURL, checks string) map[string]string {
	targets, _ := json.Marshal(map[string]string{LatestGroup: latestURL, StableGroup: stableURL})
	return map[string]string{contract.EnvSmokeTargets: string(targets), contract.EnvSmokeChecks: checks}
}

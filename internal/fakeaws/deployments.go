package fakeaws

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// OpGetDeployment is CodeDeploy's GetDeployment, which the smoke hook calls
// to learn its deployment's group.
const OpGetDeployment = "GetDeployment"

// Deployments are the smoke test's standard deployments: one per stage.
const (
	LatestDeploymentID = "d-SMOKELATEST"
	StableDeploymentID = "d-SMOKESTABLE"
)

// Deployments is the CodeDeploy the smoke hook talks to: GetDeployment
// answers with a known deployment's group, and the lifecycle hook status
// reports are recorded. It implements the rollout package's CodeDeploy and
// DeploymentReader interfaces directly and serves CodeDeploy's AWS JSON 1.1
// protocol over HTTP, for the real SDK and the real binary.
type Deployments struct {
	mu sync.Mutex
	// Groups maps a deployment id to its deployment group.
	Groups  map[string]string
	calls   []Call
	reports []Report
	fail    map[string][]error
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

// GetDeploymentGroup completes rollout.CodeDeploy; the smoke hook never
// calls it.
func (d *Deployments) GetDeploymentGroup(_ context.Context, in *codedeploy.GetDeploymentGroupInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentGroupOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(OpGetDeploymentGroup, aws.ToString(in.DeploymentGroupName)); err != nil {
		return nil, err
	}
	return nil, AccessDenied(OpGetDeploymentGroup)
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

// ServeHTTP speaks CodeDeploy's AWS JSON 1.1 protocol for the two calls.
func (d *Deployments) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	body, err := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || err != nil || !strings.HasPrefix(target, codeDeployTarget) {
		writeJSONError(rw, &APIError{Code: "UnknownOperationException", Message: "not a CodeDeploy call: " + target, Status: 400})
		return
	}
	var req struct {
		DeploymentID                  string `json:"deploymentId"`
		LifecycleEventHookExecutionID string `json:"lifecycleEventHookExecutionId"`
		Status                        string `json:"status"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSONError(rw, &APIError{Code: "SerializationException", Message: err.Error()})
		return
	}
	ctx := context.Background()
	var resp any
	switch op := strings.TrimPrefix(target, codeDeployTarget); op {
	case OpGetDeployment:
		resp, err = call(func() (any, error) {
			out, err := d.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: &req.DeploymentID})
			if err != nil {
				return nil, err
			}
			i := out.DeploymentInfo
			return map[string]any{"deploymentInfo": map[string]any{
				"deploymentId": aws.ToString(i.DeploymentId), "applicationName": aws.ToString(i.ApplicationName),
				"deploymentGroupName": aws.ToString(i.DeploymentGroupName), "computePlatform": "ECS",
			}}, nil
		})
	case OpPutHookStatus:
		resp, err = call(func() (any, error) {
			out, err := d.PutLifecycleEventHookExecutionStatus(ctx, &codedeploy.PutLifecycleEventHookExecutionStatusInput{
				DeploymentId: &req.DeploymentID, LifecycleEventHookExecutionId: &req.LifecycleEventHookExecutionID,
				Status: cdtypes.LifecycleEventStatus(req.Status),
			})
			if err != nil {
				return nil, err
			}
			return map[string]any{"lifecycleEventHookExecutionId": aws.ToString(out.LifecycleEventHookExecutionId)}, nil
		})
	default:
		err = &APIError{Code: "UnknownOperationException", Message: "unsupported operation " + op, Status: 400}
	}
	if err != nil {
		writeJSONError(rw, err)
		return
	}
	rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(rw).Encode(resp)
}

// SmokeEnv is the smoke hook's environment for the standard deployments,
// with the test listeners at latestURL and stableURL.
func SmokeEnv(latestURL, stableURL, checks string) map[string]string {
	targets, _ := json.Marshal(map[string]string{LatestGroup: latestURL, StableGroup: stableURL})
	return map[string]string{contract.EnvSmokeTargets: string(targets), contract.EnvSmokeChecks: checks}
}

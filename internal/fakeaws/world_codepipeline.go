package fakeaws

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// CodePipeline operations the guards use.
const (
	OpGetPipelineState     = "GetPipelineState"
	OpGetPipelineExecution = "GetPipelineExecution"
	OpPutApprovalResult    = "PutApprovalResult"
)

// BundleRevision is the S3 object version the bundle source action reports
// for every execution: an artifact revision that is not an image digest.
const BundleRevision = "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"

// pipelineStages are the pipeline's stages, in order.
var pipelineStages = []string{"Source", "Latest", contract.StageApprove, "Stable"}

// Approval is the Approve action waiting for a decision.
type Approval struct {
	ExecutionID, Token string
}

// ApprovalResult is one PutApprovalResult the world accepted.
type ApprovalResult struct {
	ExecutionID, Status, Summary string
}

// pipelineState is the part of World the approval guards read.
type pipelineState struct {
	// PendingApproval is the Approve action's waiting execution; nil when
	// no approval is pending.
	PendingApproval *Approval
	// ExecutionDigests is the image digest the ECR source action delivered
	// to each pipeline execution (its artifact revision "sha256:…").
	ExecutionDigests map[string]string

	approvalResults []ApprovalResult
	decided         map[string]string // token → execution id
}

// AwaitApproval makes execution wait at Approve, about the image with
// digest, with token "token-<execution>".
func (w *World) AwaitApproval(execution, digest string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.PendingApproval = &Approval{ExecutionID: execution, Token: "token-" + execution}
	w.addExecution(execution, digest)
}

// AddExecution records a pipeline execution about the image with digest.
func (w *World) AddExecution(execution, digest string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.addExecution(execution, digest)
}

func (w *World) addExecution(execution, digest string) {
	if w.ExecutionDigests == nil {
		w.ExecutionDigests = map[string]string{}
	}
	w.ExecutionDigests[execution] = digest
}

// ApprovalResults returns the accepted PutApprovalResult calls.
func (w *World) ApprovalResults() []ApprovalResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.approvalResults)
}

func checkPipeline(name string) error {
	if name != PipelineName {
		return &APIError{Code: "PipelineNotFoundException", Message: "Pipeline not found: " + name, Status: 400}
	}
	return nil
}

// GetPipelineState implements rollout.CodePipeline. While an approval is
// pending the Approve stage and action are InProgress and the action
// carries the token; after a decision they show its outcome, without one.
func (w *World) GetPipelineState(_ context.Context, in *codepipeline.GetPipelineStateInput, _ ...func(*codepipeline.Options)) (*codepipeline.GetPipelineStateOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	name := aws.ToString(in.Name)
	if err := w.begin(OpGetPipelineState, name); err != nil {
		return nil, err
	}
	if err := checkPipeline(name); err != nil {
		return nil, err
	}
	out := &codepipeline.GetPipelineStateOutput{PipelineName: aws.String(name), PipelineVersion: aws.Int32(1)}
	for _, stage := range pipelineStages {
		st := cptypes.StageState{StageName: aws.String(stage)}
		if stage == contract.StageApprove {
			action := cptypes.ActionState{ActionName: aws.String(contract.ActionApprove)}
			switch {
			case w.PendingApproval != nil:
				st.LatestExecution = &cptypes.StageExecution{PipelineExecutionId: aws.String(w.PendingApproval.ExecutionID), Status: cptypes.StageExecutionStatusInProgress}
				action.LatestExecution = &cptypes.ActionExecution{
					ActionExecutionId: aws.String("action-" + w.PendingApproval.ExecutionID),
					Status:            cptypes.ActionExecutionStatusInProgress, Token: aws.String(w.PendingApproval.Token),
				}
			case len(w.approvalResults) > 0:
				last := w.approvalResults[len(w.approvalResults)-1]
				stageStatus, actionStatus := cptypes.StageExecutionStatusSucceeded, cptypes.ActionExecutionStatusSucceeded
				if last.Status == string(cptypes.ApprovalStatusRejected) {
					stageStatus, actionStatus = cptypes.StageExecutionStatusFailed, cptypes.ActionExecutionStatusFailed
				}
				st.LatestExecution = &cptypes.StageExecution{PipelineExecutionId: aws.String(last.ExecutionID), Status: stageStatus}
				action.LatestExecution = &cptypes.ActionExecution{ActionExecutionId: aws.String("action-" + last.ExecutionID),
					Status: actionStatus, Summary: aws.String(last.Summary)}
			}
			st.ActionStates = []cptypes.ActionState{action}
		}
		out.StageStates = append(out.StageStates, st)
	}
	return out, nil
}

// GetPipelineExecution implements rollout.CodePipeline: the bundle's S3
// revision first, then the image digest.
func (w *World) GetPipelineExecution(_ context.Context, in *codepipeline.GetPipelineExecutionInput, _ ...func(*codepipeline.Options)) (*codepipeline.GetPipelineExecutionOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	name, id := aws.ToString(in.PipelineName), aws.ToString(in.PipelineExecutionId)
	if err := w.begin(OpGetPipelineExecution, id); err != nil {
		return nil, err
	}
	if err := checkPipeline(name); err != nil {
		return nil, err
	}
	digest, ok := w.ExecutionDigests[id]
	if !ok {
		return nil, &APIError{Code: "PipelineExecutionNotFoundException", Message: fmt.Sprintf("Pipeline execution %s not found in pipeline %s", id, name), Status: 400}
	}
	return &codepipeline.GetPipelineExecutionOutput{PipelineExecution: &cptypes.PipelineExecution{
		PipelineName: aws.String(name), PipelineVersion: aws.Int32(1), PipelineExecutionId: aws.String(id),
		Status: cptypes.PipelineExecutionStatusInProgress,
		ArtifactRevisions: []cptypes.ArtifactRevision{
			{Name: aws.String("Bundle"), RevisionId: aws.String(BundleRevision)},
			{Name: aws.String("Image"), RevisionId: aws.String(digest), RevisionSummary: aws.String("Image tag: main")},
		},
	}}, nil
}

// PutApprovalResult implements rollout.CodePipeline. The token must be the
// pending one: a token already decided gets
// ApprovalAlreadyCompletedException, any other InvalidApprovalTokenException.
func (w *World) PutApprovalResult(_ context.Context, in *codepipeline.PutApprovalResultInput, _ ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var status, summary string
	if in.Result != nil {
		status, summary = string(in.Result.Status), aws.ToString(in.Result.Summary)
	}
	token := aws.ToString(in.Token)
	if err := w.begin(OpPutApprovalResult, status+" "+token); err != nil {
		return nil, err
	}
	if err := checkPipeline(aws.ToString(in.PipelineName)); err != nil {
		return nil, err
	}
	if aws.ToString(in.StageName) != contract.StageApprove {
		return nil, &APIError{Code: "StageNotFoundException", Message: "Stage not found: " + aws.ToString(in.StageName), Status: 400}
	}
	if aws.ToString(in.ActionName) != contract.ActionApprove {
		return nil, &APIError{Code: "ActionNotFoundException", Message: "Action not found: " + aws.ToString(in.ActionName), Status: 400}
	}
	if (status != string(cptypes.ApprovalStatusApproved) && status != string(cptypes.ApprovalStatusRejected)) || summary == "" {
		return nil, &APIError{Code: "ValidationException", Message: "result needs status Approved or Rejected and a summary", Status: 400}
	}
	if _, done := w.decided[token]; done {
		return nil, &APIError{Code: "ApprovalAlreadyCompletedException", Message: "The approval action has already been completed.", Status: 400}
	}
	if w.PendingApproval == nil || token != w.PendingApproval.Token {
		return nil, &APIError{Code: "InvalidApprovalTokenException", Message: "The approval request token is not valid.", Status: 400}
	}
	if w.decided == nil {
		w.decided = map[string]string{}
	}
	w.decided[token] = w.PendingApproval.ExecutionID
	w.approvalResults = append(w.approvalResults, ApprovalResult{ExecutionID: w.PendingApproval.ExecutionID, Status: status, Summary: summary})
	w.PendingApproval = nil
	return &codepipeline.PutApprovalResultOutput{ApprovedAt: aws.Time(time.Date(2026, 6, 30, 22, 6, 31, 0, time.UTC))}, nil
}

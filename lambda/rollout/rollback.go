package rollout

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// ApprovalEventDetailType is the EventBridge detail-type of a CodePipeline
// action's state change; its detail names the pipeline, the execution, the
// stage, the action and the state
// (https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html).
// A rejected approval and one whose timeout expired both end in FAILED.
const ApprovalEventDetailType = "CodePipeline Action Execution State Change"

// RollbackRequest is what the rollback function accepts: either the
// EventBridge event of a failed Approve action, or an operator's request
// (`tenant-canary rollback`), which carries only a reason.
type RollbackRequest struct {
	DetailType string               `json:"detail-type"`
	Source     string               `json:"source"`
	Detail     *ApprovalEventDetail `json:"detail"`
	// Reason is set by an operator's request.
	Reason string `json:"reason"`
}

// ApprovalEventDetail is the part of the event's detail the function reads.
type ApprovalEventDetail struct {
	Pipeline    string `json:"pipeline"`
	ExecutionID string `json:"execution-id"`
	Stage       string `json:"stage"`
	Action      string `json:"action"`
	State       string `json:"state"`
}

// Outcomes of a rollback.
const (
	// OutcomeDeploying: latest is being redeployed with stable's image.
	OutcomeDeploying = "deploying"
	// OutcomeUnpinned: latest already served stable's image; everyone is
	// back on latest and stable is scaled to zero.
	OutcomeUnpinned = "unpinned"
	// OutcomeNothingToDo: the rejection was not about what latest serves
	// (a newer push superseded it), or the stack holds on rejection.
	OutcomeNothingToDo = "nothing-to-do"
	// OutcomeBusy: a deployment has not ended; stop it first (the CLI
	// does) or let it finish.
	OutcomeBusy = "busy"
)

// RollbackResult is the function's answer.
type RollbackResult struct {
	Outcome      string `json:"outcome"`
	Detail       string `json:"detail"`
	DeploymentID string `json:"deploymentId,omitempty"`
}

// Rollback puts everyone back on the version stable serves — the last one
// an approval covered — through a CodeDeploy deployment on the Latest group,
// so the shift is watched by the same alarms and can itself roll back;
// cleanup unpins when it succeeds. It runs when the Approve action fails
// (rejected or timed out, unless approval.onReject is hold) and when an
// operator asks. A rejection that is not about the image latest serves is
// the automatic rejection of a superseded approval (newest push wins) and
// rolls nothing back.
func (h *Hooks) Rollback(ctx context.Context, req RollbackRequest) (res RollbackResult, err error) {
	log := newInvocationLogger(h.logger(), HookRollback, "")
	log.Info("start", "invoked", "detail_type", req.DetailType, "reason", req.Reason)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			log.Error("panic", "recovered from panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		if err != nil {
			log.Error("done", "rollback failed", "error", err.Error())
		} else {
			log.Info("done", "rollback finished", "outcome", res.Outcome, "detail", res.Detail, "rollback_deployment", res.DeploymentID)
		}
	}()
	if h.ConfigErr != nil {
		return res, h.ConfigErr
	}
	rejectedExecution, rejectedDigest := "", ""
	switch {
	case req.DetailType == ApprovalEventDetailType:
		d := req.Detail
		if d == nil || d.ExecutionID == "" || d.Stage == "" || d.Action == "" || d.State == "" {
			return res, fmt.Errorf("malformed %s event: detail needs pipeline, execution-id, stage, action and state", ApprovalEventDetailType)
		}
		if d.Pipeline != h.Config.PipelineName || d.Stage != contract.StageApprove || d.Action != contract.ActionApprove || d.State != "FAILED" {
			return RollbackResult{Outcome: OutcomeNothingToDo, Detail: "ignored: not a failed Approve action of pipeline " + h.Config.PipelineName}, nil
		}
		if h.Config.OnReject == contract.OnRejectHold {
			log.Warn("held", "approval rejected or expired and approval.onReject is hold: pinned tenants stay on stable, the others on latest, until a push or `tenant-canary rollback` (docs/runbook.md, \"A held split\")",
				"pipeline_execution_id", d.ExecutionID)
			return RollbackResult{Outcome: OutcomeNothingToDo, Detail: "approval.onReject is hold"}, nil
		}
		wctx, cancel := h.workContext(ctx)
		defer cancel()
		ctx = wctx
		rejectedExecution = d.ExecutionID
		if rejectedDigest, err = h.executionImageDigest(ctx, d.ExecutionID); err != nil {
			return res, err
		}
	case req.DetailType != "":
		return res, fmt.Errorf("malformed event: detail-type is %q, want %q or an operator request {\"reason\": …}", req.DetailType, ApprovalEventDetailType)
	default:
		if strings.TrimSpace(req.Reason) == "" {
			return res, fmt.Errorf("malformed request: an operator's rollback needs a non-empty \"reason\"")
		}
		wctx, cancel := h.workContext(ctx)
		defer cancel()
		ctx = wctx
	}
	return h.rollback(ctx, log, rejectedExecution, rejectedDigest, req.Reason)
}

func (h *Hooks) rollback(ctx context.Context, log *invocationLogger, rejectedExecution, rejectedDigest, reason string) (RollbackResult, error) {
	unclaim, err := h.claimRelease(ctx, log)
	defer unclaim()
	if err != nil {
		return RollbackResult{}, err
	}
	if why, err := h.busy(ctx, log); err != nil || why != "" {
		return RollbackResult{Outcome: OutcomeBusy, Detail: why}, err
	}
	if rejectedExecution != "" {
		ps, err := h.readPipeline(ctx, log)
		if err != nil {
			return RollbackResult{}, err
		}
		older, err := h.approvedExecutionUnfinished(ctx, log, ps, rejectedExecution)
		if err != nil {
			return RollbackResult{}, err
		}
		if older != "" {
			detail := fmt.Sprintf("execution %s, older than the rejected %s, was approved and has not finished its Stable stage: "+
				"rolling latest back to what stable serves now, and releasing stable, would undo that approval; "+
				"the end of its Stable deployment runs cleanup, which rolls the rejected image back to the approved version", older, rejectedExecution)
			log.Info("check-pipeline", detail)
			return RollbackResult{Outcome: OutcomeBusy, Detail: detail}, nil
		}
	}
	ls, err := h.readListener(ctx, log)
	if err != nil {
		return RollbackResult{}, err
	}
	latest, stable, err := h.servicesAtRest(ctx, log)
	if err != nil {
		return RollbackResult{}, err
	}
	latestTD, err := primaryTaskDefinition(latest)
	if err != nil {
		return RollbackResult{}, err
	}
	if rejectedDigest != "" {
		latestImages, err := h.images(ctx, latestTD)
		if err != nil {
			return RollbackResult{}, err
		}
		img := describeImages(latestImages)
		if imageDigest(img) == "" {
			// latest names its image by tag: whether the rejection was
			// about it cannot be told. Rolling back could undo a newer
			// push's canary, doing nothing could leave a rejected image in
			// place: neither is guessed, the operator is told.
			detail := fmt.Sprintf("the rejected approval was about %s, latest names its image by tag (%s): cannot tell whether the rejection is about it; "+
				"nothing rolled back: run `tenant-canary rollback` if it is (docs/runbook.md, \"A held split\")", rejectedDigest, img)
			log.Warn("held", detail)
			return RollbackResult{Outcome: OutcomeNothingToDo, Detail: detail}, nil
		}
		if imageDigest(img) != rejectedDigest {
			detail := fmt.Sprintf("the rejected approval was about %s, latest serves %s: a newer push superseded it and goes on", rejectedDigest, img)
			log.Info("superseded", detail)
			return RollbackResult{Outcome: OutcomeNothingToDo, Detail: detail}, nil
		}
	}
	stableTD, err := servingTaskDefinition(stable, ls.anchor.groups)
	if err != nil {
		return RollbackResult{}, err
	}
	same, err := h.sameImage(ctx, log, latestTD, stableTD)
	if err != nil {
		return RollbackResult{}, err
	}
	if same {
		if err := h.release(ctx, log, ls, stable); err != nil {
			return RollbackResult{}, err
		}
		return RollbackResult{Outcome: OutcomeUnpinned, Detail: "latest already served stable's image: everyone is on it"}, nil
	}
	id, err := h.redeployLatest(ctx, log, stableTD, reason)
	if err != nil {
		return RollbackResult{}, err
	}
	return RollbackResult{Outcome: OutcomeDeploying, DeploymentID: id,
		Detail: fmt.Sprintf("latest is being redeployed with %s; cleanup unpins the tenants when it succeeds", stableTD)}, nil
}

// redeployLatest starts a deployment of the Latest group with the Latest
// stage's own AppSpec (its pin hook included) and stable's task definition,
// given inline (revision type AppSpecContent,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_CreateDeployment.html).
func (h *Hooks) redeployLatest(ctx context.Context, log *invocationLogger, taskDefinition, reason string) (string, error) {
	content := strings.ReplaceAll(h.Config.AppSpecLatest, appspec.TaskDefinitionPlaceholder, taskDefinition)
	desc := "tenant-canary rollback to stable's version"
	if reason != "" {
		desc += ": " + reason
	}
	out, err := h.CodeDeploy.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{
		ApplicationName:     aws.String(h.Config.CodeDeployApplicationName),
		DeploymentGroupName: aws.String(h.Config.LatestDeploymentGroupName),
		Description:         aws.String(truncate(desc, 100)),
		Revision: &cdtypes.RevisionLocation{
			RevisionType:   cdtypes.RevisionLocationTypeAppSpecContent,
			AppSpecContent: &cdtypes.AppSpecContent{Content: aws.String(content)},
		},
	})
	if err != nil {
		return "", fmt.Errorf("create rollback deployment of %s with %s: %w", h.Config.LatestDeploymentGroupName, taskDefinition, err)
	}
	id := aws.ToString(out.DeploymentId)
	log.Info("redeploy-latest", "rollback deployment created", "rollback_deployment", id, "task_definition", taskDefinition)
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

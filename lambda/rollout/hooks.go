// Package rollout is the logic of the CodeDeploy lifecycle hooks that pin
// tenants to the stable service during a rollout and unpin them afterwards
// (docs/design.md §4). It talks to AWS only through the small interfaces in aws.go,
// so the same code runs against fakes in tests and against the real SDK.
package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

// LifecycleEvent is the payload CodeDeploy sends to an ECS lifecycle hook
// function: {"DeploymentId": "d-…", "LifecycleEventHookExecutionId": "…"}
// (https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-hooks.html#reference-appspec-file-structure-hooks-section-structure-ecs-sample-function).
type LifecycleEvent struct {
	DeploymentID                  string `json:"DeploymentId"`
	LifecycleEventHookExecutionID string `json:"LifecycleEventHookExecutionId"`
}

// Defaults for the timing knobs of Hooks.
const (
	// DefaultSafetyMargin is kept free at the end of an invocation so the
	// status report reaches CodeDeploy before Lambda stops the function.
	DefaultSafetyMargin = 20 * time.Second
	// DefaultPollInterval matches the shortest ALB health check interval.
	DefaultPollInterval = 5 * time.Second
	// DefaultBudget bounds the work when the context carries no deadline
	// (never the case under Lambda, whose maximum is 15 minutes).
	DefaultBudget = 14 * time.Minute
	// DefaultReportTimeout bounds the report when the context has no deadline.
	DefaultReportTimeout = 10 * time.Second
)

// Hooks runs the pin, unpin and cleanup hooks. Build it once per cold start.
type Hooks struct {
	Config Config
	// ConfigErr, when set, is the start-up configuration error: every
	// invocation fails with it (and a lifecycle hook still reports Failed, so
	// a misconfigured function never leaves a deployment hanging).
	ConfigErr error

	ECS          ECS
	ELB          ELB
	CodeDeploy   CodeDeploy
	CodePipeline CodePipeline
	Logger       *slog.Logger

	// Zero values mean the Default… constants.
	SafetyMargin  time.Duration
	PollInterval  time.Duration
	Budget        time.Duration
	ReportTimeout time.Duration
}

// Pin is the BeforeInstall hook of the Latest deployment.
func (h *Hooks) Pin(ctx context.Context, ev LifecycleEvent) error {
	return h.lifecycle(ctx, HookPin, ev, h.pin)
}

// Unpin is the AfterAllowTraffic hook of the Stable deployment.
func (h *Hooks) Unpin(ctx context.Context, ev LifecycleEvent) error {
	return h.lifecycle(ctx, HookUnpin, ev, h.unpin)
}

// Cleanup handles the EventBridge "CodeDeploy Deployment State-change
// Notification" (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-codedeploy.html)
// of a deployment of either group that succeeded, failed or was stopped,
// and brings the system to rest from the state it reads (see cleanup). It is
// not a lifecycle hook, so it reports nothing to CodeDeploy; an error makes
// Lambda retry the (idempotent) event.
func (h *Hooks) Cleanup(ctx context.Context, ev events.CodeDeployEvent) (err error) {
	log := newInvocationLogger(h.logger(), HookCleanup, ev.Detail.DeploymentID)
	log.Info("start", "invoked", "application", ev.Detail.Application,
		"deployment_group", ev.Detail.DeploymentGroup, "state", string(ev.Detail.State))
	defer endCleanup(log, &err)
	if h.ConfigErr != nil {
		return h.ConfigErr
	}
	if ev.DetailType != events.CodeDeployDeploymentEventDetailType {
		return fmt.Errorf("malformed event: detail-type is %q, want %q", ev.DetailType, events.CodeDeployDeploymentEventDetailType)
	}
	var missing []string
	for name, v := range map[string]string{"detail.application": ev.Detail.Application,
		"detail.deploymentGroup": ev.Detail.DeploymentGroup, "detail.state": string(ev.Detail.State),
		"detail.deploymentId": ev.Detail.DeploymentID} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("malformed %s event: missing %v", ev.DetailType, missing)
	}
	if ev.Detail.Application != h.Config.CodeDeployApplicationName ||
		(ev.Detail.DeploymentGroup != h.Config.LatestDeploymentGroupName && ev.Detail.DeploymentGroup != h.Config.StableDeploymentGroupName) {
		log.Info("done", "ignored: not one of this stack's deployment groups", "want_application", h.Config.CodeDeployApplicationName,
			"want_deployment_groups", []string{h.Config.LatestDeploymentGroupName, h.Config.StableDeploymentGroupName})
		return nil
	}
	switch ev.Detail.State {
	case events.CodeDeployDeploymentStateSuccess, events.CodeDeployDeploymentStateFailure, events.CodeDeployDeploymentStateStop:
	default:
		log.Info("done", "ignored: the deployment has not ended (state is not SUCCESS, FAILURE or STOP)")
		return nil
	}
	wctx, cancel := h.workContext(ctx)
	defer cancel()
	// A Stable deployment that failed or was stopped (an alarm, a failed
	// hook) ends its execution short of its last stage: the version latest
	// serves was never approved all the way, so cleanup rolls it back.
	failed := ev.Detail.State != events.CodeDeployDeploymentStateSuccess
	return h.cleanup(wctx, log, cleanupEvent{
		deployment:  true,
		stableEnded: failed && ev.Detail.DeploymentGroup == h.Config.StableDeploymentGroupName,
		latestEnded: failed && ev.Detail.DeploymentGroup == h.Config.LatestDeploymentGroupName,
	})
}

// PipelineExecutionEventDetailType is the EventBridge detail-type of a
// pipeline execution's state change; its detail names the pipeline, the
// execution and the state (CodePipeline User Guide, "Monitoring
// CodePipeline events",
// https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html).
const PipelineExecutionEventDetailType = "CodePipeline Pipeline Execution State Change"

// The pipeline execution states that end an execution without it
// succeeding or being superseded: FAILED, CANCELED ("the pipeline
// execution was canceled because the pipeline structure was updated", a
// `pulumi up` that changes the pipeline mid-rollout) and STOPPED (an
// operator stopped it), from the same page.
var pipelineEndedStates = []string{"FAILED", "CANCELED", "STOPPED"}

// PipelineExecutionEvent is the part of that event cleanup reads.
type PipelineExecutionEvent struct {
	DetailType string                   `json:"detail-type"`
	Source     string                   `json:"source"`
	Detail     *PipelineExecutionDetail `json:"detail"`
}

// PipelineExecutionDetail is the event's detail.
type PipelineExecutionDetail struct {
	Pipeline    string `json:"pipeline"`
	ExecutionID string `json:"execution-id"`
	State       string `json:"state"`
}

// CleanupEvent is the cleanup function's handler: it takes either event
// the function is routed (a CodeDeploy deployment's end, or a pipeline
// execution that failed, was canceled or stopped) and tells them apart by
// their detail-type.
func (h *Hooks) CleanupEvent(ctx context.Context, raw json.RawMessage) error {
	var head struct {
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("malformed event: not a JSON object: %w", err)
	}
	switch head.DetailType {
	case events.CodeDeployDeploymentEventDetailType:
		var ev events.CodeDeployEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return fmt.Errorf("malformed %s event: %w", head.DetailType, err)
		}
		return h.Cleanup(ctx, ev)
	case PipelineExecutionEventDetailType:
		var ev PipelineExecutionEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return fmt.Errorf("malformed %s event: %w", head.DetailType, err)
		}
		return h.CleanupPipelineExecution(ctx, ev)
	}
	return fmt.Errorf("malformed event: detail-type is %q, want %q or %q", head.DetailType,
		events.CodeDeployDeploymentEventDetailType, PipelineExecutionEventDetailType)
}

// CleanupPipelineExecution handles the end of a pipeline execution that did
// not succeed: a FAILED, CANCELED or STOPPED execution can end with no
// CodeDeploy deployment ending after it (a pipeline edited while the
// Approve action waits cancels the execution, and no later event tells
// anyone), so cleanup brings the system to rest from the state it reads,
// exactly as after a deployment's end.
func (h *Hooks) CleanupPipelineExecution(ctx context.Context, ev PipelineExecutionEvent) (err error) {
	var d PipelineExecutionDetail
	if ev.Detail != nil {
		d = *ev.Detail
	}
	log := newInvocationLogger(h.logger(), HookCleanup, "")
	log.Info("start", "invoked", "pipeline", d.Pipeline, "pipeline_execution_id", d.ExecutionID, "state", d.State)
	defer endCleanup(log, &err)
	if h.ConfigErr != nil {
		return h.ConfigErr
	}
	if ev.DetailType != PipelineExecutionEventDetailType {
		return fmt.Errorf("malformed event: detail-type is %q, want %q", ev.DetailType, PipelineExecutionEventDetailType)
	}
	var missing []string
	for name, v := range map[string]string{"detail.pipeline": d.Pipeline, "detail.execution-id": d.ExecutionID, "detail.state": d.State} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("malformed %s event: missing %v", ev.DetailType, missing)
	}
	if d.Pipeline != h.Config.PipelineName {
		log.Info("done", "ignored: not this stack's pipeline", "want_pipeline", h.Config.PipelineName)
		return nil
	}
	if !slices.Contains(pipelineEndedStates, d.State) {
		log.Info("done", "ignored: the execution did not fail, get canceled or stop", "states", pipelineEndedStates)
		return nil
	}
	wctx, cancel := h.workContext(ctx)
	defer cancel()
	return h.cleanup(wctx, log, cleanupEvent{})
}

// lifecycle runs work for a CodeDeploy lifecycle hook and reports its outcome
// exactly once, from the deferred function, on every path: success, error,
// expired wait and panic. CodeDeploy fails a hook that never reports only
// after an hour (docs/design.md §6), so not reporting is the worst outcome.
func (h *Hooks) lifecycle(ctx context.Context, hook Hook, ev LifecycleEvent, work func(context.Context, *invocationLogger) error) (err error) {
	log := newInvocationLogger(h.logger(), hook, ev.DeploymentID)
	log.Info("start", "invoked", "lifecycle_event_hook_execution_id", ev.LifecycleEventHookExecutionID)

	if ev.LifecycleEventHookExecutionID == "" {
		missing := "LifecycleEventHookExecutionId"
		if ev.DeploymentID == "" {
			missing = "DeploymentId and LifecycleEventHookExecutionId"
		}
		err = fmt.Errorf("malformed CodeDeploy lifecycle event: %s missing; cannot report a status to CodeDeploy without the execution id", missing)
		log.Error("validate", "not reporting to CodeDeploy", "error", err.Error())
		return err
	}

	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			log.Error("panic", "recovered from panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		status := cdtypes.LifecycleEventStatusSucceeded
		if err != nil {
			status = cdtypes.LifecycleEventStatusFailed
			log.Error("done", "hook failed", "error", err.Error())
		}
		if rerr := h.report(ctx, log, ev, status); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()

	if ev.DeploymentID == "" {
		return errors.New("malformed CodeDeploy lifecycle event: DeploymentId missing")
	}
	if h.ConfigErr != nil {
		return h.ConfigErr
	}
	wctx, cancel := h.workContext(ctx)
	defer cancel()
	return work(wctx, log)
}

func (h *Hooks) report(ctx context.Context, log *invocationLogger, ev LifecycleEvent, status cdtypes.LifecycleEventStatus) error {
	rctx, cancel := h.reportContext(ctx)
	defer cancel()
	in := &codedeploy.PutLifecycleEventHookExecutionStatusInput{
		LifecycleEventHookExecutionId: aws.String(ev.LifecycleEventHookExecutionID),
		Status:                        status,
	}
	if ev.DeploymentID != "" {
		in.DeploymentId = aws.String(ev.DeploymentID)
	}
	if _, err := h.CodeDeploy.PutLifecycleEventHookExecutionStatus(rctx, in); err != nil {
		log.Error("report", "could not report to CodeDeploy", "status", string(status), "error", err.Error())
		return fmt.Errorf("report %s to CodeDeploy: %w", status, err)
	}
	log.Info("report", "reported to CodeDeploy", "status", string(status))
	return nil
}

// workContext ends the work SafetyMargin before the invocation's deadline
// (or a quarter of the remaining time for very short timeouts), so an expired
// wait still leaves time to report.
func (h *Hooks) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(ctx, orDefault(h.Budget, DefaultBudget))
	}
	margin := min(orDefault(h.SafetyMargin, DefaultSafetyMargin), time.Until(deadline)/4)
	return context.WithDeadline(ctx, deadline.Add(-margin))
}

// reportContext is never already expired: it is detached from the work's
// cancellation and runs until the invocation's own deadline.
func (h *Hooks) reportContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) > 0 {
		return context.WithDeadline(base, deadline)
	}
	return context.WithTimeout(base, orDefault(h.ReportTimeout, DefaultReportTimeout))
}

func (h *Hooks) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return NewLogger(os.Stdout)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// endCleanup is deferred by both of cleanup's entry points: it turns a panic
// into the invocation's error and logs how the invocation ended. It calls
// recover itself, so it must be the deferred function, not called by one.
func endCleanup(log *invocationLogger, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("panic: %v", r)
		log.Error("panic", "recovered from panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
	if *err != nil {
		log.Error("done", "cleanup failed", "error", (*err).Error())
	} else {
		log.Info("done", "cleanup finished")
	}
}

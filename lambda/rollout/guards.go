package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	smithy "github.com/aws/smithy-go"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// The guards: what every hook reads before it moves the catch-all or scales
// stable, so that no two actors of the protocol (two pipeline executions,
// their hooks, the cleanup and rollback functions) can undo each other's
// work. docs/design.md §4 states the promise they keep; internal/protocol
// checks it over every interleaving.

// unfinishedStatuses are the deployment statuses of a deployment that has
// not ended: CodeDeploy's DeploymentStatus values other than Succeeded,
// Failed and Stopped
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ListDeployments.html).
// An ECS blue/green deployment stays InProgress through its termination
// wait, until the original task set is gone.
var unfinishedStatuses = []cdtypes.DeploymentStatus{
	cdtypes.DeploymentStatusCreated, cdtypes.DeploymentStatusQueued, cdtypes.DeploymentStatusInProgress,
	cdtypes.DeploymentStatusReady, cdtypes.DeploymentStatusBaking,
}

// unfinishedDeployments lists the deployments of group that have not ended.
func (h *Hooks) unfinishedDeployments(ctx context.Context, log *invocationLogger, group string) ([]string, error) {
	var (
		ids   []string
		token *string
	)
	for {
		out, err := h.CodeDeploy.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{
			ApplicationName:     aws.String(h.Config.CodeDeployApplicationName),
			DeploymentGroupName: aws.String(group),
			IncludeOnlyStatuses: unfinishedStatuses,
			NextToken:           token,
		})
		if err != nil {
			return nil, fmt.Errorf("list unfinished deployments of %s/%s: %w", h.Config.CodeDeployApplicationName, group, err)
		}
		ids = append(ids, out.Deployments...)
		if aws.ToString(out.NextToken) == "" {
			break
		}
		token = out.NextToken
	}
	log.Info("check-deployments", "listed unfinished deployments", "deployment_group", group, "unfinished", ids)
	return ids, nil
}

// busy names the first deployment group with an unfinished deployment
// ("" when neither has one).
func (h *Hooks) busy(ctx context.Context, log *invocationLogger) (string, error) {
	for _, group := range []string{h.Config.LatestDeploymentGroupName, h.Config.StableDeploymentGroupName} {
		ids, err := h.unfinishedDeployments(ctx, log, group)
		if err != nil {
			return "", err
		}
		if len(ids) > 0 {
			return fmt.Sprintf("deployment %s of group %s has not ended", ids[0], group), nil
		}
	}
	return "", nil
}

// waitForUnpinToEnd keeps pin from moving the catch-all while an unpin of an
// earlier execution may still be running. unpin reads the Latest group
// first and moves the catch-all last; a pin that finished in between would
// see its own tenants released onto its canary. So pin waits while any
// unfinished Stable deployment has its AfterAllowTraffic event (the unpin
// hook) in progress. A Stable deployment whose AfterAllowTraffic has not
// started yet is harmless: when its unpin runs it sees this rollout's Latest
// deployment unfinished and keeps the tenants pinned. The ECS target of a
// deployment is "<cluster>:<service>"
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_GetDeploymentTarget.html,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ECSTarget.html).
func (h *Hooks) waitForUnpinToEnd(ctx context.Context, log *invocationLogger) error {
	const step = "wait-unpin"
	start := time.Now()
	target := h.Config.ClusterName + ":" + h.Config.StableServiceName
	running := ""
	return h.waitFor(ctx, func(poll int) (bool, error) {
		ids, err := h.unfinishedDeployments(ctx, log, h.Config.StableDeploymentGroupName)
		if err != nil {
			return false, err
		}
		// running keeps the last answered poll's deployment until this poll
		// is answered: a deadline during this poll's calls still names it.
		found := ""
		for _, id := range ids {
			out, err := h.CodeDeploy.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{
				DeploymentId: aws.String(id), TargetId: aws.String(target),
			})
			var apiErr smithy.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode() == "DeploymentTargetDoesNotExistException" {
				continue // not started: its unpin has not run
			}
			if err != nil {
				return false, fmt.Errorf("get target %s of deployment %s: %w", target, id, err)
			}
			if unpinRunning(out.DeploymentTarget) {
				found = id
				break
			}
		}
		running = found
		if found == "" {
			log.Info(step, "no unpin of an earlier rollout is running", "polls", poll, "step_ms", time.Since(start).Milliseconds())
			return true, nil
		}
		log.Info(step, "an earlier rollout's unpin is running: waiting for it to end", "stable_deployment", running, "poll", poll)
		return false, nil
	}, func(polls int, waited time.Duration, err error) error {
		return fmt.Errorf("gave up waiting for the unpin hook of Stable deployment %s after %d polls in %s: %w", running, polls, waited, err)
	})
}

func unpinRunning(t *cdtypes.DeploymentTarget) bool {
	if t == nil || t.EcsTarget == nil {
		return false
	}
	for _, ev := range t.EcsTarget.LifecycleEvents {
		if aws.ToString(ev.LifecycleEventName) == "AfterAllowTraffic" && ev.Status == cdtypes.LifecycleEventStatusInProgress {
			return true
		}
	}
	return false
}

// ownDeploymentEnded says why unpin's own Stable deployment (id) is no
// longer the one its unpin serves ("" while it is): the deployment has
// ended, or its AfterAllowTraffic event — this very unpin — is no longer in
// progress. GetDeployment answers the deployment's status
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_GetDeployment.html,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html),
// GetDeploymentTarget its ECS target's lifecycle events, as pin's
// waitForUnpinToEnd reads them
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_GetDeploymentTarget.html).
//
// CodeDeploy's documentation does not say what becomes of a running
// lifecycle hook when its deployment is stopped (StopDeployment,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_StopDeployment.html,
// and "AppSpec 'hooks' section",
// https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-hooks.html,
// are silent), nor whether a deployment that an alarm stopped reads
// Stopped before or after its traffic is back on the original task set;
// and Lambda has no call that stops an invocation in flight. So unpin takes
// the reading that it keeps running after an alarm stopped its deployment,
// and asks both: an ended status, or its own event ended (the status may
// still read InProgress while CodeDeploy reverts), and it releases nothing.
// Neither answer alone is what keeps a newer rollout's tenants pinned: the
// claim unpin holds meanwhile is (see unpin).
func (h *Hooks) ownDeploymentEnded(ctx context.Context, log *invocationLogger, id string) (string, error) {
	out, err := h.CodeDeploy.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("get deployment %s: %w", id, err)
	}
	if out.DeploymentInfo == nil || out.DeploymentInfo.Status == "" {
		return "", fmt.Errorf("get deployment %s: the answer has no status", id)
	}
	status := out.DeploymentInfo.Status
	log.Info("check-deployments", "read this unpin's deployment", "deployment", id, "status", string(status))
	if !slices.Contains(unfinishedStatuses, status) {
		return fmt.Sprintf("its Stable deployment %s has ended (%s)", id, status), nil
	}
	target := h.Config.ClusterName + ":" + h.Config.StableServiceName
	t, err := h.CodeDeploy.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{
		DeploymentId: aws.String(id), TargetId: aws.String(target),
	})
	if err != nil {
		return "", fmt.Errorf("get target %s of deployment %s: %w", target, id, err)
	}
	if !unpinRunning(t.DeploymentTarget) {
		return fmt.Sprintf("the AfterAllowTraffic event of its Stable deployment %s is no longer in progress (the deployment is being stopped)", id), nil
	}
	return "", nil
}

// sleep waits one poll interval, or returns the context's error.
func (h *Hooks) sleep(ctx context.Context) error {
	timer := time.NewTimer(orDefault(h.PollInterval, DefaultPollInterval))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// waitFor polls check until it reports done, sleeping PollInterval between
// polls, within ctx. When ctx ends, during a sleep or during a poll's AWS
// call, the error is gaveUp's, which says what was waited for (polls is
// the number of polls answered); any other error of a poll is returned as
// it is.
func (h *Hooks) waitFor(ctx context.Context, check func(poll int) (done bool, err error), gaveUp func(polls int, waited time.Duration, err error) error) error {
	start := time.Now()
	for poll := 1; ; poll++ {
		done, err := check(poll)
		if err != nil {
			if poll > 1 && ctx.Err() != nil {
				return gaveUp(poll-1, time.Since(start).Round(time.Millisecond), err)
			}
			return err
		}
		if done {
			return nil
		}
		if err := h.sleep(ctx); err != nil {
			return gaveUp(poll, time.Since(start).Round(time.Millisecond), err)
		}
	}
}

// pendingApproval is the approval the pipeline's Approve action waits for.
type pendingApproval struct {
	executionID, token string
}

// pipelineState is what cleanup reads of the pipeline: the pending
// approval (nil when none), and the executions whose latest run of the
// Approve or the Stable stage failed ("" when the stage's latest
// execution did not fail).
type pipelineState struct {
	pending                     *pendingApproval
	failedApprove, failedStable string
	// latestStage and stableStage are the executions the Latest and the
	// Stable stage ran last, and ...Running whether they still run there.
	latestStage, stableStage               string
	latestStageRunning, stableStageRunning bool
}

// readPipeline reads the pipeline's state. Each stage shows its latest
// execution, with its id and status (Failed when it failed); the Approve
// action's latest execution is InProgress while it waits, and carries the
// token PutApprovalResult needs
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_GetPipelineState.html,
// https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_StageExecution.html).
func (h *Hooks) readPipeline(ctx context.Context, log *invocationLogger) (pipelineState, error) {
	var ps pipelineState
	out, err := h.CodePipeline.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String(h.Config.PipelineName)})
	if err != nil {
		return ps, fmt.Errorf("get state of pipeline %s: %w", h.Config.PipelineName, err)
	}
	for _, st := range out.StageStates {
		name := aws.ToString(st.StageName)
		if st.LatestExecution == nil {
			continue
		}
		id := aws.ToString(st.LatestExecution.PipelineExecutionId)
		if name == contract.StageLatest {
			ps.latestStage, ps.latestStageRunning = id, st.LatestExecution.Status == cptypes.StageExecutionStatusInProgress
			continue
		}
		if name == contract.StageStable {
			ps.stableStage, ps.stableStageRunning = id, st.LatestExecution.Status == cptypes.StageExecutionStatusInProgress
		}
		if name != contract.StageApprove && name != contract.StageStable {
			continue
		}
		if st.LatestExecution.Status == cptypes.StageExecutionStatusFailed {
			if name == contract.StageApprove {
				ps.failedApprove = id
			} else {
				ps.failedStable = id
			}
			log.Info("read-pipeline", "the stage's latest execution failed", "stage", name, "pipeline_execution_id", id)
		}
		if name != contract.StageApprove || ps.pending != nil {
			continue
		}
		for _, a := range st.ActionStates {
			if aws.ToString(a.ActionName) != contract.ActionApprove || a.LatestExecution == nil ||
				a.LatestExecution.Status != cptypes.ActionExecutionStatusInProgress || aws.ToString(a.LatestExecution.Token) == "" {
				continue
			}
			ps.pending = &pendingApproval{executionID: id, token: aws.ToString(a.LatestExecution.Token)}
			log.Info("read-pipeline", "an approval is pending", "pipeline_execution_id", id)
		}
	}
	if ps.pending == nil {
		log.Info("read-pipeline", "no approval is pending")
	}
	return ps, nil
}

// approvedExecutionUnfinished names an execution older than execution
// than (one that reached Latest or Approve) that has not finished its
// Stable stage ("" when none). Executions run the stages in order and a
// stage runs one at a time, so such an older one has passed Latest: with
// no approval pending (callers check that first, or than itself reached
// Approve), it was approved, and waits for or runs the Stable stage. Rolling latest back to what stable
// serves now, and releasing stable, would undo that approval and leave its
// Stable deployment without the tasks an instant rollback needs; its
// Stable deployment's end runs cleanup, which decides then.
// ListPipelineExecutions lists executions newest first with their status
// (InProgress, Stopping, Stopped, Succeeded, Superseded, Failed, Cancelled)
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListPipelineExecutions.html,
// https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PipelineExecutionSummary.html);
// a Stopping one may still run a deployment, so it counts. One still
// InProgress whose run of the Stable stage has ended (the stage's latest
// execution, no longer InProgress in GetPipelineState) does not count: that
// end already ran cleanup, and the execution's own status may lag it.
func (h *Hooks) approvedExecutionUnfinished(ctx context.Context, log *invocationLogger, ps pipelineState, than string) (string, error) {
	var token *string
	seen := false
	for {
		out, err := h.CodePipeline.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{
			PipelineName: aws.String(h.Config.PipelineName), NextToken: token,
		})
		if err != nil {
			return "", fmt.Errorf("list executions of pipeline %s: %w", h.Config.PipelineName, err)
		}
		for _, e := range out.PipelineExecutionSummaries {
			id := aws.ToString(e.PipelineExecutionId)
			if id == than {
				seen = true
				continue
			}
			if !seen {
				continue
			}
			if e.Status == cptypes.PipelineExecutionStatusSucceeded {
				// It ran every stage, so every older one had left them.
				return "", nil
			}
			if e.Status != cptypes.PipelineExecutionStatusInProgress && e.Status != cptypes.PipelineExecutionStatusStopping {
				continue
			}
			if id == ps.stableStage && !ps.stableStageRunning {
				log.Info("check-pipeline", "an older execution has ended its Stable stage", "pipeline_execution_id", id, "status", string(e.Status))
				continue
			}
			log.Info("check-pipeline", "an approved, older execution has not finished its Stable stage", "pipeline_execution_id", id, "status", string(e.Status))
			return id, nil
		}
		if aws.ToString(out.NextToken) == "" {
			return "", nil
		}
		token = out.NextToken
	}
}

// executionImageDigest is the image digest an execution's ECR source
// delivered: the ECR source action's revision is the image digest
// ("sha256:…", https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECR.html),
// the only artifact revision of the pipeline with that form (the bundle's
// S3 revision is an object version id).
func (h *Hooks) executionImageDigest(ctx context.Context, executionID string) (string, error) {
	out, err := h.CodePipeline.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{
		PipelineName: aws.String(h.Config.PipelineName), PipelineExecutionId: aws.String(executionID),
	})
	if err != nil {
		return "", fmt.Errorf("get pipeline execution %s: %w", executionID, err)
	}
	if out.PipelineExecution != nil {
		for _, r := range out.PipelineExecution.ArtifactRevisions {
			if id := aws.ToString(r.RevisionId); strings.HasPrefix(id, "sha256:") {
				return id, nil
			}
		}
	}
	return "", fmt.Errorf("pipeline execution %s has no image digest among its artifact revisions", executionID)
}

// imageDigest is the digest of an image reference "repo@sha256:…" (the form
// CodeDeployToECS writes into the task definition from the ECR source's
// ImageURI), or "" for a tag reference.
func imageDigest(image string) string {
	if i := strings.LastIndex(image, "@"); i >= 0 {
		return image[i+1:]
	}
	return ""
}

// rejectSuperseded rejects a pending approval that no longer describes what
// latest serves: newest push wins. An approval decided meanwhile by a person
// is left as decided (PutApprovalResult then fails and nothing else is done).
func (h *Hooks) rejectSuperseded(ctx context.Context, log *invocationLogger, p *pendingApproval, approvalDigest, latestImage string) error {
	summary := fmt.Sprintf("superseded by a newer push: latest now serves %s, not the %s this approval was asked for", latestImage, approvalDigest)
	_, err := h.CodePipeline.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{
		PipelineName: aws.String(h.Config.PipelineName),
		StageName:    aws.String(contract.StageApprove),
		ActionName:   aws.String(contract.ActionApprove),
		Token:        aws.String(p.token),
		Result:       &cptypes.ApprovalResult{Status: cptypes.ApprovalStatusRejected, Summary: aws.String(summary)},
	})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && slices.Contains([]string{"ApprovalAlreadyCompletedException", "InvalidApprovalTokenException"}, apiErr.ErrorCode()) {
		log.Info("reject-superseded", "the approval was decided meanwhile; left as decided", "pipeline_execution_id", p.executionID, "error", err.Error())
		return nil
	}
	if err != nil {
		return fmt.Errorf("reject superseded approval of execution %s: %w", p.executionID, err)
	}
	log.Info("reject-superseded", "rejected an approval a newer push superseded", "pipeline_execution_id", p.executionID, "summary", summary)
	return nil
}

// servingTaskDefinition is the task definition of the task set of svc that
// receives traffic in one of groups: for stable, the groups its anchor rule
// forwards to (the pair CodeDeploy shifts with every Stable deployment),
// which does not depend on when CodeDeploy marks a task set PRIMARY. With no
// task sets (before the first deployment) it is the service's own.
func servingTaskDefinition(svc ecstypes.Service, groups []string) (string, error) {
	if len(svc.TaskSets) == 0 {
		if td := aws.ToString(svc.TaskDefinition); td != "" {
			return td, nil
		}
		return "", fmt.Errorf("service %s has neither task sets nor a task definition", aws.ToString(svc.ServiceName))
	}
	var found []string
	for _, ts := range svc.TaskSets {
		for _, lb := range ts.LoadBalancers {
			if slices.Contains(groups, aws.ToString(lb.TargetGroupArn)) {
				found = append(found, aws.ToString(ts.TaskDefinition))
			}
		}
	}
	distinct := slices.Compact(slices.Sorted(slices.Values(found)))
	switch len(distinct) {
	case 1:
		return distinct[0], nil
	case 0:
		return "", fmt.Errorf("service %s has no task set in target groups %v", aws.ToString(svc.ServiceName), groups)
	default:
		return "", fmt.Errorf("service %s serves task definitions %v at once (a deployment is shifting it)", aws.ToString(svc.ServiceName), distinct)
	}
}

// servicesAtRest describes latest and stable once each is down to one
// task set. Every deployment has ended when it is called, yet under one
// reading of the documentation a failed deployment's FAILURE comes before
// its traffic is back on the original task set, and no later event tells
// when the replacement is gone: so it polls, within the invocation's
// deadline, and past it fails so that Lambda retries the event.
func (h *Hooks) servicesAtRest(ctx context.Context, log *invocationLogger) (latest, stable ecstypes.Service, err error) {
	var busy ecstypes.Service
	err = h.waitFor(ctx, func(poll int) (bool, error) {
		services, err := h.describeServices(ctx, log, h.Config.LatestServiceName, h.Config.StableServiceName)
		if err != nil {
			return false, err
		}
		latest, stable = services[0], services[1]
		busy = latest
		if len(latest.TaskSets) <= 1 {
			busy = stable
		}
		if len(busy.TaskSets) <= 1 {
			return true, nil
		}
		log.Info("wait-rollback", "a service still has two task sets: a rollback is finishing", "service", aws.ToString(busy.ServiceName), "poll", poll)
		return false, nil
	}, func(_ int, waited time.Duration, err error) error {
		return fmt.Errorf("service %s still has %d task sets after %s (a rollback is finishing): %w",
			aws.ToString(busy.ServiceName), len(busy.TaskSets), waited, err)
	})
	return latest, stable, err
}

// The release claim. cleanup and rollback run outside any deployment, so
// nothing of CodeDeploy's orders them with a pin (and an unpin may outlive
// its own deployment, so nothing orders it either): a cleanup that found no
// deployment unfinished could otherwise move the catch-all up or scale
// stable to zero while a newer rollout's pin, started meanwhile, pins the
// tenants. So each side first makes itself visible, then looks at the
// other (the flag-then-check of a mutual exclusion): a pin is visible as
// its unfinished Latest deployment, which CodeDeploy creates before it
// invokes pin; a cleanup, rollback or unpin puts a tag on the catch-all
// rule before it reads anything and removes it when done. Whichever comes
// second sees the first: pin waits for the tag to go, and the cleanup,
// rollback or unpin finds a deployment unfinished and leaves the decision
// to it. The tag's
// value is when the claim expires (the invocation's deadline plus a
// minute), so a function that died holding it delays pin, never blocks it.

// claimRelease tags the catch-all rule for this invocation; the returned
// func removes the tag (best effort: an expired claim is ignored anyway).
func (h *Hooks) claimRelease(ctx context.Context, log *invocationLogger) (func(), error) {
	id := "local"
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		id = lc.AwsRequestID
	}
	key := contract.ReleaseTagPrefix + id
	until := time.Now().Add(DefaultBudget)
	if d, ok := ctx.Deadline(); ok {
		until = d
	}
	until = until.Add(time.Minute)
	add := func() error {
		_, err := h.ELB.AddTags(ctx, &elbv2.AddTagsInput{
			ResourceArns: []string{h.Config.CatchAllRuleARN},
			Tags:         []elbtypes.Tag{{Key: aws.String(key), Value: aws.String(until.UTC().Format(time.RFC3339))}},
		})
		return err
	}
	err := add()
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "TooManyTags" {
		// A function that died holding its claim leaves its tag behind, and
		// a rule holds at most 50 tags (Application Load Balancers guide,
		// "Tag an Application Load Balancer": "Maximum number of tags per
		// resource—50", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-tags.html;
		// AddTags answers TooManyTags, https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_AddTags.html).
		// So a full rule has its expired claims removed and the claim is
		// tried once more; an unexpired claim is never touched. Only a full
		// rule costs the extra calls.
		if err = h.removeExpiredClaims(ctx, log); err == nil {
			err = add()
		}
	}
	if err != nil {
		return func() {}, fmt.Errorf("claim the catch-all rule (tag %s): %w", key, err)
	}
	log.Info("claim", "claimed the catch-all rule", "tag", key, "until", until.UTC().Format(time.RFC3339))
	return func() {
		rctx, cancel := h.reportContext(ctx)
		defer cancel()
		if _, err := h.ELB.RemoveTags(rctx, &elbv2.RemoveTagsInput{
			ResourceArns: []string{h.Config.CatchAllRuleARN}, TagKeys: []string{key},
		}); err != nil {
			log.Error("claim", "could not remove the claim; it expires by itself", "tag", key, "error", err.Error())
			return
		}
		log.Info("claim", "released the claim on the catch-all rule", "tag", key)
	}, nil
}

// removeExpiredClaims removes every claim tag of the catch-all rule whose
// expiry has passed (or cannot be read: no claim of this code looks so).
func (h *Hooks) removeExpiredClaims(ctx context.Context, log *invocationLogger) error {
	out, err := h.ELB.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{h.Config.CatchAllRuleARN}})
	if err != nil {
		return fmt.Errorf("describe tags of the catch-all rule: %w", err)
	}
	var expired []string
	for _, d := range out.TagDescriptions {
		for _, t := range d.Tags {
			key := aws.ToString(t.Key)
			if !strings.HasPrefix(key, contract.ReleaseTagPrefix) {
				continue
			}
			if until, err := time.Parse(time.RFC3339, aws.ToString(t.Value)); err != nil || !time.Now().Before(until) {
				expired = append(expired, key)
			}
		}
	}
	if len(expired) == 0 {
		log.Info("claim", "the catch-all rule's tags are full and no claim on it has expired")
		return nil
	}
	slices.Sort(expired)
	if _, err := h.ELB.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{h.Config.CatchAllRuleARN}, TagKeys: expired}); err != nil {
		return fmt.Errorf("remove %d expired claims from the catch-all rule: %w", len(expired), err)
	}
	log.Info("claim", "removed expired claims from the catch-all rule", "tags", expired)
	return nil
}

// waitForClaims keeps pin from moving the catch-all while a cleanup,
// rollback or unpin holds an unexpired claim on it.
func (h *Hooks) waitForClaims(ctx context.Context, log *invocationLogger) error {
	const step = "wait-claims"
	start := time.Now()
	holder := ""
	return h.waitFor(ctx, func(poll int) (bool, error) {
		out, err := h.ELB.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{h.Config.CatchAllRuleARN}})
		if err != nil {
			return false, fmt.Errorf("describe tags of the catch-all rule: %w", err)
		}
		holder = ""
		for _, d := range out.TagDescriptions {
			for _, t := range d.Tags {
				key := aws.ToString(t.Key)
				if !strings.HasPrefix(key, contract.ReleaseTagPrefix) {
					continue
				}
				until, err := time.Parse(time.RFC3339, aws.ToString(t.Value))
				if err == nil && time.Now().Before(until) {
					holder = key
				}
			}
		}
		if holder == "" {
			log.Info(step, "no cleanup, rollback or unpin holds the catch-all rule", "polls", poll, "step_ms", time.Since(start).Milliseconds())
			return true, nil
		}
		log.Info(step, "a cleanup, rollback or unpin holds the catch-all rule: waiting", "tag", holder, "poll", poll)
		return false, nil
	}, func(polls int, waited time.Duration, err error) error {
		return fmt.Errorf("gave up waiting for claim %s on the catch-all rule after %d polls in %s: %w", holder, polls, waited, err)
	})
}

package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tenant-canary/tenant-canary/internal/contract"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// cleanupEvent is what cleanup takes from the event that ran it: whether
// it is a deployment's end (not a pipeline execution's), and whether a
// deployment of the Stable or of the Latest group failed or was stopped.
type cleanupEvent struct {
	deployment               bool
	stableEnded, latestEnded bool
}

// cleanup brings the system to rest after a deployment of either group
// ended (succeeded, failed or stopped). It decides from the state it reads,
// never from the event's deployment id: a rollback may carry an id of its
// own and its events may come in either order (CodeDeploy User Guide,
// "Redeploy and roll back a deployment with CodeDeploy",
// https://docs.aws.amazon.com/codedeploy/latest/userguide/deployments-rollback-and-redeploy.html),
// and Lambda may deliver an event late or twice. So, in order:
//
//  1. A deployment of either group that has not ended decides later: its
//     own end event runs cleanup again.
//  2. Newest push wins: a pending approval about another image than the one
//     latest serves is rejected, naming the image latest serves.
//  3. A pending approval about latest's image is awaited, and so is one
//     that cannot be compared with it (latest names its image by tag): it
//     is never rejected on a guess, and cleanup says so at WARN.
//  4. latest serves stable's image: everyone goes back on latest and stable
//     is scaled to zero (steady state).
//  5. When the event is a failed or stopped Stable deployment (an alarm, a
//     failed hook), latest serves a version that never completed every
//     stage: cleanup rolls latest back to stable's task definition through
//     the rollback function's path (a Latest deployment, watched by the same
//     alarms, whose success runs cleanup again and releases at step 4).
//     That holds under approval.onReject=hold too: hold is about a
//     person's rejection, and no person decided this. The decision reads
//     the event's group and state, never its id, and a duplicate or late
//     event finds either a deployment unfinished (step 1) or latest on
//     stable's image (step 4).
//  6. Unless the event is a failed or stopped Latest deployment (a
//     rollback deployment that failed: rolling back again could loop),
//     latest also goes to stable's version when the pipeline's state says
//     it serves a version that must not stay (latestOffItsVersion): that
//     of an execution whose Stable stage failed (step 5 when the events
//     came in another order), a rejected one the rollback function left
//     (it found a deployment unfinished), or one a rollback deployment put
//     there while an approved version went on to stable.
//  7. Otherwise the split is held, on purpose (a rejection under
//     approval.onReject=hold; a rejection otherwise is the rollback
//     function's to roll back, and this cleanup runs on the pipeline's
//     FAILED event next to it), or after a rollback deployment itself
//     failed: it says so at WARN, with what to do.
func (h *Hooks) cleanup(ctx context.Context, log *invocationLogger, ev cleanupEvent) error {
	unclaim, err := h.claimRelease(ctx, log)
	defer unclaim()
	if err != nil {
		return err
	}
	if why, err := h.busy(ctx, log); err != nil || why != "" {
		if why != "" {
			log.Info("check-deployments", "nothing to do yet: "+why+"; its end event decides")
		}
		return err
	}
	ls, err := h.readListener(ctx, log)
	if err != nil {
		return err
	}
	latest, stable, err := h.servicesAtRest(ctx, log)
	if err != nil {
		return err
	}
	ps, err := h.readPipeline(ctx, log)
	if err != nil {
		return err
	}
	if ps.pending != nil {
		return h.settleApproval(ctx, log, ps.pending, latest)
	}
	same, err := h.latestServesStableImage(ctx, log, latest, stable, ls)
	if err != nil {
		return err
	}
	if same {
		return h.release(ctx, log, ls, stable)
	}
	why := ""
	switch {
	case ev.stableEnded:
		why = "the Stable stage failed or was stopped"
	case ev.latestEnded:
		// A Latest deployment that failed or was stopped (a rollback
		// deployment among them): rolling back again could loop.
	default:
		// Decided from the pipeline's state, whichever event comes last:
		// the execution that delivered latest's image failed at Stable
		// (an alarm stopped its Stable deployment, and the events of that
		// deployment and of its rollback came in an order step 1 left to
		// a later event), or was rejected at Approve while nothing could
		// roll it back (the rollback function found a deployment
		// unfinished, such as an approved execution's Stable deployment).
		if why, err = h.latestOffItsVersion(ctx, log, ps, latest, ev.deployment); err != nil {
			return err
		}
	}
	if why != "" {
		stableTD, err := servingTaskDefinition(stable, ls.anchor.groups)
		if err != nil {
			return err
		}
		id, err := h.redeployLatest(ctx, log, stableTD, why)
		if err != nil {
			return err
		}
		log.Info("roll-back", why+": latest goes back to stable's version; the tenants are released when that deployment succeeds",
			"rollback_deployment", id, "task_definition", stableTD)
		return nil
	}
	log.Warn("held", "pinned tenants stay on stable and the others on latest, which serves another image, and nothing is in flight to change that: "+
		"push a fixed image, or run `tenant-canary rollback` to put everyone on stable's image (docs/runbook.md, \"A held split\")",
		"catch_all_priority", ls.catchAllPriority, "stable_desired_count", stable.DesiredCount)
	return nil
}

// latestOffItsVersion says why latest must go to stable's version ("" when
// it need not), read from the pipeline's state, whichever event came last.
// It never acts while an execution runs in the Latest stage (that
// execution's own deployment is about to replace latest, and its end runs
// cleanup again), nor on an image latest names by tag, which cannot be
// compared with an execution's digest (the held split's WARN says what to
// do). Latest goes to stable's version when the image it serves is:
//   - that of the execution whose Stable stage failed last (an alarm
//     stopped its Stable deployment, and the events of that deployment and
//     of its rollback came in an order cleanup's busy step left to a later
//     event);
//   - at a deployment's end and under approval.onReject=rollback, that of
//     the execution whose approval failed last (rejected or expired) — one
//     the rollback function found a deployment unfinished for and left;
//   - none that the Latest stage's last execution delivered: a rollback
//     deployment put it there (the rollback function's, or an operator's)
//     while an approved version went on to stable, so it is older than
//     what stable serves, and no pipeline execution will move it.
func (h *Hooks) latestOffItsVersion(ctx context.Context, log *invocationLogger, ps pipelineState, latest ecstypes.Service, deploymentEnded bool) (string, error) {
	if ps.latestStageRunning {
		log.Info("read-pipeline", "an execution runs in the Latest stage: its deployment decides", "pipeline_execution_id", ps.latestStage)
		return "", nil
	}
	latestTD, err := primaryTaskDefinition(latest)
	if err != nil {
		return "", err
	}
	images, err := h.images(ctx, latestTD)
	if err != nil {
		return "", err
	}
	latestDigest := imageDigest(describeImages(images))
	if latestDigest == "" {
		return "", nil
	}
	digestOf := func(id string) (string, error) {
		if id == "" {
			return "", nil
		}
		return h.executionImageDigest(ctx, id)
	}
	if d, err := digestOf(ps.failedStable); err != nil || (d != "" && d == latestDigest) {
		return "the Stable stage of the execution that delivered latest's image failed", err
	}
	// A rejection is the rollback function's to roll back, on the same
	// event as the pipeline's FAILED: cleanup takes it over only at a
	// deployment's end. Only under an explicit rollback: a cleanup
	// function deployed without ON_REJECT holds, as under hold.
	if deploymentEnded && h.Config.OnReject == contract.OnRejectRollback {
		d, err := digestOf(ps.failedApprove)
		if err != nil {
			return "", err
		}
		if d != "" && d == latestDigest {
			// Not while an approved, older execution has its Stable stage
			// ahead: that stage's end decides, from stable's new version.
			older, err := h.approvedExecutionUnfinished(ctx, log, ps, ps.failedApprove)
			if err != nil || older != "" {
				return "", err
			}
			return "the approval of the image latest serves was rejected or expired", nil
		}
	}
	if d, err := digestOf(ps.latestStage); err != nil || (d != "" && d != latestDigest) {
		return "latest serves a version a rollback deployment put there, not the one the Latest stage last deployed, while stable went on to an approved one", err
	}
	return "", nil
}

// settleApproval awaits a pending approval about the image latest serves
// and rejects one about any other image (newest push wins).
func (h *Hooks) settleApproval(ctx context.Context, log *invocationLogger, pending *pendingApproval, latest ecstypes.Service) error {
	latestTD, err := primaryTaskDefinition(latest)
	if err != nil {
		return err
	}
	latestImages, err := h.images(ctx, latestTD)
	if err != nil {
		return err
	}
	latestImage := describeImages(latestImages)
	digest, err := h.executionImageDigest(ctx, pending.executionID)
	if err != nil {
		return err
	}
	latestDigest := imageDigest(latestImage)
	if latestDigest == "" {
		// latest names its image by tag (the placeholder image, or a
		// deployment that did not use the ECR source's digest-pinned
		// ImageURI): a tag cannot be compared with the approval's digest,
		// and the approval may well be about what latest serves. Never
		// reject on that: hold, and say so.
		log.Warn("await-approval", "cannot tell whether the pending approval is about the image latest serves: latest names its image by tag, the approval by digest; "+
			"not rejecting it automatically: approve or reject it by hand (docs/runbook.md)",
			"image", latestImage, "approval_digest", digest, "pipeline_execution_id", pending.executionID)
		return nil
	}
	if latestDigest == digest {
		log.Info("await-approval", "the pending approval is about the image latest serves: the pinned tenants wait for it", "image", latestImage)
		return nil
	}
	return h.rejectSuperseded(ctx, log, pending, digest, latestImage)
}

// sameImage compares the container images of two task definitions. Equal
// ARNs need no DescribeTaskDefinition; otherwise each costs one call.
func (h *Hooks) sameImage(ctx context.Context, log *invocationLogger, latestTD, stableTD string) (bool, error) {
	const step = "compare-images"
	start := time.Now()
	if latestTD == stableTD {
		log.Info(step, "latest and stable run the same task definition", "task_definition", latestTD,
			"step_ms", time.Since(start).Milliseconds())
		return true, nil
	}
	latestImages, err := h.images(ctx, latestTD)
	if err != nil {
		return false, err
	}
	stableImages, err := h.images(ctx, stableTD)
	if err != nil {
		return false, err
	}
	if !maps.Equal(latestImages, stableImages) {
		log.Info(step, fmt.Sprintf("latest serves %s, stable serves %s",
			describeImages(latestImages), describeImages(stableImages)),
			"latest_task_definition", latestTD, "stable_task_definition", stableTD, "step_ms", time.Since(start).Milliseconds())
		return false, nil
	}
	log.Info(step, "latest and stable serve the same image", "image", describeImages(latestImages),
		"latest_task_definition", latestTD, "stable_task_definition", stableTD, "step_ms", time.Since(start).Milliseconds())
	return true, nil
}

// primaryTaskDefinition is the task definition of the service's PRIMARY
// task set, or the service's own before its first deployment.
func primaryTaskDefinition(svc ecstypes.Service) (string, error) {
	ts, err := primaryTaskSet(svc)
	if err != nil {
		return "", err
	}
	td := aws.ToString(svc.TaskDefinition)
	if ts != nil {
		td = aws.ToString(ts.TaskDefinition)
	}
	if td == "" {
		return "", fmt.Errorf("service %s: no task definition on its primary task set", aws.ToString(svc.ServiceName))
	}
	return td, nil
}

// images maps each container of the task definition to its image.
func (h *Hooks) images(ctx context.Context, taskDefinition string) (map[string]string, error) {
	out, err := h.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(taskDefinition)})
	if err != nil {
		return nil, fmt.Errorf("describe task definition %s: %w", taskDefinition, err)
	}
	if out.TaskDefinition == nil || len(out.TaskDefinition.ContainerDefinitions) == 0 {
		return nil, fmt.Errorf("describe task definition %s: no container definitions", taskDefinition)
	}
	images := map[string]string{}
	for _, c := range out.TaskDefinition.ContainerDefinitions {
		images[aws.ToString(c.Name)] = aws.ToString(c.Image)
	}
	return images, nil
}

// describeImages is the image alone for one container, else name=image
// pairs in name order.
func describeImages(images map[string]string) string {
	if len(images) == 1 {
		for _, img := range images {
			return img
		}
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(images)) {
		parts = append(parts, name+"="+images[name])
	}
	return strings.Join(parts, ",")
}

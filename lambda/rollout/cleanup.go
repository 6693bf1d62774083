package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// cleanup releases the pinned tenants after the Latest deployment
// deploymentID failed or was stopped, but only when that is safe:
//
//  1. deploymentID must still be the Latest group's last attempted
//     deployment. Lambda retries an asynchronous event and keeps it for
//     hours, so a stale FAILURE can arrive after a newer rollout pinned the
//     tenants again; that rollout's own hooks and events decide for them.
//  2. After the rollback, latest and stable must serve the same image. If
//     they differ, an earlier execution waits at Approve with latest on an
//     image nobody approved yet: the pinned tenants stay on stable (and
//     stable keeps its tasks) until that approval is decided.
//
// Otherwise it unpins and scales stable down, like unpin.
func (h *Hooks) cleanup(ctx context.Context, log *invocationLogger, deploymentID string) error {
	current, err := h.isLastAttempted(ctx, log, deploymentID)
	if err != nil || !current {
		return err
	}
	services, err := h.describeServices(ctx, log, h.Config.LatestServiceName, h.Config.StableServiceName)
	if err != nil {
		return err
	}
	latest, stable := services[0], services[1]
	same, err := h.sameImage(ctx, log, latest, stable)
	if err != nil || !same {
		return err
	}
	return h.unpinAndScaleDown(ctx, log, &stable)
}

// isLastAttempted reports whether deploymentID is the Latest deployment
// group's last attempted deployment (GetDeploymentGroup,
// deploymentGroupInfo.lastAttemptedDeployment.deploymentId).
func (h *Hooks) isLastAttempted(ctx context.Context, log *invocationLogger, deploymentID string) (bool, error) {
	const step = "check-deployment"
	start := time.Now()
	app, group := h.Config.CodeDeployApplicationName, h.Config.LatestDeploymentGroupName
	out, err := h.CodeDeploy.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{
		ApplicationName:     aws.String(app),
		DeploymentGroupName: aws.String(group),
	})
	if err != nil {
		return false, fmt.Errorf("get deployment group %s/%s: %w", app, group, err)
	}
	last := ""
	if info := out.DeploymentGroupInfo; info != nil && info.LastAttemptedDeployment != nil {
		last = aws.ToString(info.LastAttemptedDeployment.DeploymentId)
	}
	if last == "" {
		return false, fmt.Errorf("deployment group %s/%s reports no last attempted deployment: cannot tell whether %s is current", app, group, deploymentID)
	}
	if last != deploymentID {
		log.Info(step, "ignored: a newer deployment of the Latest group exists; this event is stale",
			"last_attempted_deployment", last, "step_ms", time.Since(start).Milliseconds())
		return false, nil
	}
	log.Info(step, "the event's deployment is the last attempted one", "step_ms", time.Since(start).Milliseconds())
	return true, nil
}

// sameImage compares the container images of the task definitions of
// latest's and stable's PRIMARY task sets (the services' own task definition
// when they have no task sets yet). Equal ARNs need no DescribeTaskDefinition;
// otherwise each distinct ARN costs one call.
func (h *Hooks) sameImage(ctx context.Context, log *invocationLogger, latest, stable ecstypes.Service) (bool, error) {
	const step = "compare-images"
	start := time.Now()
	latestTD, err := primaryTaskDefinition(latest)
	if err != nil {
		return false, err
	}
	stableTD, err := primaryTaskDefinition(stable)
	if err != nil {
		return false, err
	}
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
		log.Info(step, fmt.Sprintf("latest rolled back to %s, stable serves %s: the pinned tenants stay on stable until the waiting approval is decided",
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

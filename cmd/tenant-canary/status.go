package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tenant-canary/tenant-canary/internal/outputs"
)

// Status is `status --json`, schema 1. Fields are only ever added; a
// change of meaning bumps Schema. testdata/status-schema.golden pins it.
type Status struct {
	Schema      int                `json:"schema"`
	Stack       string             `json:"stack"`  // --stack, "" when the selected stack or a file was used
	Source      string             `json:"source"` // where the outputs came from: "the selected stack", "stack dev", "outputs file out.json", "the --output flags"
	Time        time.Time          `json:"time"`
	Verdict     Verdict            `json:"verdict"` // the state in one line and the command to type next
	Pipeline    PipelineStatus     `json:"pipeline"`
	Approval    *ApprovalStatus    `json:"approval"`    // null: the pipeline has no Approve action, or it never ran
	Deployments []DeploymentStatus `json:"deployments"` // one per deployment group, Latest first
	Services    []ServiceStatus    `json:"services"`    // latest, then stable
	Routing     RoutingStatus      `json:"routing"`
	Alarms      []AlarmStatus      `json:"alarms"`
}

// PipelineStatus is the pipeline and its newest execution.
type PipelineStatus struct {
	Name      string           `json:"name"`
	Execution *ExecutionStatus `json:"execution"` // null: never ran
	Stages    []StageStatus    `json:"stages"`
}

// ExecutionStatus is the newest pipeline execution (in flight or not).
type ExecutionStatus struct {
	ID       string     `json:"id"`
	Status   string     `json:"status"`   // CodePipeline's: InProgress, Succeeded, Failed, Stopped, Superseded…
	InFlight bool       `json:"inFlight"` // InProgress or Stopping
	Stage    string     `json:"stage"`    // where it is (in flight) or where it ended
	Started  *time.Time `json:"started"`
	Revision string     `json:"revision"` // the source revision: the pushed image's digest
}

// StageStatus is one stage's latest execution.
type StageStatus struct {
	Name        string `json:"name"`
	Status      string `json:"status"` // "" when it never ran
	ExecutionID string `json:"executionId"`
}

// ApprovalStatus is the Approve action's latest execution.
type ApprovalStatus struct {
	State          string     `json:"state"` // pending, approved, rejected (a timeout shows as rejected)
	Since          *time.Time `json:"since"`
	AgeSeconds     int64      `json:"ageSeconds"`
	TimeoutMinutes int32      `json:"timeoutMinutes"` // pending only
	Expires        *time.Time `json:"expires"`        // pending only
	Summary        string     `json:"summary"`
	By             string     `json:"by"` // who approved or rejected: the action's lastUpdatedBy, "" when the API does not say
}

// DeploymentStatus is a deployment group's deployment in progress.
type DeploymentStatus struct {
	Group                      string     `json:"group"` // latest or stable (the service it deploys)
	DeploymentGroup            string     `json:"deploymentGroup"`
	InProgress                 bool       `json:"inProgress"`
	ID                         string     `json:"id,omitempty"`
	Phase                      string     `json:"phase,omitempty"` // installing, shifting, after-traffic, termination-wait
	LifecycleEvent             string     `json:"lifecycleEvent,omitempty"`
	TrafficPercent             float64    `json:"trafficPercent"` // on the replacement task set
	NextStepAt                 *time.Time `json:"nextStepAt"`
	NextStepInSeconds          int64      `json:"nextStepInSeconds"`
	TerminationWaitEndsAt      *time.Time `json:"terminationWaitEndsAt"`
	TerminationWaitLeftSeconds int64      `json:"terminationWaitLeftSeconds"`
	Config                     string     `json:"config,omitempty"`
	// Last is the group's newest deployment when none is in progress.
	Last *EndedDeployment `json:"last"`
}

// EndedDeployment is a deployment that is over, and why it ended as it did.
type EndedDeployment struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"` // CodeDeploy's: Succeeded, Failed, Stopped…
	Created      *time.Time `json:"created"`
	Completed    *time.Time `json:"completed"`
	ErrorCode    string     `json:"errorCode"` // e.g. ALARM_ACTIVE
	ErrorMessage string     `json:"errorMessage"`
	// Alarms are the group's rollback alarms the error message names.
	Alarms []string `json:"alarms"`
}

// why is the reason an ended deployment gives: its alarms, else its error.
func (d *EndedDeployment) why() string {
	switch {
	case len(d.Alarms) > 0:
		return "alarm " + strings.Join(d.Alarms, ", ")
	case d.ErrorCode != "":
		return d.ErrorCode + ": " + d.ErrorMessage
	}
	return "no reason given"
}

// ServiceStatus is one ECS service.
type ServiceStatus struct {
	Role          string `json:"role"` // latest or stable
	Name          string `json:"name"`
	Desired       int32  `json:"desired"`
	Running       int32  `json:"running"`
	Healthy       int    `json:"healthy"` // healthy targets of the PRIMARY task set
	Image         *Image `json:"image"`   // the PRIMARY task set's: what it serves
	Active        *Image `json:"active"`  // the ACTIVE task set's during a deployment: the replacement, or the original kept for the termination wait
	ActiveHealthy int    `json:"activeHealthy"`
}

// Image is a container image.
type Image struct {
	URI    string   `json:"uri"`
	Digest string   `json:"digest"` // sha256:…, "" when the URI names a tag
	Tags   []string `json:"tags"`
}

// RoutingStatus says whether the tenants are pinned to stable.
type RoutingStatus struct {
	Pinned               bool     `json:"pinned"` // the catch-all is below every tenant rule
	CatchAllPriority     string   `json:"catchAllPriority"`
	TenantRulePriorities []string `json:"tenantRulePriorities"`
	PinnedTenants        []string `json:"pinnedTenants"` // the allow-list; on stable when Pinned
}

// AlarmStatus is a rollback alarm of a deployment group.
type AlarmStatus struct {
	Name  string     `json:"name"`
	Group string     `json:"group"`
	State string     `json:"state"` // OK, ALARM, INSUFFICIENT_DATA, or MISSING
	Since *time.Time `json:"since"`
}

// approvalDefaultTimeout: a manual approval action fails after seven days
// unless the action sets timeoutInMinutes
// (https://docs.aws.amazon.com/codepipeline/latest/userguide/approvals-approve-or-reject.html).
const approvalDefaultTimeout = 7 * 24 * 60

func statusCmd(ctx context.Context, fs *flag.FlagSet, args []string, e *env) error {
	var where outputs.Settings
	where.Register(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON (schema in docs/operating.md)")
	watchFlag := fs.Bool("watch", false, "redraw the status in place until interrupted")
	interval := fs.Duration("interval", 10*time.Second, "with --watch: time between redraws")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *interval < time.Second {
		return usageError("--interval %s: want at least 1s", *interval)
	}
	out, c, err := connect(ctx, e, where)
	if err != nil {
		return err
	}
	show := func() error {
		st, err := collect(ctx, out, c, e.now())
		if err != nil {
			return err
		}
		if *asJSON {
			b, _ := json.MarshalIndent(st, "", "  ")
			_, err = fmt.Fprintf(e.stdout, "%s\n", b)
			return err
		}
		text := render(st)
		if *watchFlag && e.terminal {
			text = clearScreen + text
		}
		_, err = fmt.Fprint(e.stdout, text)
		return err
	}
	if !*watchFlag {
		return show()
	}
	failures, shown := 0, false
	for {
		err := show()
		switch {
		case err == nil:
			failures, shown = 0, true
		case ctx.Err() != nil:
			return nil // interrupted mid-refresh
		case transient(err) && failures < maxTransientFailures:
			// The screen stays as it was, with this line below it.
			failures++
			line, _ := describe(err)
			last := ""
			if shown {
				last = " showing the last status,"
			}
			fmt.Fprintf(e.stdout, "\n%s: AWS did not answer (%s);%s retrying in %s (%d/%d)\n",
				e.now().UTC().Format("15:04:05"), line, last, *interval, failures, maxTransientFailures)
		default:
			return giveUp(err, failures)
		}
		if !e.terminal && err == nil {
			fmt.Fprintln(e.stdout)
		}
		if e.sleep(ctx, *interval) != nil {
			return nil
		}
	}
}

// giveUp is the error that ends a loop of refreshes: a transient error
// that outlasted maxTransientFailures says so; a permanent one is itself.
func giveUp(err error, failures int) error {
	if !transient(err) {
		return err
	}
	line, _ := describe(err)
	return &codeError{exitError, fmt.Sprintf("giving up after %d failed refreshes in a row: %s", failures+1, line)}
}

// maxTransientFailures: status --watch and wait give up when this many
// refreshes in a row failed with transient errors.
const maxTransientFailures = 5

// transient: an error the SDK itself would retry (throttling, 5xx, a
// broken connection, a timeout; aws/retry's DefaultRetryables), which
// status --watch and wait outlast; any other error is permanent.
func transient(err error) bool {
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// clearScreen moves the cursor home and clears the screen (ANSI).
const clearScreen = "\x1b[H\x1b[2J"

// collect reads the whole status; any AWS error ends it.
func collect(ctx context.Context, o *outputs.Read, c *clients, now time.Time) (*Status, error) {
	st := &Status{Schema: 1, Stack: o.Stack, Source: o.From, Time: now.UTC(), Pipeline: PipelineStatus{Name: o.PipelineName}}
	if err := pipelineStatus(ctx, o, c, now, st); err != nil {
		return nil, err
	}
	for _, g := range []struct{ role, name string }{{"latest", o.LatestDeploymentGroupName}, {"stable", o.StableDeploymentGroupName}} {
		d, err := deploymentStatus(ctx, o, c, g.role, g.name, now)
		if err != nil {
			return nil, err
		}
		st.Deployments = append(st.Deployments, d)
	}
	if err := servicesStatus(ctx, o, c, st); err != nil {
		return nil, err
	}
	if err := routingStatus(ctx, o, c, st); err != nil {
		return nil, err
	}
	if err := alarmsStatus(ctx, o, c, st); err != nil {
		return nil, err
	}
	for _, d := range st.Deployments {
		if d.Last == nil {
			continue
		}
		for _, a := range st.Alarms {
			if a.Group == d.Group && strings.Contains(d.Last.ErrorMessage, a.Name) {
				d.Last.Alarms = append(d.Last.Alarms, a.Name)
			}
		}
	}
	st.Verdict = verdictOf(st)
	return st, nil
}

func pipelineStatus(ctx context.Context, o *outputs.Read, c *clients, now time.Time, st *Status) error {
	state, err := c.pipeline.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: &o.PipelineName})
	if err != nil {
		return err
	}
	execs, err := c.pipeline.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: &o.PipelineName, MaxResults: aws.Int32(10)})
	if err != nil {
		return err
	}
	for _, s := range state.StageStates {
		ss := StageStatus{Name: aws.ToString(s.StageName)}
		if s.LatestExecution != nil {
			ss.Status, ss.ExecutionID = string(s.LatestExecution.Status), aws.ToString(s.LatestExecution.PipelineExecutionId)
		}
		st.Pipeline.Stages = append(st.Pipeline.Stages, ss)
	}
	// The execution shown: the newest in flight, else the newest.
	var pick *cptypes.PipelineExecutionSummary
	for i, ex := range execs.PipelineExecutionSummaries {
		if ex.Status == cptypes.PipelineExecutionStatusInProgress || ex.Status == cptypes.PipelineExecutionStatusStopping {
			pick = &execs.PipelineExecutionSummaries[i]
			break
		}
	}
	if pick == nil && len(execs.PipelineExecutionSummaries) > 0 {
		pick = &execs.PipelineExecutionSummaries[0]
	}
	if pick != nil {
		ex := &ExecutionStatus{ID: aws.ToString(pick.PipelineExecutionId), Status: string(pick.Status), Started: utc(pick.StartTime),
			InFlight: pick.Status == cptypes.PipelineExecutionStatusInProgress || pick.Status == cptypes.PipelineExecutionStatusStopping}
		for _, r := range pick.SourceRevisions {
			ex.Revision = aws.ToString(r.RevisionId)
		}
		// Its stage: the last stage this execution reached.
		for _, s := range st.Pipeline.Stages {
			if s.ExecutionID == ex.ID {
				ex.Stage = s.Name
			}
		}
		st.Pipeline.Execution = ex
	}

	// The approval: stage Approve, action Approve.
	action := approveAction(state)
	if action == nil || action.LatestExecution == nil {
		return nil
	}
	le := action.LatestExecution
	a := &ApprovalStatus{Since: utc(le.LastStatusChange), Summary: aws.ToString(le.Summary), By: aws.ToString(le.LastUpdatedBy)}
	if le.LastStatusChange != nil {
		a.AgeSeconds = int64(now.Sub(*le.LastStatusChange) / time.Second)
	}
	switch le.Status {
	case cptypes.ActionExecutionStatusInProgress:
		a.State = "pending"
		timeout, err := approvalTimeout(ctx, o, c)
		if err != nil {
			return err
		}
		a.TimeoutMinutes = timeout
		if le.LastStatusChange != nil {
			a.Expires = utc(aws.Time(le.LastStatusChange.Add(time.Duration(timeout) * time.Minute)))
		}
	case cptypes.ActionExecutionStatusSucceeded:
		a.State = "approved"
	case cptypes.ActionExecutionStatusFailed:
		a.State = "rejected"
	default:
		a.State = strings.ToLower(string(le.Status))
	}
	st.Approval = a
	return nil
}

// approveAction is the state of the Approve stage's Approve action.
func approveAction(state *codepipeline.GetPipelineStateOutput) *cptypes.ActionState {
	for _, s := range state.StageStates {
		if aws.ToString(s.StageName) != "Approve" {
			continue
		}
		for i, a := range s.ActionStates {
			if aws.ToString(a.ActionName) == "Approve" {
				return &s.ActionStates[i]
			}
		}
	}
	return nil
}

// approvalTimeout reads the Approve action's timeoutInMinutes from the
// pipeline's declaration (ActionDeclaration.timeoutInMinutes,
// https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ActionDeclaration.html).
func approvalTimeout(ctx context.Context, o *outputs.Read, c *clients) (int32, error) {
	p, err := c.pipeline.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: &o.PipelineName})
	if err != nil {
		return 0, err
	}
	if p.Pipeline != nil {
		for _, s := range p.Pipeline.Stages {
			for _, a := range s.Actions {
				if aws.ToString(s.Name) == "Approve" && aws.ToString(a.Name) == "Approve" && aws.ToInt32(a.TimeoutInMinutes) > 0 {
					return *a.TimeoutInMinutes, nil
				}
			}
		}
	}
	return approvalDefaultTimeout, nil
}

// inProgress lists a group's deployments in progress, newest first
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ListDeployments.html).
func inProgress(ctx context.Context, o *outputs.Read, c *clients, group string) ([]string, error) {
	out, err := c.deploy.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: &o.ApplicationName,
		DeploymentGroupName: &group, IncludeOnlyStatuses: []cdtypes.DeploymentStatus{cdtypes.DeploymentStatusInProgress}})
	if err != nil {
		return nil, err
	}
	return out.Deployments, nil
}

// recentDeployments are a group's newest deployments, newest first, at
// most n (n ≤ 25). ListDeployments does not document an order, so the
// newest are picked by creation time among the first page's first 25
// (BatchGetDeployments takes at most 25 ids); on a group with a long
// history this may miss the newest, and says nothing wrong about those it
// shows
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ListDeployments.html,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_BatchGetDeployments.html).
func recentDeployments(ctx context.Context, o *outputs.Read, c *clients, group string, n int) ([]*EndedDeployment, error) {
	list, err := c.deploy.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: &o.ApplicationName, DeploymentGroupName: &group})
	if err != nil || len(list.Deployments) == 0 {
		return nil, err
	}
	ids := list.Deployments[:min(25, len(list.Deployments))]
	got, err := c.deploy.BatchGetDeployments(ctx, &codedeploy.BatchGetDeploymentsInput{DeploymentIds: ids})
	if err != nil {
		return nil, err
	}
	infos := got.DeploymentsInfo
	slices.SortStableFunc(infos, func(a, b cdtypes.DeploymentInfo) int {
		return aws.ToTime(b.CreateTime).Compare(aws.ToTime(a.CreateTime))
	})
	var out []*EndedDeployment
	for _, d := range infos[:min(n, len(infos))] {
		e := &EndedDeployment{ID: aws.ToString(d.DeploymentId), Status: string(d.Status), Created: utc(d.CreateTime), Completed: utc(d.CompleteTime), Alarms: []string{}}
		if d.ErrorInformation != nil {
			e.ErrorCode, e.ErrorMessage = string(d.ErrorInformation.Code), oneLine(aws.ToString(d.ErrorInformation.Message))
		}
		out = append(out, e)
	}
	return out, nil
}

func deploymentStatus(ctx context.Context, o *outputs.Read, c *clients, role, group string, now time.Time) (DeploymentStatus, error) {
	ds := DeploymentStatus{Group: role, DeploymentGroup: group}
	ids, err := inProgress(ctx, o, c, group)
	if err != nil {
		return ds, err
	}
	if len(ids) == 0 {
		recent, err := recentDeployments(ctx, o, c, group, 1)
		if len(recent) > 0 {
			ds.Last = recent[0]
		}
		return ds, err
	}
	ds.InProgress, ds.ID = true, ids[0]
	d, err := c.deploy.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: &ds.ID})
	if err != nil {
		return ds, err
	}
	info := d.DeploymentInfo
	ds.Config = aws.ToString(info.DeploymentConfigName)

	// The ECS target: the task sets' traffic weights and the lifecycle
	// events (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ECSTarget.html).
	targets, err := c.deploy.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: &ds.ID})
	if err != nil || len(targets.TargetIds) == 0 {
		return ds, err
	}
	t, err := c.deploy.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{DeploymentId: &ds.ID, TargetId: &targets.TargetIds[0]})
	if err != nil || t.DeploymentTarget == nil || t.DeploymentTarget.EcsTarget == nil {
		return ds, err
	}
	ecsTarget := t.DeploymentTarget.EcsTarget
	for _, ts := range ecsTarget.TaskSetsInfo {
		// Green labels the replacement task set (TargetLabel).
		if ts.TaskSetLabel == cdtypes.TargetLabelGreen {
			ds.TrafficPercent = ts.TrafficWeight
		}
	}
	events := map[string]cdtypes.LifecycleEvent{}
	ds.Phase = "installing"
	for _, ev := range ecsTarget.LifecycleEvents {
		name := aws.ToString(ev.LifecycleEventName)
		events[name] = ev
		if ev.Status == cdtypes.LifecycleEventStatusInProgress && ds.LifecycleEvent == "" {
			ds.LifecycleEvent = name
		}
	}
	allow, after := events["AllowTraffic"], events["AfterAllowTraffic"]
	switch {
	case after.Status == cdtypes.LifecycleEventStatusSucceeded:
		ds.Phase = "termination-wait"
		if bg := info.BlueGreenDeploymentConfiguration; bg != nil && bg.TerminateBlueInstancesOnDeploymentSuccess != nil && after.EndTime != nil {
			end := after.EndTime.Add(time.Duration(bg.TerminateBlueInstancesOnDeploymentSuccess.TerminationWaitTimeInMinutes) * time.Minute)
			ds.TerminationWaitEndsAt = utc(&end)
			ds.TerminationWaitLeftSeconds = max(0, int64(end.Sub(now)/time.Second))
		}
	case allow.Status == cdtypes.LifecycleEventStatusSucceeded:
		ds.Phase = "after-traffic"
	case allow.Status == cdtypes.LifecycleEventStatusInProgress:
		ds.Phase = "shifting"
		if allow.StartTime != nil {
			next, err := nextStep(ctx, c, ds.Config, *allow.StartTime, ds.TrafficPercent)
			if err != nil {
				return ds, err
			}
			if next != nil && next.After(now) {
				ds.NextStepAt, ds.NextStepInSeconds = utc(next), int64(next.Sub(now)/time.Second)
			}
		}
	}
	return ds, nil
}

// nextStep is when the traffic shift takes its next step, from the
// deployment configuration's time-based canary or linear settings
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_TrafficRoutingConfig.html):
// a canary shifts its percentage when the shift starts and the rest one
// interval later; a linear shift adds its percentage every interval.
func nextStep(ctx context.Context, c *clients, config string, start time.Time, share float64) (*time.Time, error) {
	if config == "" || share >= 100 {
		return nil, nil
	}
	out, err := c.deploy.GetDeploymentConfig(ctx, &codedeploy.GetDeploymentConfigInput{DeploymentConfigName: &config})
	if err != nil {
		return nil, err
	}
	r := out.DeploymentConfigInfo.TrafficRoutingConfig
	if r == nil {
		return nil, nil
	}
	switch {
	case r.TimeBasedCanary != nil:
		t := start.Add(time.Duration(r.TimeBasedCanary.CanaryInterval) * time.Minute)
		return &t, nil
	case r.TimeBasedLinear != nil && r.TimeBasedLinear.LinearPercentage > 0:
		steps := int(share) / int(r.TimeBasedLinear.LinearPercentage)
		t := start.Add(time.Duration(steps*int(r.TimeBasedLinear.LinearInterval)) * time.Minute)
		return &t, nil
	}
	return nil, nil
}

func servicesStatus(ctx context.Context, o *outputs.Read, c *clients, st *Status) error {
	out, err := c.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &o.ClusterName, Services: []string{o.LatestServiceName, o.StableServiceName}})
	if err != nil {
		return err
	}
	images := map[string]*Image{}
	image := func(taskDef string) (*Image, error) {
		if img, ok := images[taskDef]; ok {
			return img, nil
		}
		td, err := c.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &taskDef})
		if err != nil {
			return nil, err
		}
		img := &Image{}
		if cs := td.TaskDefinition.ContainerDefinitions; len(cs) > 0 {
			img.URI = aws.ToString(cs[0].Image)
		}
		repo, digest, tag := splitImage(img.URI)
		img.Digest = digest
		if tag != "" {
			img.Tags = []string{tag}
		} else if digest != "" && repo != "" {
			// An image named by digest: its tags are in the repository.
			d, err := c.ecr.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: &repo,
				ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: &digest}}})
			if err != nil {
				return nil, err
			}
			for _, detail := range d.ImageDetails {
				img.Tags = append(img.Tags, detail.ImageTags...)
			}
		}
		images[taskDef] = img
		return img, nil
	}
	for _, role := range []struct{ role, name string }{{"latest", o.LatestServiceName}, {"stable", o.StableServiceName}} {
		ss := ServiceStatus{Role: role.role, Name: role.name}
		for _, svc := range out.Services {
			if aws.ToString(svc.ServiceName) != role.name {
				continue
			}
			ss.Desired, ss.Running = svc.DesiredCount, svc.RunningCount
			for _, ts := range svc.TaskSets {
				img, err := image(aws.ToString(ts.TaskDefinition))
				if err != nil {
					return err
				}
				healthy := &ss.Healthy
				switch aws.ToString(ts.Status) {
				case "PRIMARY":
					ss.Image = img
				case "ACTIVE":
					ss.Active, healthy = img, &ss.ActiveHealthy
				}
				for _, lb := range ts.LoadBalancers {
					h, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: lb.TargetGroupArn})
					if err != nil {
						return err
					}
					for _, d := range h.TargetHealthDescriptions {
						if d.TargetHealth != nil && d.TargetHealth.State == elbtypes.TargetHealthStateEnumHealthy {
							*healthy++
						}
					}
				}
			}
			if ss.Image == nil && svc.TaskDefinition != nil { // no task sets yet
				img, err := image(aws.ToString(svc.TaskDefinition))
				if err != nil {
					return err
				}
				ss.Image = img
			}
		}
		st.Services = append(st.Services, ss)
	}
	return nil
}

// splitImage splits registry/repo[:tag][@sha256:…] into the repository
// name, the digest and the tag.
func splitImage(uri string) (repo, digest, tag string) {
	rest := uri
	if i := strings.Index(rest, "@"); i >= 0 {
		rest, digest = rest[:i], rest[i+1:]
	}
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		rest, tag = rest[:i], rest[i+1:]
	}
	if i := strings.Index(rest, "/"); i >= 0 {
		repo = rest[i+1:]
	}
	return repo, digest, tag
}

func routingStatus(ctx context.Context, o *outputs.Read, c *clients, st *Status) error {
	st.Routing = RoutingStatus{PinnedTenants: o.PinnedTenants, TenantRulePriorities: []string{}}
	if st.Routing.PinnedTenants == nil {
		st.Routing.PinnedTenants = []string{}
	}
	out, err := c.elb.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: append([]string{o.CatchAllRuleArn}, o.TenantRuleArns...)})
	if err != nil {
		return err
	}
	maxTenant := -1
	for _, r := range out.Rules {
		p := aws.ToString(r.Priority)
		if aws.ToString(r.RuleArn) == o.CatchAllRuleArn {
			st.Routing.CatchAllPriority = p
			continue
		}
		st.Routing.TenantRulePriorities = append(st.Routing.TenantRulePriorities, p)
		if n, err := strconv.Atoi(p); err == nil {
			maxTenant = max(maxTenant, n)
		}
	}
	slices.SortFunc(st.Routing.TenantRulePriorities, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
	catchAll, err := strconv.Atoi(st.Routing.CatchAllPriority)
	st.Routing.Pinned = err == nil && maxTenant >= 0 && catchAll > maxTenant
	return nil
}

func alarmsStatus(ctx context.Context, o *outputs.Read, c *clients, st *Status) error {
	st.Alarms = []AlarmStatus{}
	var names []string
	for _, g := range []struct{ role, name string }{{"latest", o.LatestDeploymentGroupName}, {"stable", o.StableDeploymentGroupName}} {
		out, err := c.deploy.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: &o.ApplicationName, DeploymentGroupName: &g.name})
		if err != nil {
			return err
		}
		if ac := out.DeploymentGroupInfo.AlarmConfiguration; ac != nil && ac.Enabled {
			for _, a := range ac.Alarms {
				st.Alarms = append(st.Alarms, AlarmStatus{Name: aws.ToString(a.Name), Group: g.role, State: "MISSING"})
				names = append(names, aws.ToString(a.Name))
			}
		}
	}
	// DescribeAlarms takes at most 100 names per call
	// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html).
	for chunk := range slices.Chunk(names, 100) {
		out, err := c.alarms.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: chunk})
		if err != nil {
			return err
		}
		for _, m := range out.MetricAlarms {
			for i := range st.Alarms {
				if st.Alarms[i].Name == aws.ToString(m.AlarmName) {
					st.Alarms[i].State, st.Alarms[i].Since = string(m.StateValue), utc(m.StateUpdatedTimestamp)
				}
			}
		}
	}
	return nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// The slices of the SDK clients the driver uses.
type (
	pipelineAPI interface {
		GetPipelineState(context.Context, *codepipeline.GetPipelineStateInput, ...func(*codepipeline.Options)) (*codepipeline.GetPipelineStateOutput, error)
		ListPipelineExecutions(context.Context, *codepipeline.ListPipelineExecutionsInput, ...func(*codepipeline.Options)) (*codepipeline.ListPipelineExecutionsOutput, error)
		PutApprovalResult(context.Context, *codepipeline.PutApprovalResultInput, ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error)
		ListActionExecutions(context.Context, *codepipeline.ListActionExecutionsInput, ...func(*codepipeline.Options)) (*codepipeline.ListActionExecutionsOutput, error)
		GetPipelineExecution(context.Context, *codepipeline.GetPipelineExecutionInput, ...func(*codepipeline.Options)) (*codepipeline.GetPipelineExecutionOutput, error)
	}
	deployAPI interface {
		GetDeploymentGroup(context.Context, *codedeploy.GetDeploymentGroupInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentGroupOutput, error)
		ListDeployments(context.Context, *codedeploy.ListDeploymentsInput, ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error)
		GetDeployment(context.Context, *codedeploy.GetDeploymentInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error)
		ListDeploymentTargets(context.Context, *codedeploy.ListDeploymentTargetsInput, ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error)
		GetDeploymentTarget(context.Context, *codedeploy.GetDeploymentTargetInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentTargetOutput, error)
	}
	ecsAPI interface {
		DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
		DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	}
	elbAPI interface {
		DescribeRules(context.Context, *elbv2.DescribeRulesInput, ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
	}
	alarmAPI interface {
		DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
	}
)

type awsClients struct {
	pipeline pipelineAPI
	deploy   deployAPI
	ecs      ecsAPI
	elb      elbAPI
	alarms   alarmAPI
}

func newAWSClients(cfg aws.Config) awsClients {
	return awsClients{
		pipeline: codepipeline.NewFromConfig(cfg), deploy: codedeploy.NewFromConfig(cfg), ecs: ecs.NewFromConfig(cfg),
		elb: elbv2.NewFromConfig(cfg), alarms: cloudwatch.NewFromConfig(cfg),
	}
}

// pendingApproval is an Approve action waiting for an answer.
type pendingApproval struct{ executionID, token, version string }

// observed is what the driver last saw of the stack, to record changes only.
type observed struct {
	execVersion    map[string]string
	execStatus     map[string]string
	revisionsSeen  map[string]bool
	stages         map[string]string
	stageOrder     []string
	approvalStatus map[string]string
	pending        *pendingApproval
	deployments    map[string]string
	targetsSeen    map[string]bool
	targetOf       map[string]string // deployment id → its one target id
	targetKey      map[string]string // deployment id → its target's task sets, as last recorded
	alarmNames     []string
	alarmState     map[string]string
	rulesKey       string
	catchAllAbove  bool
	services       map[string]string
	images         map[string][]string
	stableDesired  int32
	settledPolls   int
	// reread names the services whose deployment was just seen ending:
	// their task sets are recorded at this poll even if unchanged, so a
	// check reads what followed the end (services are read after
	// deployments in each poll).
	reread map[string]bool
}

// ECS deployment statuses that are final
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html).
var finalDeployment = map[string]bool{"Succeeded": true, "Failed": true, "Stopped": true, beforeRun: true}

// beforeRun marks a deployment created before the run: not followed.
const beforeRun = "(before the run)"

func (o *observed) start(ctx context.Context, d *driver) error {
	*o = observed{execVersion: map[string]string{}, execStatus: map[string]string{}, revisionsSeen: map[string]bool{}, stages: map[string]string{},
		approvalStatus: map[string]string{}, deployments: map[string]string{}, targetsSeen: map[string]bool{},
		targetOf: map[string]string{}, targetKey: map[string]string{},
		alarmState: map[string]string{}, services: map[string]string{}, images: map[string][]string{}, stableDesired: -1, reread: map[string]bool{}}
	for _, g := range d.groups() {
		out, err := d.aws.deploy.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{
			ApplicationName: aws.String(d.outputs.ApplicationName), DeploymentGroupName: aws.String(g)})
		if err != nil {
			return fmt.Errorf("deployment group %s: %w", g, err)
		}
		if info := out.DeploymentGroupInfo; info != nil && info.AlarmConfiguration != nil {
			for _, a := range info.AlarmConfiguration.Alarms {
				o.alarmNames = append(o.alarmNames, aws.ToString(a.Name))
			}
		}
	}
	return nil
}

// serviceOf is the ECS service deployment group g deploys.
func (d *driver) serviceOf(g string) string {
	if g == d.outputs.StableDeploymentGroupName {
		return d.outputs.StableServiceName
	}
	return d.outputs.LatestServiceName
}

func (d *driver) groups() []string {
	return []string{d.outputs.LatestDeploymentGroupName, d.outputs.StableDeploymentGroupName}
}

// poll asks AWS once for everything the report follows and records what
// changed since the last poll.
func (o *observed) poll(ctx context.Context, d *driver) error {
	for _, f := range []func(context.Context, *driver) error{o.pollPipeline, o.pollDeployments, o.pollAlarms, o.pollRules, o.pollServices} {
		if err := f(ctx, d); err != nil {
			return err
		}
	}
	if o.settledNow(d.report) {
		o.settledPolls++
	} else {
		o.settledPolls = 0
	}
	return nil
}

func (o *observed) pollPipeline(ctx context.Context, d *driver) error {
	name := aws.String(d.outputs.PipelineName)
	execs, err := d.aws.pipeline.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: name, MaxResults: aws.Int32(20)})
	if err != nil {
		return fmt.Errorf("pipeline %s executions: %w", d.outputs.PipelineName, err)
	}
	for _, e := range execs.PipelineExecutionSummaries {
		id := aws.ToString(e.PipelineExecutionId)
		if _, ok := o.execVersion[id]; !ok {
			o.execVersion[id] = versionStartedAt(d.report.Pushes, aws.ToTime(e.StartTime))
		}
		o.execStatus[id] = string(e.Status)
		if o.execVersion[id] != "" && !o.revisionsSeen[id] {
			if err := o.revisions(ctx, d, id); err != nil {
				return err
			}
		}
	}
	state, err := d.aws.pipeline.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: name})
	if err != nil {
		return fmt.Errorf("pipeline %s state: %w", d.outputs.PipelineName, err)
	}
	o.pending = nil
	for _, st := range state.StageStates {
		stage := aws.ToString(st.StageName)
		if st.LatestExecution == nil {
			continue
		}
		id, status := aws.ToString(st.LatestExecution.PipelineExecutionId), string(st.LatestExecution.Status)
		if _, ok := o.stages[stage]; !ok {
			o.stageOrder = append(o.stageOrder, stage)
		}
		if key := status + " " + id; o.stages[stage] != key {
			o.stages[stage] = key
			d.event(Event{Kind: KindStage, Stage: stage, Status: status, ExecutionID: id, Version: o.execVersion[id]})
		}
		if stage == contract.StageApprove {
			o.approval(d, st, id)
		}
	}
	return o.approvalsLeftBehind(ctx, d)
}

// revisions records the source revisions of an execution a push of the
// run started, once CodePipeline shows them (GetPipelineExecution's
// artifactRevisions: for the ECR source, the pushed image; docs/design.md
// §7 expects its digest,
// https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_GetPipelineExecution.html).
func (o *observed) revisions(ctx context.Context, d *driver, id string) error {
	out, err := d.aws.pipeline.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{
		PipelineName: aws.String(d.outputs.PipelineName), PipelineExecutionId: aws.String(id)})
	if err != nil {
		return fmt.Errorf("pipeline execution %s: %w", id, err)
	}
	if out.PipelineExecution == nil || len(out.PipelineExecution.ArtifactRevisions) == 0 {
		return nil // not yet known; asked again at the next poll
	}
	var revs []string
	for _, a := range out.PipelineExecution.ArtifactRevisions {
		revs = append(revs, aws.ToString(a.Name)+": "+aws.ToString(a.RevisionId))
	}
	o.revisionsSeen[id] = true
	d.event(Event{Kind: KindExecution, ExecutionID: id, Version: o.execVersion[id], Status: o.execStatus[id], Revisions: revs})
	return nil
}

// approvalsLeftBehind reads the answer of an approval that was pending at
// the last poll but is no longer the Approve stage's latest: between two
// polls it was answered and the next execution took the stage (newest push
// wins does exactly that), so GetPipelineState no longer shows it.
// ListActionExecutions does, with the answer's summary
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListActionExecutions.html).
func (o *observed) approvalsLeftBehind(ctx context.Context, d *driver) error {
	current := ""
	if st, ok := o.stages[contract.StageApprove]; ok {
		_, current, _ = strings.Cut(st, " ")
	}
	var behind []string
	for id, status := range o.approvalStatus {
		if status == ApprovalPending && id != current {
			behind = append(behind, id)
		}
	}
	sort.Strings(behind)
	for _, id := range behind {
		out, err := d.aws.pipeline.ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{
			PipelineName: aws.String(d.outputs.PipelineName), Filter: &cptypes.ActionExecutionFilter{PipelineExecutionId: aws.String(id)}})
		if err != nil {
			return fmt.Errorf("pipeline %s actions of %s: %w", d.outputs.PipelineName, id, err)
		}
		for _, a := range out.ActionExecutionDetails {
			if aws.ToString(a.StageName) != contract.StageApprove || aws.ToString(a.ActionName) != contract.ActionApprove {
				continue
			}
			summary := ""
			if a.Output != nil && a.Output.ExecutionResult != nil {
				summary = aws.ToString(a.Output.ExecutionResult.ExternalExecutionSummary)
			}
			o.recordApproval(d, id, approvalStatuses[a.Status], summary)
		}
	}
	return nil
}

var approvalStatuses = map[cptypes.ActionExecutionStatus]string{
	cptypes.ActionExecutionStatusInProgress: ApprovalPending, cptypes.ActionExecutionStatusSucceeded: ApprovalApproved,
	cptypes.ActionExecutionStatusFailed: ApprovalRejected, cptypes.ActionExecutionStatusAbandoned: "abandoned",
}

// recordApproval records an approval's new status; an answer the driver did
// not give was given by someone else (a hook, an operator, a timeout).
func (o *observed) recordApproval(d *driver, executionID, status, summary string) {
	if status == "" || o.approvalStatus[executionID] == status {
		return
	}
	o.approvalStatus[executionID] = status
	e := Event{Kind: KindApproval, ExecutionID: executionID, Version: o.execVersion[executionID], Status: status, Summary: summary}
	if status != ApprovalPending {
		e.By = ByOther // the driver records its own answers when it gives them
	}
	d.event(e)
}

// approval follows the Approve action: GetPipelineState shows its token
// while it is InProgress, and Succeeded or Failed once answered, with the
// answer's summary
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ActionExecution.html).
func (o *observed) approval(d *driver, st cptypes.StageState, executionID string) {
	for _, a := range st.ActionStates {
		if aws.ToString(a.ActionName) != contract.ActionApprove || a.LatestExecution == nil {
			continue
		}
		le := a.LatestExecution
		status := approvalStatuses[le.Status]
		if status == ApprovalPending && aws.ToString(le.Token) != "" {
			o.pending = &pendingApproval{executionID: executionID, token: aws.ToString(le.Token), version: o.execVersion[executionID]}
		}
		o.recordApproval(d, executionID, status, aws.ToString(le.Summary))
	}
}

// versionStartedAt is the version of the last push made at or before
// start: only pushes start the pipeline.
func versionStartedAt(pushes []Push, start time.Time) string {
	v := ""
	for _, p := range pushes {
		if !p.Time.After(start) {
			v = p.Version
		}
	}
	return v
}

// pollDeployments follows the deployments created during the run. One
// page of each group's list is read (CodeDeploy lists the group's
// deployments, up to 100 per page); a deployment is read once to learn
// when it was created, and those from before the run are left alone.
func (o *observed) pollDeployments(ctx context.Context, d *driver) error {
	since := d.report.Started.Add(-time.Minute)
	for _, g := range d.groups() {
		list, err := d.aws.deploy.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{
			ApplicationName: aws.String(d.outputs.ApplicationName), DeploymentGroupName: aws.String(g)})
		if err != nil {
			return fmt.Errorf("deployments of %s: %w", g, err)
		}
		for _, id := range list.Deployments {
			last := o.deployments[id]
			if last == beforeRun || (finalDeployment[last] && o.targetsSeen[id]) {
				continue
			}
			out, err := d.aws.deploy.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
			if err != nil {
				return fmt.Errorf("deployment %s: %w", id, err)
			}
			info := out.DeploymentInfo
			if last == "" && info.CreateTime != nil && info.CreateTime.Before(since) {
				o.deployments[id] = beforeRun
				continue
			}
			e := Event{Kind: KindDeployment, Group: g, DeploymentID: id, Status: string(info.Status)}
			if ei := info.ErrorInformation; ei != nil {
				e.ErrorCode, e.Message = string(ei.Code), aws.ToString(ei.Message)
			}
			if ri := info.RollbackInfo; ri != nil {
				e.RollbackDeploymentID, e.RollbackTriggeringDeploymentID = aws.ToString(ri.RollbackDeploymentId), aws.ToString(ri.RollbackTriggeringDeploymentId)
				if e.Message == "" {
					e.Message = aws.ToString(ri.RollbackMessage)
				}
			}
			if !o.targetsSeen[id] {
				targets, err := d.aws.deploy.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(id)})
				if err == nil && len(targets.TargetIds) > 0 {
					e.TargetIDs, o.targetsSeen[id] = targets.TargetIds, true
					if len(targets.TargetIds) == 1 {
						o.targetOf[id] = targets.TargetIds[0]
					}
				}
			}
			if last != e.Status || e.TargetIDs != nil {
				if last != e.Status && finalDeployment[e.Status] {
					o.reread[d.serviceOf(g)] = true
				}
				o.deployments[id] = e.Status
				d.event(e)
			}
			if e.Status == "InProgress" && o.targetOf[id] != "" {
				o.target(ctx, d, g, id)
			}
		}
	}
	return nil
}

// target records an unfinished deployment's ECS target's task sets when
// they changed: GetDeploymentTarget's ecsTarget.taskSetsInfo, the original
// labelled Blue and the replacement Green
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ECSTarget.html,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ECSTaskSet.html).
// An error is not recorded: the next poll asks again.
func (o *observed) target(ctx context.Context, d *driver, group, id string) {
	out, err := d.aws.deploy.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{DeploymentId: aws.String(id), TargetId: aws.String(o.targetOf[id])})
	if err != nil || out.DeploymentTarget == nil || out.DeploymentTarget.EcsTarget == nil {
		return
	}
	var sets []TaskSet
	for _, ts := range out.DeploymentTarget.EcsTarget.TaskSetsInfo {
		sets = append(sets, TaskSet{ID: aws.ToString(ts.Identifer), Status: aws.ToString(ts.Status), Label: string(ts.TaskSetLabel), DesiredCount: ts.DesiredCount})
	}
	key, _ := json.Marshal(sets)
	if string(key) != o.targetKey[id] {
		o.targetKey[id] = string(key)
		d.event(Event{Kind: KindTarget, Group: group, DeploymentID: id, TaskSets: sets})
	}
}

func (o *observed) pollAlarms(ctx context.Context, d *driver) error {
	if len(o.alarmNames) == 0 {
		return nil
	}
	// Without AlarmTypes, DescribeAlarms returns metric alarms only
	// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html).
	out, err := d.aws.alarms.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: o.alarmNames,
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm}})
	if err != nil {
		return fmt.Errorf("rollback alarms: %w", err)
	}
	record := func(name string, state cwtypes.StateValue, reason *string) {
		if o.alarmState[name] != string(state) {
			o.alarmState[name] = string(state)
			d.event(Event{Kind: KindAlarm, Alarm: name, State: string(state), Message: aws.ToString(reason)})
		}
	}
	for _, a := range out.MetricAlarms {
		record(aws.ToString(a.AlarmName), a.StateValue, a.StateReason)
	}
	for _, a := range out.CompositeAlarms {
		record(aws.ToString(a.AlarmName), a.StateValue, a.StateReason)
	}
	return nil
}

func (o *observed) pollRules(ctx context.Context, d *driver) error {
	var rules []Rule
	var marker *string
	for {
		out, err := d.aws.elb.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(d.outputs.ListenerArn), Marker: marker})
		if err != nil {
			return fmt.Errorf("listener rules: %w", err)
		}
		for _, r := range out.Rules {
			rule := Rule{Arn: aws.ToString(r.RuleArn), Priority: aws.ToString(r.Priority), Role: d.role(aws.ToString(r.RuleArn), aws.ToBool(r.IsDefault))}
			for _, a := range r.Actions {
				if a.ForwardConfig != nil {
					for _, tg := range a.ForwardConfig.TargetGroups {
						rule.Forward = append(rule.Forward, Forward{TargetGroupArn: aws.ToString(tg.TargetGroupArn), Weight: aws.ToInt32(tg.Weight)})
					}
				} else if a.TargetGroupArn != nil {
					rule.Forward = append(rule.Forward, Forward{TargetGroupArn: aws.ToString(a.TargetGroupArn), Weight: 1})
				}
			}
			rules = append(rules, rule)
		}
		if marker = out.NextMarker; marker == nil || len(out.Rules) == 0 {
			break
		}
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Arn < rules[j].Arn })
	key, _ := json.Marshal(rules)
	if string(key) != o.rulesKey {
		o.rulesKey = string(key)
		d.event(Event{Kind: KindRules, Rules: rules})
	}
	o.catchAllAbove = catchAllAbove(rules)
	return nil
}

func (d *driver) role(arn string, isDefault bool) string {
	switch {
	case isDefault:
		return RoleDefault
	case arn == d.outputs.CatchAllRuleArn:
		return RoleCatchAll
	case arn == d.outputs.AnchorRuleArn:
		return RoleAnchor
	}
	for _, t := range d.outputs.TenantRuleArns {
		if t == arn {
			return RoleTenant
		}
	}
	return RoleOther
}

// catchAllAbove says whether the catch-all rule is evaluated before the
// anchor and every tenant rule: ALB evaluates rules from the lowest
// priority number up
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rules.html).
func catchAllAbove(rules []Rule) bool {
	catchAll := -1
	for _, r := range rules {
		if r.Role == RoleCatchAll {
			if p, err := strconv.Atoi(r.Priority); err == nil {
				catchAll = p
			}
		}
	}
	if catchAll < 0 {
		return false
	}
	for _, r := range rules {
		if r.Role != RoleAnchor && r.Role != RoleTenant {
			continue
		}
		if p, err := strconv.Atoi(r.Priority); err != nil || p < catchAll {
			return false
		}
	}
	return true
}

func (o *observed) pollServices(ctx context.Context, d *driver) error {
	out, err := d.aws.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(d.outputs.ClusterName),
		Services: []string{d.outputs.LatestServiceName, d.outputs.StableServiceName}})
	if err != nil {
		return fmt.Errorf("ECS services: %w", err)
	}
	for _, s := range out.Services {
		name, td, desired := aws.ToString(s.ServiceName), aws.ToString(s.TaskDefinition), s.DesiredCount
		if name == d.outputs.StableServiceName {
			o.stableDesired = desired
		}
		// A service under the CODE_DEPLOY controller lists its task sets
		// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Service.html).
		var sets []TaskSet
		for _, ts := range s.TaskSets {
			sets = append(sets, TaskSet{ID: aws.ToString(ts.Id), Status: aws.ToString(ts.Status), TaskDefinition: aws.ToString(ts.TaskDefinition),
				DesiredCount: int64(ts.ComputedDesiredCount)})
		}
		sort.Slice(sets, func(i, j int) bool { return sets[i].ID < sets[j].ID })
		setsKey, _ := json.Marshal(sets)
		if key := fmt.Sprintf("%s %d %s", td, desired, setsKey); o.services[name] != key || o.reread[name] {
			o.services[name] = key
			delete(o.reread, name)
			if _, ok := o.images[td]; !ok && td != "" {
				def, err := d.aws.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td)})
				if err != nil {
					return fmt.Errorf("task definition %s: %w", td, err)
				}
				o.images[td] = []string{}
				if def.TaskDefinition != nil {
					for _, c := range def.TaskDefinition.ContainerDefinitions {
						o.images[td] = append(o.images[td], aws.ToString(c.Image))
					}
				}
			}
			d.event(Event{Kind: KindService, Service: name, TaskDefinition: td, DesiredCount: aws.Int32(desired), Images: o.images[td], TaskSets: sets})
		}
	}
	return nil
}

// settledNow is invariant I3's "nothing in flight", as the SDK shows it.
func (o *observed) settledNow(r *Report) bool {
	if len(r.Pushes) > 0 {
		last, ended := r.Pushes[len(r.Pushes)-1].Version, false
		for id, v := range o.execVersion {
			if v == last && o.execStatus[id] != "" && o.execStatus[id] != "InProgress" && o.execStatus[id] != "Stopping" {
				ended = true
			}
		}
		if !ended {
			return false
		}
	}
	for _, s := range o.execStatus {
		if s == "InProgress" || s == "Stopping" {
			return false
		}
	}
	for _, s := range o.deployments {
		if !finalDeployment[s] {
			return false
		}
	}
	return o.stableDesired == 0 && o.catchAllAbove
}

// settled holds once nothing was in flight on two polls in a row, so an
// action that follows a finished one (a rollback after a rejection) is
// not missed.
func (o *observed) settled(*Report) bool { return o.settledPolls >= 2 }

func (o *observed) pendingFor(version string) *pendingApproval {
	if o.pending != nil && o.pending.version == version {
		return o.pending
	}
	return nil
}

// describe is the last observation in one line, for a wait that ran out.
func (o *observed) describe() string {
	var parts []string
	for _, s := range o.stageOrder {
		status, id, _ := strings.Cut(o.stages[s], " ")
		parts = append(parts, fmt.Sprintf("%s %s (%s %s)", s, status, id, orNone(o.execVersion[id])))
	}
	if o.pending != nil {
		parts = append(parts, "approval pending for "+orNone(o.pending.version))
	}
	var deps []string
	for id, s := range o.deployments {
		deps = append(deps, id+" "+s)
	}
	sort.Strings(deps)
	if len(deps) > 0 {
		parts = append(parts, "deployments "+strings.Join(deps, ", "))
	}
	parts = append(parts, fmt.Sprintf("stable desired %d", o.stableDesired))
	if o.catchAllAbove {
		parts = append(parts, "catch-all above the tenant rules")
	} else {
		parts = append(parts, "catch-all not above the tenant rules")
	}
	return strings.Join(parts, "; ")
}

// decide answers the pending approval of version, as `tenant-canary
// approve` and `reject` do (PutApprovalResult on stage Approve, action
// Approve:
// https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PutApprovalResult.html).
func (d *driver) decide(ctx context.Context, version string, approve bool) error {
	p := d.obs.pendingFor(version)
	if p == nil {
		return fmt.Errorf("no approval is pending for %s; last seen: %s", version, d.obs.describe())
	}
	status, result := cptypes.ApprovalStatusRejected, ApprovalRejected
	if approve {
		status, result = cptypes.ApprovalStatusApproved, ApprovalApproved
	}
	summary := fmt.Sprintf("%s by tenant-canary scenario %s", result, d.report.Scenario)
	d.event(Event{Kind: KindApproval, ExecutionID: p.executionID, Version: version, Status: result, Summary: summary, By: ByDriver})
	d.obs.approvalStatus[p.executionID] = result
	d.obs.pending = nil
	_, err := d.aws.pipeline.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{
		PipelineName: aws.String(d.outputs.PipelineName), StageName: aws.String(contract.StageApprove), ActionName: aws.String(contract.ActionApprove),
		Token: aws.String(p.token), Result: &cptypes.ApprovalResult{Status: status, Summary: aws.String(summary)},
	})
	if err != nil {
		return fmt.Errorf("PutApprovalResult (%s %s): %w", result, version, err)
	}
	return nil
}

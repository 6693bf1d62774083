package protocol

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The operations the operator CLI (cmd/tenant-canary) calls besides the
// functions' own: the model's state read as AWS answers it, and the two
// writes an operator makes (StopDeployment, Lambda Invoke of the rollback
// function). Every one goes through `do`, so faults reach them as they
// reach the functions' calls. Names, groups, alarms and configurations
// are the declared stack's.

// stageStatusOf is the status of stage s in execution e's run, "" when e
// never reached s. An execution that finished a stage and waits at the
// next transition, or was superseded there, left it Succeeded.
func stageStatusOf(e *Execution, s string) string {
	at, here := stageIndex(e.Stage), stageIndex(s)
	switch {
	case here < 0 || at < here:
		return ""
	case at > here, e.Status == "Succeeded", e.Status == "Superseded", e.Waiting:
		return string(cptypes.StageExecutionStatusSucceeded)
	case e.Status == "Failed":
		return string(cptypes.StageExecutionStatusFailed)
	}
	return string(cptypes.StageExecutionStatusInProgress)
}

// stageLatest is the newest execution that reached stage s: a stage
// processes one execution at a time and a newer one never overtakes an
// older one (it supersedes it when both wait at the same transition), so
// the newest to reach a stage entered it last.
func (w *World) stageLatest(s string) *Execution {
	for _, e := range slices.Backward(w.Executions) {
		if stageStatusOf(e, s) != "" {
			return e
		}
	}
	return nil
}

// actionOf is action a of stage in execution e's run, which reached the
// stage, as CodePipeline shows it: the stage's status, since the stage
// got it. The Approve action is in progress with its token while pending
// (since it was asked for: one observation stamps both), Succeeded when
// approved, Failed when rejected or expired, and names who decided it and
// the summary when PutApprovalResult did.
func (w *World) actionOf(e *Execution, stage string, a cptypes.ActionDeclaration) *cptypes.ActionExecution {
	status := stageStatusOf(e, stage)
	x := &cptypes.ActionExecution{Status: cptypes.ActionExecutionStatus(status), LastStatusChange: w.at("stage " + stage + " " + e.ID + " " + status)}
	if stage != StageApprove || aws.ToString(a.Name) != contract.ActionApprove {
		return x
	}
	x.LastStatusChange = cmp.Or(x.LastStatusChange, w.at("approval "+e.ID))
	if e.Token != "" {
		x.Token = aws.String(e.Token)
	}
	if w.direct != nil {
		if summary, ok := w.direct.tl.decisions[e.ID]; ok {
			x.LastUpdatedBy, x.Summary = aws.String(w.direct.Caller()), aws.String(summary)
		}
	}
	return x
}

// GetPipelineState answers each stage's latest execution and its actions'
// latest executions, the pending approval's token among them
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_GetPipelineState.html).
func (c *client) GetPipelineState(ctx context.Context, in *codepipeline.GetPipelineStateInput, _ ...func(*codepipeline.Options)) (*codepipeline.GetPipelineStateOutput, error) {
	return onPipeline(c, ctx, "GetPipelineState", "", in.Name, func(w *World) (*codepipeline.GetPipelineStateOutput, error) {
		out := &codepipeline.GetPipelineStateOutput{PipelineName: in.Name, PipelineVersion: aws.Int32(1)}
		for _, decl := range w.st.decl.Pipeline.Declaration.Stages {
			stage := aws.ToString(decl.Name)
			st := cptypes.StageState{StageName: aws.String(stage)}
			if e := w.stageLatest(stage); e != nil {
				st.LatestExecution = &cptypes.StageExecution{PipelineExecutionId: aws.String(e.ID), Status: cptypes.StageExecutionStatus(stageStatusOf(e, stage))}
				for _, a := range decl.Actions {
					st.ActionStates = append(st.ActionStates, cptypes.ActionState{ActionName: a.Name, LatestExecution: w.actionOf(e, stage, a)})
				}
			}
			out.StageStates = append(out.StageStates, st)
		}
		return out, nil
	})
}

// onPipeline is do for a CodePipeline operation on pipeline name: AWS
// answers another name with PipelineNotFoundException (pipelineNamed).
func onPipeline[T any](c *client, ctx context.Context, op, detail string, name *string, fn func(w *World) (T, error)) (T, error) {
	return do(c, ctx, op, detail, func(w *World) (T, error) {
		if err := w.pipelineNamed(name); err != nil {
			var none T
			return none, err
		}
		return fn(w)
	})
}

func (w *World) pipelineNamed(name *string) error {
	if aws.ToString(name) != w.st.pipeline {
		return apiErr("PipelineNotFoundException", fmt.Sprintf("Account '%s' does not have a pipeline with name '%s'", w.st.account, aws.ToString(name)))
	}
	return nil
}

// GetPipeline answers the declared pipeline
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_GetPipeline.html).
func (c *client) GetPipeline(ctx context.Context, in *codepipeline.GetPipelineInput, _ ...func(*codepipeline.Options)) (*codepipeline.GetPipelineOutput, error) {
	return onPipeline(c, ctx, "GetPipeline", aws.ToString(in.Name), in.Name, func(w *World) (*codepipeline.GetPipelineOutput, error) {
		decl := w.st.decl.Pipeline.Declaration
		return &codepipeline.GetPipelineOutput{Pipeline: &decl, Metadata: &cptypes.PipelineMetadata{PipelineArn: aws.String(w.st.decl.Pipeline.Arn)}}, nil
	})
}

// ListPipelineExecutions lists executions newest first, 1–100 a page (100
// when not asked) with nextToken
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListPipelineExecutions.html).
func (c *client) ListPipelineExecutions(ctx context.Context, in *codepipeline.ListPipelineExecutionsInput, _ ...func(*codepipeline.Options)) (*codepipeline.ListPipelineExecutionsOutput, error) {
	return onPipeline(c, ctx, "ListPipelineExecutions", aws.ToString(in.NextToken), in.PipelineName, func(w *World) (*codepipeline.ListPipelineExecutionsOutput, error) {
		var all []cptypes.PipelineExecutionSummary
		for _, e := range slices.Backward(w.Executions) {
			all = append(all, cptypes.PipelineExecutionSummary{PipelineExecutionId: aws.String(e.ID), Status: cptypes.PipelineExecutionStatus(e.Status),
				StartTime: w.at("exec " + e.ID), LastUpdateTime: w.at("exec " + e.ID + " " + e.Status),
				SourceRevisions: []cptypes.SourceRevision{{ActionName: aws.String(w.st.imageSourceAction()), RevisionId: aws.String(Digest(e.Version))}}})
		}
		got, next := page(paging{100, 100, "ValidationException", "InvalidNextTokenException"}, all, in.NextToken, in.MaxResults, 0)
		return &codepipeline.ListPipelineExecutionsOutput{PipelineExecutionSummaries: got, NextToken: next}, nil
	})
}

// imageSourceAction is the declared Source stage's ECR action: its
// revision is the pushed image's digest
// (https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECR.html).
func (st *stack) imageSourceAction() string {
	for _, a := range st.stageActions(StageSource) {
		if a.ActionTypeId != nil && aws.ToString(a.ActionTypeId.Provider) == "ECR" {
			return aws.ToString(a.Name)
		}
	}
	return ""
}

// stageActions are the declared actions of stage.
func (st *stack) stageActions(stage string) []cptypes.ActionDeclaration {
	for _, s := range st.decl.Pipeline.Declaration.Stages {
		if aws.ToString(s.Name) == stage {
			return s.Actions
		}
	}
	return nil
}

// ListActionExecutions lists the Approve and Deploy actions' executions,
// newest first, 1–100 a page (100 when not asked), filtered by pipeline
// execution
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListActionExecutions.html);
// a decided approval names who decided it (updatedBy) and the summary
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ActionExecutionDetail.html).
func (c *client) ListActionExecutions(ctx context.Context, in *codepipeline.ListActionExecutionsInput, _ ...func(*codepipeline.Options)) (*codepipeline.ListActionExecutionsOutput, error) {
	var filter string
	if in.Filter != nil {
		filter = aws.ToString(in.Filter.PipelineExecutionId)
	}
	return onPipeline(c, ctx, "ListActionExecutions", filter, in.PipelineName, func(w *World) (*codepipeline.ListActionExecutionsOutput, error) {
		var all []cptypes.ActionExecutionDetail
		for _, e := range slices.Backward(w.Executions) {
			if filter != "" && e.ID != filter {
				continue
			}
			for _, stage := range []string{StageStable, StageApprove, StageLatest} {
				if stageStatusOf(e, stage) == "" {
					continue
				}
				for _, action := range w.st.stageActions(stage) {
					a := w.actionOf(e, stage, action)
					d := cptypes.ActionExecutionDetail{PipelineExecutionId: aws.String(e.ID), ActionExecutionId: aws.String(e.ID + "-" + stage + "-" + aws.ToString(action.Name)),
						PipelineVersion: aws.Int32(1), StageName: aws.String(stage), ActionName: action.Name, Input: &cptypes.ActionExecutionInput{ActionTypeId: action.ActionTypeId},
						Status: a.Status, StartTime: w.at("stage " + stage + " " + e.ID), LastUpdateTime: a.LastStatusChange, UpdatedBy: a.LastUpdatedBy}
					res := &cptypes.ActionExecutionResult{ExternalExecutionSummary: a.Summary}
					// The deployment the Latest or Stable stage created (no
					// group for another stage).
					group := map[string]string{StageLatest: w.st.latestGroup, StageStable: w.st.stableGroup}[stage]
					if i := slices.IndexFunc(w.Deployments, func(d *Deployment) bool { return d.Exec == e.N && d.Group == group }); i >= 0 {
						res.ExternalExecutionId = aws.String(w.Deployments[i].ID)
					}
					if res.ExternalExecutionId != nil || stage == StageApprove && aws.ToString(action.Name) == contract.ActionApprove && a.Status != cptypes.ActionExecutionStatusInProgress {
						d.Output = &cptypes.ActionExecutionOutput{ExecutionResult: res}
					}
					all = append(all, d)
				}
			}
		}
		got, next := page(paging{100, 100, "ValidationException", "InvalidNextTokenException"}, all, in.NextToken, in.MaxResults, 0)
		return &codepipeline.ListActionExecutionsOutput{ActionExecutionDetails: got, NextToken: next}, nil
	})
}

// checkApprovalInput is PutApprovalResult's validation: the pipeline, the
// stage and the action must exist and the result must say Approved or
// Rejected with a summary
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PutApprovalResult.html,
// https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ApprovalResult.html).
func (w *World) checkApprovalInput(in *codepipeline.PutApprovalResultInput) error {
	if err := w.pipelineNamed(in.PipelineName); err != nil {
		return err
	}
	if !slices.ContainsFunc(w.st.stageActions(aws.ToString(in.StageName)), func(a cptypes.ActionDeclaration) bool {
		return aws.ToString(a.Name) == aws.ToString(in.ActionName) && a.ActionTypeId != nil && a.ActionTypeId.Category == cptypes.ActionCategoryApproval
	}) {
		return apiErr("ActionNotFoundException", fmt.Sprintf("no approval action %s in stage %s", aws.ToString(in.ActionName), aws.ToString(in.StageName)))
	}
	if in.Result == nil || in.Result.Summary == nil || (in.Result.Status != cptypes.ApprovalStatusApproved && in.Result.Status != cptypes.ApprovalStatusRejected) {
		return apiErr("ValidationException", "result.summary and result.status (Approved|Rejected) are required")
	}
	return nil
}

// --- CodeDeploy ---

// deploymentInfo is a deployment as GetDeployment and BatchGetDeployments
// answer it (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html):
// its group's configuration and termination wait, who created it, when,
// and why it ended as it did. A deployment an alarm stopped carries
// ALARM_ACTIVE and the alarms in ALARM, one whose hook reported Failed
// HOOK_EXECUTION_FAILURE
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ErrorInformation.html).
func (w *World) deploymentInfo(d *Deployment) cdtypes.DeploymentInfo {
	info := cdtypes.DeploymentInfo{DeploymentId: aws.String(d.ID), ApplicationName: aws.String(w.st.app), DeploymentGroupName: aws.String(d.Group),
		Status: cdtypes.DeploymentStatus(w.Reading.listedStatus(d)), CreateTime: w.at("dep " + d.ID), Creator: cdtypes.DeploymentCreatorUser,
		CompleteTime: w.at("dep " + d.ID + " " + d.Status)}
	if d.unfinished() {
		info.CompleteTime = nil
	}
	if d.Exec == -2 {
		info.Creator = cdtypes.DeploymentCreatorCodeDeployRollback
	}
	if g := w.st.group(d.Group); g != nil {
		info.DeploymentConfigName = g.DeploymentConfigName
		info.BlueGreenDeploymentConfiguration = g.BlueGreenDeploymentConfiguration
		info.DeploymentStyle = g.DeploymentStyle
	}
	switch {
	case d.Status == DepStopped && (w.direct == nil || !w.direct.tl.userStops[d.ID]):
		// The message's wording is not documented; the model's names the
		// alarms in ALARM when it knows them (the signal path).
		msg := "one or more of the deployment group's alarms went into ALARM"
		if w.direct != nil && len(w.direct.tl.stopAlarms[d.ID]) > 0 {
			msg += ": " + strings.Join(w.direct.tl.stopAlarms[d.ID], ", ")
		}
		info.ErrorInformation = &cdtypes.ErrorInformation{Code: cdtypes.ErrorCodeAlarmActive, Message: aws.String(msg)}
		info.RollbackInfo = &cdtypes.RollbackInfo{RollbackMessage: aws.String("Automatic rollback triggered by alarm")}
	case d.Status == DepFailed:
		for _, l := range d.Hooks {
			if l.Status == "Failed" && !l.EndedByDeployment {
				info.ErrorInformation = &cdtypes.ErrorInformation{Code: cdtypes.ErrorCodeHookExecutionFailure,
					Message: aws.String("The deployment failed because a specified lifecycle event hook " + l.Name + " reported Failed")}
			}
		}
	}
	return info
}

func (st *stack) group(name string) *cdtypes.DeploymentGroupInfo {
	for i := range st.decl.CodeDeploy.Groups {
		if g := &st.decl.CodeDeploy.Groups[i].Group; aws.ToString(g.DeploymentGroupName) == name {
			return g
		}
	}
	return nil
}

// BatchGetDeployments answers up to 25 deployments; an unknown id is left
// out (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_BatchGetDeployments.html).
func (c *client) BatchGetDeployments(ctx context.Context, in *codedeploy.BatchGetDeploymentsInput, _ ...func(*codedeploy.Options)) (*codedeploy.BatchGetDeploymentsOutput, error) {
	return do(c, ctx, "BatchGetDeployments", strings.Join(in.DeploymentIds, " "), func(w *World) (*codedeploy.BatchGetDeploymentsOutput, error) {
		if len(in.DeploymentIds) == 0 {
			return nil, apiErr("DeploymentIdRequiredException", "At least one deployment ID must be specified.")
		}
		if len(in.DeploymentIds) > 25 {
			return nil, apiErr("BatchLimitExceededException", "The maximum number of names or IDs allowed for this request (25) was exceeded.")
		}
		out := &codedeploy.BatchGetDeploymentsOutput{DeploymentsInfo: []cdtypes.DeploymentInfo{}}
		for _, id := range in.DeploymentIds {
			if d := w.deployment(id); d != nil {
				out.DeploymentsInfo = append(out.DeploymentsInfo, w.deploymentInfo(d))
			}
		}
		return out, nil
	})
}

// GetDeploymentGroup answers the declared group
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_GetDeploymentGroup.html).
func (c *client) GetDeploymentGroup(ctx context.Context, in *codedeploy.GetDeploymentGroupInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentGroupOutput, error) {
	name := aws.ToString(in.DeploymentGroupName)
	return do(c, ctx, "GetDeploymentGroup", name, func(w *World) (*codedeploy.GetDeploymentGroupOutput, error) {
		g, err := w.findGroup(in.ApplicationName, in.DeploymentGroupName)
		if err != nil {
			return nil, err
		}
		info := *g
		// lastAttemptedDeployment is "the most recent attempted deployment
		// to the deployment group"
		// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentGroupInfo.html,
		// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_LastDeploymentInfo.html):
		// the group's newest deployment, a rollback's own included.
		for _, d := range slices.Backward(w.Deployments) {
			if d.Group == name {
				info.LastAttemptedDeployment = &cdtypes.LastDeploymentInfo{DeploymentId: aws.String(d.ID), Status: cdtypes.DeploymentStatus(w.Reading.listedStatus(d))}
				break
			}
		}
		return &codedeploy.GetDeploymentGroupOutput{DeploymentGroupInfo: &info}, nil
	})
}

// GetDeploymentConfig answers the declared deployment config (for
// all-at-once the predefined one the program names)
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_GetDeploymentConfig.html).
func (c *client) GetDeploymentConfig(ctx context.Context, in *codedeploy.GetDeploymentConfigInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentConfigOutput, error) {
	name := aws.ToString(in.DeploymentConfigName)
	return do(c, ctx, "GetDeploymentConfig", name, func(w *World) (*codedeploy.GetDeploymentConfigOutput, error) {
		cfg := w.st.decl.CodeDeploy.DeploymentConfig
		if aws.ToString(cfg.DeploymentConfigName) != name {
			return nil, apiErr("DeploymentConfigDoesNotExistException", "The deployment configuration "+name+" does not exist.")
		}
		return &codedeploy.GetDeploymentConfigOutput{DeploymentConfigInfo: &cfg}, nil
	})
}

// StopDeployment stops a deployment in progress, as an operator does. It
// ends Stopped like an alarm's stop (w.stop); autoRollbackEnabled, else
// the group's automatic rollback on DEPLOYMENT_STOP_ON_REQUEST, says
// whether traffic goes back to the original task set
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_StopDeployment.html,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AutoRollbackConfiguration.html).
// A deployment that has ended, or is already rolling back, cannot be
// stopped (DeploymentAlreadyCompletedException).
func (c *client) StopDeployment(ctx context.Context, in *codedeploy.StopDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.StopDeploymentOutput, error) {
	id := aws.ToString(in.DeploymentId)
	detail := id
	if in.AutoRollbackEnabled != nil {
		detail += fmt.Sprintf(" autoRollbackEnabled=%t", *in.AutoRollbackEnabled)
	}
	return do(c, ctx, "StopDeployment", detail, func(w *World) (*codedeploy.StopDeploymentOutput, error) {
		d, err := w.findDeployment(id)
		if err != nil {
			return nil, err
		}
		if !d.unfinished() || d.Phase == phaseRollingBack {
			return nil, apiErr("DeploymentAlreadyCompletedException", "The deployment "+id+" has already completed.")
		}
		rollback := aws.ToBool(in.AutoRollbackEnabled)
		if g := w.st.group(d.Group); in.AutoRollbackEnabled == nil && g != nil && g.AutoRollbackConfiguration != nil && g.AutoRollbackConfiguration.Enabled {
			rollback = slices.Contains(g.AutoRollbackConfiguration.Events, cdtypes.AutoRollbackEventDeploymentStopOnRequest)
		}
		w.direct.tl.userStops[d.ID] = true
		if rollback {
			w.stop(d, "stopped by the operator")
		} else {
			// Stopped where it is: traffic and task sets stay as they are.
			w.logf("  %s (%s) stopped by the operator without rollback", d.ID, d.Group)
			for _, l := range d.Hooks {
				if l.Status == "InProgress" {
					l.Status, l.EndedByDeployment = "Failed", true
				}
			}
			d.Status, d.Phase = DepStopped, phaseDone
			w.endDeployment(d)
		}
		return &codedeploy.StopDeploymentOutput{Status: cdtypes.StopStatusPending, StatusMessage: aws.String("Stop request pending")}, nil
	})
}

// ecsLifecycleEvents are an ECS deployment's lifecycle events in order
// (https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-hooks.html#appspec-hooks-ecs).
// An unhooked event runs from its first phase until its second begins
// (the same phase: it passes at once).
var ecsLifecycleEvents = []struct{ name, from, to string }{
	{"BeforeInstall", phaseBefore, phaseInstall}, {"Install", phaseInstall, phaseInstalled},
	{"AfterInstall", phaseInstalled, phaseInstalled}, {"AllowTestTraffic", phaseInstalled, phaseInstalled},
	{hookTestTraffic, phaseInstalled, phaseInstalled}, {"BeforeAllowTraffic", phaseCanary, phaseCanary},
	{"AllowTraffic", phaseCanary, phaseAfterAllow}, {"AfterAllowTraffic", phaseAfterAllow, phaseWait},
}

// phaseOrder ranks the model's phases by how far a deployment got.
var phaseOrder = []string{phaseCreated, phaseBefore, phaseInstall, phaseInstalled, phaseTestTraffic, phaseCanary, phaseAfterAllow, phaseWait}

// lifecycleEvents are d's lifecycle events as GetDeploymentTarget shows
// them (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_LifecycleEvent.html):
// a hooked event has its hook's status; the others follow the phase d
// reached, each starting when its phase began. An event in progress when
// the deployment failed or stopped is Failed.
func (w *World) lifecycleEvents(d *Deployment) []cdtypes.LifecycleEvent {
	// reached is the furthest phase d got to: its phase, or (a Direct
	// remembering it) the furthest it saw before a rollback; firstAt[i]
	// is when d first reached phase i or a later one.
	reached := slices.Index(phaseOrder, d.Phase)
	firstAt := make([]*time.Time, len(phaseOrder)+1)
	for i := len(phaseOrder) - 1; i >= 0; i-- {
		t := w.at("dep " + d.ID + " phase " + phaseOrder[i])
		firstAt[i] = cmp.Or(t, firstAt[i+1])
		if t != nil {
			reached = max(reached, i)
		}
	}
	if d.Status == DepSucceeded && d.RollbackOf == "" {
		reached = len(phaseOrder)
	}
	var out []cdtypes.LifecycleEvent
	for _, e := range ecsLifecycleEvents {
		ev := cdtypes.LifecycleEvent{LifecycleEventName: aws.String(e.name), Status: cdtypes.LifecycleEventStatusPending}
		i, j := slices.Index(phaseOrder, e.from), slices.Index(phaseOrder, e.to)
		switch l := d.hook(e.name); {
		case l != nil:
			ev.Status = cdtypes.LifecycleEventStatus(l.Status)
			ev.StartTime = w.at("dep " + d.ID + " " + e.name + " InProgress")
			if l.Status == "Succeeded" || l.Status == "Failed" {
				ev.EndTime = w.at("dep " + d.ID + " " + e.name + " " + l.Status)
			}
		case reached >= j:
			ev.Status, ev.StartTime, ev.EndTime = cdtypes.LifecycleEventStatusSucceeded, firstAt[i], firstAt[j]
		case reached >= i:
			ev.Status, ev.StartTime = cdtypes.LifecycleEventStatusInProgress, firstAt[i]
			if !d.unfinished() || d.Phase == phaseRollingBack {
				ev.Status = cdtypes.LifecycleEventStatusFailed
			}
		}
		out = append(out, ev)
	}
	return out
}

// trafficWeight is the share of the production listener's traffic a task
// set's target group gets: the latest pair on the listener's default
// action, the stable pair on the anchor rule (every rule that forwards to
// a pair carries the same weights, shiftTo).
func (w *World) trafficWeight(group, tg string) float64 {
	arn := w.st.defaultARN
	if group == w.st.stableGroup {
		arn = w.st.anchorARN
	}
	for _, f := range w.rule(arn).Forward {
		if f.TG == tg {
			return float64(f.Weight)
		}
	}
	return 0
}

// --- CloudWatch ---

// metricAlarms are the declared rollback alarms, in declared order, as
// DescribeAlarms answers them, each in the state the signal path gives it
// (alarmState).
func (w *World) metricAlarms() []cwtypes.MetricAlarm {
	var out []cwtypes.MetricAlarm
	for _, a := range w.st.decl.Alarms {
		def, name := a.Definition, aws.ToString(a.Definition.AlarmName)
		state, reason := w.alarmState(a.TargetGroupArn, name)
		out = append(out, cwtypes.MetricAlarm{AlarmName: def.AlarmName,
			AlarmArn:         aws.String(fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", w.st.region, w.st.account, name)),
			AlarmDescription: def.AlarmDescription, ComparisonOperator: def.ComparisonOperator, Threshold: def.Threshold,
			EvaluationPeriods: def.EvaluationPeriods, DatapointsToAlarm: def.DatapointsToAlarm, TreatMissingData: def.TreatMissingData,
			Metrics: def.Metrics, ActionsEnabled: def.ActionsEnabled,
			StateValue: state, StateReason: aws.String(reason), StateUpdatedTimestamp: w.at("alarm " + name + " " + string(state))})
	}
	return out
}

// firing are the names of group's declared alarms in ALARM.
func (w *World) firing(group string) []string {
	out := []string{}
	for i, a := range w.metricAlarms() {
		if w.st.groupOfRole(w.st.decl.Alarms[i].DeploymentGroup) == group && a.StateValue == cwtypes.StateValueAlarm {
			out = append(out, aws.ToString(a.AlarmName))
		}
	}
	return out
}

func (st *stack) groupOfRole(role string) string {
	if role == "stable" {
		return st.stableGroup
	}
	return st.latestGroup
}

// DescribeAlarms answers the declared alarms named (at most 100 names),
// 1–100 a page (50 when not asked) with NextToken
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html).
func (c *client) DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	return do(c, ctx, "DescribeAlarms", strings.Join(in.AlarmNames, " "), func(w *World) (*cloudwatch.DescribeAlarmsOutput, error) {
		if len(in.AlarmNames) > 100 {
			return nil, apiErr("InvalidParameterValue", "AlarmNames has more than 100 names")
		}
		all := w.metricAlarms()
		if len(in.AlarmNames) > 0 {
			all = slices.DeleteFunc(all, func(a cwtypes.MetricAlarm) bool { return !slices.Contains(in.AlarmNames, aws.ToString(a.AlarmName)) })
		}
		got, next := page(paging{50, 100, "ValidationException", "InvalidNextToken"}, all, in.NextToken, in.MaxRecords, 0)
		return &cloudwatch.DescribeAlarmsOutput{MetricAlarms: got, NextToken: next}, nil
	})
}

// --- ECR ---

// repository is the declared repository's name and registry.
func (st *stack) repository() (registry, name string) {
	registry, name, _ = strings.Cut(cmp.Or(st.decl.Outputs.RepositoryURL, imageRepository), "/")
	return registry, name
}

// image is the reference CodeDeployToECS writes into a task definition
// for version: the ECR source's ImageURI, by digest
// (https://docs.aws.amazon.com/codepipeline/latest/userguide/file-reference.html#file-reference-ecs-bluegreen).
func (st *stack) image(version int) string { return st.repositoryURL() + "@" + Digest(version) }

// versionTags are the tags the model gives version v's image: v<v>, and on
// the newest push also the tag the pipeline's source watches (the stack's
// imageTag output), which a push of that tag moves to the new image
// (https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECR.html).
func (w *World) versionTags(v int) []string {
	tags := []string{fmt.Sprintf("v%d", v)}
	if w.direct != nil && w.direct.imageTags[v] != "" {
		tags[0] = w.direct.imageTags[v] // the tag it was pushed with (a rehearsal's, direct_rehearsal.go)
	}
	if tag := w.st.decl.Outputs.ImageTag; tag != "" && v == len(w.Executions) && v > 0 {
		tags = append(tags, tag)
	}
	return tags
}

// DescribeImages answers the repository's images asked for by digest or
// tag; an image the repository does not hold is ImageNotFoundException,
// another repository RepositoryNotFoundException
// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html).
func (c *client) DescribeImages(ctx context.Context, in *ecr.DescribeImagesInput, _ ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	return do(c, ctx, "DescribeImages", aws.ToString(in.RepositoryName), func(w *World) (*ecr.DescribeImagesOutput, error) {
		_, repo := w.st.repository()
		if aws.ToString(in.RepositoryName) != repo || (in.RegistryId != nil && *in.RegistryId != w.st.account) {
			return nil, apiErr("RepositoryNotFoundException", fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", aws.ToString(in.RepositoryName), w.st.account))
		}
		// No caller lists the whole repository: the model answers images
		// by id only, and refuses a listing rather than answer part of it.
		if len(in.ImageIds) == 0 {
			return nil, apiErr("InvalidParameterException", "the model answers DescribeImages by imageIds only")
		}
		out := &ecr.DescribeImagesOutput{}
		for _, id := range in.ImageIds {
			// v is the newest version id names (-1: none).
			v := len(w.Executions)
			for v >= 0 && aws.ToString(id.ImageDigest) != Digest(v) && (id.ImageTag == nil || !slices.Contains(w.versionTags(v), *id.ImageTag)) {
				v--
			}
			if v < 0 {
				return nil, apiErr("ImageNotFoundException", fmt.Sprintf("The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s'",
					aws.ToString(id.ImageDigest), aws.ToString(id.ImageTag), repo))
			}
			out.ImageDetails = append(out.ImageDetails, ecrtypes.ImageDetail{RegistryId: aws.String(w.st.account), RepositoryName: aws.String(repo),
				ImageDigest: aws.String(Digest(v)), ImageTags: w.versionTags(v), ImagePushedAt: w.at(fmt.Sprintf("exec exec-%d", v))})
		}
		return out, nil
	})
}

// --- Lambda ---

// Invoke runs a function on request: the operator's `tenant-canary
// rollback` invokes the rollback function, RequestResponse, with its
// payload; the model runs it at once, in process, and answers its result
// (200, a function error in FunctionError with the error as payload)
// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html). An
// unknown function is ResourceNotFoundException (404). No caller invokes
// a function asynchronously (Event), so the model refuses it rather than
// pretend to queue it.
func (c *client) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	name := aws.ToString(in.FunctionName)
	inv, err := do(c, ctx, "Invoke", name+" "+string(in.Payload), func(w *World) (Invoke, error) {
		if in.InvocationType != "" && in.InvocationType != lambdatypes.InvocationTypeRequestResponse {
			return Invoke{}, apiErr("InvalidParameterValueException", "the model runs RequestResponse invocations only, not "+string(in.InvocationType))
		}
		i := slices.IndexFunc(w.st.decl.Functions, func(f declared.Function) bool { return f.Name == name || f.Arn == name })
		if i < 0 {
			return Invoke{}, &fakeaws.APIError{Code: "ResourceNotFoundException", Status: 404,
				Message: fmt.Sprintf("Function not found: arn:aws:lambda:%s:%s:function:%s", w.st.region, w.st.account, name)}
		}
		// The model runs only the rollback function on request; it takes a
		// rollout.RollbackRequest (the operator's request).
		if hook := w.st.decl.Functions[i].Hook; hook != contract.HookRollback {
			return Invoke{}, apiErr("InvalidParameterValueException", fmt.Sprintf("the model runs only the rollback function on request, not %s", hook))
		}
		var req rollout.RollbackRequest
		if err := json.Unmarshal(in.Payload, &req); len(in.Payload) > 0 && err != nil {
			return Invoke{}, apiErr("InvalidRequestContentException", "Could not parse request body into json: "+err.Error())
		}
		return Invoke{Hook: contract.HookRollback, Payload: req}, nil
	})
	if err != nil {
		return nil, err
	}
	res, err := c.direct.Run(ctx, inv)
	if err != nil {
		return &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled"),
			Payload: mustJSON(map[string]string{"errorMessage": err.Error(), "errorType": "errorString"})}, nil
	}
	return &lambda.InvokeOutput{StatusCode: 200, Payload: mustJSON(res), ExecutedVersion: aws.String("$LATEST")}, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

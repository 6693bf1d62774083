package fakeaws

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// RolloutState names a moment of the rollout protocol a Stack can be built in.
type RolloutState string

// The states NewStack builds; v1 is the approved version, v2 the new one.
const (
	StateIdle       RolloutState = "idle"        // everyone on v1, nothing in flight
	StateCanary     RolloutState = "canary"      // Latest: 10 % of unpinned traffic on v2, tenants pinned to v1
	StateApproval   RolloutState = "approval"    // Latest done (v2), waiting at Approve, tenants pinned to v1
	StateStable     RolloutState = "stable"      // Stable: shift done, tenants on v2, termination wait running
	StateRolledBack RolloutState = "rolled-back" // Latest stopped by an alarm and rolled back: everyone on v1
	StateHeld       RolloutState = "held"        // rejected with approval.onReject=hold: pinned on v1, the rest on v2
	StateRejected   RolloutState = "rejected"    // rejected with approval.onReject=rollback, rolled back: everyone on v1
)

// Names of the stack NewStack builds, beside the World's. The World shares
// PipelineName, and TaskDefStableV1 as stable's revision of image v1
// (registered by the Stable deployment that follows an approval of v1).
const (
	PipelineName       = "tc-dev-pipeline"
	RepositoryURL      = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tc-dev"
	RollbackFunction   = "tc-dev-pipeline-rollback"
	ApprovalTimeoutMin = 1440
	TaskDefLatestV1    = "arn:aws:ecs:us-east-1:123456789012:task-definition/tc-dev:11"
	TaskDefLatestV2    = "arn:aws:ecs:us-east-1:123456789012:task-definition/tc-dev:13"
	TaskDefStableV1    = "arn:aws:ecs:us-east-1:123456789012:task-definition/tc-dev:12"
	TaskDefStableV2    = "arn:aws:ecs:us-east-1:123456789012:task-definition/tc-dev:14"
	CanaryConfig       = "CodeDeployDefault.ECSCanary10Percent5Minutes"
	TerminationWaitMin = 60
	// Approver is who answers the approvals of NewStack's history; the
	// Stack's Caller (the CLI's identity) answers new ones.
	Approver = "arn:aws:sts::123456789012:assumed-role/release-manager/console"
	Caller   = "arn:aws:sts::123456789012:assumed-role/oncall/tenant-canary"
)

// TenantRuleARNs are the stack's tenant rules (priorities 10 and 11).
var TenantRuleARNs = []string{ruleARNPrefix + "/000000000000a000", ruleARNPrefix + "/000000000000a001"}

// PinnedTenants is the stack's allow-list.
var PinnedTenants = []string{"acme", "globex", "initech", "umbrella"}

// AlarmNames are the deployment groups' rollback alarms, by group.
var AlarmNames = map[string][]string{
	LatestGroup: {"tc-dev-latest-blue-5xx", "tc-dev-latest-green-5xx"},
	StableGroup: {"tc-dev-stable-blue-5xx", "tc-dev-stable-green-5xx"},
}

// StackOutputs are the stack's outputs (the contract's type).
func StackOutputs() contract.StackOutputs {
	return contract.StackOutputs{
		AlbURL:            "http://tc-dev-1234567890.us-east-1.elb.amazonaws.com",
		ClusterName:       Cluster,
		LatestServiceName: LatestService,
		StableServiceName: StableService,
		ListenerArn:       ListenerARN,
		CatchAllRuleArn:   CatchAllRuleARN,
		AnchorRuleArn:     ruleARNPrefix + "/00000000000000ff",
		TenantRuleArns:    TenantRuleARNs,
		TargetGroups: map[string][]contract.TargetGroup{
			"latest": {{Name: "tc-dev-latest-blue", Arn: LatestBlueTG}, {Name: "tc-dev-latest-green", Arn: LatestGreenTG}},
			"stable": {{Name: "tc-dev-stable-blue", Arn: StableBlueTG}, {Name: "tc-dev-stable-green", Arn: StableGreenTG}},
		},
		PinnedTenants:             PinnedTenants,
		RepositoryURL:             RepositoryURL,
		ImageTag:                  "latest",
		PipelineName:              PipelineName,
		PipelineURL:               "https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/" + PipelineName + "/view",
		ApplicationName:           CodeDeployApp,
		LatestDeploymentGroupName: LatestGroup,
		StableDeploymentGroupName: StableGroup,
		ApprovalTopicArn:          "arn:aws:sns:us-east-1:123456789012:tc-dev-approval",
		DashboardURL:              "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=tc-dev",
		HookFunctionNames: map[string]string{
			"pin": "tc-dev-pipeline-pin", "unpin": "tc-dev-pipeline-unpin", "cleanup": "tc-dev-pipeline-cleanup", "rollback": RollbackFunction,
		},
	}
}

// Outputs returns what `pulumi stack output --json` prints for the stack,
// as a map a test can change.
func Outputs() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(OutputsJSON(), &m)
	return m
}

// OutputsJSON is the outputs as pulumi prints them.
func OutputsJSON() []byte {
	b, _ := json.MarshalIndent(StackOutputs(), "", "  ")
	return b
}

// NewStack builds the stack in state at now. Its rollback function answers
// like the server-side rollback (lambda/README.md): "busy" while a
// deployment is in progress, "deploying" when latest serves another image
// than stable, "unpinned" when only the catch-all is below the tenant rules,
// "nothing-to-do" otherwise.
func NewStack(state RolloutState, now time.Time) *Stack {
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	s := &Stack{
		Now:          func() time.Time { return now },
		PipelineName: PipelineName,
		Caller:       Caller,
		Configs: map[string]*cdtypes.DeploymentConfigInfo{CanaryConfig: {
			DeploymentConfigName: aws.String(CanaryConfig), ComputePlatform: cdtypes.ComputePlatformEcs,
			TrafficRoutingConfig: &cdtypes.TrafficRoutingConfig{Type: cdtypes.TrafficRoutingTypeTimeBasedCanary,
				TimeBasedCanary: &cdtypes.TimeBasedCanary{CanaryPercentage: 10, CanaryInterval: 5}},
		}},
		TaskDefs: map[string]string{
			TaskDefLatestV1: ImageV1, TaskDefStableV1: ImageV1, TaskDefLatestV2: ImageV2, TaskDefStableV2: ImageV2,
		},
		ImageTags:       map[string][]string{"sha256:" + ImageV1[len(ImageV1)-64:]: {"v1"}, "sha256:" + ImageV2[len(ImageV2)-64:]: {"v2", "latest"}},
		TargetHealth:    map[string][]elbtypes.TargetHealthDescription{},
		Groups:          map[string]*cdtypes.DeploymentGroupInfo{},
		Targets:         map[string]*cdtypes.ECSTarget{},
		RollbackTaskDef: map[string]string{"d-LATEST2": TaskDefLatestV1, "d-STABLE2": TaskDefStableV1},
	}
	for _, g := range []string{LatestGroup, StableGroup} {
		info := &cdtypes.DeploymentGroupInfo{ApplicationName: aws.String(CodeDeployApp), DeploymentGroupName: aws.String(g),
			ComputePlatform: cdtypes.ComputePlatformEcs, DeploymentConfigName: aws.String(CanaryConfig),
			AlarmConfiguration: &cdtypes.AlarmConfiguration{Enabled: true}}
		for _, name := range AlarmNames[g] {
			info.AlarmConfiguration.Alarms = append(info.AlarmConfiguration.Alarms, cdtypes.Alarm{Name: aws.String(name)})
			s.Alarms = append(s.Alarms, cwtypes.MetricAlarm{AlarmName: aws.String(name), StateValue: cwtypes.StateValueOk,
				StateUpdatedTimestamp: at(-26 * time.Hour)})
		}
		s.Groups[g] = info
	}
	s.Declaration = cptypes.PipelineDeclaration{Name: aws.String(PipelineName), Stages: []cptypes.StageDeclaration{
		{Name: aws.String("Source")}, {Name: aws.String("Latest")},
		{Name: aws.String("Approve"), Actions: []cptypes.ActionDeclaration{{Name: aws.String("Approve"),
			ActionTypeId:     &cptypes.ActionTypeId{Category: cptypes.ActionCategoryApproval, Owner: cptypes.ActionOwnerAws, Provider: aws.String("Manual"), Version: aws.String("1")},
			TimeoutInMinutes: aws.Int32(ApprovalTimeoutMin)}}},
		{Name: aws.String("Stable")},
	}}

	// What each state looks like; defaults: everyone on v1, idle.
	var (
		latestTD, latestNewTD = TaskDefLatestV1, ""
		stableTD, stableNewTD = TaskDefStableV1, ""
		stableDesired         = int32(0)
		catchAll              = PriorityUnpinned
		execStatus            = cptypes.PipelineExecutionStatusSucceeded
		stageAt               = "Stable"
		stageStatus           = cptypes.StageExecutionStatusSucceeded
	)
	s.Executions = []cptypes.PipelineExecutionSummary{{PipelineExecutionId: aws.String("e-0001"),
		Status: cptypes.PipelineExecutionStatusSucceeded, StartTime: at(-50 * time.Hour), LastUpdateTime: at(-48 * time.Hour)}}
	s.Deployments = []*cdtypes.DeploymentInfo{
		deployment("d-STABLE1", StableGroup, cdtypes.DeploymentStatusSucceeded, at(-49*time.Hour)),
		deployment("d-LATEST1", LatestGroup, cdtypes.DeploymentStatusSucceeded, at(-50*time.Hour)),
	}
	approval := &cptypes.ActionExecution{Status: cptypes.ActionExecutionStatusSucceeded, Summary: aws.String("v1 fine"), LastStatusChange: at(-49 * time.Hour), LastUpdatedBy: aws.String(Approver)}
	newDeployment := func(id, group string, status cdtypes.DeploymentStatus, created time.Duration, weight float64, events map[string][2]*time.Time) {
		d := deployment(id, group, status, at(created))
		s.Deployments = append([]*cdtypes.DeploymentInfo{d}, s.Deployments...)
		service, oldTG, newTG := LatestService, "tc-dev-latest-blue", "tc-dev-latest-green"
		if group == StableGroup {
			service, oldTG, newTG = StableService, "tc-dev-stable-green", "tc-dev-stable-blue"
		}
		t := &cdtypes.ECSTarget{DeploymentId: aws.String(id), TargetId: aws.String(Cluster + ":" + service), Status: cdtypes.TargetStatus(status),
			TaskSetsInfo: []cdtypes.ECSTaskSet{
				{Identifer: aws.String("ecs-svc/1"), TaskSetLabel: cdtypes.TargetLabelBlue, TrafficWeight: 100 - weight, DesiredCount: 2, RunningCount: 2, Status: aws.String("PRIMARY"), TargetGroup: &cdtypes.TargetGroupInfo{Name: aws.String(oldTG)}},
				{Identifer: aws.String("ecs-svc/2"), TaskSetLabel: cdtypes.TargetLabelGreen, TrafficWeight: weight, DesiredCount: 2, RunningCount: 2, Status: aws.String("ACTIVE"), TargetGroup: &cdtypes.TargetGroupInfo{Name: aws.String(newTG)}},
			}}
		for _, name := range []string{"BeforeInstall", "Install", "AfterInstall", "BeforeAllowTestTraffic", "AllowTestTraffic", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"} {
			ev := cdtypes.LifecycleEvent{LifecycleEventName: aws.String(name), Status: cdtypes.LifecycleEventStatusPending}
			if se, ok := events[name]; ok {
				ev.StartTime, ev.EndTime, ev.Status = se[0], se[1], cdtypes.LifecycleEventStatusInProgress
				if se[1] != nil {
					ev.Status = cdtypes.LifecycleEventStatusSucceeded
				}
			}
			t.LifecycleEvents = append(t.LifecycleEvents, ev)
		}
		s.Targets[id] = t
	}
	done := func(from, to time.Duration) [2]*time.Time { return [2]*time.Time{at(from), at(to)} }
	installed := map[string][2]*time.Time{
		"BeforeInstall": done(-9*time.Minute, -7*time.Minute), "Install": done(-7*time.Minute, -4*time.Minute),
		"AfterInstall": done(-4*time.Minute, -4*time.Minute), "BeforeAllowTestTraffic": done(-4*time.Minute, -4*time.Minute),
		"AllowTestTraffic": done(-4*time.Minute, -4*time.Minute), "AfterAllowTestTraffic": done(-4*time.Minute, -4*time.Minute),
		"BeforeAllowTraffic": done(-4*time.Minute, -3*time.Minute),
	}

	switch state {
	case StateIdle:
	case StateCanary:
		installed["AllowTraffic"] = [2]*time.Time{at(-2 * time.Minute), nil}
		newDeployment("d-LATEST2", LatestGroup, cdtypes.DeploymentStatusInProgress, -9*time.Minute, 10, installed)
		latestNewTD, stableDesired, catchAll = TaskDefLatestV2, 2, PriorityPinned
		execStatus, stageAt, stageStatus = cptypes.PipelineExecutionStatusInProgress, "Latest", cptypes.StageExecutionStatusInProgress
	case StateRejected:
		newDeployment("d-LATEST2", LatestGroup, cdtypes.DeploymentStatusSucceeded, -95*time.Minute, 100, nil)
		newDeployment("d-ROLLBACK", LatestGroup, cdtypes.DeploymentStatusSucceeded, -9*time.Minute, 100, nil)
		s.Deployments[0].Creator = cdtypes.DeploymentCreatorUser // the rollback function's CreateDeployment
		execStatus, stageAt, stageStatus = cptypes.PipelineExecutionStatusFailed, "Approve", cptypes.StageExecutionStatusFailed
		approval = &cptypes.ActionExecution{Status: cptypes.ActionExecutionStatusFailed, Summary: aws.String("latency regression on v2"),
			LastStatusChange: at(-10 * time.Minute), LastUpdatedBy: aws.String(Approver)}
	case StateApproval, StateHeld:
		newDeployment("d-LATEST2", LatestGroup, cdtypes.DeploymentStatusSucceeded, -95*time.Minute, 100, nil)
		latestTD, stableDesired, catchAll = TaskDefLatestV2, 2, PriorityPinned
		execStatus, stageAt, stageStatus = cptypes.PipelineExecutionStatusInProgress, "Approve", cptypes.StageExecutionStatusInProgress
		approval = &cptypes.ActionExecution{Status: cptypes.ActionExecutionStatusInProgress, Token: aws.String("3b9e1f2a-7c4d-4e8f-9a0b-1c2d3e4f5a6b"),
			LastStatusChange: at(-25 * time.Minute)}
		if state == StateHeld {
			execStatus, stageStatus = cptypes.PipelineExecutionStatusFailed, cptypes.StageExecutionStatusFailed
			approval = &cptypes.ActionExecution{Status: cptypes.ActionExecutionStatusFailed, Summary: aws.String("latency regression on v2"),
				LastStatusChange: at(-10 * time.Minute), LastUpdatedBy: aws.String(Approver)}
		}
	case StateStable:
		newDeployment("d-LATEST2", LatestGroup, cdtypes.DeploymentStatusSucceeded, -3*time.Hour, 100, nil)
		installed["AllowTraffic"] = done(-3*time.Minute-5*time.Minute, -13*time.Minute)
		installed["AfterAllowTraffic"] = done(-13*time.Minute, -12*time.Minute)
		newDeployment("d-STABLE2", StableGroup, cdtypes.DeploymentStatusInProgress, -22*time.Minute, 100, installed)
		latestTD, stableTD, stableNewTD, stableDesired = TaskDefLatestV2, TaskDefStableV2, TaskDefStableV1, 0
		execStatus, stageAt, stageStatus = cptypes.PipelineExecutionStatusInProgress, "Stable", cptypes.StageExecutionStatusInProgress
		approval = &cptypes.ActionExecution{Status: cptypes.ActionExecutionStatusSucceeded, Summary: aws.String("v2 fine for acme"), LastStatusChange: at(-25 * time.Minute), LastUpdatedBy: aws.String(Approver)}
	case StateRolledBack:
		newDeployment("d-LATEST2", LatestGroup, cdtypes.DeploymentStatusStopped, -20*time.Minute, 0, nil)
		s.Deployments[0].ErrorInformation = &cdtypes.ErrorInformation{Code: cdtypes.ErrorCodeAlarmActive,
			Message: aws.String("One or more alarms have been activated according to the Amazon CloudWatch metrics you selected: tc-dev-latest-green-5xx")}
		s.Deployments[0].RollbackInfo = &cdtypes.RollbackInfo{RollbackMessage: aws.String("Automatic rollback triggered by alarm")}
		s.Alarms[1].StateValue, s.Alarms[1].StateUpdatedTimestamp = cwtypes.StateValueAlarm, at(-12*time.Minute)
		execStatus, stageAt, stageStatus = cptypes.PipelineExecutionStatusFailed, "Latest", cptypes.StageExecutionStatusFailed
	default:
		panic("fakeaws: unknown rollout state " + string(state))
	}
	if state != StateIdle {
		s.Executions = append([]cptypes.PipelineExecutionSummary{{PipelineExecutionId: aws.String("e-0002"), Status: execStatus,
			StartTime: at(-100 * time.Minute), LastUpdateTime: at(-time.Minute),
			SourceRevisions: []cptypes.SourceRevision{{ActionName: aws.String("Source"), RevisionId: aws.String("sha256:" + ImageV2[len(ImageV2)-64:])}}}}, s.Executions...)
	}

	// The Approve action's executions: e-0001's approval of v1, and the
	// newest execution's when it reached Approve.
	s.ActionExecutions = []cptypes.ActionExecutionDetail{approvalDetail("e-0001", cptypes.ActionExecutionStatusSucceeded, "v1 fine", Approver, at(-49*time.Hour))}
	if state == StateApproval || state == StateHeld || state == StateStable || state == StateRejected {
		s.ActionExecutions = append([]cptypes.ActionExecutionDetail{approvalDetail("e-0002", approval.Status, aws.ToString(approval.Summary),
			aws.ToString(approval.LastUpdatedBy), approval.LastStatusChange)}, s.ActionExecutions...)
	}

	// Pipeline state: every stage up to stageAt belongs to the newest execution.
	exec := aws.ToString(s.Executions[0].PipelineExecutionId)
	reached := true
	for _, name := range []string{"Source", "Latest", "Approve", "Stable"} {
		st := cptypes.StageState{StageName: aws.String(name), LatestExecution: &cptypes.StageExecution{PipelineExecutionId: aws.String(exec), Status: cptypes.StageExecutionStatusSucceeded}}
		switch {
		case name == stageAt:
			st.LatestExecution.Status = stageStatus
		case !reached:
			st.LatestExecution.PipelineExecutionId = aws.String("e-0001")
		}
		action := cptypes.ActionState{ActionName: aws.String(map[string]string{"Source": "Source", "Latest": "Deploy", "Approve": "Approve", "Stable": "Deploy"}[name]),
			LatestExecution: &cptypes.ActionExecution{Status: cptypes.ActionExecutionStatus(st.LatestExecution.Status)}}
		if name == "Approve" {
			action.LatestExecution = approval
		}
		st.ActionStates = []cptypes.ActionState{action}
		s.Stages = append(s.Stages, st)
		if name == stageAt {
			reached = false
		}
	}

	// Services: the PRIMARY task set serves; during a deployment the
	// replacement is ACTIVE beside it.
	s.Services = map[string]*ecstypes.Service{
		LatestService: stackService(LatestService, 2, latestTD, LatestBlueTG, latestNewTD, LatestGreenTG),
		StableService: stackService(StableService, stableDesired, stableTD, StableGreenTG, stableNewTD, StableBlueTG),
	}
	if state == StateStable { // the replacement (blue, v2) is PRIMARY once traffic has shifted
		s.Services[StableService] = stackService(StableService, stableDesired, TaskDefStableV2, StableBlueTG, TaskDefStableV1, StableGreenTG)
	}
	for _, svc := range s.Services {
		for _, ts := range svc.TaskSets {
			n := int(ts.RunningCount)
			for i := range n {
				s.TargetHealth[aws.ToString(ts.LoadBalancers[0].TargetGroupArn)] = append(s.TargetHealth[aws.ToString(ts.LoadBalancers[0].TargetGroupArn)],
					elbtypes.TargetHealthDescription{Target: &elbtypes.TargetDescription{Id: aws.String(fmt.Sprintf("10.0.%d.%d", len(s.TargetHealth), 10+i)), Port: aws.Int32(8080)},
						TargetHealth: &elbtypes.TargetHealth{State: elbtypes.TargetHealthStateEnumHealthy}})
			}
		}
	}

	// Rules: default, catch-all, two tenant rules forwarding to stable.
	fwd := func(tg string) []elbtypes.Action {
		return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{
			TargetGroups: []elbtypes.TargetGroupTuple{{TargetGroupArn: aws.String(tg), Weight: aws.Int32(100)}}}}}
	}
	s.Rules = []elbtypes.Rule{
		{RuleArn: aws.String(CatchAllRuleARN), Priority: aws.String(fmt.Sprint(catchAll)), Actions: fwd(LatestBlueTG)},
		{RuleArn: aws.String(TenantRuleARNs[0]), Priority: aws.String("10"), Actions: fwd(StableGreenTG)},
		{RuleArn: aws.String(TenantRuleARNs[1]), Priority: aws.String("11"), Actions: fwd(StableGreenTG)},
		{RuleArn: aws.String(DefaultRuleARN), Priority: aws.String("default"), IsDefault: aws.Bool(true), Actions: fwd(LatestBlueTG)},
	}

	s.Functions = map[string]func([]byte) ([]byte, error){RollbackFunction: s.rollback}
	return s
}

func approvalDetail(execution string, status cptypes.ActionExecutionStatus, summary, by string, at *time.Time) cptypes.ActionExecutionDetail {
	d := cptypes.ActionExecutionDetail{PipelineExecutionId: aws.String(execution), ActionExecutionId: aws.String("a-" + execution),
		StageName: aws.String("Approve"), ActionName: aws.String("Approve"), Status: status, LastUpdateTime: at}
	if status != cptypes.ActionExecutionStatusInProgress {
		d.UpdatedBy = aws.String(by)
		d.Output = &cptypes.ActionExecutionOutput{ExecutionResult: &cptypes.ActionExecutionResult{ExternalExecutionSummary: aws.String(summary)}}
	}
	return d
}

func deployment(id, group string, status cdtypes.DeploymentStatus, created *time.Time) *cdtypes.DeploymentInfo {
	return &cdtypes.DeploymentInfo{DeploymentId: aws.String(id), ApplicationName: aws.String(CodeDeployApp), DeploymentGroupName: aws.String(group),
		DeploymentConfigName: aws.String(CanaryConfig), Status: status, CreateTime: created, Creator: cdtypes.DeploymentCreatorUser,
		BlueGreenDeploymentConfiguration: &cdtypes.BlueGreenDeploymentConfiguration{TerminateBlueInstancesOnDeploymentSuccess: &cdtypes.BlueInstanceTerminationOption{
			Action: cdtypes.InstanceActionTerminate, TerminationWaitTimeInMinutes: TerminationWaitMin}}}
}

func stackService(name string, desired int32, td, tg, newTD, newTG string) *ecstypes.Service {
	svc := &ecstypes.Service{ServiceName: aws.String(name), Status: aws.String("ACTIVE"), DesiredCount: desired, RunningCount: desired,
		ServiceArn:           aws.String(fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, Account, Cluster, name)),
		DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy},
		TaskDefinition:       aws.String(td),
		TaskSets:             []ecstypes.TaskSet{taskSet(name, "ecs-svc/1", "PRIMARY", td, tg, desired)}}
	if newTD != "" {
		svc.TaskSets = append(svc.TaskSets, taskSet(name, "ecs-svc/2", "ACTIVE", newTD, newTG, 2))
	}
	return svc
}

// rollback stands in for the server-side rollback function.
func (s *Stack) rollback(payload []byte) ([]byte, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(payload, &in); err != nil {
		return nil, fmt.Errorf("bad payload: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	answer := func(outcome, detail, id string) ([]byte, error) {
		m := map[string]string{"outcome": outcome, "detail": detail}
		if id != "" {
			m["deploymentId"] = id
		}
		return json.Marshal(m)
	}
	for _, d := range s.Deployments {
		if d.Status == cdtypes.DeploymentStatusInProgress {
			return answer("busy", "deployment "+aws.ToString(d.DeploymentId)+" is in progress", "")
		}
	}
	primary := func(name string) string { return aws.ToString(s.Services[name].TaskSets[0].TaskDefinition) }
	if s.TaskDefs[primary(LatestService)] != s.TaskDefs[primary(StableService)] {
		id := "d-ROLLBACK"
		d := deployment(id, LatestGroup, cdtypes.DeploymentStatusInProgress, aws.Time(s.now()))
		s.Deployments = append([]*cdtypes.DeploymentInfo{d}, s.Deployments...)
		return answer("deploying", "redeploying latest with stable's image "+s.TaskDefs[primary(StableService)], id)
	}
	if aws.ToString(s.Rules[0].Priority) != fmt.Sprint(PriorityUnpinned) {
		s.Rules[0].Priority = aws.String(fmt.Sprint(PriorityUnpinned))
		s.Services[StableService].DesiredCount = 0
		return answer("unpinned", "catch-all back above the tenant rules, stable scaled to 0", "")
	}
	return answer("nothing-to-do", "one version everywhere already", "")
}

package scenario

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
)

// fakeStack is a scripted stand-in for a stack, for testing the driver:
// it is not a model of AWS (the rehearsal's backend is), only a script of
// what a rollout looks like through the SDK and the listener, advanced one
// step per poll, with bugs to plant. The driver reaches it through the real
// SDK clients over fakeaws's wire server and through real HTTP.
type fakeStack struct {
	mu    sync.Mutex
	now   time.Time
	execs []*fakeExec
	deps  []*fakeDep

	approved, pinnedServes, unpinnedServes string
	stableDesired                          int32
	catchAll                               string
	alarm                                  cwtypes.StateValue
	approvalExec                           *fakeExec // the execution in the Approve stage

	// Bugs to plant.
	leakToPinned bool // pinned tenants get the new version in the canary
	stuck        bool // nothing ever moves after a push
	noAlarm      bool // a bad version is not caught
	onPush       func()

	polls int // GetPipelineState calls

	listener *httptest.Server
	aws      *httptest.Server
}

type fakeExec struct {
	id, version      string
	bad              bool
	start            time.Time
	status, stage    string
	polls            int
	approval, token  string
	summary          string
	deployment       *fakeDep
	rejectedByDriver bool
}

type fakeDep struct {
	id, group, status string
	code              cdtypes.ErrorCode
	created           time.Time
}

const (
	fakeCluster  = "tc-test"
	fakeLatestDG = "tc-test-latest"
	fakeStableDG = "tc-test-stable"
	fakeRuleARN  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/tc/1/2/"
	fakeTG       = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/"
)

func newFakeStack(t *testing.T) *fakeStack {
	f := &fakeStack{now: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC), approved: "v1", pinnedServes: "v1", unpinnedServes: "v1",
		catchAll: "1", alarm: cwtypes.StateValueOk}
	f.listener = httptest.NewServer(http.HandlerFunc(f.serve))
	f.aws = httptest.NewServer(fakeaws.NewServer(f, nil))
	t.Cleanup(f.listener.Close)
	t.Cleanup(f.aws.Close)
	return f
}

// Backend.

func (f *fakeStack) Outputs(context.Context) (contract.StackOutputs, error) {
	return contract.StackOutputs{
		AlbURL: "http://tc-test-1.us-east-1.elb.amazonaws.com", ClusterName: fakeCluster, LatestServiceName: "tc-test-latest", StableServiceName: "tc-test-stable",
		ListenerArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/tc/1/2", CatchAllRuleArn: fakeRuleARN + "catchall",
		AnchorRuleArn: fakeRuleARN + "anchor", TenantRuleArns: []string{fakeRuleARN + "tenants"}, PinnedTenants: []string{"acme", "globex"},
		PipelineName: "tc-test-pipeline", ApplicationName: "tc-test", LatestDeploymentGroupName: fakeLatestDG, StableDeploymentGroupName: fakeStableDG,
	}, nil
}

func (f *fakeStack) AWSConfig(context.Context) (aws.Config, error) {
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(f.aws.URL), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		})}, nil
}

func (f *fakeStack) BaseURL() string { return f.listener.URL }

func (f *fakeStack) Push(_ context.Context, version string, bad badversion.Spec) error {
	if f.onPush != nil {
		f.onPush()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs = append(f.execs, &fakeExec{id: fmt.Sprintf("e-%d", len(f.execs)+1), version: version, bad: bad.IsBad(),
		start: f.now.Add(time.Second), status: "InProgress", stage: "Latest"})
	return nil
}

func (f *fakeStack) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After moves the clock on at once: the test never sleeps.
func (f *fakeStack) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- f.now
	return ch
}

func (f *fakeStack) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.unpinnedServes
	if tenant, ok := strings.CutPrefix(r.URL.Path, "/app/"); ok && (tenant == "acme" || tenant == "globex") {
		v = f.pinnedServes
	}
	w.Header().Set("X-App-Version", v)
	if v != f.approved && f.execFor(v) != nil && f.execFor(v).bad {
		http.Error(w, "bad", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte(v))
}

func (f *fakeStack) execFor(version string) *fakeExec {
	for _, e := range f.execs {
		if e.version == version {
			return e
		}
	}
	return nil
}

// advance is one step of the script, taken at each GetPipelineState.
func (f *fakeStack) advance() {
	if f.stuck {
		return
	}
	for _, e := range f.execs {
		if e.status != "InProgress" {
			continue
		}
		e.polls++
		switch e.stage {
		case "Latest":
			if e.polls == 1 {
				e.deployment = f.deploy(fakeLatestDG)
				f.stableDesired, f.catchAll, f.unpinnedServes = 2, "50000", e.version
				if f.leakToPinned {
					f.pinnedServes = e.version
				}
			}
			if e.polls < 4 {
				continue
			}
			if e.bad && !f.noAlarm {
				f.alarm = cwtypes.StateValueAlarm
				e.deployment.status, e.deployment.code = "Failed", cdtypes.ErrorCodeAlarmActive
				e.status, f.unpinnedServes = "Failed", f.approved
				f.release()
				continue
			}
			e.deployment.status = "Succeeded"
			if a := f.approvalExec; a != nil && a.approval == ApprovalPending {
				// Newest push wins: the pending approval no longer describes
				// what latest serves, so it is rejected automatically.
				a.approval, a.summary, a.status = ApprovalRejected, "superseded by "+e.version, "Failed"
			}
			e.stage, e.polls, e.approval, e.token = "Approve", 0, ApprovalPending, "tok-"+e.id
			f.approvalExec = e
		case "Approve":
			switch e.approval {
			case ApprovalApproved:
				e.stage, e.polls = "Stable", 0
			case ApprovalRejected:
				e.status, e.stage, e.polls = "Failed", "Rollback", 0
			}
		case "Stable":
			if e.polls == 1 {
				e.deployment = f.deploy(fakeStableDG)
				f.pinnedServes = e.version
			}
			if e.polls == 3 {
				e.deployment.status, e.status, f.approved = "Succeeded", "Succeeded", e.version
				f.release()
			}
		}
	}
	// A rejection rolls back through a deployment on latest.
	for _, e := range f.execs {
		if e.stage == "Rollback" && e.rejectedByDriver {
			e.polls++
			if e.polls == 1 {
				e.deployment = f.deploy(fakeLatestDG)
				f.unpinnedServes = f.approved
			}
			if e.polls == 3 {
				e.deployment.status = "Succeeded"
				f.release()
				e.stage = "RolledBack"
			}
		}
	}
}

func (f *fakeStack) deploy(group string) *fakeDep {
	d := &fakeDep{id: fmt.Sprintf("d-%d", len(f.deps)+1), group: group, status: "InProgress", created: f.now}
	f.deps = append(f.deps, d)
	return d
}

// release is unpin or cleanup: the catch-all back on top, stable at 0.
func (f *fakeStack) release() { f.catchAll, f.stableDesired = "1", 0 }

// The AWS operations the driver calls, served through fakeaws.Server.

func (f *fakeStack) ListPipelineExecutions(_ context.Context, _ *codepipeline.ListPipelineExecutionsInput, _ ...func(*codepipeline.Options)) (*codepipeline.ListPipelineExecutionsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &codepipeline.ListPipelineExecutionsOutput{}
	for i := len(f.execs) - 1; i >= 0; i-- {
		e := f.execs[i]
		out.PipelineExecutionSummaries = append(out.PipelineExecutionSummaries, cptypes.PipelineExecutionSummary{
			PipelineExecutionId: aws.String(e.id), Status: cptypes.PipelineExecutionStatus(e.status), StartTime: aws.Time(e.start)})
	}
	return out, nil
}

func (f *fakeStack) GetPipelineState(_ context.Context, _ *codepipeline.GetPipelineStateInput, _ ...func(*codepipeline.Options)) (*codepipeline.GetPipelineStateOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	f.advance()
	out := &codepipeline.GetPipelineStateOutput{}
	for _, e := range f.execs {
		status := cptypes.StageExecutionStatusSucceeded
		if e.stage == "Latest" {
			status = map[string]cptypes.StageExecutionStatus{"InProgress": "InProgress", "Failed": "Failed"}[e.status]
		}
		out.StageStates = append(out.StageStates, cptypes.StageState{StageName: aws.String("Latest"),
			LatestExecution: &cptypes.StageExecution{PipelineExecutionId: aws.String(e.id), Status: status}})
	}
	if a := f.approvalExec; a != nil {
		status := map[string]cptypes.ActionExecutionStatus{ApprovalPending: "InProgress", ApprovalApproved: "Succeeded", ApprovalRejected: "Failed"}[a.approval]
		le := &cptypes.ActionExecution{Status: status, Summary: aws.String(a.summary)}
		if a.approval == ApprovalPending {
			le.Token = aws.String(a.token)
		}
		out.StageStates = append(out.StageStates, cptypes.StageState{StageName: aws.String(contract.StageApprove),
			LatestExecution: &cptypes.StageExecution{PipelineExecutionId: aws.String(a.id), Status: cptypes.StageExecutionStatus(status)},
			ActionStates:    []cptypes.ActionState{{ActionName: aws.String(contract.ActionApprove), LatestExecution: le}}})
	}
	// Keep only the newest execution per stage, as GetPipelineState does.
	seen := map[string]bool{}
	var states []cptypes.StageState
	for i := len(out.StageStates) - 1; i >= 0; i-- {
		if name := aws.ToString(out.StageStates[i].StageName); !seen[name] {
			seen[name] = true
			states = append([]cptypes.StageState{out.StageStates[i]}, states...)
		}
	}
	out.StageStates = states
	return out, nil
}

func (f *fakeStack) PutApprovalResult(_ context.Context, in *codepipeline.PutApprovalResultInput, _ ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.approvalExec
	if a == nil || a.approval != ApprovalPending || aws.ToString(in.Token) != a.token || aws.ToString(in.StageName) != "Approve" || aws.ToString(in.ActionName) != "Approve" {
		return nil, &fakeaws.APIError{Code: "InvalidApprovalTokenException", Message: "no such approval"}
	}
	a.summary = aws.ToString(in.Result.Summary)
	if in.Result.Status == cptypes.ApprovalStatusApproved {
		a.approval = ApprovalApproved
	} else {
		a.approval, a.rejectedByDriver = ApprovalRejected, true
	}
	return &codepipeline.PutApprovalResultOutput{}, nil
}

func (f *fakeStack) ListActionExecutions(_ context.Context, in *codepipeline.ListActionExecutionsInput, _ ...func(*codepipeline.Options)) (*codepipeline.ListActionExecutionsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &codepipeline.ListActionExecutionsOutput{}
	for _, e := range f.execs {
		if e.id == aws.ToString(in.Filter.PipelineExecutionId) && e.approval != "" {
			status := map[string]cptypes.ActionExecutionStatus{ApprovalPending: "InProgress", ApprovalApproved: "Succeeded", ApprovalRejected: "Failed"}[e.approval]
			out.ActionExecutionDetails = append(out.ActionExecutionDetails, cptypes.ActionExecutionDetail{
				PipelineExecutionId: aws.String(e.id), StageName: aws.String("Approve"), ActionName: aws.String("Approve"), Status: status,
				Output: &cptypes.ActionExecutionOutput{ExecutionResult: &cptypes.ActionExecutionResult{ExternalExecutionSummary: aws.String(e.summary)}}})
		}
	}
	return out, nil
}

func (f *fakeStack) GetDeploymentGroup(_ context.Context, in *codedeploy.GetDeploymentGroupInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentGroupOutput, error) {
	name := aws.ToString(in.DeploymentGroupName)
	return &codedeploy.GetDeploymentGroupOutput{DeploymentGroupInfo: &cdtypes.DeploymentGroupInfo{DeploymentGroupName: aws.String(name),
		AlarmConfiguration: &cdtypes.AlarmConfiguration{Enabled: true, Alarms: []cdtypes.Alarm{{Name: aws.String(name + "-5xx")}}}}}, nil
}

func (f *fakeStack) ListDeployments(_ context.Context, in *codedeploy.ListDeploymentsInput, _ ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &codedeploy.ListDeploymentsOutput{}
	for _, d := range f.deps {
		if d.group == aws.ToString(in.DeploymentGroupName) {
			out.Deployments = append(out.Deployments, d.id)
		}
	}
	return out, nil
}

func (f *fakeStack) GetDeployment(_ context.Context, in *codedeploy.GetDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.deps {
		if d.id == aws.ToString(in.DeploymentId) {
			info := &cdtypes.DeploymentInfo{DeploymentId: aws.String(d.id), DeploymentGroupName: aws.String(d.group), Status: cdtypes.DeploymentStatus(d.status), CreateTime: aws.Time(d.created)}
			if d.code != "" {
				info.ErrorInformation = &cdtypes.ErrorInformation{Code: d.code, Message: aws.String("One or more alarms have been activated")}
			}
			return &codedeploy.GetDeploymentOutput{DeploymentInfo: info}, nil
		}
	}
	return nil, &fakeaws.APIError{Code: "DeploymentDoesNotExistException", Message: "no such deployment"}
}

func (f *fakeStack) ListDeploymentTargets(_ context.Context, in *codedeploy.ListDeploymentTargetsInput, _ ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.deps {
		if d.id == aws.ToString(in.DeploymentId) {
			service := strings.TrimPrefix(d.group, "tc-test-")
			return &codedeploy.ListDeploymentTargetsOutput{TargetIds: []string{fakeCluster + ":tc-test-" + service}}, nil
		}
	}
	return &codedeploy.ListDeploymentTargetsOutput{}, nil
}

func (f *fakeStack) DescribeAlarms(_ context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &cloudwatch.DescribeAlarmsOutput{}
	for _, name := range in.AlarmNames {
		state := cwtypes.StateValueOk
		if name == fakeLatestDG+"-5xx" {
			state = f.alarm
		}
		out.MetricAlarms = append(out.MetricAlarms, cwtypes.MetricAlarm{AlarmName: aws.String(name), StateValue: state, StateReason: aws.String("Threshold Crossed")})
	}
	return out, nil
}

func (f *fakeStack) DescribeRules(_ context.Context, _ *elbv2.DescribeRulesInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	forward := func(tg string) []elbtypes.Action {
		return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{
			TargetGroups: []elbtypes.TargetGroupTuple{{TargetGroupArn: aws.String(fakeTG + tg), Weight: aws.Int32(100)}}}}}
	}
	return &elbv2.DescribeRulesOutput{Rules: []elbtypes.Rule{
		{RuleArn: aws.String(fakeRuleARN + "catchall"), Priority: aws.String(f.catchAll), Actions: forward("latest-blue")},
		{RuleArn: aws.String(fakeRuleARN + "anchor"), Priority: aws.String("2"), Actions: forward("stable-blue")},
		{RuleArn: aws.String(fakeRuleARN + "tenants"), Priority: aws.String("10"), Actions: forward("stable-blue")},
		{RuleArn: aws.String(fakeRuleARN + "default"), Priority: aws.String("default"), IsDefault: aws.Bool(true), Actions: forward("latest-blue")},
	}}, nil
}

func (f *fakeStack) DescribeServices(_ context.Context, _ *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &ecs.DescribeServicesOutput{Services: []ecstypes.Service{
		{ServiceName: aws.String("tc-test-latest"), TaskDefinition: aws.String("arn:aws:ecs:us-east-1:123456789012:task-definition/tc-test:" + f.unpinnedServes), DesiredCount: 2},
		{ServiceName: aws.String("tc-test-stable"), TaskDefinition: aws.String("arn:aws:ecs:us-east-1:123456789012:task-definition/tc-test:" + f.approved), DesiredCount: f.stableDesired},
	}}, nil
}

// The task definition ARN ends with the version it runs (see
// DescribeServices); its image is named by that version's digest.
func (f *fakeStack) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	td := aws.ToString(in.TaskDefinition)
	version := td[strings.LastIndex(td, ":")+1:]
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &ecstypes.TaskDefinition{TaskDefinitionArn: in.TaskDefinition,
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"),
			Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/tc-test@" + digestOf(version))}}}}, nil
}

func digestOf(version string) string {
	sum := sha256.Sum256([]byte(version))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (f *fakeStack) GetPipelineExecution(_ context.Context, in *codepipeline.GetPipelineExecutionInput, _ ...func(*codepipeline.Options)) (*codepipeline.GetPipelineExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.execs {
		if e.id == aws.ToString(in.PipelineExecutionId) {
			return &codepipeline.GetPipelineExecutionOutput{PipelineExecution: &cptypes.PipelineExecution{
				PipelineExecutionId: aws.String(e.id), Status: cptypes.PipelineExecutionStatus(e.status),
				ArtifactRevisions: []cptypes.ArtifactRevision{{Name: aws.String("Image"), RevisionId: aws.String(digestOf(e.version))}}}}, nil
		}
	}
	return nil, &fakeaws.APIError{Code: "PipelineExecutionNotFoundException", Message: "no such execution"}
}

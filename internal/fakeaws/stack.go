package fakeaws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// Stack is a deployed stack as the operator CLI (cmd/tenant-canary) sees
// it: the pipeline, the CodeDeploy deployments, the services and their task
// sets, the listener rules, the alarms and the hook functions, all held as
// the SDK's own types and answered as they are. It implements every
// interface of wire.go; serve it with NewServer. Tests set the fields
// (scenario.go builds the rollout's states) before use.
type Stack struct {
	mu sync.Mutex

	Now func() time.Time

	PipelineName string
	Declaration  cptypes.PipelineDeclaration
	Stages       []cptypes.StageState
	Executions   []cptypes.PipelineExecutionSummary // newest first
	// ActionExecutions are the Approve actions' executions, newest first;
	// PutApprovalResult completes the pending one as Caller.
	ActionExecutions []cptypes.ActionExecutionDetail
	// Caller is the identity the stack's API calls come from.
	Caller string

	Deployments  []*cdtypes.DeploymentInfo // newest first
	Targets      map[string]*cdtypes.ECSTarget
	Configs      map[string]*cdtypes.DeploymentConfigInfo
	Groups       map[string]*cdtypes.DeploymentGroupInfo
	Services     map[string]*ecstypes.Service
	TaskDefs     map[string]string // task definition ARN → container image
	ImageTags    map[string][]string
	Rules        []elbtypes.Rule
	TargetHealth map[string][]elbtypes.TargetHealthDescription
	Alarms       []cwtypes.MetricAlarm
	// Functions answer Invoke by name: the payload in, the response
	// payload out, or an error ("Unhandled" function error).
	Functions map[string]func(payload []byte) ([]byte, error)

	// StopAfterPolls: a stopped deployment reports Stopped only after this
	// many ListDeployments calls for its group, as a real stop takes a while.
	StopAfterPolls int
	stopping       map[string]int
	// RollbackTaskDef: the task definition a deployment's service returns
	// to when the deployment is stopped with a rollback (its original).
	RollbackTaskDef map[string]string

	calls []Call
	errs  map[string][]error
}

// FailNext makes the next calls of op fail with errs, one per call.
func (s *Stack) FailNext(op string, errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs == nil {
		s.errs = map[string][]error{}
	}
	s.errs[op] = append(s.errs[op], errs...)
}

// Calls returns every call received so far.
func (s *Stack) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Ops returns the operation names of Calls.
func (s *Stack) Ops() []string {
	var ops []string
	for _, c := range s.Calls() {
		ops = append(ops, c.Op)
	}
	return ops
}

func (s *Stack) begin(op, detail string) error {
	s.calls = append(s.calls, Call{Op: op, Detail: detail})
	if q := s.errs[op]; len(q) > 0 {
		s.errs[op] = q[1:]
		return q[0]
	}
	return nil
}

func (s *Stack) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// --- CodePipeline -----------------------------------------------------------

func (s *Stack) pipeline(name *string) error {
	if aws.ToString(name) != s.PipelineName {
		return &APIError{Code: "PipelineNotFoundException", Message: fmt.Sprintf("Account '%s' does not have a pipeline with name '%s'", Account, aws.ToString(name))}
	}
	return nil
}

// GetPipelineState implements CodePipelineAPI.
func (s *Stack) GetPipelineState(_ context.Context, in *codepipeline.GetPipelineStateInput, _ ...func(*codepipeline.Options)) (*codepipeline.GetPipelineStateOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("GetPipelineState", aws.ToString(in.Name)); err != nil {
		return nil, err
	}
	if err := s.pipeline(in.Name); err != nil {
		return nil, err
	}
	return &codepipeline.GetPipelineStateOutput{PipelineName: in.Name, PipelineVersion: aws.Int32(1), StageStates: slices.Clone(s.Stages)}, nil
}

// GetPipeline implements CodePipelineAPI.
func (s *Stack) GetPipeline(_ context.Context, in *codepipeline.GetPipelineInput, _ ...func(*codepipeline.Options)) (*codepipeline.GetPipelineOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("GetPipeline", aws.ToString(in.Name)); err != nil {
		return nil, err
	}
	if err := s.pipeline(in.Name); err != nil {
		return nil, err
	}
	d := s.Declaration
	return &codepipeline.GetPipelineOutput{Pipeline: &d}, nil
}

// ListPipelineExecutions implements CodePipelineAPI (one page).
func (s *Stack) ListPipelineExecutions(_ context.Context, in *codepipeline.ListPipelineExecutionsInput, _ ...func(*codepipeline.Options)) (*codepipeline.ListPipelineExecutionsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("ListPipelineExecutions", aws.ToString(in.PipelineName)); err != nil {
		return nil, err
	}
	if err := s.pipeline(in.PipelineName); err != nil {
		return nil, err
	}
	execs := slices.Clone(s.Executions)
	if n := int(aws.ToInt32(in.MaxResults)); n > 0 && n < len(execs) {
		execs = execs[:n]
	}
	return &codepipeline.ListPipelineExecutionsOutput{PipelineExecutionSummaries: execs}, nil
}

// PutApprovalResult implements CodePipelineAPI: the token must be the
// pending one; the action, its stage and (on a rejection) the execution
// fail, an approval lets the execution go on.
func (s *Stack) PutApprovalResult(_ context.Context, in *codepipeline.PutApprovalResultInput, _ ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var status cptypes.ApprovalStatus
	if in.Result != nil {
		status = in.Result.Status
	}
	if err := s.begin("PutApprovalResult", fmt.Sprintf("%s/%s %s %s", aws.ToString(in.StageName), aws.ToString(in.ActionName), status, aws.ToString(in.Token))); err != nil {
		return nil, err
	}
	if err := s.pipeline(in.PipelineName); err != nil {
		return nil, err
	}
	if in.Result == nil || in.Result.Summary == nil || (status != cptypes.ApprovalStatusApproved && status != cptypes.ApprovalStatusRejected) {
		return nil, &APIError{Code: "ValidationException", Message: "result.summary and result.status (Approved|Rejected) are required"}
	}
	for i := range s.Stages {
		st := &s.Stages[i]
		if aws.ToString(st.StageName) != aws.ToString(in.StageName) {
			continue
		}
		for j := range st.ActionStates {
			a := &st.ActionStates[j]
			if aws.ToString(a.ActionName) != aws.ToString(in.ActionName) {
				continue
			}
			e := a.LatestExecution
			if e == nil || e.Status != cptypes.ActionExecutionStatusInProgress {
				return nil, &APIError{Code: "ApprovalAlreadyCompletedException", Message: "The approval action has already been completed"}
			}
			if aws.ToString(e.Token) != aws.ToString(in.Token) {
				return nil, &APIError{Code: "InvalidApprovalTokenException", Message: "The approval token is not valid"}
			}
			now := s.now()
			e.Status, e.Summary, e.LastStatusChange, e.Token, e.LastUpdatedBy = cptypes.ActionExecutionStatusSucceeded, in.Result.Summary, &now, nil, aws.String(s.Caller)
			stageStatus := cptypes.StageExecutionStatusSucceeded
			if status == cptypes.ApprovalStatusRejected {
				e.Status, stageStatus = cptypes.ActionExecutionStatusFailed, cptypes.StageExecutionStatusFailed
				for k := range s.Executions {
					if aws.ToString(s.Executions[k].PipelineExecutionId) == aws.ToString(st.LatestExecution.PipelineExecutionId) {
						s.Executions[k].Status = cptypes.PipelineExecutionStatusFailed
					}
				}
			}
			st.LatestExecution.Status = stageStatus
			for k := range s.ActionExecutions {
				ae := &s.ActionExecutions[k]
				if ae.Status == cptypes.ActionExecutionStatusInProgress && aws.ToString(ae.PipelineExecutionId) == aws.ToString(st.LatestExecution.PipelineExecutionId) {
					ae.Status, ae.LastUpdateTime, ae.UpdatedBy = e.Status, &now, aws.String(s.Caller)
					ae.Output = &cptypes.ActionExecutionOutput{ExecutionResult: &cptypes.ActionExecutionResult{ExternalExecutionSummary: in.Result.Summary}}
				}
			}
			return &codepipeline.PutApprovalResultOutput{ApprovedAt: &now}, nil
		}
	}
	return nil, &APIError{Code: "ActionNotFoundException", Message: "The specified action cannot be found"}
}

// ListActionExecutions implements CodePipelineAPI (one page, the
// pipelineExecutionId filter only).
func (s *Stack) ListActionExecutions(_ context.Context, in *codepipeline.ListActionExecutionsInput, _ ...func(*codepipeline.Options)) (*codepipeline.ListActionExecutionsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var filter string
	if in.Filter != nil {
		filter = aws.ToString(in.Filter.PipelineExecutionId)
	}
	if err := s.begin("ListActionExecutions", filter); err != nil {
		return nil, err
	}
	if err := s.pipeline(in.PipelineName); err != nil {
		return nil, err
	}
	out := &codepipeline.ListActionExecutionsOutput{ActionExecutionDetails: []cptypes.ActionExecutionDetail{}}
	for _, ae := range s.ActionExecutions {
		if filter == "" || aws.ToString(ae.PipelineExecutionId) == filter {
			out.ActionExecutionDetails = append(out.ActionExecutionDetails, ae)
		}
	}
	return out, nil
}

// --- CodeDeploy -------------------------------------------------------------

// BatchGetDeployments implements CodeDeployAPI: at most 25 ids
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_BatchGetDeployments.html).
func (s *Stack) BatchGetDeployments(_ context.Context, in *codedeploy.BatchGetDeploymentsInput, _ ...func(*codedeploy.Options)) (*codedeploy.BatchGetDeploymentsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("BatchGetDeployments", strings.Join(in.DeploymentIds, " ")); err != nil {
		return nil, err
	}
	if len(in.DeploymentIds) > 25 {
		return nil, &APIError{Code: "BatchLimitExceededException", Message: "The maximum number of names or IDs allowed for this request (25) was exceeded"}
	}
	out := &codedeploy.BatchGetDeploymentsOutput{}
	for _, id := range in.DeploymentIds {
		if d := s.deployment(id); d != nil {
			out.DeploymentsInfo = append(out.DeploymentsInfo, *d)
		}
	}
	return out, nil
}

// GetDeploymentGroup implements CodeDeployAPI.
func (s *Stack) GetDeploymentGroup(_ context.Context, in *codedeploy.GetDeploymentGroupInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentGroupOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(OpGetDeploymentGroup, aws.ToString(in.DeploymentGroupName)); err != nil {
		return nil, err
	}
	g, ok := s.Groups[aws.ToString(in.DeploymentGroupName)]
	if !ok || aws.ToString(in.ApplicationName) != CodeDeployApp {
		return nil, &APIError{Code: "DeploymentGroupDoesNotExistException", Message: "No Deployment Group found for name: " + aws.ToString(in.DeploymentGroupName)}
	}
	c := *g
	return &codedeploy.GetDeploymentGroupOutput{DeploymentGroupInfo: &c}, nil
}

// ListDeployments implements CodeDeployAPI (one page), newest first.
func (s *Stack) ListDeployments(_ context.Context, in *codedeploy.ListDeploymentsInput, _ ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("ListDeployments", aws.ToString(in.DeploymentGroupName)); err != nil {
		return nil, err
	}
	for id, n := range s.stopping {
		if n <= 0 || aws.ToString(s.deployment(id).DeploymentGroupName) != aws.ToString(in.DeploymentGroupName) {
			continue
		}
		if s.stopping[id] = n - 1; n-1 == 0 {
			s.stopped(id)
		}
	}
	out := &codedeploy.ListDeploymentsOutput{Deployments: []string{}}
	for _, d := range s.Deployments {
		if in.DeploymentGroupName != nil && aws.ToString(d.DeploymentGroupName) != aws.ToString(in.DeploymentGroupName) {
			continue
		}
		if len(in.IncludeOnlyStatuses) > 0 && !slices.Contains(in.IncludeOnlyStatuses, d.Status) {
			continue
		}
		out.Deployments = append(out.Deployments, aws.ToString(d.DeploymentId))
	}
	return out, nil
}

func (s *Stack) deployment(id string) *cdtypes.DeploymentInfo {
	for _, d := range s.Deployments {
		if aws.ToString(d.DeploymentId) == id {
			return d
		}
	}
	return nil
}

func deploymentMissing(id string) error {
	return &APIError{Code: "DeploymentDoesNotExistException", Message: "The deployment " + id + " could not be found"}
}

// GetDeployment implements CodeDeployAPI.
func (s *Stack) GetDeployment(_ context.Context, in *codedeploy.GetDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("GetDeployment", aws.ToString(in.DeploymentId)); err != nil {
		return nil, err
	}
	d := s.deployment(aws.ToString(in.DeploymentId))
	if d == nil {
		return nil, deploymentMissing(aws.ToString(in.DeploymentId))
	}
	c := *d
	return &codedeploy.GetDeploymentOutput{DeploymentInfo: &c}, nil
}

// GetDeploymentConfig implements CodeDeployAPI.
func (s *Stack) GetDeploymentConfig(_ context.Context, in *codedeploy.GetDeploymentConfigInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentConfigOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("GetDeploymentConfig", aws.ToString(in.DeploymentConfigName)); err != nil {
		return nil, err
	}
	c, ok := s.Configs[aws.ToString(in.DeploymentConfigName)]
	if !ok {
		return nil, &APIError{Code: "DeploymentConfigDoesNotExistException", Message: "The deployment configuration does not exist"}
	}
	cc := *c
	return &codedeploy.GetDeploymentConfigOutput{DeploymentConfigInfo: &cc}, nil
}

// ListDeploymentTargets implements CodeDeployAPI.
func (s *Stack) ListDeploymentTargets(_ context.Context, in *codedeploy.ListDeploymentTargetsInput, _ ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("ListDeploymentTargets", aws.ToString(in.DeploymentId)); err != nil {
		return nil, err
	}
	out := &codedeploy.ListDeploymentTargetsOutput{TargetIds: []string{}}
	if t, ok := s.Targets[aws.ToString(in.DeploymentId)]; ok {
		out.TargetIds = append(out.TargetIds, aws.ToString(t.TargetId))
	}
	return out, nil
}

// GetDeploymentTarget implements CodeDeployAPI for ECS targets.
func (s *Stack) GetDeploymentTarget(_ context.Context, in *codedeploy.GetDeploymentTargetInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentTargetOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("GetDeploymentTarget", aws.ToString(in.DeploymentId)+" "+aws.ToString(in.TargetId)); err != nil {
		return nil, err
	}
	t, ok := s.Targets[aws.ToString(in.DeploymentId)]
	if !ok || aws.ToString(t.TargetId) != aws.ToString(in.TargetId) {
		return nil, &APIError{Code: "DeploymentTargetDoesNotExistException", Message: "The provided target ID does not belong to the deployment"}
	}
	c := *t
	return &codedeploy.GetDeploymentTargetOutput{DeploymentTarget: &cdtypes.DeploymentTarget{
		DeploymentTargetType: cdtypes.DeploymentTargetTypeEcsTarget, EcsTarget: &c}}, nil
}

// StopDeployment implements CodeDeployAPI: an in-progress deployment
// reports Stopped after StopAfterPolls ListDeployments calls.
func (s *Stack) StopDeployment(_ context.Context, in *codedeploy.StopDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.StopDeploymentOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := aws.ToString(in.DeploymentId)
	if err := s.begin("StopDeployment", fmt.Sprintf("%s autoRollbackEnabled=%v", id, aws.ToBool(in.AutoRollbackEnabled))); err != nil {
		return nil, err
	}
	d := s.deployment(id)
	if d == nil {
		return nil, deploymentMissing(id)
	}
	if d.Status != cdtypes.DeploymentStatusInProgress {
		return nil, &APIError{Code: "DeploymentAlreadyCompletedException", Message: "The deployment is already complete"}
	}
	if s.stopping == nil {
		s.stopping = map[string]int{}
	}
	if aws.ToBool(in.AutoRollbackEnabled) {
		d.RollbackInfo = &cdtypes.RollbackInfo{RollbackMessage: aws.String("Stopped by user; rolling back")}
	}
	if s.StopAfterPolls <= 0 {
		s.stopped(id)
	} else {
		s.stopping[id] = s.StopAfterPolls
	}
	return &codedeploy.StopDeploymentOutput{Status: cdtypes.StopStatusPending, StatusMessage: aws.String("Stopping the deployment")}, nil
}

// stopped ends a deployment; with a rollback its service serves the
// original task definition again, alone.
func (s *Stack) stopped(id string) {
	d := s.deployment(id)
	d.Status = cdtypes.DeploymentStatusStopped
	td, ok := s.RollbackTaskDef[id]
	if d.RollbackInfo == nil || !ok {
		return
	}
	name := LatestService
	if aws.ToString(d.DeploymentGroupName) == StableGroup {
		name = StableService
	}
	svc := s.Services[name]
	for _, ts := range svc.TaskSets {
		if aws.ToString(ts.TaskDefinition) == td {
			ts.Status = aws.String("PRIMARY")
			svc.TaskSets, svc.TaskDefinition = []ecstypes.TaskSet{ts}, aws.String(td)
			return
		}
	}
}

// --- ECS, ECR, ELB, CloudWatch, Lambda --------------------------------------

// DescribeServices implements ECSReader.
func (s *Stack) DescribeServices(_ context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(OpDescribeServices, strings.Join(in.Services, ",")); err != nil {
		return nil, err
	}
	if aws.ToString(in.Cluster) != Cluster {
		return nil, &APIError{Code: "ClusterNotFoundException", Message: "Cluster not found."}
	}
	out := &ecs.DescribeServicesOutput{}
	for _, name := range in.Services {
		svc, ok := s.Services[name]
		if !ok {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(name), Reason: aws.String("MISSING")})
			continue
		}
		out.Services = append(out.Services, *svc)
	}
	return out, nil
}

// DescribeTaskDefinition implements ECSReader.
func (s *Stack) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	td := aws.ToString(in.TaskDefinition)
	if err := s.begin(OpDescribeTaskDef, td); err != nil {
		return nil, err
	}
	image, ok := s.TaskDefs[td]
	if !ok {
		return nil, &APIError{Code: "ClientException", Message: "Unable to describe task definition."}
	}
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &ecstypes.TaskDefinition{
		TaskDefinitionArn:    aws.String(td),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String(ContainerName), Image: aws.String(image), Essential: aws.Bool(true)}},
	}}, nil
}

// DescribeImages implements ECRReader for images named by digest.
func (s *Stack) DescribeImages(_ context.Context, in *ecr.DescribeImagesInput, _ ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("DescribeImages", aws.ToString(in.RepositoryName)); err != nil {
		return nil, err
	}
	out := &ecr.DescribeImagesOutput{}
	for _, id := range in.ImageIds {
		digest := aws.ToString(id.ImageDigest)
		tags, ok := s.ImageTags[digest]
		if !ok {
			return nil, &APIError{Code: "ImageNotFoundException", Message: "The image with imageId {imageDigest:'" + digest + "'} does not exist"}
		}
		out.ImageDetails = append(out.ImageDetails, ecrtypes.ImageDetail{
			RepositoryName: in.RepositoryName, ImageDigest: aws.String(digest), ImageTags: slices.Clone(tags)})
	}
	return out, nil
}

// DescribeRules implements ELBReader (one page).
func (s *Stack) DescribeRules(_ context.Context, in *elbv2.DescribeRulesInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(OpDescribeRules, aws.ToString(in.ListenerArn)); err != nil {
		return nil, err
	}
	if in.ListenerArn != nil && aws.ToString(in.ListenerArn) != ListenerARN {
		return nil, &APIError{Code: "ListenerNotFound", Message: "One or more listeners not found"}
	}
	out := &elbv2.DescribeRulesOutput{}
	for _, r := range s.Rules {
		if len(in.RuleArns) == 0 || slices.Contains(in.RuleArns, aws.ToString(r.RuleArn)) {
			out.Rules = append(out.Rules, r)
		}
	}
	return out, nil
}

// DescribeTargetHealth implements ELBReader.
func (s *Stack) DescribeTargetHealth(_ context.Context, in *elbv2.DescribeTargetHealthInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tg := aws.ToString(in.TargetGroupArn)
	if err := s.begin(OpDescribeTargetHealth, tg); err != nil {
		return nil, err
	}
	return &elbv2.DescribeTargetHealthOutput{TargetHealthDescriptions: slices.Clone(s.TargetHealth[tg])}, nil
}

// DescribeAlarms implements CloudWatchAPI for alarms named in AlarmNames.
func (s *Stack) DescribeAlarms(_ context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("DescribeAlarms", strings.Join(in.AlarmNames, ",")); err != nil {
		return nil, err
	}
	if len(in.AlarmNames) > 100 {
		return nil, &APIError{Code: "InvalidParameterValue", Message: "AlarmNames holds at most 100 names"}
	}
	out := &cloudwatch.DescribeAlarmsOutput{}
	for _, a := range s.Alarms {
		if slices.Contains(in.AlarmNames, aws.ToString(a.AlarmName)) {
			out.MetricAlarms = append(out.MetricAlarms, a)
		}
	}
	return out, nil
}

// Invoke implements LambdaAPI.
func (s *Stack) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	s.mu.Lock()
	name := aws.ToString(in.FunctionName)
	err := s.begin("Invoke", name+" "+string(in.Payload))
	fn, ok := s.Functions[name]
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &APIError{Code: "ResourceNotFoundException", Message: "Function not found: arn:aws:lambda:" + Region + ":" + Account + ":function:" + name, Status: 404}
	}
	// The function runs without the lock: it may call the stack back.
	payload, ferr := fn(in.Payload)
	if ferr != nil {
		return &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled"),
			Payload: fmt.Appendf(nil, `{"errorMessage":%q,"errorType":"errorString"}`, ferr.Error())}, nil
	}
	return &lambda.InvokeOutput{StatusCode: 200, Payload: payload}, nil
}

// Locked runs fn with the stack locked, for a function (Functions) or a
// test that changes state while the server is running.
func (s *Stack) Locked(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
}

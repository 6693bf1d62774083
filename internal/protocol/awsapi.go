package protocol

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
)

// client is what one function invocation talks to: the rollout package's
// ECS, ELB, CodeDeploy and CodePipeline interfaces over the World. Every
// call is a step of the explorer: the hook blocks until the explorer runs
// it, so other events can land between any two calls a hook makes.
type client struct {
	w   *World
	inv *Invocation
	// direct, outside the explorer: calls run at once (see Direct).
	direct *Direct
}

func do[T any](c *client, ctx context.Context, op, detail string, fn func(w *World) (T, error)) (T, error) {
	run := func() (out any, err error) {
		defer func() {
			r := recover()
			if f, ok := r.(failed); ok {
				out, err = nil, f.err
			} else if r != nil {
				panic(r) // a fault of the model itself
			}
		}()
		return fn(c.w)
	}
	var out any
	var err error
	if c.direct != nil {
		out, err = direct(ctx, c.direct, op, detail, run)
	} else {
		out, err = c.inv.call(ctx, op, detail, run)
	}
	// A failed call's answer is T's zero value (a fn answers it with its
	// error; failed, a fault or an ended context answers none).
	t, _ := out.(T)
	return t, err
}

func apiErr(code, msg string) error { return &fakeaws.APIError{Code: code, Message: msg} }

// failed is AWS's error answer on its way out of an operation's fn, found
// before the operation changes anything: a resource the call names does
// not exist (must, inCluster), a page it asks cannot be served (page). The model
// panics with it inside fn and do recovers it as the call's error, so an
// operation reads "find it, act on it" (Effective Go, "Recover": a
// package may panic internally and turn the panic into an error at its
// boundary, https://go.dev/doc/effective_go#recover).
type failed struct{ err error }

// must is x, found, or ends the operation (inside do's fn only) with err,
// the error AWS answers.
func must[X any](x X, err error) X {
	if err != nil {
		panic(failed{err})
	}
	return x
}

// paging is how one list operation pages: the page size when the caller
// asks none (0: all), the largest it may ask, and its error codes for a
// size out of range and for a token it never gave.
type paging struct {
	def, max            int
	sizeCode, tokenCode string
}

// page is one page of items from token, and the next token when more
// follow (a token is the index of the next item); a size out of range or
// a token it never gave ends the operation (inside do's fn only) with the
// list's error code. short, when positive, serves shorter pages than
// asked (the scenario's PageSize: a page size is a maximum, not a
// promise), so a caller that reads only the first page is caught.
func page[T any](p paging, items []T, token *string, size *int32, short int) ([]T, *string) {
	n := p.def
	if size != nil {
		n = int(*size)
		if n < 1 || n > p.max {
			panic(failed{apiErr(p.sizeCode, fmt.Sprintf("the page size %d must be between 1 and %d", n, p.max))})
		}
	}
	if n == 0 {
		n = len(items)
	}
	if short > 0 {
		n = min(n, short)
	}
	start := 0
	if t := aws.ToString(token); t != "" {
		i, err := strconv.Atoi(t)
		if err != nil || i < 0 || i > len(items) {
			panic(failed{apiErr(p.tokenCode, "The next token was specified in an invalid format.")})
		}
		start = i
	}
	end := min(start+n, len(items))
	var next *string
	if end < len(items) {
		next = aws.String(strconv.Itoa(end))
	}
	return items[start:end], next
}

// findRule is the listener rule arn names, or ELB's RuleNotFound.
func (w *World) findRule(arn string) (*Rule, error) {
	if r := w.rule(arn); r != nil {
		return r, nil
	}
	return nil, apiErr("RuleNotFound", "One or more rules not found")
}

// findDeployment is deployment id, or CodeDeploy's
// DeploymentDoesNotExistException.
func (w *World) findDeployment(id string) (*Deployment, error) {
	if d := w.deployment(id); d != nil {
		return d, nil
	}
	return nil, apiErr("DeploymentDoesNotExistException", "The deployment "+id+" could not be found.")
}

// findGroup is the declared deployment group name of application app, or
// CodeDeploy's error for the one that does not exist
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ListDeployments.html:
// a group is named with its application).
func (w *World) findGroup(app, name *string) (*cdtypes.DeploymentGroupInfo, error) {
	if aws.ToString(app) != w.st.app {
		return nil, apiErr("ApplicationDoesNotExistException", "No application found for name: "+aws.ToString(app))
	}
	if g := w.st.group(aws.ToString(name)); g != nil {
		return g, nil
	}
	return nil, apiErr("DeploymentGroupDoesNotExistException", "No Deployment Group found for name: "+aws.ToString(name))
}

// inCluster ends a call naming a cluster that does not exist (inside do's
// fn only) with ECS's answer: an error of the call, not a failure per
// service
// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html#API_DescribeServices_Errors).
func (w *World) inCluster(cluster *string) {
	if aws.ToString(cluster) != w.st.cluster {
		panic(failed{apiErr("ClusterNotFoundException", "Cluster not found.")})
	}
}

// --- ECS ---

func (c *client) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	return do(c, ctx, "DescribeServices", fmt.Sprint(in.Services), func(w *World) (*ecs.DescribeServicesOutput, error) {
		// One call describes 1 to 10 services (the same page).
		w.inCluster(in.Cluster)
		if len(in.Services) == 0 || len(in.Services) > 10 {
			return nil, apiErr("InvalidParameterException", "services must hold 1 to 10 names")
		}
		out := &ecs.DescribeServicesOutput{}
		for _, name := range in.Services {
			i := slices.IndexFunc(w.st.decl.ECS.Services, func(s declared.Service) bool { return aws.ToString(s.Service.ServiceName) == name })
			if i < 0 {
				out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(name), Reason: aws.String("MISSING")})
				continue
			}
			// The service as the stack declares it, as DescribeServices
			// answers it once Pulumi created it (declared.ECS: its ARN,
			// status, CODE_DEPLOY controller, the load balancer it was
			// created with), with what the model moves: its desired
			// count, task definition and task sets. runningCount is every
			// RUNNING task of the service, whatever its task set
			// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Service.html).
			svc, s := w.Services[name], w.st.decl.ECS.Services[i].Service
			s.DesiredCount, s.TaskDefinition = int32(svc.Desired), aws.String(svc.TaskDef)
			// The PRIMARY task set's parameters transition to the service
			// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateServicePrimaryTaskSet.html):
			// its task definition is the service's.
			if p := svc.primary(); p != nil {
				s.TaskDefinition = aws.String(p.TaskDef)
			}
			for _, ts := range svc.TaskSets {
				s.RunningCount += int32(ts.Running)
				s.TaskSets = append(s.TaskSets, ecstypes.TaskSet{Id: aws.String(ts.ID), Status: aws.String(ts.Status),
					TaskDefinition: aws.String(ts.TaskDef), LoadBalancers: []ecstypes.LoadBalancer{w.st.lb(ts.TG)},
					ComputedDesiredCount: int32(svc.Desired), RunningCount: int32(ts.Running)})
			}
			out.Services = append(out.Services, s)
		}
		return out, nil
	})
}

func (st *stack) lb(tg string) ecstypes.LoadBalancer {
	return ecstypes.LoadBalancer{TargetGroupArn: aws.String(tg), ContainerName: aws.String(st.container), ContainerPort: aws.Int32(int32(st.port))}
}

// UpdateService changes the desired count; every task set of a CODE_DEPLOY
// service follows it (scale 100 %), new tasks start unhealthy
// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html).
func (c *client) UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, _ ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error) {
	return do(c, ctx, "UpdateService", fmt.Sprintf("%s desired=%d", aws.ToString(in.Service), aws.ToInt32(in.DesiredCount)), func(w *World) (*ecs.UpdateServiceOutput, error) {
		w.inCluster(in.Cluster)
		svc := w.Services[aws.ToString(in.Service)]
		if svc == nil {
			return nil, apiErr("ServiceNotFoundException", "Service not found.")
		}
		if in.DesiredCount != nil {
			w.scale(svc, int(*in.DesiredCount))
		}
		return &ecs.UpdateServiceOutput{Service: &ecstypes.Service{ServiceName: in.Service, DesiredCount: int32(svc.Desired)}}, nil
	})
}

func (w *World) scale(svc *Service, desired int) {
	for _, ts := range svc.TaskSets {
		if desired > ts.Running {
			ts.Healthy = w.healthyAtOnce()
		}
		ts.Running = desired
		if desired == 0 {
			ts.Healthy = false
		}
	}
	svc.Desired = desired
}

func (c *client) DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	td := aws.ToString(in.TaskDefinition)
	return do(c, ctx, "DescribeTaskDefinition", td, func(w *World) (*ecs.DescribeTaskDefinitionOutput, error) {
		v, ok := w.TaskDefs[td]
		if !ok {
			return nil, apiErr("ClientException", "Unable to describe task definition.")
		}
		return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &ecstypes.TaskDefinition{TaskDefinitionArn: aws.String(td),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String(w.st.container), Image: aws.String(w.imageOf(td, v))}}}}, nil
	})
}

// --- ELB ---

// DescribeRules lists the listener's rules by priority, the default rule
// last, a page at a time: PageSize is 1–400 and the answer holds at most
// that many rules, with NextMarker when more follow
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeRules.html).
// The scenario's PageSize serves shorter pages than asked (a maximum, not
// a promise), so a hook that reads only the first page is caught.
func (c *client) DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error) {
	return do(c, ctx, "DescribeRules", aws.ToString(in.Marker), func(w *World) (*elbv2.DescribeRulesOutput, error) {
		// A call names a listener or rules, not both.
		switch {
		case len(in.RuleArns) > 0 && in.ListenerArn != nil:
			return nil, apiErr("ValidationError", "Specify either a listener ARN or rule ARNs, not both")
		case len(in.RuleArns) == 0 && aws.ToString(in.ListenerArn) != w.st.listenerARN:
			return nil, apiErr("ListenerNotFound", "One or more listeners not found")
		}
		rules := w.Rules
		if len(in.RuleArns) > 0 {
			rules = nil
			for _, arn := range in.RuleArns {
				rules = append(rules, must(w.findRule(arn)))
			}
		}
		got, next := page(paging{max: 400, sizeCode: "ValidationError", tokenCode: "ValidationError"}, inOrder(rules), in.Marker, in.PageSize, w.pageSize)
		out := &elbv2.DescribeRulesOutput{NextMarker: next}
		for _, r := range got {
			out.Rules = append(out.Rules, r.sdk())
		}
		return out, nil
	})
}

func (r *Rule) sdk() elbtypes.Rule {
	prio := strconv.Itoa(r.Priority)
	if r.Kind == KindDefault {
		prio = "default"
	}
	var tgs []elbtypes.TargetGroupTuple
	for _, f := range r.Forward {
		tgs = append(tgs, elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(f.TG), Weight: aws.Int32(int32(f.Weight))})
	}
	return elbtypes.Rule{RuleArn: aws.String(r.ARN), Priority: aws.String(prio), IsDefault: aws.Bool(r.Kind == KindDefault),
		Actions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, Order: aws.Int32(1), ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: tgs}}}}
}

func (c *client) DescribeTargetHealth(ctx context.Context, in *elbv2.DescribeTargetHealthInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error) {
	tg := aws.ToString(in.TargetGroupArn)
	return do(c, ctx, "DescribeTargetHealth", tg, func(w *World) (*elbv2.DescribeTargetHealthOutput, error) {
		// The stack's target groups are the two services' pairs; another
		// is TargetGroupNotFound
		// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeTargetHealth.html).
		if !slices.Contains(append(w.st.latestTG[:], w.st.stableTG[:]...), tg) {
			return nil, apiErr("TargetGroupNotFound", "One or more target groups not found")
		}
		out := &elbv2.DescribeTargetHealthOutput{}
		for _, name := range []string{w.st.latestService, w.st.stableService} {
			svc := w.Services[name]
			for _, ts := range svc.TaskSets {
				if ts.TG != tg {
					continue
				}
				state := elbtypes.TargetHealthStateEnumInitial
				if ts.Healthy {
					state = elbtypes.TargetHealthStateEnumHealthy
				}
				for i := range ts.Running {
					out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, elbtypes.TargetHealthDescription{
						Target:       &elbtypes.TargetDescription{Id: aws.String(fmt.Sprintf("%s-%d", ts.ID, i))},
						TargetHealth: &elbtypes.TargetHealth{State: state}})
				}
			}
		}
		return out, nil
	})
}

// SetRulePriorities is atomic, rejects a priority outside 1–50000
// (ValidationError) or one another rule of the listener holds
// (PriorityInUse), and answers with the rules it changed
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_SetRulePriorities.html,
// https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_RulePriorityPair.html).
func (c *client) SetRulePriorities(ctx context.Context, in *elbv2.SetRulePrioritiesInput, _ ...func(*elbv2.Options)) (*elbv2.SetRulePrioritiesOutput, error) {
	detail := ""
	for _, p := range in.RulePriorities {
		detail += fmt.Sprintf("%s=%d ", c.w.st.ruleName(aws.ToString(p.RuleArn)), aws.ToInt32(p.Priority))
	}
	return do(c, ctx, "SetRulePriorities", detail, func(w *World) (*elbv2.SetRulePrioritiesOutput, error) {
		for _, p := range in.RulePriorities {
			r := must(w.findRule(aws.ToString(p.RuleArn)))
			prio := int(aws.ToInt32(p.Priority))
			switch {
			case prio < 1 || prio > 50000:
				return nil, apiErr("ValidationError", fmt.Sprintf("Priority %d must be between 1 and 50000", prio))
			case r.Kind == KindDefault:
				return nil, apiErr("OperationNotPermitted", "The default rule's priority cannot be changed")
			case slices.ContainsFunc(w.Rules, func(o *Rule) bool { return o != r && o.Priority == prio }):
				return nil, apiErr("PriorityInUse", "Priority is currently in use")
			}
		}
		out := &elbv2.SetRulePrioritiesOutput{}
		for _, p := range in.RulePriorities {
			r := w.rule(aws.ToString(p.RuleArn))
			r.Priority = int(aws.ToInt32(p.Priority))
			out.Rules = append(out.Rules, r.sdk())
		}
		return out, nil
	})
}

// ModifyRule replaces the rule's actions.
func (c *client) ModifyRule(ctx context.Context, in *elbv2.ModifyRuleInput, _ ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error) {
	var fwd []Weighted
	for _, a := range in.Actions {
		if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0 {
			for _, tg := range a.ForwardConfig.TargetGroups {
				fwd = append(fwd, Weighted{aws.ToString(tg.TargetGroupArn), int(aws.ToInt32(tg.Weight))})
			}
		} else if a.TargetGroupArn != nil {
			fwd = append(fwd, Weighted{aws.ToString(a.TargetGroupArn), 100})
		}
	}
	return do(c, ctx, "ModifyRule", fmt.Sprintf("%s→%v", c.w.st.ruleName(aws.ToString(in.RuleArn)), fwd), func(w *World) (*elbv2.ModifyRuleOutput, error) {
		must(w.findRule(aws.ToString(in.RuleArn))).Forward = fwd
		return &elbv2.ModifyRuleOutput{}, nil
	})
}

// --- CodeDeploy ---

// PutLifecycleEventHookExecutionStatus accepts one report per lifecycle
// event execution
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_PutLifecycleEventHookExecutionStatus.html).
func (c *client) PutLifecycleEventHookExecutionStatus(ctx context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, _ ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error) {
	return do(c, ctx, "PutLifecycleEventHookExecutionStatus", string(in.Status), func(w *World) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error) {
		d := must(w.findDeployment(aws.ToString(in.DeploymentId)))
		for _, l := range d.Hooks {
			if l.ExecID == aws.ToString(in.LifecycleEventHookExecutionId) {
				if l.Status != "InProgress" {
					return nil, apiErr("LifecycleEventAlreadyCompletedException", "already completed")
				}
				l.Status = string(in.Status)
				c.accepted(d.ID, l.ExecID, l.Status)
				w.afterReport(d, l)
				return &codedeploy.PutLifecycleEventHookExecutionStatusOutput{LifecycleEventHookExecutionId: in.LifecycleEventHookExecutionId}, nil
			}
		}
		return nil, apiErr("InvalidLifecycleEventHookExecutionIdException", "unknown execution id")
	})
}

func (c *client) ListDeployments(ctx context.Context, in *codedeploy.ListDeploymentsInput, _ ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error) {
	group := aws.ToString(in.DeploymentGroupName)
	return do(c, ctx, "ListDeployments", group+" "+aws.ToString(in.NextToken), func(w *World) (*codedeploy.ListDeploymentsOutput, error) {
		must(w.findGroup(in.ApplicationName, in.DeploymentGroupName))
		var ids []string
		for _, d := range w.Deployments {
			if d.Group == group && (len(in.IncludeOnlyStatuses) == 0 || slices.Contains(in.IncludeOnlyStatuses, cdtypes.DeploymentStatus(w.Reading.listedStatus(d)))) {
				ids = append(ids, d.ID)
			}
		}
		// Paginated by NextToken
		// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ListDeployments.html).
		got, next := page(paging{tokenCode: "InvalidNextTokenException"}, ids, in.NextToken, nil, w.pageSize)
		return &codedeploy.ListDeploymentsOutput{Deployments: slices.Clone(got), NextToken: next}, nil
	})
}

func (c *client) GetDeploymentTarget(ctx context.Context, in *codedeploy.GetDeploymentTargetInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentTargetOutput, error) {
	id := aws.ToString(in.DeploymentId)
	return do(c, ctx, "GetDeploymentTarget", id, func(w *World) (*codedeploy.GetDeploymentTargetOutput, error) {
		d := must(w.findDeployment(id))
		if d.Phase == phaseCreated || aws.ToString(in.TargetId) != w.st.cluster+":"+w.st.serviceOf(d.Group) {
			return nil, apiErr("DeploymentTargetDoesNotExistException", "no such target")
		}
		t := &cdtypes.ECSTarget{DeploymentId: aws.String(id), TargetId: in.TargetId, TaskSetsInfo: w.taskSetsInfo(d)}
		t.LifecycleEvents = w.lifecycleEvents(d)
		return &codedeploy.GetDeploymentTargetOutput{DeploymentTarget: &cdtypes.DeploymentTarget{DeploymentTargetType: cdtypes.DeploymentTargetTypeEcsTarget, EcsTarget: t}}, nil
	})
}

var appSpecTaskDef = regexp.MustCompile(`TaskDefinition:\s*"?([^"\s]+)"?`)

func (c *client) CreateDeployment(ctx context.Context, in *codedeploy.CreateDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.CreateDeploymentOutput, error) {
	group := aws.ToString(in.DeploymentGroupName)
	return do(c, ctx, "CreateDeployment", group, func(w *World) (*codedeploy.CreateDeploymentOutput, error) {
		// The application and its group must exist
		// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_CreateDeployment.html).
		must(w.findGroup(in.ApplicationName, in.DeploymentGroupName))
		if in.Revision == nil || in.Revision.AppSpecContent == nil {
			return nil, apiErr("RevisionRequiredException", "revision required")
		}
		m := appSpecTaskDef.FindStringSubmatch(aws.ToString(in.Revision.AppSpecContent.Content))
		if m == nil {
			return nil, apiErr("InvalidRevisionException", "no TaskDefinition in the AppSpec")
		}
		if _, ok := w.TaskDefs[m[1]]; !ok {
			return nil, apiErr("InvalidRevisionException", "unknown task definition "+m[1])
		}
		d, err := w.createDeployment(group, m[1], -1)
		if err != nil {
			return nil, apiErr("DeploymentLimitExceededException", err.Error())
		}
		w.logf("  %s created by the rollback function: latest → v%d", d.ID, w.TaskDefs[m[1]])
		return &codedeploy.CreateDeploymentOutput{DeploymentId: aws.String(d.ID)}, nil
	})
}

// --- CodePipeline ---

func (c *client) GetPipelineExecution(ctx context.Context, in *codepipeline.GetPipelineExecutionInput, _ ...func(*codepipeline.Options)) (*codepipeline.GetPipelineExecutionOutput, error) {
	id := aws.ToString(in.PipelineExecutionId)
	return do(c, ctx, "GetPipelineExecution", id, func(w *World) (*codepipeline.GetPipelineExecutionOutput, error) {
		for _, e := range w.Executions {
			if e.ID == id {
				return &codepipeline.GetPipelineExecutionOutput{PipelineExecution: &cptypes.PipelineExecution{
					PipelineExecutionId: aws.String(id), Status: cptypes.PipelineExecutionStatus(e.Status),
					ArtifactRevisions: []cptypes.ArtifactRevision{
						{Name: aws.String("Bundle"), RevisionId: aws.String("3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")},
						{Name: aws.String("Image"), RevisionId: aws.String(Digest(e.Version))},
					}}}, nil
			}
		}
		return nil, apiErr("PipelineExecutionNotFoundException", "no such execution")
	})
}

// PutApprovalResult decides a pending approval; a token that is not the
// pending one is refused
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PutApprovalResult.html).
func (c *client) PutApprovalResult(ctx context.Context, in *codepipeline.PutApprovalResultInput, _ ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error) {
	var status cptypes.ApprovalStatus
	if in.Result != nil {
		status = in.Result.Status
	}
	return do(c, ctx, "PutApprovalResult", string(status), func(w *World) (*codepipeline.PutApprovalResultOutput, error) {
		if err := w.checkApprovalInput(in); err != nil {
			return nil, err
		}
		for _, e := range w.Executions {
			if e.Token != "" && e.Token == aws.ToString(in.Token) {
				w.logf("  %s's approval %s by a function: %s", e.ID, in.Result.Status, aws.ToString(in.Result.Summary))
				c.decided(e.ID, string(in.Result.Status), aws.ToString(in.Result.Summary))
				w.decide(e, in.Result.Status == cptypes.ApprovalStatusApproved, aws.ToString(in.Result.Summary))
				return &codepipeline.PutApprovalResultOutput{ApprovedAt: w.wallClock()}, nil
			}
		}
		return nil, apiErr("InvalidApprovalTokenException", "The approval action cannot be found or has already been completed")
	})
}

func (st *stack) ruleName(arn string) string { return strings.TrimPrefix(arn, st.rulePrefix) }

// --- CodeDeploy, as the smoke hook reads it ---

// GetDeployment answers the deployment's group and status
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_GetDeployment.html,
// DeploymentInfo).
func (c *client) GetDeployment(ctx context.Context, in *codedeploy.GetDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error) {
	id := aws.ToString(in.DeploymentId)
	return do(c, ctx, "GetDeployment", id, func(w *World) (*codedeploy.GetDeploymentOutput, error) {
		d := must(w.findDeployment(id))
		info := w.deploymentInfo(d)
		return &codedeploy.GetDeploymentOutput{DeploymentInfo: &info}, nil
	})
}

// ListDeploymentTargets lists an ECS deployment's one target, its service,
// as "<cluster>:<service>" (the id GetDeploymentTarget takes); a
// deployment not started yet has none
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ListDeploymentTargets.html).
func (c *client) ListDeploymentTargets(ctx context.Context, in *codedeploy.ListDeploymentTargetsInput, _ ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error) {
	id := aws.ToString(in.DeploymentId)
	return do(c, ctx, "ListDeploymentTargets", id, func(w *World) (*codedeploy.ListDeploymentTargetsOutput, error) {
		d := must(w.findDeployment(id))
		out := &codedeploy.ListDeploymentTargetsOutput{TargetIds: []string{}}
		if d.Phase != phaseCreated {
			out.TargetIds = append(out.TargetIds, w.st.cluster+":"+w.st.serviceOf(d.Group))
		}
		return out, nil
	})
}

// taskSetsInfo is an ECS target's task sets: the original labelled Blue,
// the replacement Green, each with its desired and running count
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ECSTaskSet.html).
func (w *World) taskSetsInfo(d *Deployment) []cdtypes.ECSTaskSet {
	svc := w.Services[w.st.serviceOf(d.Group)]
	var out []cdtypes.ECSTaskSet
	for i, id := range []string{d.Original, d.Replacement} {
		if ts := w.taskSet(svc, id); ts != nil {
			label := []cdtypes.TargetLabel{cdtypes.TargetLabelBlue, cdtypes.TargetLabelGreen}[i]
			out = append(out, cdtypes.ECSTaskSet{Identifer: aws.String(ts.ID), TaskSetLabel: label, Status: aws.String(ts.Status),
				DesiredCount: int64(ts.Running), RunningCount: int64(ts.Running), TrafficWeight: w.trafficWeight(d.Group, ts.TG),
				TargetGroup: &cdtypes.TargetGroupInfo{Name: aws.String(tgName(ts.TG))}})
		}
	}
	return out
}

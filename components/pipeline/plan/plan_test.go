package plan_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// A real ECR push event, as documented in "Amazon ECR events and EventBridge".
const ecrPushEvent = `{
  "version": "0", "id": "13cde686-328b-6117-af20-0e5566167482",
  "detail-type": "ECR Image Action", "source": "aws.ecr",
  "account": "123456789012", "time": "2019-11-16T01:54:34Z", "region": "us-west-2",
  "resources": [],
  "detail": {
    "result": "SUCCESS", "repository-name": "my-repository-name",
    "image-digest": "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234",
    "action-type": "PUSH", "image-tag": "latest"
  }
}`

// A real CodeDeploy deployment state-change event (CodeDeploy user guide,
// "Monitoring deployments with Amazon EventBridge").
const codeDeployEvent = `{
  "account": "123456789012", "region": "us-east-1",
  "detail-type": "CodeDeploy Deployment State-change Notification",
  "source": "aws.codedeploy", "version": "0", "time": "2016-06-30T22:06:31Z",
  "id": "c071bfbf-83c4-49ca-a6ff-3df053957145",
  "resources": [
    "arn:aws:codedeploy:us-east-1:123456789012:application:myApplication",
    "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:myApplication/myDeploymentGroup"
  ],
  "detail": {
    "instanceGroupId": "9fd2fbef-2157-40d8-91e7-6845af69e2d2", "region": "us-east-1",
    "application": "myApplication", "deploymentId": "d-123456789",
    "state": "FAILURE", "deploymentGroup": "myDeploymentGroup"
  }
}`

// withDetail returns the event with detail fields replaced.
func withDetail(t *testing.T, event string, changes map[string]any) []byte {
	t.Helper()
	var e map[string]any
	require.NoError(t, json.Unmarshal([]byte(event), &e))
	d := e["detail"].(map[string]any)
	for k, v := range changes {
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
	}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	return b
}

func TestECRPushPatternMatchesOnlyThisRepositoryAndTag(t *testing.T) {
	pattern := []byte(plan.ECRPushPattern("my-repository-name", "latest").JSON())
	for _, tc := range []struct {
		name   string
		change map[string]any
		want   bool
	}{
		{"the push of the configured tag", nil, true},
		{"another tag", map[string]any{"image-tag": "v2"}, false},
		{"a tag differing in case", map[string]any{"image-tag": "Latest"}, false},
		{"a tag that only starts like it", map[string]any{"image-tag": "latest-rc"}, false},
		{"another repository", map[string]any{"repository-name": "other"}, false},
		{"a failed push", map[string]any{"result": "FAILURE"}, false},
		{"a delete", map[string]any{"action-type": "DELETE"}, false},
		{"a push by digest only (no tag)", map[string]any{"image-tag": nil}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := plan.MatchEvent(pattern, withDetail(t, ecrPushEvent, tc.change))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	other, err := plan.MatchEvent(pattern, []byte(strings.Replace(ecrPushEvent, `"aws.ecr"`, `"custom.ecr"`, 1)))
	require.NoError(t, err)
	assert.False(t, other, "only events from ECR itself")
}

func TestCleanupPatternMatchesTheEndOfEitherGroupsDeployments(t *testing.T) {
	pattern := []byte(plan.DeploymentEndedPattern("myApplication", "myDeploymentGroup", "stable").JSON())
	for _, tc := range []struct {
		name   string
		change map[string]any
		want   bool
	}{
		{"a failed deployment", nil, true},
		{"a stopped deployment", map[string]any{"state": "STOP"}, true},
		{"a successful deployment", map[string]any{"state": "SUCCESS"}, true},
		{"a started deployment", map[string]any{"state": "START"}, false},
		{"a ready deployment", map[string]any{"state": "READY"}, false},
		{"a failure of the stable group", map[string]any{"deploymentGroup": "stable"}, true},
		{"a success of the stable group", map[string]any{"deploymentGroup": "stable", "state": "SUCCESS"}, true},
		{"another group", map[string]any{"deploymentGroup": "other"}, false},
		{"a failure of another application", map[string]any{"application": "other"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := plan.MatchEvent(pattern, withDetail(t, codeDeployEvent, tc.change))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	instance := strings.Replace(codeDeployEvent, "Deployment State-change", "Instance State-change", 1)
	got, err := plan.MatchEvent(pattern, []byte(instance))
	require.NoError(t, err)
	assert.False(t, got, "instance events are not deployment events")
}

// A CodePipeline action execution state-change event, in the shape of the
// CodePipeline User Guide's "Monitoring CodePipeline events"
// (https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html).
const approvalEvent = `{
  "version": "0", "id": "CWE-event-id",
  "detail-type": "CodePipeline Action Execution State Change", "source": "aws.codepipeline",
  "account": "123456789012", "time": "2017-04-22T03:31:47Z", "region": "us-east-1",
  "resources": ["arn:aws:codepipeline:us-east-1:123456789012:myPipeline"],
  "detail": {
    "pipeline": "myPipeline", "version": 1, "execution-id": "01234567-0123-0123-0123-012345678901",
    "stage": "Approve", "action": "Approve", "state": "FAILED",
    "type": {"owner": "AWS", "category": "Approval", "provider": "Manual", "version": "1"}
  }
}`

func TestRollbackPatternMatchesOnlyAFailedApproveActionOfThisPipeline(t *testing.T) {
	pattern := []byte(plan.ApprovalFailedPattern("myPipeline").JSON())
	for _, tc := range []struct {
		name   string
		change map[string]any
		want   bool
	}{
		{"a rejected or expired approval", nil, true},
		{"an approval granted", map[string]any{"state": "SUCCEEDED"}, false},
		{"an approval requested", map[string]any{"state": "STARTED"}, false},
		{"a superseded approval", map[string]any{"state": "CANCELED"}, false},
		{"another pipeline", map[string]any{"pipeline": "other"}, false},
		{"another stage", map[string]any{"stage": "Latest", "action": "Deploy"}, false},
		{"another action of the stage", map[string]any{"action": "Check"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := plan.MatchEvent(pattern, withDetail(t, approvalEvent, tc.change))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	stageEvent := strings.Replace(approvalEvent, "Action Execution State Change", "Stage Execution State Change", 1)
	got, err := plan.MatchEvent(pattern, []byte(stageEvent))
	require.NoError(t, err)
	assert.False(t, got, "a stage event is not the action's")
}

func TestMatchEventSemantics(t *testing.T) {
	for _, tc := range []struct {
		name, pattern, event string
		want                 bool
		wantErr              bool
	}{
		{"array in the event matches any element", `{"resources":["a"]}`, `{"resources":["b","a"]}`, true, false},
		{"numbers compare exactly", `{"n":[1]}`, `{"n":1}`, true, false},
		{"a string is not a number", `{"n":["1"]}`, `{"n":1}`, false, false},
		{"a missing nested object", `{"detail":{"a":["x"]}}`, `{"a":"x"}`, false, false},
		{"content filters are refused", `{"a":[{"prefix":"x"}]}`, `{"a":"xy"}`, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := plan.MatchEvent([]byte(tc.pattern), []byte(tc.event))
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

var stack = plan.Stack{Partition: "aws", Region: "eu-west-1", Account: "000000000000"}

const cluster = "arn:aws:ecs:eu-west-1:000000000000:cluster/c"

const listener = "arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2"

const (
	latestGroupArn = "arn:aws:codedeploy:eu-west-1:000000000000:deploymentgroup:app/latest"
	stableGroupArn = "arn:aws:codedeploy:eu-west-1:000000000000:deploymentgroup:app/stable"
	appArn         = "arn:aws:codedeploy:eu-west-1:000000000000:application:app"
	catchAllArn    = "arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener-rule/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
)

var hookResources = plan.HookResources{
	Stack: stack, ClusterArn: cluster, LatestServiceName: "latest", StableServiceName: "stable",
	ListenerArn: listener, CatchAllRuleArn: catchAllArn,
	ApplicationArn: appArn, LatestGroupArn: latestGroupArn, StableGroupArn: stableGroupArn,
	DeploymentConfigName: "cfg", PipelineName: "pipe", ApprovalRequired: true,
}

func actionsToResources(doc plan.PolicyDocument) map[string][]string {
	byAction := map[string][]string{}
	for _, s := range doc.Statement {
		for _, a := range s.Action {
			byAction[a] = append(byAction[a], s.Resource...)
		}
	}
	return byAction
}

func allPolicies(t *testing.T) map[string]plan.PolicyDocument {
	t.Helper()
	cd, err := plan.CodeDeployRole{
		ClusterArn: cluster, ServiceNames: []string{"latest", "stable"}, ListenerArn: listener,
		HookFunctionArns: []string{"arn:fn:pin", "arn:fn:unpin"}, BucketArn: "arn:aws:s3:::b",
		TaskRoleArns: []string{"arn:role:exec", "arn:role:task"},
	}.Policy()
	require.NoError(t, err)
	hooks := map[string]plan.PolicyDocument{}
	for _, h := range contract.Hooks {
		doc, err := plan.HookPolicy(h, hookResources, "/aws/lambda/"+string(h))
		require.NoError(t, err, h)
		hooks[string(h)] = doc
	}
	return map[string]plan.PolicyDocument{
		"pipeline": plan.PipelineRole{
			Stack: stack, BucketArn: "arn:aws:s3:::b", RepositoryArn: "arn:repo", ApplicationArn: "arn:app",
			DeploymentGroupArns: []string{"arn:g1", "arn:g2"}, DeploymentConfigName: "cfg",
			TaskRoleArns: []string{"arn:role:exec", "arn:role:task"}, ApprovalTopicArn: "arn:topic",
		}.Policy(),
		"codedeploy": cd,
		"pin":        hooks["pin"],
		"unpin":      hooks["unpin"],
		"cleanup":    hooks["cleanup"],
		"rollback":   hooks["rollback"],
		"trigger":    plan.TriggerPolicy("arn:pipeline"),
		"bucket":     plan.TLSOnlyBucketPolicy("arn:aws:s3:::b"),
		"assume":     plan.AssumeRolePolicy(plan.ServiceLambda),
	}
}

func TestEveryPolicyPassesTheLeastPrivilegeCheck(t *testing.T) {
	for name, doc := range allPolicies(t) {
		assert.Empty(t, plan.Check(doc), name)
	}
}

// The checker itself must catch what it is for, or the component test that
// relies on it could never fail.
func TestCheckCatchesWildcardsAndUnconditionedPassRole(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   plan.Statement
		want string
	}{
		{"scopeable action on *", plan.Allow("x", []string{"ecs:UpdateService"}, "*"), "not in the unscoped allow-list"},
		{"wildcard action", plan.Allow("x", []string{"s3:*"}, "arn:aws:s3:::b"), "wildcard action"},
		{"PassRole without condition", plan.Allow("x", []string{"iam:PassRole"}, "arn:role"), "iam:PassedToService"},
		{"PassRole to another service", func() plan.Statement {
			s := plan.PassTaskRoles("arn:role")
			s.Condition["StringEquals"]["iam:PassedToService"] = []string{"lambda.amazonaws.com"}
			return s
		}(), "iam:PassedToService"},
		{"anonymous principal", plan.Statement{Effect: "Allow", Principal: &plan.Principal{AWS: []string{"*"}}, Action: []string{"s3:GetObject"}, Resource: []string{"arn:b/*"}}, "any principal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := plan.Check(plan.Doc(tc.st))
			require.NotEmpty(t, problems)
			assert.Contains(t, problems[0].String(), tc.want)
		})
	}
}

func TestBucketPolicyDeniesPlainHTTP(t *testing.T) {
	doc := plan.TLSOnlyBucketPolicy("arn:aws:s3:::b")
	require.Len(t, doc.Statement, 1)
	s := doc.Statement[0]
	assert.Equal(t, "Deny", s.Effect)
	assert.ElementsMatch(t, []string{"arn:aws:s3:::b", "arn:aws:s3:::b/*"}, s.Resource)
	assert.Equal(t, []string{"false"}, s.Condition["Bool"]["aws:SecureTransport"])
}

// Each hook is granted exactly the calls lambda/rollout makes for it, on
// this stack's resources.
func TestHookPoliciesGrantExactlyWhatEachHookCalls(t *testing.T) {
	const (
		stableSvc = "arn:aws:ecs:eu-west-1:000000000000:service/c/stable"
		latestSvc = "arn:aws:ecs:eu-west-1:000000000000:service/c/latest"
		rules     = "arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener-rule/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2/*"
		pipeline  = "arn:aws:codepipeline:eu-west-1:000000000000:pipe"
	)
	policies := allPolicies(t)
	common := func(hook string) map[string][]string {
		return map[string][]string{
			"elasticloadbalancing:SetRulePriorities": {catchAllArn},
			"elasticloadbalancing:DescribeRules":     {"*"},
			"logs:CreateLogStream": {"arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/" + hook,
				"arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/" + hook + ":log-stream:*"},
			"logs:PutLogEvents": {"arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/" + hook,
				"arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/" + hook + ":log-stream:*"},
		}
	}
	with := func(m map[string][]string, extra map[string][]string) map[string][]string {
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for hook, want := range map[string]map[string][]string{
		"pin": with(common("pin"), map[string][]string{
			"ecs:DescribeServices":       {stableSvc},
			"ecs:UpdateService":          {stableSvc},
			"codedeploy:ListDeployments": {stableGroupArn},
			// "*": the Service Authorization Reference lists no resource
			// type for GetDeploymentTarget (UnscopedActions).
			"codedeploy:GetDeploymentTarget":                  {"*"},
			"elasticloadbalancing:ModifyRule":                 {rules},
			"elasticloadbalancing:DescribeTargetHealth":       {"*"},
			"elasticloadbalancing:DescribeTags":               {"*"},
			"codedeploy:PutLifecycleEventHookExecutionStatus": {"*"},
		}),
		"unpin": with(common("unpin"), map[string][]string{
			"ecs:DescribeServices":                            {latestSvc, stableSvc},
			"ecs:DescribeTaskDefinition":                      {"*"},
			"codedeploy:ListDeployments":                      {latestGroupArn},
			"codedeploy:GetDeployment":                        {stableGroupArn},
			"codedeploy:GetDeploymentTarget":                  {"*"},
			"codedeploy:PutLifecycleEventHookExecutionStatus": {"*"},
			// unpin claims the catch-all rule before its checks.
			"elasticloadbalancing:DescribeTags": {"*"},
			"elasticloadbalancing:AddTags":      {catchAllArn},
			"elasticloadbalancing:RemoveTags":   {catchAllArn},
		}),
		"cleanup": with(common("cleanup"), map[string][]string{
			"elasticloadbalancing:DescribeTags":   {"*"},
			"elasticloadbalancing:AddTags":        {catchAllArn},
			"elasticloadbalancing:RemoveTags":     {catchAllArn},
			"ecs:DescribeServices":                {latestSvc, stableSvc},
			"ecs:UpdateService":                   {stableSvc},
			"ecs:DescribeTaskDefinition":          {"*"},
			"codedeploy:ListDeployments":          {latestGroupArn, stableGroupArn},
			"codepipeline:GetPipelineState":       {pipeline},
			"codepipeline:GetPipelineExecution":   {pipeline},
			"codepipeline:ListPipelineExecutions": {pipeline},
			"codepipeline:PutApprovalResult":      {pipeline + "/Approve/Approve"},
			// cleanup rolls latest back after a failed Stable stage.
			"codedeploy:CreateDeployment":            {latestGroupArn},
			"codedeploy:GetDeploymentConfig":         {"arn:aws:codedeploy:eu-west-1:000000000000:deploymentconfig:cfg"},
			"codedeploy:GetApplicationRevision":      {appArn},
			"codedeploy:RegisterApplicationRevision": {appArn},
		}),
		"rollback": with(common("rollback"), map[string][]string{
			"elasticloadbalancing:DescribeTags": {"*"},
			"elasticloadbalancing:AddTags":      {catchAllArn},
			"elasticloadbalancing:RemoveTags":   {catchAllArn},
			"ecs:DescribeServices":              {latestSvc, stableSvc},
			"ecs:UpdateService":                 {stableSvc},
			"ecs:DescribeTaskDefinition":        {"*"},
			"codedeploy:ListDeployments":        {latestGroupArn, stableGroupArn},
			"codepipeline:GetPipelineExecution": {pipeline},
			// After a rejection: is an older, approved execution running?
			"codepipeline:ListPipelineExecutions":    {pipeline},
			"codepipeline:GetPipelineState":          {pipeline},
			"codedeploy:CreateDeployment":            {latestGroupArn},
			"codedeploy:GetDeploymentConfig":         {"arn:aws:codedeploy:eu-west-1:000000000000:deploymentconfig:cfg"},
			"codedeploy:GetApplicationRevision":      {appArn},
			"codedeploy:RegisterApplicationRevision": {appArn},
		}),
	} {
		t.Run(hook, func(t *testing.T) {
			got := actionsToResources(policies[hook])
			for a := range got {
				got[a] = sortedCopy(got[a])
			}
			for a := range want {
				want[a] = sortedCopy(want[a])
			}
			assert.Equal(t, want, got)
			assert.NotContains(t, policies[hook].JSON(), "iam:PassRole", "no hook passes a role")
		})
	}

	noApproval := hookResources
	noApproval.ApprovalRequired = false
	cleanup, err := plan.HookPolicy(contract.HookCleanup, noApproval, "/x")
	require.NoError(t, err)
	assert.NotContains(t, cleanup.JSON(), "PutApprovalResult", "no Approve stage, no approval to reject")

	bad := hookResources
	bad.ListenerArn = "not-a-listener"
	_, err = plan.HookPolicy(contract.HookPin, bad, "/x")
	assert.ErrorContains(t, err, "not a load balancer listener ARN")
	bad = hookResources
	bad.StableGroupArn = ""
	_, err = plan.HookPolicy(contract.HookUnpin, bad, "/x")
	assert.ErrorContains(t, err, "stable deployment group")
	_, err = plan.HookPolicy("smoke", hookResources, "/x")
	assert.Error(t, err)
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func TestCodeDeployPolicyShiftsOnlyThisListenersTraffic(t *testing.T) {
	doc := allPolicies(t)["codedeploy"]
	js := doc.JSON()
	assert.Contains(t, js, `"arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener-rule/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2/*"`)
	assert.Contains(t, js, `"arn:aws:ecs:eu-west-1:000000000000:task-set/c/latest/*"`)
	_, err := plan.CodeDeployRole{ClusterArn: cluster, ServiceNames: []string{"s"}, ListenerArn: "not-an-arn"}.Policy()
	assert.Error(t, err)
	_, err = plan.CodeDeployRole{ClusterArn: "tc-dev", ServiceNames: []string{"s"}, ListenerArn: listener}.Policy()
	assert.Error(t, err, "a cluster name is not a cluster ARN")
}

func TestRoutingFollowsTheTrafficConfig(t *testing.T) {
	for _, tc := range []struct {
		in   config.Traffic
		want plan.TrafficRouting
	}{
		{config.Traffic{Type: "canary", Percentage: 10, IntervalMinutes: 5}, plan.TrafficRouting{Type: "TimeBasedCanary", Percentage: 10, IntervalMinutes: 5}},
		{config.Traffic{Type: "linear", Percentage: 25, IntervalMinutes: 3}, plan.TrafficRouting{Type: "TimeBasedLinear", Percentage: 25, IntervalMinutes: 3}},
		{config.Traffic{Type: "all-at-once"}, plan.TrafficRouting{Type: "AllAtOnce", Predefined: "CodeDeployDefault.ECSAllAtOnce"}},
	} {
		got, err := plan.Routing(tc.in)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, tc.in.Type)
	}
	_, err := plan.Routing(config.Traffic{Type: "blue-green"})
	assert.Error(t, err)
}

func TestECRLifecyclePolicyIsValidAndBounded(t *testing.T) {
	var p struct {
		Rules []struct {
			RulePriority int `json:"rulePriority"`
			Selection    struct {
				TagStatus   string `json:"tagStatus"`
				CountType   string `json:"countType"`
				CountNumber int    `json:"countNumber"`
			} `json:"selection"`
		} `json:"rules"`
	}
	require.NoError(t, json.Unmarshal([]byte(plan.ECRLifecyclePolicy(30)), &p))
	require.Len(t, p.Rules, 1)
	// Count, never age: the untagged image stable still serves (and the
	// rollback target) is often older than any sensible age limit.
	for _, r := range p.Rules {
		assert.Equal(t, "imageCountMoreThan", r.Selection.CountType)
	}
	assert.Equal(t, "any", p.Rules[0].Selection.TagStatus)
	assert.Equal(t, 30, p.Rules[0].Selection.CountNumber)
}

func TestPhysicalNameFitsAndStaysUnique(t *testing.T) {
	assert.Equal(t, "tenant-canary-dev-pipeline-pin", plan.PhysicalName(64, "tenant-canary", "dev", "pipeline", "pin"))
	assert.Equal(t, "a-b_c", plan.PhysicalName(64, "a/", "b_c"))
	long1 := plan.PhysicalName(64, strings.Repeat("x", 70), "pin")
	long2 := plan.PhysicalName(64, strings.Repeat("x", 70), "unpin")
	assert.Len(t, long1, 64)
	assert.NotEqual(t, long1, long2)
}

func TestListenerRulesArn(t *testing.T) {
	got, err := plan.ListenerRulesArn(listener)
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener-rule/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2/*", got)
}

package plan_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
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

func TestCleanupPatternMatchesFailedOrStoppedLatestDeploymentsOnly(t *testing.T) {
	pattern := []byte(plan.DeploymentEndedBadlyPattern("myApplication", "myDeploymentGroup").JSON())
	for _, tc := range []struct {
		name   string
		change map[string]any
		want   bool
	}{
		{"a failed deployment", nil, true},
		{"a stopped deployment", map[string]any{"state": "STOP"}, true},
		{"a successful deployment", map[string]any{"state": "SUCCESS"}, false},
		{"a started deployment", map[string]any{"state": "START"}, false},
		{"a failure of the stable group", map[string]any{"deploymentGroup": "stable"}, false},
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

const latestGroupArn = "arn:aws:codedeploy:eu-west-1:000000000000:deploymentgroup:app/latest"

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
	hook, err := plan.HookRole{
		Stack: stack, ClusterArn: cluster, StableServiceName: "stable", CatchAllRuleArn: "arn:rule",
		DeploymentGroupArns: []string{"arn:g1"}, LogGroupName: "/aws/lambda/pin",
		RepairRulesOfListenerArn: listener,
	}.Policy()
	require.NoError(t, err)
	cleanup, err := plan.HookRole{
		Stack: stack, ClusterArn: cluster, StableServiceName: "stable", CatchAllRuleArn: "arn:rule",
		LogGroupName: "/aws/lambda/cleanup", LatestServiceName: "latest", LatestDeploymentGroupArn: latestGroupArn,
	}.Policy()
	require.NoError(t, err)
	return map[string]plan.PolicyDocument{
		"pipeline": plan.PipelineRole{
			Stack: stack, BucketArn: "arn:aws:s3:::b", RepositoryArn: "arn:repo", ApplicationArn: "arn:app",
			DeploymentGroupArns: []string{"arn:g1", "arn:g2"}, DeploymentConfigName: "cfg",
			TaskRoleArns: []string{"arn:role:exec", "arn:role:task"}, ApprovalTopicArn: "arn:topic",
		}.Policy(),
		"codedeploy": cd,
		"hook":       hook,
		"cleanup":    cleanup,
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

func TestHookPolicyMovesOnlyTheCatchAllRuleAndScalesOnlyStable(t *testing.T) {
	doc := allPolicies(t)["hook"]
	byAction := map[string][]string{}
	for _, s := range doc.Statement {
		for _, a := range s.Action {
			byAction[a] = append(byAction[a], s.Resource...)
		}
	}
	assert.Equal(t, []string{"arn:rule"}, byAction["elasticloadbalancing:SetRulePriorities"])
	assert.Equal(t, []string{"arn:aws:ecs:eu-west-1:000000000000:service/c/stable"}, byAction["ecs:UpdateService"])
	assert.Equal(t, []string{"arn:g1"}, byAction["codedeploy:PutLifecycleEventHookExecutionStatus"])
	assert.Equal(t, []string{
		"arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/pin",
		"arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/pin:log-stream:*",
	}, byAction["logs:PutLogEvents"])

	cleanup, err := plan.HookRole{Stack: stack, ClusterArn: cluster, StableServiceName: "stable", CatchAllRuleArn: "arn:rule", LogGroupName: "/aws/lambda/cleanup"}.Policy()
	require.NoError(t, err)
	assert.NotContains(t, cleanup.JSON(), "PutLifecycleEventHookExecutionStatus", "cleanup reports to no deployment")
}

func TestPinPolicyRepairsOnlyThisListenersRules(t *testing.T) {
	pin := actionsToResources(allPolicies(t)["hook"])
	assert.Equal(t, []string{"arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener-rule/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2/*"},
		pin["elasticloadbalancing:ModifyRule"])

	unpin, err := plan.HookRole{Stack: stack, ClusterArn: cluster, StableServiceName: "stable", CatchAllRuleArn: "arn:rule", LogGroupName: "/aws/lambda/unpin"}.Policy()
	require.NoError(t, err)
	assert.NotContains(t, unpin.JSON(), "ModifyRule", "only pin repairs rules")

	_, err = plan.HookRole{Stack: stack, ClusterArn: cluster, StableServiceName: "stable", CatchAllRuleArn: "arn:rule", LogGroupName: "/x",
		RepairRulesOfListenerArn: "not-a-listener"}.Policy()
	assert.ErrorContains(t, err, "not a load balancer listener ARN")
}

func TestCleanupPolicyReadsBothServicesTaskDefinitionsAndTheLatestGroup(t *testing.T) {
	cleanup := actionsToResources(allPolicies(t)["cleanup"])
	assert.ElementsMatch(t, []string{
		"arn:aws:ecs:eu-west-1:000000000000:service/c/stable", "arn:aws:ecs:eu-west-1:000000000000:service/c/latest",
	}, cleanup["ecs:DescribeServices"], "one DescribeServices call names both")
	assert.Equal(t, []string{"arn:aws:ecs:eu-west-1:000000000000:service/c/stable"}, cleanup["ecs:UpdateService"])
	assert.Equal(t, []string{"*"}, cleanup["ecs:DescribeTaskDefinition"])
	assert.Contains(t, plan.UnscopedActions, "ecs:DescribeTaskDefinition")
	assert.Equal(t, []string{latestGroupArn}, cleanup["codedeploy:GetDeploymentGroup"])
	assert.NotContains(t, cleanup, "elasticloadbalancing:ModifyRule")
	assert.NotContains(t, cleanup, "codedeploy:PutLifecycleEventHookExecutionStatus")

	_, err := plan.HookRole{Stack: stack, ClusterArn: cluster, StableServiceName: "stable", CatchAllRuleArn: "arn:rule", LogGroupName: "/x",
		LatestServiceName: "latest"}.Policy()
	assert.ErrorContains(t, err, "go together")
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

package plan_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

func TestSmokeChecksImpersonateTheTenantTheWayTheALBRecognisesIt(t *testing.T) {
	st := config.SmokeTest{Enabled: true, ExpectStatus: 200, ExpectBody: "ok", Requests: 3, TimeoutSeconds: 5, Tenant: "acme"}
	paths := []string{"/healthz", "/version?x=1"}
	for _, tc := range []struct {
		match config.TenantMatch
		want  []contract.SmokeRequest
	}{
		{config.TenantMatch{Type: "path", Pattern: "/app/{tenant}"},
			[]contract.SmokeRequest{{Path: "/app/acme/healthz"}, {Path: "/app/acme/version?x=1"}}},
		{config.TenantMatch{Type: "header", Pattern: "{tenant}", Name: "X-Tenant-Id"},
			[]contract.SmokeRequest{{Path: "/healthz", Headers: map[string]string{"X-Tenant-Id": "acme"}}, {Path: "/version?x=1", Headers: map[string]string{"X-Tenant-Id": "acme"}}}},
		{config.TenantMatch{Type: "host", Pattern: "{tenant}.example.com"},
			[]contract.SmokeRequest{{Path: "/healthz", Host: "acme.example.com"}, {Path: "/version?x=1", Host: "acme.example.com"}}},
	} {
		t.Run(tc.match.Type, func(t *testing.T) {
			got := plan.SmokeChecks(st, paths, tc.match)
			assert.Equal(t, contract.SmokeChecks{Requests: tc.want, Count: 3, ExpectStatus: 200, ExpectBody: "ok", TimeoutSeconds: 5}, got)
		})
	}
	st.Tenant = ""
	got := plan.SmokeChecks(st, []string{"/healthz"}, config.TenantMatch{Type: "path", Pattern: "/app/{tenant}"})
	assert.Equal(t, []contract.SmokeRequest{{Path: "/healthz"}}, got.Requests, "no tenant: the path as configured")
}

func TestSmokeHookPolicyIsLeastPrivilege(t *testing.T) {
	st := plan.Stack{Partition: "aws", Region: "eu-west-1", Account: "123456789012"}
	groups := []string{st.DeploymentGroupArn("app", "latest"), st.DeploymentGroupArn("app", "stable")}
	doc, err := plan.SmokeHookRole{
		Stack: st, DeploymentGroupArns: groups, LogGroupName: "/aws/lambda/smoke",
		SubnetIDs: []string{"subnet-b", "subnet-a"}, SecurityGroupID: "sg-1",
	}.Policy()
	require.NoError(t, err)
	assert.Empty(t, plan.Check(doc))
	by := map[string]plan.Statement{}
	for _, s := range doc.Statement {
		by[s.Sid] = s
	}
	assert.Equal(t, "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:app/latest", groups[0])
	assert.Equal(t, groups, by["ReadOwnDeployments"].Resource)
	assert.Equal(t, []string{"*"}, by["ReportLifecycleHook"].Resource, "no resource type in the Service Authorization Reference")
	assert.Equal(t, []string{
		"arn:aws:ec2:eu-west-1:123456789012:network-interface/*",
		"arn:aws:ec2:eu-west-1:123456789012:security-group/sg-1",
		"arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-a",
		"arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-b",
	}, by["CreateFunctionInterfaces"].Resource)
	assert.Equal(t, []string{"*"}, by["DescribeVpcNetwork"].Resource)
	// "*" because the Service Authorization Reference lists no resource
	// type for either read; the checker accepts it only through
	// UnscopedActions.
	assert.Equal(t, []string{"codedeploy:GetDeploymentTarget", "codedeploy:ListDeploymentTargets"}, by["ReadReplacementTaskSet"].Action)
	assert.Equal(t, []string{"*"}, by["ReadReplacementTaskSet"].Resource)

	_, err = plan.SmokeHookRole{Stack: st}.Policy()
	assert.Error(t, err)
}

func TestCodeDeployMayRerouteTheTestListeners(t *testing.T) {
	listener := "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/alb/1/prod"
	doc, err := plan.CodeDeployRole{
		ClusterArn: "arn:aws:ecs:eu-west-1:123456789012:cluster/c", ServiceNames: []string{"a", "b"},
		ListenerArn: listener, TestListenerArns: []string{listener[:len(listener)-4] + "test2", listener[:len(listener)-4] + "test1"},
		HookFunctionArns: []string{"arn:aws:lambda:eu-west-1:123456789012:function:pin"},
		BucketArn:        "arn:aws:s3:::b", TaskRoleArns: []string{"arn:aws:iam::123456789012:role/t"},
	}.Policy()
	require.NoError(t, err)
	for _, s := range doc.Statement {
		if s.Sid == "ShiftListenerTraffic" {
			assert.Equal(t, []string{listener, listener[:len(listener)-4] + "test1", listener[:len(listener)-4] + "test2"}, s.Resource)
		}
	}
}

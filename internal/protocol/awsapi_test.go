package protocol

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A hook's call naming a rule, deployment, group or cluster that does not
// exist, or a page that cannot be served, gets AWS's error and changes
// nothing: no rule moves, no tag or report lands, even when the call's
// other names exist.
func TestHookOperationsAnswerAWSErrorsAndChangeNothing(t *testing.T) {
	d := canaryOfV1(t)
	api, st := d.API().(*client), d.w.st
	ctx := context.Background()
	unknownRule := st.rulePrefix + "nope"
	before, catchAll := d.w.pulumiOwned(), d.w.rule(st.catchAllARN)
	prio, stable, reports, deployments := catchAll.Priority, d.w.Services[st.stableService].Desired, len(d.Reports()), len(d.w.Deployments)
	require.Empty(t, catchAll.Tags)
	for _, tt := range []struct {
		name string
		call func() error
		code string
	}{
		{"DescribeRules of an unknown rule", func() error {
			_, err := api.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{st.catchAllARN, unknownRule}})
			return err
		}, "RuleNotFound"},
		{"SetRulePriorities with an unknown rule", func() error {
			_, err := api.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{
				{RuleArn: aws.String(st.catchAllARN), Priority: aws.Int32(49999)}, {RuleArn: aws.String(unknownRule), Priority: aws.Int32(49998)}}})
			return err
		}, "RuleNotFound"},
		{"ModifyRule of an unknown rule", func() error {
			_, err := api.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(unknownRule),
				Actions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(st.latestTG[1])}}})
			return err
		}, "RuleNotFound"},
		{"AddTags on an unknown rule", func() error {
			_, err := api.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{st.catchAllARN, unknownRule},
				Tags: []elbtypes.Tag{{Key: aws.String("claim"), Value: aws.String("x")}}})
			return err
		}, "RuleNotFound"},
		{"RemoveTags on an unknown rule", func() error {
			_, err := api.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{st.catchAllARN, unknownRule}, TagKeys: []string{"claim"}})
			return err
		}, "RuleNotFound"},
		{"DescribeTargetHealth of an unknown target group", func() error {
			_, err := api.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(st.latestTG[0] + "-nope")})
			return err
		}, "TargetGroupNotFound"},
		{"CreateDeployment in an unknown group", func() error {
			_, err := api.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{ApplicationName: aws.String(st.app), DeploymentGroupName: aws.String("nope"),
				Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeAppSpecContent,
					AppSpecContent: &cdtypes.AppSpecContent{Content: aws.String("TaskDefinition: " + d.w.Services[st.latestService].TaskDef)}}})
			return err
		}, "DeploymentGroupDoesNotExistException"},
		{"DescribeTags of an unknown rule", func() error {
			_, err := api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{unknownRule}})
			return err
		}, "RuleNotFound"},
		{"a report for an unknown deployment", func() error {
			_, err := api.PutLifecycleEventHookExecutionStatus(ctx, &codedeploy.PutLifecycleEventHookExecutionStatusInput{DeploymentId: aws.String("d-99"),
				LifecycleEventHookExecutionId: aws.String("x"), Status: cdtypes.LifecycleEventStatusSucceeded})
			return err
		}, "DeploymentDoesNotExistException"},
		{"GetDeployment of an unknown deployment", func() error {
			_, err := api.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String("d-99")})
			return err
		}, "DeploymentDoesNotExistException"},
		{"GetDeploymentTarget of an unknown deployment", func() error {
			_, err := api.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{DeploymentId: aws.String("d-99"), TargetId: aws.String(st.cluster + ":" + st.latestService)})
			return err
		}, "DeploymentDoesNotExistException"},
		{"ListDeploymentTargets of an unknown deployment", func() error {
			_, err := api.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String("d-99")})
			return err
		}, "DeploymentDoesNotExistException"},
		{"ListDeployments of another application", func() error {
			_, err := api.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: aws.String("other"), DeploymentGroupName: aws.String(st.latestGroup)})
			return err
		}, "ApplicationDoesNotExistException"},
		{"ListDeployments of an unknown group", func() error {
			_, err := api.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: aws.String(st.app), DeploymentGroupName: aws.String("nope")})
			return err
		}, "DeploymentGroupDoesNotExistException"},
		{"DescribeRules with a page of 401", func() error {
			_, err := api.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(st.listenerARN), PageSize: aws.Int32(401)})
			return err
		}, "ValidationError"},
		{"DescribeRules from a marker never given", func() error {
			_, err := api.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(st.listenerARN), Marker: aws.String("x")})
			return err
		}, "ValidationError"},
		{"ListDeployments from a token never given", func() error {
			_, err := api.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: aws.String(st.app), DeploymentGroupName: aws.String(st.latestGroup), NextToken: aws.String("99")})
			return err
		}, "InvalidNextTokenException"},
		{"DescribeServices in another cluster", func() error {
			_, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("other"), Services: []string{st.latestService}})
			return err
		}, "ClusterNotFoundException"},
		{"UpdateService in another cluster", func() error {
			_, err := api.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("other"), Service: aws.String(st.stableService), DesiredCount: aws.Int32(3)})
			return err
		}, "ClusterNotFoundException"},
	} {
		assert.Equal(t, tt.code, errCode(t, tt.call()), tt.name)
	}
	assert.Equal(t, before, d.w.pulumiOwned(), "no rule's priority or action changed")
	assert.Equal(t, prio, catchAll.Priority)
	assert.Empty(t, catchAll.Tags, "no tag landed")
	assert.Equal(t, stable, d.w.Services[st.stableService].Desired, "stable not scaled")
	assert.Len(t, d.Reports(), reports, "no report accepted")
	assert.Len(t, d.w.Deployments, deployments, "no deployment created")
}

// A fault of the model itself (a panic that is not AWS's answer) is not
// turned into an answer: it reaches the caller as a panic.
func TestAModelPanicIsNotAnAnswer(t *testing.T) {
	c := NewDirectFromStack(fixture("tenants-1"), Scenario{}).API().(*client)
	assert.PanicsWithValue(t, "model bug", func() {
		_, _ = do(c, context.Background(), "Bug", "", func(w *World) (*ecs.DescribeServicesOutput, error) { panic("model bug") })
	})
}

package declared

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A forward to one target group reads back as DescribeRules answers it:
// with a ForwardConfig naming the group at weight 1, which is what the
// local ALB and the hooks read.
func TestForwardToOneGroupCarriesAForwardConfig(t *testing.T) {
	const arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/0123456789abcdef"
	a, err := action(pAction{Type: "forward", TargetGroupArn: arn}, 0)
	require.NoError(t, err)
	assert.Equal(t, arn, aws.ToString(a.TargetGroupArn))
	require.NotNil(t, a.ForwardConfig)
	assert.Equal(t, []elbtypes.TargetGroupTuple{{TargetGroupArn: aws.String(arn), Weight: aws.Int32(1)}}, a.ForwardConfig.TargetGroups)
	assert.Equal(t, int32(1), aws.ToInt32(a.Order), "the first action's order")
}

func TestActionsAndConditionsTheProgramDoesNotDeclareAreRefused(t *testing.T) {
	_, err := action(pAction{Type: "fixed-response"}, 0)
	assert.ErrorContains(t, err, `type "fixed-response"`)
	_, err = action(pAction{Type: "forward"}, 2)
	assert.ErrorContains(t, err, "forward action 2 names no target group")
	_, err = condition(pCondition{})
	assert.ErrorContains(t, err, "path-pattern, host-header, http-header")
}

func TestConditionValuesReadsEveryField(t *testing.T) {
	for _, p := range []pCondition{
		{PathPattern: &pValues{Values: []string{"/a", "/a/*"}}},
		{HostHeader: &pValues{Values: []string{"/a", "/a/*"}}},
		{HTTPHeader: &struct {
			Name   string   `json:"httpHeaderName"`
			Values []string `json:"values"`
		}{Name: "X-Org", Values: []string{"/a", "/a/*"}}},
	} {
		c, err := condition(p)
		require.NoError(t, err)
		assert.Equal(t, []string{"/a", "/a/*"}, ConditionValues(c), aws.ToString(c.Field))
	}
}

// A program that registers what the declaration cannot place is refused
// with the resource named, not described half.
func TestBuildRefusesWhatItCannotPlace(t *testing.T) {
	_, err := Build(Input{})
	assert.ErrorContains(t, err, "want exactly one aws:lb/loadBalancer:LoadBalancer, the program registered 0")

	lb := Resource{Type: typeLoadBalancer, Name: "service", Outputs: map[string]any{"arn": "arn:lb"}}
	tg := Resource{Type: typeTargetGroup, Name: "stray", Inputs: map[string]any{}, Outputs: map[string]any{"arn": "arn:tg/stray"}}
	_, err = Build(Input{Resources: []Resource{lb, tg}})
	assert.ErrorContains(t, err, "stack output targetGroups.latest has 0 target groups")
}

package pipeline_test

import (
	"encoding/json"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/pipeline"
)

func TestOneDashboardShowsEveryRollbackAlarm(t *testing.T) {
	m := run(t, nil)
	dashes := m.byType("aws:cloudwatch/dashboard:Dashboard")
	require.Len(t, dashes, 1)
	d := props(dashes[0])
	assert.Equal(t, "tenant-canary-dev-pipeline-rollout", d["dashboardName"])
	var body struct {
		Widgets []struct {
			Type       string         `json:"type"`
			Properties map[string]any `json:"properties"`
		} `json:"widgets"`
	}
	require.NoError(t, json.Unmarshal([]byte(d["dashboardBody"].(string)), &body))
	var listed []any
	for _, w := range body.Widgets {
		if w.Type == "alarm" {
			listed = w.Properties["alarms"].([]any)
		}
	}
	var arns []any
	for _, a := range m.byType("aws:cloudwatch/metricAlarm:MetricAlarm") {
		arns = append(arns, a.outputs["arn"].StringValue())
	}
	require.Len(t, arns, 16, "4 signals × 4 target groups")
	assert.ElementsMatch(t, arns, listed)
	text := d["dashboardBody"].(string)
	for _, s := range []string{"targetgroup/latest-blue/0123456789abcdef", "targetgroup/stable-green/0123456789abcdef", "SOURCE '/ecs/tc-dev'", "latest (green) latency"} {
		assert.Contains(t, text, s)
	}
}

func TestDashboardUrlIsAnOutput(t *testing.T) {
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := pipeline.NewPipeline(ctx, "pipeline", testArgs(nil))
		if err != nil {
			return err
		}
		url := make(chan string, 1)
		p.DashboardUrl.ApplyT(func(u string) string { url <- u; return u })
		assert.Equal(t, "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/tenant-canary-dev-pipeline-rollout", <-url)
		return nil
	}, pulumi.WithMocks("tenant-canary", "dev", &mocks{}))
	require.NoError(t, err)
}

package plan_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
)

type dashWidget struct {
	Type       string         `json:"type"`
	X          int            `json:"x"`
	Y          int            `json:"y"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	Properties map[string]any `json:"properties"`
}

func sampleDashboard() plan.Dashboard {
	svc := func(name string) plan.DashboardService {
		return plan.DashboardService{Name: name, TargetGroups: [2]plan.DashboardTargetGroup{
			{Label: "blue", ArnSuffix: "targetgroup/" + name + "-blue/1"},
			{Label: "green", ArnSuffix: "targetgroup/" + name + "-green/2"},
		}}
	}
	return plan.Dashboard{
		Region: "eu-west-1", LoadBalancer: "app/alb/50dc", TaskLogGroup: "/ecs/tc-dev",
		Services: []plan.DashboardService{svc("latest"), svc("stable")},
		Alarms: []plan.DashboardAlarm{
			{Arn: "arn:aws:cloudwatch:eu-west-1:1:alarm:a", Title: "latest blue errors"},
			{Arn: "arn:aws:cloudwatch:eu-west-1:1:alarm:b", Title: "latest green errors"},
		},
		Rollback: config.Defaults().Rollback,
	}
}

func renderDashboard(t *testing.T, d plan.Dashboard) []dashWidget {
	t.Helper()
	body, err := plan.DashboardBody(d)
	require.NoError(t, err)
	var parsed struct {
		Widgets []dashWidget `json:"widgets"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &parsed))
	return parsed.Widgets
}

func byTitle(ws []dashWidget) map[string]dashWidget {
	out := map[string]dashWidget{}
	for _, w := range ws {
		if title, ok := w.Properties["title"].(string); ok {
			out[title] = w
		}
	}
	return out
}

func TestDashboardComparesBothTargetGroupsOfEachService(t *testing.T) {
	ws := byTitle(renderDashboard(t, sampleDashboard()))
	for _, svc := range []string{"latest", "stable"} {
		for _, title := range []string{
			svc + ": requests",
			svc + ": error share % (targets' 5xx + connection errors)",
			svc + ": p99 response time (s)",
			svc + ": targets",
		} {
			w, ok := ws[title]
			require.True(t, ok, "widget %q", title)
			text, _ := json.Marshal(w.Properties["metrics"])
			assert.Contains(t, string(text), "targetgroup/"+svc+"-blue/1", title)
			assert.Contains(t, string(text), "targetgroup/"+svc+"-green/2", title)
			assert.Contains(t, string(text), "app/alb/50dc", title)
			assert.Equal(t, "eu-west-1", w.Properties["region"])
		}
		share, _ := json.Marshal(ws[svc+": error share % (targets' 5xx + connection errors)"].Properties)
		assert.Contains(t, string(share), `100 * (FILL(e0, 0) + FILL(c0, 0)) / r0`)
		assert.Contains(t, string(share), `"value":5`, "the max5xxPercent threshold is drawn")
		latency, _ := json.Marshal(ws[svc+": p99 response time (s)"].Properties)
		assert.Contains(t, string(latency), `"stat":"p99"`)
		assert.Contains(t, string(latency), `"value":2`, "maxLatencyMs drawn in seconds")
		hosts, _ := json.Marshal(ws[svc+": targets"].Properties["metrics"])
		assert.Contains(t, string(hosts), "HealthyHostCount")
		assert.Contains(t, string(hosts), "UnHealthyHostCount")
	}
}

func TestDashboardShowsTheRollbackAlarmsWithThresholds(t *testing.T) {
	d := sampleDashboard()
	widgets := renderDashboard(t, d)
	ws := byTitle(widgets)
	status := ws["Rollback alarms"]
	assert.Equal(t, "alarm", status.Type)
	assert.ElementsMatch(t, []any{d.Alarms[0].Arn, d.Alarms[1].Arn}, status.Properties["alarms"])
	for _, a := range d.Alarms {
		w := ws[a.Title]
		assert.Equal(t, "metric", w.Type, "an alarm graph draws the alarm's threshold")
		assert.Equal(t, map[string]any{"alarms": []any{a.Arn}}, w.Properties["annotations"])
	}
	elb, _ := json.Marshal(ws["Load balancer 5xx (all target groups: published per load balancer only)"].Properties["metrics"])
	assert.Contains(t, string(elb), `"HTTPCode_ELB_5XX_Count","LoadBalancer","app/alb/50dc"`)

	d.Rollback.MaxLatencyMs = 0
	latency := byTitle(renderDashboard(t, d))["latest: p99 response time (s)"]
	assert.NotContains(t, latency.Properties, "annotations", "no threshold to draw when the latency alarm is off")
}

func TestDashboardCountsRequestsAndErrorsPerTenantAndVersion(t *testing.T) {
	ws := byTitle(renderDashboard(t, sampleDashboard()))
	for title, query := range map[string]string{
		"Requests per tenant and version": plan.RequestLogQuery("/ecs/tc-dev"),
		"5xx per tenant and version":      plan.ErrorLogQuery("/ecs/tc-dev"),
	} {
		w := ws[title]
		assert.Equal(t, "log", w.Type)
		assert.Equal(t, query, w.Properties["query"])
		assert.True(t, strings.HasPrefix(query, "SOURCE '/ecs/tc-dev' | "), query)
		assert.Contains(t, query, "by tenant, version")
		assert.Contains(t, query, `filter msg = "request"`)
	}
	assert.Contains(t, plan.ErrorLogQuery("g"), "status >= 500")

	// The field names are the ones the sample application logs on every
	// request line.
	src, err := os.ReadFile("../../../images/app/handlers.go")
	require.NoError(t, err)
	for _, field := range []string{`"request"`, `slog.Int("status"`, `slog.String("tenant"`, `slog.String("version"`} {
		assert.Contains(t, string(src), field)
	}
}

func TestDashboardLayoutFitsTheGrid(t *testing.T) {
	widgets := renderDashboard(t, sampleDashboard())
	require.NotEmpty(t, widgets)
	type cell struct{ x, y int }
	used := map[cell]string{}
	for _, w := range widgets {
		assert.GreaterOrEqual(t, w.X, 0)
		assert.LessOrEqual(t, w.X+w.Width, 24, "%v", w.Properties["title"])
		for x := w.X; x < w.X+w.Width; x++ {
			for y := w.Y; y < w.Y+w.Height; y++ {
				c := cell{x, y}
				require.NotContains(t, used, c, "widgets %v and %v overlap", used[c], w.Properties["title"])
				used[c] = w.Type
			}
		}
	}
	a, err := plan.DashboardBody(sampleDashboard())
	require.NoError(t, err)
	b, _ := plan.DashboardBody(sampleDashboard())
	assert.Equal(t, a, b, "the same inputs render the same body: no diff on preview")
}

func TestDashboardRejectsMissingInputs(t *testing.T) {
	_, err := plan.DashboardBody(plan.Dashboard{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "LoadBalancer, Region, Services, TaskLogGroup")
	d := sampleDashboard()
	d.TaskLogGroup = "it's"
	_, err = plan.DashboardBody(d)
	assert.Error(t, err)
}

func TestDashboardURL(t *testing.T) {
	assert.Equal(t, "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/tc-dev", plan.DashboardURL("eu-west-1", "tc-dev"))
}

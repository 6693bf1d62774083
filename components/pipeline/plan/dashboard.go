package plan

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tenant-canary/tenant-canary/components/config"
)

// DashboardTargetGroup is one target group of a service's pair.
type DashboardTargetGroup struct {
	// Label names it in the legend ("blue", "green").
	Label string
	// ArnSuffix is the CloudWatch dimension TargetGroup.
	ArnSuffix string
}

// DashboardService is one ECS service and its blue/green pair.
type DashboardService struct {
	Name         string
	TargetGroups [2]DashboardTargetGroup
}

// DashboardAlarm is one rollback alarm.
type DashboardAlarm struct {
	Arn string
	// Title says which service, target group and signal it is.
	Title string
}

// Dashboard is everything the stack's dashboard shows.
type Dashboard struct {
	Region string
	// LoadBalancer is the CloudWatch dimension LoadBalancer (app/<name>/<id>).
	LoadBalancer string
	Services     []DashboardService
	Alarms       []DashboardAlarm
	// TaskLogGroup is the log group the tasks write their request lines to.
	TaskLogGroup string
	Rollback     config.Rollback
}

// Dashboard layout: CloudWatch dashboards are a 24-column grid
// (CloudWatch API Reference, "Dashboard Body Structure and Syntax").
const (
	gridWidth     = 24
	widgetWidth   = 6
	widgetHeight  = 6
	maxDashWidget = 500
)

type widget struct {
	Type       string         `json:"type"`
	X          int            `json:"x"`
	Y          int            `json:"y"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	Properties map[string]any `json:"properties"`
}

// RequestLogQuery and ErrorLogQuery are the Logs Insights queries over the
// task log group: the sample application (images/app) writes one JSON line
// per request with msg "request", status, tenant and version, which Logs
// Insights discovers as fields (CloudWatch Logs user guide, "Supported logs
// and discovered fields"). A dashboard log widget names its log group with
// SOURCE (Dashboard Body Structure and Syntax, "log widget").
func RequestLogQuery(logGroup string) string {
	return fmt.Sprintf("SOURCE '%s' | filter msg = \"request\" | stats count(*) as requests by tenant, version | sort requests desc | limit 100", logGroup)
}

// ErrorLogQuery counts the 5xx request lines per tenant and version.
func ErrorLogQuery(logGroup string) string {
	return fmt.Sprintf("SOURCE '%s' | filter msg = \"request\" and status >= 500 | stats count(*) as errors by tenant, version | sort errors desc | limit 100", logGroup)
}

// DashboardBody renders the dashboard: per service a row comparing both
// target groups side by side (requests, error share, latency percentile,
// healthy and unhealthy targets, thresholds drawn in), the load balancer's
// own 5xx (published per load balancer only), the rollback alarms' states
// and each alarm's graph with its threshold, and the per tenant and version
// request and error counts from the task logs.
func DashboardBody(d Dashboard) (string, error) {
	var missing []string
	for name, v := range map[string]string{"Region": d.Region, "LoadBalancer": d.LoadBalancer, "TaskLogGroup": d.TaskLogGroup} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(d.Services) == 0 {
		missing = append(missing, "Services")
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("dashboard: missing %s", strings.Join(sorted(missing...), ", "))
	}
	if strings.ContainsAny(d.TaskLogGroup, "'") {
		return "", fmt.Errorf("dashboard: log group %q cannot be quoted in a query", d.TaskLogGroup)
	}
	r := d.Rollback
	var widgets []widget
	x, y := 0, 0
	place := func(w widget) {
		if w.Width == 0 {
			w.Width, w.Height = widgetWidth, widgetHeight
		}
		if x+w.Width > gridWidth {
			x, y = 0, y+widgetHeight
		}
		w.X, w.Y = x, y
		x += w.Width
		widgets = append(widgets, w)
	}
	newRow := func() {
		if x > 0 {
			x, y = 0, y+widgetHeight
		}
	}
	text := func(md string) {
		newRow()
		widgets = append(widgets, widget{Type: "text", X: 0, Y: y, Width: gridWidth, Height: 1, Properties: map[string]any{"markdown": md}})
		y++
	}
	metricWidget := func(title string, metrics []any, extra map[string]any) widget {
		p := map[string]any{
			"title": title, "region": d.Region, "view": "timeSeries", "stacked": false,
			"period": r.PeriodSeconds, "metrics": metrics,
		}
		for k, v := range extra {
			p[k] = v
		}
		return widget{Type: "metric", Properties: p}
	}
	tgMetric := func(name string, tg DashboardTargetGroup, opts map[string]any) []any {
		return []any{ALBNamespace, name, "TargetGroup", tg.ArnSuffix, "LoadBalancer", d.LoadBalancer, opts}
	}
	threshold := func(v float64, label string) map[string]any {
		return map[string]any{"horizontal": []any{map[string]any{"value": v, "label": label}}}
	}

	for _, svc := range d.Services {
		text(fmt.Sprintf("## %s service: both target groups side by side (the new version is on the group that gains requests)", svc.Name))
		var requests, errorShare, latency, hosts []any
		for i, tg := range svc.TargetGroups {
			id := func(s string) string { return fmt.Sprintf("%s%d", s, i) }
			requests = append(requests, tgMetric(MetricRequestCount, tg, map[string]any{"stat": "Sum", "label": tg.Label}))
			errorShare = append(errorShare,
				tgMetric(MetricTarget5XX, tg, map[string]any{"stat": "Sum", "id": id("e"), "visible": false}),
				tgMetric(MetricTargetConnectionErrors, tg, map[string]any{"stat": "Sum", "id": id("c"), "visible": false}),
				tgMetric(MetricRequestCount, tg, map[string]any{"stat": "Sum", "id": id("r"), "visible": false}),
				[]any{map[string]any{
					"expression": fmt.Sprintf("100 * (FILL(%[1]s, 0) + FILL(%[2]s, 0)) / %[3]s", id("e"), id("c"), id("r")),
					"label":      tg.Label + " error %", "id": id("share"),
				}},
			)
			latency = append(latency, tgMetric(MetricTargetResponseTime, tg, map[string]any{"stat": r.LatencyPercentile, "label": tg.Label + " " + r.LatencyPercentile}))
			hosts = append(hosts,
				tgMetric(MetricHealthyHostCount, tg, map[string]any{"stat": "Maximum", "label": tg.Label + " healthy"}),
				tgMetric(MetricUnHealthyHostCount, tg, map[string]any{"stat": "Maximum", "label": tg.Label + " unhealthy"}),
			)
		}
		place(metricWidget(svc.Name+": requests", requests, nil))
		place(metricWidget(svc.Name+": error share % (targets' 5xx + connection errors)", errorShare,
			map[string]any{"annotations": threshold(r.Max5xxPercent, "rollback.max5xxPercent")}))
		latencyExtra := map[string]any{}
		if r.MaxLatencyMs > 0 {
			latencyExtra["annotations"] = threshold(float64(r.MaxLatencyMs)/1000, "rollback.maxLatencyMs")
		}
		place(metricWidget(fmt.Sprintf("%s: %s response time (s)", svc.Name, r.LatencyPercentile), latency, latencyExtra))
		place(metricWidget(svc.Name+": targets", hosts,
			map[string]any{"annotations": threshold(float64(r.MaxUnhealthyTargets), "rollback.maxUnhealthyTargets")}))
	}

	text("## Rollback alarms (CodeDeploy stops a stage when any of its service's alarms fires) and the load balancer's own 5xx")
	var arns []string
	for _, a := range d.Alarms {
		arns = append(arns, a.Arn)
	}
	if len(arns) > 0 {
		place(widget{Type: "alarm", Properties: map[string]any{"title": "Rollback alarms", "alarms": arns, "sortBy": "stateUpdatedTimestamp"}})
	}
	place(metricWidget("Load balancer 5xx (all target groups: published per load balancer only)",
		[]any{[]any{ALBNamespace, MetricELB5XX, "LoadBalancer", d.LoadBalancer, map[string]any{"stat": "Sum"}}}, nil))
	for _, a := range d.Alarms {
		// A metric widget with an alarm annotation draws the alarm's own
		// metric and threshold.
		place(widget{Type: "metric", Properties: map[string]any{
			"title": a.Title, "region": d.Region, "view": "timeSeries", "stacked": false,
			"annotations": map[string]any{"alarms": []string{a.Arn}},
		}})
	}

	text("## Requests and errors per tenant and version (task logs; empty tenant: untenanted requests)")
	place(widget{Type: "log", Width: gridWidth / 2, Height: widgetHeight, Properties: map[string]any{
		"title": "Requests per tenant and version", "region": d.Region, "view": "table", "query": RequestLogQuery(d.TaskLogGroup),
	}})
	place(widget{Type: "log", Width: gridWidth / 2, Height: widgetHeight, Properties: map[string]any{
		"title": "5xx per tenant and version", "region": d.Region, "view": "table", "query": ErrorLogQuery(d.TaskLogGroup),
	}})

	if len(widgets) > maxDashWidget {
		return "", fmt.Errorf("dashboard: %d widgets, CloudWatch allows %d", len(widgets), maxDashWidget)
	}
	b, err := json.Marshal(map[string]any{"widgets": widgets})
	if err != nil {
		return "", fmt.Errorf("dashboard: %w", err)
	}
	return string(b), nil
}

// DashboardURL is the dashboard's page in the CloudWatch console.
func DashboardURL(region, name string) string {
	return fmt.Sprintf("https://%[1]s.console.aws.amazon.com/cloudwatch/home?region=%[1]s#dashboards/dashboard/%[2]s", region, name)
}

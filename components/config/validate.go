package config

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/tenant-canary/tenant-canary/components/routing"
)

// Limits the validation enforces, each from the AWS behaviour it protects.
const (
	// MaxTenantIDLength keeps every rendered condition value well inside
	// ALB's 128-character limit.
	MaxTenantIDLength = 64
	// DeployActionTimeoutMinutes is how long CodePipeline waits for one
	// CodeDeployToECS action: "CodeDeploy and CodeDeploy ECS (blue/green)
	// deployment actions: 5 days" (CodePipeline User Guide, "Quotas in AWS
	// CodePipeline", https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html).
	// A deployment lasts its pin hook, its traffic shifting and the
	// termination wait (an ECS blue/green deployment stays in progress until
	// the original task set is gone), and must end before it.
	DeployActionTimeoutMinutes = 5 * 24 * 60
	// PinHookMinutes is the pin hook's budget, its Lambda timeout: the
	// longest lifecycle hook of a deployment (components/pipeline uses it).
	PinHookMinutes = 10
	// ReleaseHookWorkSeconds is what the cleanup and rollback hooks get
	// for their own work; their Lambda timeout adds the deregistration
	// delay, which release waits out after the catch-all moves and before
	// it scales stable to zero (lambda/rollout, release).
	ReleaseHookWorkSeconds = 120
	// MaxDeregistrationDelaySeconds keeps that timeout within Lambda's
	// 15-minute maximum (Lambda Developer Guide, "Configure Lambda function
	// timeout", https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html),
	// below the target group's own limit of 3600 s.
	MaxDeregistrationDelaySeconds = 15*60 - ReleaseHookWorkSeconds
	// MaxTerminationWaitMinutes is CodeDeploy's limit for keeping the
	// original task set after a blue/green deployment (2 days).
	MaxTerminationWaitMinutes = 2880
	// Approval timeouts CodePipeline accepts on a manual approval action:
	// 5 minutes to 60 days.
	MinApprovalTimeoutMinutes = 5
	MaxApprovalTimeoutMinutes = 86400
	// MinAlbRuleQuota is ALB's default "rules per load balancer" quota; a
	// quota can be raised, never lowered.
	MinAlbRuleQuota = 100
	// MaxAlbRuleQuota keeps every tenant rule priority below the catch-all's
	// pinned priority.
	MaxAlbRuleQuota = routing.CatchAllPriorityPinned - routing.FirstTenantRulePriority
	// MaxTasks bounds the task counts to something a single service runs.
	MaxTasks = 100
	// MaxAvailabilityZones is the most AZs the network spreads over.
	MaxAvailabilityZones = 6
	// MaxLatencyMs is the load balancer's default idle timeout (60 s,
	// docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html):
	// a target that takes longer never answers, so a higher threshold
	// could never fire.
	MaxLatencyMs = 60000
	// Smoke test bounds. The smoke hook's worst case, every request
	// running into its timeout, must end well inside its Lambda timeout
	// (components/pipeline.SmokeTimeoutSeconds), so the hook always
	// reports.
	MaxSmokePaths        = 10
	MaxSmokeRequests     = 100
	MaxSmokeTimeout      = 60
	MaxSmokeTotalSeconds = 240
	MaxSmokeBodyLength   = 1024
)

var (
	// Letters, digits, '-', '_' and '.': nothing an ALB condition treats as a
	// wildcard or escape, nothing a URL path or header needs encoded.
	tenantIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	// Host names carry only letters, digits, '-' and '.' (ALB host-header).
	hostTenantIDPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
	pathPatternChars    = regexp.MustCompile(`^/[A-Za-z0-9._~/{}-]*$`)
	hostPatternChars    = regexp.MustCompile(`^[A-Za-z0-9.{}-]+$`)
	// The load balancer drops headers whose names are not [-A-Za-z0-9]+
	// (drop_invalid_header_fields, which this program turns on), so a
	// tenant header with any other character would never reach a rule.
	headerNamePattern = regexp.MustCompile(`^[-A-Za-z0-9]+$`)
	// The health path is also written into the placeholder's start command,
	// so it is held to characters that need no shell quoting.
	healthPathPattern    = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*$`)
	containerNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	// ECR image tags: up to 128 characters, starting with a letter, digit or '_'.
	imageTagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
)

// fargateMemory lists, per task cpu, the memory sizes Fargate accepts
// (docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html).
var fargateMemory = map[int]func(mem int) bool{
	256:  func(m int) bool { return m == 512 || m == 1024 || m == 2048 },
	512:  func(m int) bool { return m >= 1024 && m <= 4096 && m%1024 == 0 },
	1024: func(m int) bool { return m >= 2048 && m <= 8192 && m%1024 == 0 },
	2048: func(m int) bool { return m >= 4096 && m <= 16384 && m%1024 == 0 },
	4096: func(m int) bool { return m >= 8192 && m <= 30720 && m%1024 == 0 },
	8192: func(m int) bool { return m >= 16384 && m <= 61440 && m%4096 == 0 },
	16384: func(m int) bool {
		return m >= 32768 && m <= 122880 && m%8192 == 0
	},
}

// logRetentionDays are the values CloudWatch Logs accepts for retention.
var logRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Validate checks a complete configuration and returns every problem.
func Validate(c Config) Problems {
	v := &validator{}
	v.tenants(c)
	v.tenantMatch(c.TenantMatch)
	v.traffic(c.Traffic)
	v.approval(c.Approval)
	v.rollback(c.Rollback, c.Service)
	v.smokeTest(c)
	v.service(c.Service)
	v.network(c.Network)
	if !imageTagPattern.MatchString(c.ImageTag) {
		v.add("imageTag", c.ImageTag, "an ECR tag: 1–128 letters, digits, '.', '_' or '-', not starting with '.' or '-'")
	}
	if c.CertificateArn != "" {
		v.certificateArn(c.CertificateArn)
	}
	if c.AlbRuleQuota < MinAlbRuleQuota || c.AlbRuleQuota > MaxAlbRuleQuota {
		v.add("albRuleQuota", strconv.Itoa(c.AlbRuleQuota), fmt.Sprintf("an integer from %d (ALB's default quota) to %d", MinAlbRuleQuota, MaxAlbRuleQuota))
	}
	return v.problems
}

type validator struct{ problems Problems }

func (v *validator) add(key, value, allowed string) {
	v.problems = append(v.problems, Problem{Key: key, Value: value, Allowed: allowed})
}

func (v *validator) intRange(key string, value, lo, hi int) {
	if value < lo || value > hi {
		v.add(key, strconv.Itoa(value), fmt.Sprintf("an integer from %d to %d", lo, hi))
	}
}

func (v *validator) tenants(c Config) {
	host := c.TenantMatch.Type == MatchHost
	// ALB compares host and header values case-insensitively, so `Acme` and
	// `acme` would be one tenant to the load balancer.
	foldCase := host || c.TenantMatch.Type == MatchHeader
	seen := map[string]int{}
	for i, t := range c.PinnedTenants {
		key := fmt.Sprintf("pinnedTenants[%d]", i)
		switch {
		case t == "":
			v.add(key, `""`, "a non-empty tenant id")
			continue
		case len(t) > MaxTenantIDLength:
			v.add(key, strconv.Quote(t), fmt.Sprintf("at most %d characters (this one has %d)", MaxTenantIDLength, len(t)))
		case !tenantIDPattern.MatchString(t):
			v.add(key, strconv.Quote(t), "only letters, digits, '-', '_' and '.'")
		case host && !hostTenantIDPattern.MatchString(t):
			v.add(key, strconv.Quote(t), "with host matching, only letters, digits, '-' and '.', starting and ending with a letter or digit")
		}
		norm := t
		if foldCase {
			norm = strings.ToLower(t)
		}
		if first, dup := seen[norm]; dup {
			allowed := "each tenant once"
			if foldCase {
				allowed = "each tenant once (ALB compares header and host values without case)"
			}
			v.add(key, strconv.Quote(t), fmt.Sprintf("%s; it repeats pinnedTenants[%d] = %q", allowed, first, c.PinnedTenants[first]))
			continue
		}
		seen[norm] = i
	}
	m := c.TenantMatch
	if need := routing.RulesNeeded(m, len(c.PinnedTenants)); c.AlbRuleQuota >= MinAlbRuleQuota && need > routing.TenantRuleBudget(c.AlbRuleQuota) {
		err := &routing.TooManyTenantsError{
			Tenants: len(c.PinnedTenants), RulesNeeded: need, RuleQuota: c.AlbRuleQuota,
			MaxTenants: routing.MaxTenants(m, c.AlbRuleQuota), MatchType: m.Type,
		}
		v.add("pinnedTenants", fmt.Sprintf("(%d tenants)", len(c.PinnedTenants)), err.Error())
	}
}

func (v *validator) tenantMatch(m TenantMatch) {
	switch m.Type {
	case MatchPath, MatchHeader, MatchHost:
	default:
		v.add("tenantMatch.type", strconv.Quote(m.Type), `one of "path", "header", "host"`)
		return
	}
	if strings.Count(m.Pattern, TenantPlaceholder) != 1 {
		allowed := "a pattern containing {tenant} exactly once"
		if m.Type == MatchHost && m.Pattern == "" {
			allowed = "a host pattern such as {tenant}.example.com (host matching has no default)"
		}
		v.add("tenantMatch.pattern", strconv.Quote(m.Pattern), allowed)
	}
	if strings.ContainsAny(m.Pattern, "*?") {
		v.add("tenantMatch.pattern", strconv.Quote(m.Pattern), "no '*' or '?': a wildcard could match another tenant's requests")
	}
	// The longest tenant id must still render within ALB's value limit.
	if longest := len(m.Pattern) - len(TenantPlaceholder) + MaxTenantIDLength + len("/*"); longest > routing.MaxValueLength {
		v.add("tenantMatch.pattern", strconv.Quote(m.Pattern), fmt.Sprintf("short enough that a %d-character tenant id renders to at most %d characters", MaxTenantIDLength, routing.MaxValueLength))
	}
	switch m.Type {
	case MatchPath:
		if !pathPatternChars.MatchString(m.Pattern) || strings.HasSuffix(m.Pattern, "/") {
			v.add("tenantMatch.pattern", strconv.Quote(m.Pattern), "a path starting with '/', not ending with '/', of letters, digits and . _ ~ - /, e.g. /app/{tenant}")
		}
		if m.Name != "" {
			v.add("tenantMatch.name", strconv.Quote(m.Name), "no header name with path matching")
		}
	case MatchHost:
		if m.Pattern != "" && !hostPatternChars.MatchString(m.Pattern) {
			v.add("tenantMatch.pattern", strconv.Quote(m.Pattern), "a host name of letters, digits, '-' and '.', e.g. {tenant}.example.com")
		}
		if m.Name != "" {
			v.add("tenantMatch.name", strconv.Quote(m.Name), "no header name with host matching")
		}
	case MatchHeader:
		if len(m.Name) > routing.MaxHeaderNameLength || !headerNamePattern.MatchString(m.Name) || strings.EqualFold(m.Name, "host") {
			v.add("tenantMatch.name", strconv.Quote(m.Name), fmt.Sprintf("an HTTP header name of at most %d letters, digits and '-' (the load balancer drops other names), not Host (use type host for that)", routing.MaxHeaderNameLength))
		}
	}
}

func (v *validator) traffic(t Traffic) {
	switch t.Type {
	case TrafficCanary, TrafficLinear:
		v.intRange("traffic.percentage", t.Percentage, 1, 99)
		if t.IntervalMinutes < 1 {
			v.intRange("traffic.intervalMinutes", t.IntervalMinutes, 1, DeployActionTimeoutMinutes)
		}
	case TrafficAllAtOnce:
	default:
		v.add("traffic.type", strconv.Quote(t.Type), `one of "canary", "linear", "all-at-once"`)
		return
	}
	v.intRange("traffic.terminationWaitMinutes", t.TerminationWaitMinutes, 0, MaxTerminationWaitMinutes)
	shapeOK := t.Type == TrafficAllAtOnce || (t.Percentage >= 1 && t.Percentage <= 99 && t.IntervalMinutes >= 1)
	if !shapeOK || t.TerminationWaitMinutes < 0 || t.TerminationWaitMinutes > MaxTerminationWaitMinutes {
		return
	}
	if total := DeploymentMinutes(t); total >= DeployActionTimeoutMinutes {
		shift := ShiftMinutes(t)
		v.add("traffic", fmt.Sprintf("{type: %s, percentage: %d, intervalMinutes: %d, terminationWaitMinutes: %d}",
			t.Type, t.Percentage, t.IntervalMinutes, t.TerminationWaitMinutes),
			fmt.Sprintf("one deployment must end within CodePipeline's CodeDeployToECS action timeout of %d minutes (5 days), "+
				"but traffic shifting (%d min, from traffic.percentage and traffic.intervalMinutes) + traffic.terminationWaitMinutes (%d min) "+
				"+ the pin hook's budget (%d min) = %d min; shorten traffic.intervalMinutes, raise traffic.percentage or lower traffic.terminationWaitMinutes",
				DeployActionTimeoutMinutes, shift, t.TerminationWaitMinutes, PinHookMinutes, total))
	}
}

// DeploymentMinutes is the longest one deployment of t takes as CodePipeline
// sees it: the pin hook's budget, the traffic shifting and the termination
// wait.
func DeploymentMinutes(t Traffic) int {
	return PinHookMinutes + ShiftMinutes(t) + t.TerminationWaitMinutes
}

// ShiftMinutes is how long a stage spends shifting traffic under t.
func ShiftMinutes(t Traffic) int {
	switch t.Type {
	case TrafficCanary:
		return t.IntervalMinutes
	case TrafficLinear:
		steps := (100 + t.Percentage - 1) / t.Percentage
		return (steps - 1) * t.IntervalMinutes
	default:
		return 0
	}
}

func (v *validator) approval(a Approval) {
	for i, e := range a.NotifyEmails {
		addr, err := mail.ParseAddress(e)
		if err != nil || addr.Address != e {
			v.add(fmt.Sprintf("approval.notifyEmails[%d]", i), strconv.Quote(e), "a bare e-mail address such as oncall@example.com")
		}
	}
	if len(a.NotifyEmails) > 0 && !a.Required {
		v.add("approval.notifyEmails", strings.Join(a.NotifyEmails, ","), "no addresses while approval.required is false (nobody would ever be asked)")
	}
	switch a.OnReject {
	case OnRejectRollback, OnRejectHold:
	default:
		v.add("approval.onReject", strconv.Quote(a.OnReject),
			fmt.Sprintf("%q (a rejected or expired approval puts everyone back on the version stable serves) or %q (the pinned tenants stay on stable, the others on latest)", OnRejectRollback, OnRejectHold))
	}
	if a.TimeoutMinutes != 0 {
		if !a.Required {
			v.add("approval.timeoutMinutes", strconv.Itoa(a.TimeoutMinutes), "0 while approval.required is false")
		} else {
			v.intRange("approval.timeoutMinutes", a.TimeoutMinutes, MinApprovalTimeoutMinutes, MaxApprovalTimeoutMinutes)
		}
	}
}

func (v *validator) rollback(r Rollback, s Service) {
	// The alarm fires above the threshold: at 100 no share could.
	if !(r.Max5xxPercent > 0 && r.Max5xxPercent < 100) {
		v.add("rollback.max5xxPercent", strconv.FormatFloat(r.Max5xxPercent, 'g', -1, 64), "a percentage greater than 0 and less than 100 (the alarm fires above it)")
	}
	// A multiple of 60 seconds: the load balancer publishes its metrics in
	// 60-second intervals (ELB user guide, "CloudWatch metrics for your
	// Application Load Balancer"), so a 10 or 30 s period sees no data and,
	// with missing data not breaching, the alarm would never fire. And
	// period × evaluation periods at most one day.
	if !(r.PeriodSeconds >= 60 && r.PeriodSeconds%60 == 0) {
		v.add("rollback.periodSeconds", strconv.Itoa(r.PeriodSeconds), "a multiple of 60 (the load balancer reports its metrics once a minute)")
	}
	// Each alarm looks at evaluationPeriods + LatePeriods periods, and
	// CloudWatch allows at most one day of them ("Using Amazon CloudWatch
	// alarms": evaluation periods × period "can't exceed one day").
	if r.EvaluationPeriods < 1 || (r.PeriodSeconds > 0 && (r.EvaluationPeriods+LatePeriods)*r.PeriodSeconds > 86400) {
		v.add("rollback.evaluationPeriods", strconv.Itoa(r.EvaluationPeriods), fmt.Sprintf("at least 1, with periodSeconds × (evaluationPeriods + %d) at most 86400 (each alarm looks at %d periods more than evaluationPeriods, for minutes not yet published)", LatePeriods, LatePeriods))
	}
	if r.MinRequests < 0 {
		v.add("rollback.minRequests", strconv.Itoa(r.MinRequests), "0 or more")
	}
	if r.MaxLatencyMs != 0 && (r.MaxLatencyMs < 1 || r.MaxLatencyMs > MaxLatencyMs) {
		v.add("rollback.maxLatencyMs", strconv.Itoa(r.MaxLatencyMs), fmt.Sprintf("0 (no latency alarm) or 1 to %d milliseconds (the load balancer's 60 s idle timeout)", MaxLatencyMs))
	}
	if !validPercentile(r.LatencyPercentile) {
		v.add("rollback.latencyPercentile", strconv.Quote(r.LatencyPercentile), "a CloudWatch percentile statistic from p50 to p99.99, such as p99 or p99.9")
	}
	// The replacement task set has as many tasks as the service; a
	// threshold of that many unhealthy targets or more could never fire.
	if fewest := min(s.LatestCount, s.StableCount); r.MaxUnhealthyTargets < 0 || (fewest >= 1 && r.MaxUnhealthyTargets >= fewest) {
		v.add("rollback.maxUnhealthyTargets", strconv.Itoa(r.MaxUnhealthyTargets), fmt.Sprintf("0 or more and fewer than the smaller of service.latestCount and service.stableCount (%d), or the alarm could never fire", fewest))
	}
	if r.MaxConnectionErrors < 0 {
		v.add("rollback.maxConnectionErrors", strconv.Itoa(r.MaxConnectionErrors), "0 or more")
	}
}

// percentilePattern is CloudWatch's percentile statistic pNN.NN (the
// CloudWatch user guide, "CloudWatch statistics definitions").
var percentilePattern = regexp.MustCompile(`^p([0-9]{2})(\.[0-9]{1,2})?$`)

func validPercentile(s string) bool {
	m := percentilePattern.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	n, err := strconv.ParseFloat(strings.TrimPrefix(s, "p"), 64)
	return err == nil && n >= 50 && n < 100
}

// smokePathPattern is an absolute path with an optional query: no
// whitespace, no fragment, nothing that needs quoting in a log line.
var smokePathPattern = regexp.MustCompile(`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$`)

func (v *validator) smokeTest(c Config) {
	st := c.SmokeTest
	if st.Enabled && c.Network.Nat == NatNone {
		// The smoke hook runs in the VPC's task subnets and reaches the
		// internet-facing load balancer's test listeners, and CodeDeploy's
		// API, through a NAT gateway: a Lambda function's network
		// interfaces never get public IP addresses
		// (docs.aws.amazon.com/lambda/latest/dg/configuration-vpc-internet.html),
		// so without NAT it could reach neither.
		v.add("smokeTest.enabled", "true", `false while network.nat is "none": the smoke hook reaches the test listener and CodeDeploy through a NAT gateway; set network.nat to "single" or "one-per-az"`)
	}
	if len(st.Paths) > MaxSmokePaths {
		v.add("smokeTest.paths", fmt.Sprintf("(%d paths)", len(st.Paths)), fmt.Sprintf("at most %d paths", MaxSmokePaths))
	}
	for i, p := range st.Paths {
		if len(p) > 1024 || !smokePathPattern.MatchString(p) {
			v.add(fmt.Sprintf("smokeTest.paths[%d]", i), strconv.Quote(p), "an absolute path with an optional query, such as /healthz or /version?full=1, at most 1024 characters")
		}
	}
	v.intRange("smokeTest.expectStatus", st.ExpectStatus, 100, 599)
	if len(st.ExpectBody) > MaxSmokeBodyLength {
		v.add("smokeTest.expectBody", fmt.Sprintf("(%d characters)", len(st.ExpectBody)), fmt.Sprintf("at most %d characters", MaxSmokeBodyLength))
	}
	if t := st.Tenant; t != "" {
		switch {
		case len(t) > MaxTenantIDLength || !tenantIDPattern.MatchString(t):
			v.add("smokeTest.tenant", strconv.Quote(t), fmt.Sprintf("a tenant id: at most %d letters, digits, '-', '_' and '.'", MaxTenantIDLength))
		case c.TenantMatch.Type == MatchHost && !hostTenantIDPattern.MatchString(t):
			v.add("smokeTest.tenant", strconv.Quote(t), "with host matching, only letters, digits, '-' and '.', starting and ending with a letter or digit")
		}
	}
	v.intRange("smokeTest.requests", st.Requests, 1, MaxSmokeRequests)
	v.intRange("smokeTest.timeoutSeconds", st.TimeoutSeconds, 1, MaxSmokeTimeout)
	paths := len(c.SmokePaths())
	if st.Requests >= 1 && st.TimeoutSeconds >= 1 && paths*st.Requests*st.TimeoutSeconds > MaxSmokeTotalSeconds {
		v.add("smokeTest.requests", strconv.Itoa(st.Requests),
			fmt.Sprintf("few enough that paths × requests × timeoutSeconds (%d × %d × %d) is at most %d seconds, so the smoke hook always reports before its Lambda timeout", paths, st.Requests, st.TimeoutSeconds, MaxSmokeTotalSeconds))
	}
}

func (v *validator) service(s Service) {
	if ok, known := fargateMemory[s.Cpu]; !known {
		v.add("service.cpu", strconv.Itoa(s.Cpu), "one of Fargate's task cpu values: 256, 512, 1024, 2048, 4096, 8192, 16384")
	} else if !ok(s.Memory) {
		v.add("service.memory", strconv.Itoa(s.Memory), fmt.Sprintf("a memory size Fargate accepts with cpu %d: %s", s.Cpu, fargateMemoryText(s.Cpu)))
	}
	v.intRange("service.latestCount", s.LatestCount, 1, MaxTasks)
	v.intRange("service.stableCount", s.StableCount, 1, MaxTasks)
	v.intRange("service.port", s.Port, 1, 65535)
	if len(s.HealthCheckPath) > 1024 || !healthPathPattern.MatchString(s.HealthCheckPath) {
		v.add("service.healthCheckPath", strconv.Quote(s.HealthCheckPath), "a path starting with '/' of letters, digits and . _ ~ - /")
	}
	if !containerNamePattern.MatchString(s.ContainerName) {
		v.add("service.containerName", strconv.Quote(s.ContainerName), "1–255 letters, digits, '-' or '_'")
	}
	if s.PlaceholderImage == "" || strings.ContainsAny(s.PlaceholderImage, " \t\n") {
		v.add("service.placeholderImage", strconv.Quote(s.PlaceholderImage), "an image reference such as "+DefaultPlaceholderImage)
	}
	if !slices.Contains(logRetentionDays, s.LogRetentionDays) {
		v.add("service.logRetentionDays", strconv.Itoa(s.LogRetentionDays), fmt.Sprintf("one of CloudWatch Logs' retention values %v", logRetentionDays))
	}
	v.intRange("service.deregistrationDelaySeconds", s.DeregistrationDelaySeconds, 0, MaxDeregistrationDelaySeconds)
}

func fargateMemoryText(cpu int) string {
	switch cpu {
	case 256:
		return "512, 1024 or 2048"
	case 512:
		return "1024 to 4096 in steps of 1024"
	case 1024:
		return "2048 to 8192 in steps of 1024"
	case 2048:
		return "4096 to 16384 in steps of 1024"
	case 4096:
		return "8192 to 30720 in steps of 1024"
	case 8192:
		return "16384 to 61440 in steps of 4096"
	default:
		return "32768 to 122880 in steps of 8192"
	}
}

func (v *validator) network(n Network) {
	v.intRange("network.availabilityZones", n.AvailabilityZones, 2, MaxAvailabilityZones)
	switch n.Nat {
	case NatNone, NatSingle, NatOnePerAZ:
	default:
		v.add("network.nat", strconv.Quote(n.Nat), `one of "none" (tasks in public subnets), "single", "one-per-az"`)
	}
}

// certificateArn accepts an ACM certificate ARN in any partition.
func (v *validator) certificateArn(s string) {
	a, err := arn.Parse(s)
	const allowed = "an ACM certificate ARN: arn:<partition>:acm:<region>:<account>:certificate/<id>"
	if err != nil || a.Service != "acm" || a.Region == "" || len(a.AccountID) != 12 ||
		!strings.HasPrefix(a.Resource, "certificate/") || len(a.Resource) == len("certificate/") {
		v.add("certificateArn", strconv.Quote(s), allowed)
	}
}

// Package config holds the stack configuration contract of tenant-canary
// (docs/design.md §5): typed structs, the one place where defaults live, and the
// validation that rejects bad input before any resource is registered.
//
// It is plain Go: it knows nothing about Pulumi beyond a lookup function, so
// every rule here is covered by table tests without an engine.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tenant-canary/tenant-canary/components/routing"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// Namespace is the Pulumi config namespace of every key below
// (`pulumi config set tenant-canary:imageTag v2`), the project name.
const Namespace = "tenant-canary"

// Tenant match types: how the ALB recognises a tenant's requests.
const (
	MatchPath   = routing.TypePath
	MatchHeader = routing.TypeHeader
	MatchHost   = routing.TypeHost
)

// Traffic shifting types, mapped onto CodeDeploy's ECS deployment configs.
const (
	TrafficCanary    = "canary"
	TrafficLinear    = "linear"
	TrafficAllAtOnce = "all-at-once"
)

// NAT strategies for the network.
const (
	NatNone     = "none"
	NatSingle   = "single"
	NatOnePerAZ = "one-per-az"
)

// TenantPlaceholder is the token a tenant match pattern must contain once.
const TenantPlaceholder = routing.Placeholder

// Config is the whole validated stack configuration.
type Config struct {
	// PinnedTenants stay on the previous version until the approval gate.
	PinnedTenants []string `json:"pinnedTenants"`
	// TenantMatch says how the ALB recognises a tenant.
	TenantMatch TenantMatch `json:"tenantMatch"`
	// Traffic is how CodeDeploy shifts traffic to the new version.
	Traffic Traffic `json:"traffic"`
	// Approval is the gate between the `Latest` and `Stable` stages.
	Approval Approval `json:"approval"`
	// Rollback says when CodeDeploy stops a stage and rolls it back.
	Rollback Rollback `json:"rollback"`
	// SmokeTest checks the replacement task set through a test listener
	// before any production traffic reaches it.
	SmokeTest SmokeTest `json:"smokeTest"`
	// Service sizes the ECS tasks and their health check.
	Service Service `json:"service"`
	// Network shapes the VPC.
	Network Network `json:"network"`
	// ImageTag is the pushed tag that starts a rollout.
	ImageTag string `json:"imageTag"`
	// CertificateArn, when set, turns on HTTPS :443 and the HTTP→HTTPS redirect.
	CertificateArn string `json:"certificateArn"`
	// AlbRuleQuota is the account's "rules per Application Load Balancer"
	// quota; the tenant rules and the catch-all rule must fit inside it.
	AlbRuleQuota int `json:"albRuleQuota"`
	// ForceDeleteImages lets `pulumi destroy` delete the ECR repository while
	// it still holds images (convenient for dev stacks, dangerous for prod).
	ForceDeleteImages bool `json:"forceDeleteImages"`
}

// TenantMatch is how a request is attributed to a tenant: path (the
// tenant's path and everything below it), header (exact value of a named
// header) or host (a pattern such as {tenant}.example.com).
type TenantMatch = routing.Match

// Traffic is the canary step plan for both stages.
type Traffic struct {
	// Type is canary, linear or all-at-once.
	Type string `json:"type"`
	// Percentage is the first step (canary) or every step (linear).
	Percentage int `json:"percentage"`
	// IntervalMinutes is the wait between steps.
	IntervalMinutes int `json:"intervalMinutes"`
	// TerminationWaitMinutes is how long the replaced task set keeps running
	// after a successful stage, so a manual rollback is instant.
	TerminationWaitMinutes int `json:"terminationWaitMinutes"`
}

// Approval is the manual gate between stage 1 and stage 2.
type Approval struct {
	// Required adds the `Approve` stage to the pipeline.
	Required bool `json:"required"`
	// NotifyEmails are subscribed to the approval topic.
	NotifyEmails []string `json:"notifyEmails"`
	// TimeoutMinutes, when set, rejects the approval automatically after it.
	TimeoutMinutes int `json:"timeoutMinutes,omitempty"`
	// OnReject is what a rejected or expired approval does: rollback puts
	// everyone back on the version stable serves; hold keeps the pinned
	// tenants on stable and the others on latest until a push or an
	// operator's rollback.
	OnReject string `json:"onReject"`
}

// Values of approval.onReject (the rollback hook's ON_REJECT).
const (
	OnRejectRollback = contract.OnRejectRollback
	OnRejectHold     = contract.OnRejectHold
)

// LatePeriods is how many periods beyond rollback.evaluationPeriods every
// rollback alarm looks at: CloudWatch evaluates an alarm every minute, and
// the newest minutes may not be published yet ("Using metric math", FILL:
// a slight delay leaves "the most recent minute" without data). An alarm
// that needed every period it looks at to breach could stay OK forever;
// one that needs evaluationPeriods of evaluationPeriods + 2 fires with the
// newest two minutes missing (docs/signals.md, "Why M of N, and no FILL on
// the gate").
const LatePeriods = 2

// Rollback is the set of alarms that stop and roll back a stage
// (docs/signals.md).
type Rollback struct {
	// Max5xxPercent is the highest error share of the new version's target
	// group tolerated in one period: its targets' 5xx responses plus the
	// connections the load balancer could not open to them, per request.
	Max5xxPercent float64 `json:"max5xxPercent"`
	// PeriodSeconds is the CloudWatch evaluation period.
	PeriodSeconds int `json:"periodSeconds"`
	// EvaluationPeriods is how many breaching periods fire an alarm: at
	// least this many of the last EvaluationPeriods + LatePeriods periods
	// (the alarm's DatapointsToAlarm and EvaluationPeriods in CloudWatch's
	// terms). The LatePeriods extra periods are for the newest minutes the
	// load balancer has not yet published when the alarm is evaluated.
	EvaluationPeriods int `json:"evaluationPeriods"`
	// MinRequests is the fewest requests in a period before the rate counts,
	// so one failed request out of two does not roll a stage back.
	MinRequests int `json:"minRequests"`
	// MaxLatencyMs is the highest LatencyPercentile of the targets'
	// response time tolerated in a period with at least MinRequests
	// requests; 0 turns the latency alarm off.
	MaxLatencyMs int `json:"maxLatencyMs"`
	// LatencyPercentile is the CloudWatch percentile statistic the latency
	// alarm watches, such as p99 or p99.9.
	LatencyPercentile string `json:"latencyPercentile"`
	// MaxUnhealthyTargets is the most unhealthy targets tolerated in a
	// target group in a period; no minimum traffic applies.
	MaxUnhealthyTargets int `json:"maxUnhealthyTargets"`
	// MaxConnectionErrors is the most connections per period the load
	// balancer may fail to open to a target group's targets; no minimum
	// traffic applies.
	MaxConnectionErrors int `json:"maxConnectionErrors"`
}

// SmokeTest sends requests to the replacement task set through a test
// listener at CodeDeploy's AfterAllowTestTraffic, before any production
// traffic moves; a failed check fails the deployment.
type SmokeTest struct {
	// Enabled adds the test listeners and the smoke hook.
	Enabled bool `json:"enabled"`
	// Paths are requested in order; empty means service.healthCheckPath.
	Paths []string `json:"paths"`
	// ExpectStatus is the status code every response must have.
	ExpectStatus int `json:"expectStatus"`
	// ExpectBody, when set, must appear in every response body.
	ExpectBody string `json:"expectBody,omitempty"`
	// Tenant, when set, is impersonated the way tenantMatch recognises
	// tenants: under its path, with its header, or with its host.
	Tenant string `json:"tenant,omitempty"`
	// Requests is how many requests each path gets.
	Requests int `json:"requests"`
	// TimeoutSeconds bounds each request.
	TimeoutSeconds int `json:"timeoutSeconds"`
}

// SmokePaths are the paths the smoke test requests: Paths, or the health
// check path when none are configured.
func (c Config) SmokePaths() []string {
	if len(c.SmokeTest.Paths) > 0 {
		return c.SmokeTest.Paths
	}
	return []string{c.Service.HealthCheckPath}
}

// Service sizes the Fargate tasks of both services.
type Service struct {
	Cpu    int `json:"cpu"`
	Memory int `json:"memory"`
	// LatestCount is the task count of the `latest` service.
	LatestCount int `json:"latestCount"`
	// StableCount is what the pin hook scales `stable` to while tenants are pinned.
	StableCount int `json:"stableCount"`
	// Port is the container port (the same for both services).
	Port int `json:"port"`
	// HealthCheckPath is probed by the target groups.
	HealthCheckPath string `json:"healthCheckPath"`
	// ContainerName is the container in the task definition; the AppSpecs'
	// LoadBalancerInfo and the services' load balancer binding name it.
	ContainerName string `json:"containerName"`
	// PlaceholderImage runs before the first push. The default is a busybox
	// image told to serve the port and health path; a custom image must do
	// that by itself.
	PlaceholderImage string `json:"placeholderImage"`
	// LogRetentionDays is the CloudWatch Logs retention of task and hook logs.
	LogRetentionDays int `json:"logRetentionDays"`
	// DeregistrationDelaySeconds is how long a target drains.
	DeregistrationDelaySeconds int `json:"deregistrationDelaySeconds"`
}

// Network shapes the VPC.
type Network struct {
	// AvailabilityZones is the number of AZs (the ALB needs at least 2).
	AvailabilityZones int `json:"availabilityZones"`
	// Nat is none, single or one-per-az.
	Nat string `json:"nat"`
}

// DefaultPlaceholderImage is a public busybox image; the service component
// starts its httpd on the configured port with a file at the health path.
const DefaultPlaceholderImage = "public.ecr.aws/docker/library/busybox:1.37"

// DefaultMaxLatencyMs is the latency alarm's generous default: far above a
// healthy web service's p99, far below the load balancer's 60-second idle
// timeout. On by default because the two mistakes are not alike: a latency
// alarm that fires on a healthy version stops the rollout loudly and the
// previous version keeps serving, while no latency alarm ships a slow
// version silently. Set it to a few times your own p99, or 0 to turn it off.
const DefaultMaxLatencyMs = 2000

// Defaults returns the configuration used for every key a stack leaves out.
// It is the only place defaults live; Pulumi.yaml documents the same values.
func Defaults() Config {
	return Config{
		PinnedTenants: []string{},
		TenantMatch:   TenantMatch{Type: MatchPath, Pattern: "/app/{tenant}"},
		Traffic: Traffic{
			Type: TrafficCanary, Percentage: 10, IntervalMinutes: 5,
			TerminationWaitMinutes: 5,
		},
		Approval: Approval{Required: true, NotifyEmails: []string{}, OnReject: OnRejectRollback},
		Rollback: Rollback{
			Max5xxPercent: 5, PeriodSeconds: 60, EvaluationPeriods: 2, MinRequests: 20,
			MaxLatencyMs: DefaultMaxLatencyMs, LatencyPercentile: "p99",
			MaxUnhealthyTargets: 0, MaxConnectionErrors: 0,
		},
		SmokeTest: SmokeTest{Paths: []string{}, ExpectStatus: 200, Requests: 3, TimeoutSeconds: 5},
		Service: Service{
			Cpu: 256, Memory: 512, LatestCount: 2, StableCount: 2, Port: 8080,
			HealthCheckPath: "/healthz", ContainerName: "app",
			PlaceholderImage: DefaultPlaceholderImage, LogRetentionDays: 30,
			DeregistrationDelaySeconds: 15,
		},
		Network:      Network{AvailabilityZones: 2, Nat: NatSingle},
		ImageTag:     "latest",
		AlbRuleQuota: 100,
	}
}

// defaultPatterns are the tenant patterns used when tenantMatch sets a type
// but no pattern. Host matching has none: only the user knows the domain.
var defaultPatterns = map[string]string{
	MatchPath:   "/app/{tenant}",
	MatchHeader: "{tenant}",
}

// DefaultTenantHeader is the header name used when tenantMatch.type is header
// and no name is given.
const DefaultTenantHeader = "X-Tenant-Id"

// Keys lists every key of the contract, in documentation order.
var Keys = []string{
	"pinnedTenants", "tenantMatch", "traffic", "approval", "rollback",
	"smokeTest", "service", "network", "imageTag", "certificateArn", "albRuleQuota",
	"forceDeleteImages",
}

// Lookup returns the raw value of a key in the tenant-canary namespace and
// whether it is set. Pulumi hands objects and lists over as JSON text.
type Lookup func(key string) (string, bool)

// Load reads every key through lookup, layers it over Defaults, and
// validates the result. The error, if any, is a Problems listing every
// problem found, so a user fixes the stack in one round.
func Load(lookup Lookup) (Config, error) {
	cfg := Defaults()
	var problems Problems
	for _, key := range Keys {
		raw, ok := lookup(key)
		if !ok {
			continue
		}
		if err := decodeKey(&cfg, key, raw); err != nil {
			problems = append(problems, Problem{Key: key, Value: raw, Allowed: err.Error()})
		}
	}
	fillTypeDefaults(&cfg)
	problems = append(problems, Validate(cfg)...)
	if len(problems) > 0 {
		return Config{}, problems
	}
	return cfg, nil
}

// decodeKey decodes one key's raw value onto cfg, keeping the defaults of
// any field an object leaves out and rejecting unknown fields (a typo such
// as `percentge` must not silently fall back to a default).
func decodeKey(cfg *Config, key, raw string) error {
	var target any
	switch key {
	case "pinnedTenants":
		target = &cfg.PinnedTenants
	case "tenantMatch":
		// A new type resets the pattern: /app/{tenant} is no header value.
		cfg.TenantMatch = TenantMatch{}
		target = &cfg.TenantMatch
	case "traffic":
		target = &cfg.Traffic
	case "approval":
		target = &cfg.Approval
	case "rollback":
		target = &cfg.Rollback
	case "smokeTest":
		target = &cfg.SmokeTest
	case "service":
		target = &cfg.Service
	case "network":
		target = &cfg.Network
	case "imageTag":
		cfg.ImageTag = raw
		return nil
	case "certificateArn":
		cfg.CertificateArn = raw
		return nil
	case "albRuleQuota":
		target = &cfg.AlbRuleQuota
	case "forceDeleteImages":
		target = &cfg.ForceDeleteImages
	default:
		return fmt.Errorf("unknown key")
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(target); err != nil {
		return fmt.Errorf("%s (expected %s)", describeDecodeError(err), shapeOf(key))
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the value (expected %s)", shapeOf(key))
	}
	return nil
}

func describeDecodeError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			return fmt.Sprintf("a %s cannot be used here", typeErr.Value)
		}
		return fmt.Sprintf("field %q: a %s cannot be used here", field, typeErr.Value)
	}
	msg := err.Error()
	// encoding/json says `json: unknown field "x"`; drop the package prefix.
	return strings.TrimPrefix(msg, "json: ")
}

func shapeOf(key string) string {
	switch key {
	case "pinnedTenants":
		return `a list of tenant ids, e.g. ["123","acme"]`
	case "albRuleQuota":
		return "an integer"
	case "forceDeleteImages":
		return "true or false"
	default:
		return "an object with the fields listed in docs/configuration.md"
	}
}

// fillTypeDefaults completes a tenantMatch that named only its type.
func fillTypeDefaults(cfg *Config) {
	if cfg.TenantMatch.Type == "" {
		cfg.TenantMatch.Type = MatchPath
	}
	if cfg.TenantMatch.Pattern == "" {
		cfg.TenantMatch.Pattern = defaultPatterns[cfg.TenantMatch.Type]
	}
	if cfg.TenantMatch.Type == MatchHeader && cfg.TenantMatch.Name == "" {
		cfg.TenantMatch.Name = DefaultTenantHeader
	}
	if cfg.PinnedTenants == nil {
		cfg.PinnedTenants = []string{}
	}
	if cfg.Approval.NotifyEmails == nil {
		cfg.Approval.NotifyEmails = []string{}
	}
	if cfg.SmokeTest.Paths == nil {
		cfg.SmokeTest.Paths = []string{}
	}
}

// Problem is one thing wrong with the stack config.
type Problem struct {
	// Key is the config key, with a path into objects: "traffic.percentage".
	Key string
	// Value is the offending value as the user wrote it.
	Value string
	// Allowed says what would be accepted.
	Allowed string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%s = %s: %s", Namespace, p.Key, p.Value, p.Allowed)
}

// Problems is every problem found in a stack config.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, 0, len(ps)+1)
	lines = append(lines, fmt.Sprintf("invalid stack config (%d problem(s)); nothing was created:", len(ps)))
	for _, p := range ps {
		lines = append(lines, "  - "+p.String())
	}
	return strings.Join(lines, "\n")
}

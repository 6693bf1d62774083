package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// HookSmoke is the smoke test hook (internal/contract).
const HookSmoke = contract.HookSmoke

// Smoke test limits inside the hook.
const (
	// smokeBodyLimit is how much of a response body the hook reads and
	// searches for ExpectBody.
	smokeBodyLimit = 1 << 20
	// smokeBodyExcerpt is how much of a failing response's body is logged.
	smokeBodyExcerpt = 512
	// smokeDialTimeout bounds a TCP connect inside the per-request timeout.
	smokeDialTimeout = 5 * time.Second
)

// DeploymentReader is the CodeDeploy calls the smoke hook makes besides its
// report: the deployment's group tells it which test listener to test, and
// the deployment's ECS target how many tasks the replacement task set has.
type DeploymentReader interface {
	GetDeployment(ctx context.Context, in *codedeploy.GetDeploymentInput, optFns ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error)
	ListDeploymentTargets(ctx context.Context, in *codedeploy.ListDeploymentTargetsInput, optFns ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error)
	GetDeploymentTarget(ctx context.Context, in *codedeploy.GetDeploymentTargetInput, optFns ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentTargetOutput, error)
}

// SmokeConfig is the smoke hook's environment.
type SmokeConfig struct {
	// Targets maps a deployment group name to its test listener's base URL.
	Targets map[string]string
	Checks  contract.SmokeChecks
}

// SmokeConfigFromEnv reads and validates the smoke hook's environment; the
// error names every problem.
func SmokeConfigFromEnv(lookup func(string) (string, bool)) (SmokeConfig, error) {
	var cfg SmokeConfig
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	decode := func(name string, into any) {
		v, ok := lookup(name)
		if !ok || strings.TrimSpace(v) == "" {
			bad("%s is not set", name)
			return
		}
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into); err != nil {
			bad("%s is not valid JSON for it: %v", name, err)
		}
	}
	decode(contract.EnvSmokeTargets, &cfg.Targets)
	decode(contract.EnvSmokeChecks, &cfg.Checks)
	if cfg.Targets != nil && len(cfg.Targets) == 0 {
		bad("%s names no deployment group", contract.EnvSmokeTargets)
	}
	for group, base := range cfg.Targets {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("%s: %q of %q is not an http(s)://host[:port] URL", contract.EnvSmokeTargets, base, group)
		}
	}
	c := cfg.Checks
	if _, ok := lookup(contract.EnvSmokeChecks); ok {
		if len(c.Requests) == 0 {
			bad("%s has no requests", contract.EnvSmokeChecks)
		}
		for i, r := range c.Requests {
			if !strings.HasPrefix(r.Path, "/") {
				bad("%s: requests[%d].path %q does not start with /", contract.EnvSmokeChecks, i, r.Path)
			}
		}
		if c.Count < 1 {
			bad("%s: count %d must be at least 1", contract.EnvSmokeChecks, c.Count)
		}
		if c.ExpectStatus < 100 || c.ExpectStatus > 599 {
			bad("%s: expectStatus %d is not an HTTP status", contract.EnvSmokeChecks, c.ExpectStatus)
		}
		if c.TimeoutSeconds < 1 {
			bad("%s: timeoutSeconds %d must be at least 1", contract.EnvSmokeChecks, c.TimeoutSeconds)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return cfg, fmt.Errorf("invalid environment for the %s hook: %s", HookSmoke, strings.Join(problems, "; "))
	}
	return cfg, nil
}

// Smoke is the AfterAllowTestTraffic hook of both stages: it sends the
// configured requests to the replacement task set through the deployment
// group's test listener and reports Failed on the first failed check, so
// the stage stops before any production traffic moves; a replacement task
// set of 0 tasks has nothing to test and passes. It reports exactly
// once through Hooks (the lifecycle machinery of the other hooks), bounds
// every request and never retries one.
type Smoke struct {
	// Hooks carries the report: CodeDeploy, Logger, ConfigErr and the
	// timing knobs; its ECS, ELB and Config are not used.
	Hooks       *Hooks
	Config      SmokeConfig
	Deployments DeploymentReader
	// HTTP sends the smoke requests; nil means NewSmokeHTTPClient().
	HTTP *http.Client
}

// Run is the Lambda handler.
func (s *Smoke) Run(ctx context.Context, ev LifecycleEvent) error {
	return s.Hooks.lifecycle(ctx, HookSmoke, ev, s.check)
}

// NewSmokeHTTPClient never follows redirects (the status checked is the
// application's own), never uses a proxy and opens a new connection for
// every request, so the requests spread over the replacement tasks.
func NewSmokeHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       (&net.Dialer{Timeout: smokeDialTimeout}).DialContext,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (s *Smoke) check(ctx context.Context, log *invocationLogger) error {
	out, err := s.Deployments.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(log.deployment)})
	if err != nil {
		return fmt.Errorf("read deployment %s: %w", log.deployment, err)
	}
	if out.DeploymentInfo == nil || aws.ToString(out.DeploymentInfo.DeploymentGroupName) == "" {
		return fmt.Errorf("deployment %s has no deployment group", log.deployment)
	}
	group := aws.ToString(out.DeploymentInfo.DeploymentGroupName)
	base, ok := s.Config.Targets[group]
	if !ok {
		known := make([]string, 0, len(s.Config.Targets))
		for g := range s.Config.Targets {
			known = append(known, g)
		}
		sort.Strings(known)
		return fmt.Errorf("deployment group %q has no test listener in %s (it names %v)", group, contract.EnvSmokeTargets, known)
	}
	desired, known, err := s.replacementDesiredCount(ctx, log)
	if err != nil {
		return err
	}
	if known && desired == 0 {
		log.Info("target", "nothing to test: the replacement task set has no tasks, so it serves no request through either listener (a Stable deployment while stable runs no task); the image passed the smoke test in this execution's Latest stage",
			"deployment_group", group, "test_listener", base, "replacement_desired_count", desired)
		return nil
	}
	log.Info("target", "testing the replacement task set through the test listener", "deployment_group", group, "test_listener", base)
	client := s.HTTP
	if client == nil {
		client = NewSmokeHTTPClient()
	}
	c := s.Config.Checks
	sent := 0
	for _, r := range c.Requests {
		for attempt := 1; attempt <= c.Count; attempt++ {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("gave up after %d smoke requests: the hook's time is up: %w", sent, err)
			}
			sent++
			res := s.send(ctx, client, base, r, c)
			if res.err != nil {
				log.Error("check", "smoke check failed",
					"url", res.url, "host", r.Host, "headers", r.Headers, "attempt", attempt,
					"status", res.status, "expect_status", c.ExpectStatus, "expect_body", c.ExpectBody,
					"body", res.excerpt, "request_ms", res.elapsed.Milliseconds(), "error", res.err.Error())
				return fmt.Errorf("smoke check failed: GET %s (attempt %d of %d): %w", res.url, attempt, c.Count, res.err)
			}
		}
	}
	log.Info("check", "every smoke check passed", "requests", sent)
	return nil
}

// replacementDesiredCount reads how many tasks CodeDeploy asked ECS for in
// the deployment's replacement task set: the ECS target's task set labelled
// Green (CodeDeploy API Reference, ECSTaskSet: desiredCount is "the number
// of tasks in a task set", taskSetLabel is Blue for the original and Green
// for the replacement,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ECSTaskSet.html;
// GetDeploymentTarget returns them as ecsTarget.taskSetsInfo,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_GetDeploymentTarget.html).
// ECS sizes a task set as the service's desired count times the task set's
// scale (ECS API Reference, TaskSet.computedDesiredCount,
// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TaskSet.html),
// so a Stable deployment while stable runs 0 tasks has a replacement of 0
// tasks, and the test listener answers 503 for want of targets. pin scales
// stable up even with an empty allow-list, so the usual Stable deployment
// has tasks to test; one that starts after a cleanup scaled stable down
// does not. known is
// false when the answer names no replacement task set: the hook then tests
// as before, never skipping on a guess.
func (s *Smoke) replacementDesiredCount(ctx context.Context, log *invocationLogger) (desired int64, known bool, err error) {
	targets, err := s.Deployments.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(log.deployment)})
	if err != nil {
		return 0, false, fmt.Errorf("list targets of deployment %s: %w", log.deployment, err)
	}
	if len(targets.TargetIds) != 1 {
		// An ECS deployment has one target, its service; CodeDeploy may
		// not have listed it yet.
		log.Info("read-target", "cannot tell the replacement task set's size: testing it", "targets", targets.TargetIds)
		return 0, false, nil
	}
	id := targets.TargetIds[0]
	out, err := s.Deployments.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{DeploymentId: aws.String(log.deployment), TargetId: aws.String(id)})
	if err != nil {
		return 0, false, fmt.Errorf("get target %s of deployment %s: %w", id, log.deployment, err)
	}
	if out.DeploymentTarget != nil && out.DeploymentTarget.EcsTarget != nil {
		for _, ts := range out.DeploymentTarget.EcsTarget.TaskSetsInfo {
			if ts.TaskSetLabel == cdtypes.TargetLabelGreen {
				log.Info("read-target", "read the replacement task set", "target", id, "task_set", aws.ToString(ts.Identifer),
					"desired_count", ts.DesiredCount, "running_count", ts.RunningCount)
				return ts.DesiredCount, true, nil
			}
		}
	}
	log.Info("read-target", "the deployment's target names no replacement (Green) task set: testing through the test listener", "target", id)
	return 0, false, nil
}

type smokeResult struct {
	url     string
	status  int
	excerpt string
	elapsed time.Duration
	err     error
}

func (s *Smoke) send(ctx context.Context, client *http.Client, base string, r contract.SmokeRequest, c contract.SmokeChecks) smokeResult {
	res := smokeResult{url: strings.TrimSuffix(base, "/") + r.Path}
	rctx, cancel := context.WithTimeout(ctx, time.Duration(c.TimeoutSeconds)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, res.url, nil)
	if err != nil {
		res.err = err
		return res
	}
	if r.Host != "" {
		req.Host = r.Host
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "tenant-canary-smoke")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		res.elapsed = time.Since(start)
		if errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no response within %ds: %w", c.TimeoutSeconds, err)
		}
		res.err = err
		return res
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, smokeBodyLimit))
	res.elapsed = time.Since(start)
	res.status = resp.StatusCode
	res.excerpt = string(body[:min(len(body), smokeBodyExcerpt)])
	switch {
	case resp.StatusCode != c.ExpectStatus:
		res.err = fmt.Errorf("status %d, want %d", resp.StatusCode, c.ExpectStatus)
	case rerr != nil:
		res.err = fmt.Errorf("reading the body: %w", rerr)
	case c.ExpectBody != "" && !strings.Contains(string(body), c.ExpectBody):
		res.err = fmt.Errorf("body does not contain %q", c.ExpectBody)
	}
	return res
}

// SmokeFromEnvironment builds the smoke hook at cold start, like
// FromEnvironment: a bad environment fails every invocation, which still
// reports Failed.
func SmokeFromEnvironment() *Smoke {
	logger := NewLogger(os.Stdout)
	cfg, cfgErr := SmokeConfigFromEnv(os.LookupEnv)
	if cfgErr != nil {
		logger.Error("invalid configuration", "hook", string(HookSmoke), "step", "init", "error", cfgErr.Error())
	}
	clients, err := LoadClients(context.Background())
	if err != nil {
		logger.Error("cannot build AWS clients", "hook", string(HookSmoke), "step", "init", "error", err.Error())
		os.Exit(1)
	}
	return &Smoke{
		Hooks:       &Hooks{ConfigErr: cfgErr, CodeDeploy: clients.CodeDeploy, Logger: logger},
		Config:      cfg,
		Deployments: clients.CodeDeploy,
	}
}

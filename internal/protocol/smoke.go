package protocol

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The smoke hook's test listeners (components/pipeline: one per
// deployment group, named in the hook's environment by base URL).
func (w *World) smokeTargets() map[string]string {
	return map[string]string{w.st.latestGroup: "http://tc-alb.test:8443", w.st.stableGroup: "http://tc-alb.test:9443"}
}

// phaseTestTraffic: the test listener routes to the replacement task set
// and the AfterAllowTestTraffic hook runs.
const phaseTestTraffic = "after-allow-test-traffic"

// testListenerTG is the target group a deployment group's test listener
// forwards to. The program creates it where production is live
// (components/pipeline); CodeDeploy points it at the replacement task set
// before AfterAllowTestTraffic ("the test listener serves traffic to the
// replacement task set", AppSpec hooks for an ECS deployment,
// https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-hooks.html#appspec-hooks-ecs)
// and back to the original one on a rollback.
func (w *World) testListenerTG(group string) string {
	if tg, ok := w.testTG[group]; ok {
		return tg
	}
	return w.Services[w.st.serviceOf(group)].primary().TG
}

// allowTestTraffic routes the test listener to the replacement and runs
// the smoke hook.
func (w *World) allowTestTraffic(s Scenario, d *Deployment) {
	repl := w.taskSet(w.Services[w.st.serviceOf(d.Group)], d.Replacement)
	w.testTG[d.Group] = repl.TG
	d.Phase = phaseTestTraffic
	w.runHook(s, d, d.hook(hookTestTraffic), contract.HookSmoke)
}

const hookTestTraffic = "AfterAllowTestTraffic"

// smokeReady: the deployment has no smoke hook, or it passed.
func smokeReady(d *Deployment) bool {
	l := d.hook(hookTestTraffic)
	return l == nil || l.Status == "Succeeded"
}

// smokeBodies are the bodies of the test listener's answers, by status.
var smokeBodies = map[int]string{200: "ok", 500: "internal error", 502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable"}

// smokeTransport sends the smoke hook's requests through the model's test
// listener: each is a step, answered by the version the listener's target
// group serves. No registered target: 503 ("Troubleshoot your Application
// Load Balancers", HTTP 503,
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html);
// a refused connection: 502 (same page, HTTP 502: "The load balancer
// received a TCP RST from the target when attempting to establish a
// connection"); a 5xx version: its 500; a version slower than the
// request's timeout: no answer in time (status 0).
type smokeTransport struct {
	c       *client
	timeout time.Duration
}

func (t smokeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	group := ""
	for g, base := range t.c.w.smokeTargets() {
		if strings.HasPrefix(req.URL.String(), base) {
			group = g
		}
	}
	status, err := do(t.c, req.Context(), "GET", req.URL.Host+req.URL.Path, func(w *World) (int, error) {
		if group == "" {
			return 0, fmt.Errorf("dial %s: no such host", req.URL.Host)
		}
		sets := w.running(w.testListenerTG(group))
		if len(sets) == 0 {
			return 503, nil
		}
		fault := w.faultOf(sets[0].TaskDef)
		if fault == "" {
			return 200, nil
		}
		m := w.signal.Sample(fault, 1, sets[0].Running)
		switch {
		case m.ConnectionErrors > 0:
			return 502, nil
		case m.Target5XX > 0:
			return 500, nil
		case time.Duration(m.ResponseTime*float64(time.Second)) > t.timeout:
			return 0, nil
		}
		return 200, nil
	})
	if err != nil {
		return nil, err
	}
	if status == 0 {
		return nil, context.DeadlineExceeded
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Body: io.NopCloser(strings.NewReader(smokeBodies[status])),
		Header: http.Header{}, Request: req, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// smokeHook is the real smoke hook (lambda/rollout.Smoke) with the model as
// its CodeDeploy and its test listeners.
func smokeHook(c *client, h *rollout.Hooks, checks contract.SmokeChecks) *rollout.Smoke {
	return &rollout.Smoke{Hooks: h, Config: rollout.SmokeConfig{Targets: c.w.smokeTargets(), Checks: checks}, Deployments: c,
		HTTP: &http.Client{Transport: smokeTransport{c: c, timeout: time.Duration(checks.TimeoutSeconds) * time.Second}}}
}

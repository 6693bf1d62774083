package protocol

import (
	"net/http"
	"time"
)

// What a test outside the package reads off a world (through
// Direct.Inspect) to assert outcomes rather than the calls that got there,
// and the smoke hook's test listeners served outside the explorer.

// Tenants is the allow-list as the listener's tenant rules hold it now.
func (w *World) Tenants() []string { return w.tenants() }

// VersionOf is the image version a task definition of this world holds
// (-1 for one it never registered).
func (w *World) VersionOf(taskDef string) int {
	if v, ok := w.TaskDefs[taskDef]; ok {
		return v
	}
	return -1
}

// SmokeTargets is the smoke hook's SMOKE_TARGETS for this world: each
// deployment group's test listener by base URL (components/pipeline
// creates one per group). Requests to them are answered by TestListeners.
func (d *Direct) SmokeTargets() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.w.smokeTargets()
}

// TestListeners answers HTTP requests to SmokeTargets as the model's test
// listeners do (smokeTransport): by the version behind the listener's
// target group, 503 when no target is registered. timeout is the smoke
// request's own (SmokeChecks.TimeoutSeconds), against which a slow
// version's answer is late.
func (d *Direct) TestListeners(timeout time.Duration) http.RoundTripper {
	return smokeTransport{c: &client{w: d.w, direct: d}, timeout: timeout}
}

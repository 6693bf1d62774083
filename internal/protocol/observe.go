package protocol

import (
	"net/http"
	"slices"
	"time"
)

// What a test outside the package reads off a world (through
// Direct.Inspect) to assert outcomes — who is served what, what the
// trace says happened — rather than the calls that got there.

// Serves is the versions a request of tenant ("" for a request of no
// pinned tenant) can be served now: the versions of the running task sets
// behind the target groups with weight on the rule that routes it, sorted.
func (w *World) Serves(tenant string) []int {
	var vs []int
	for _, g := range w.served(w.route(tenant)) {
		vs = append(vs, g.versions...)
	}
	slices.Sort(vs)
	return slices.Compact(vs)
}

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

// Trace is what happened so far, one line an event, as Explore prints a
// trace: the events taken and what the model did of them (an approval a
// function decided, with its summary; a deployment that failed, and why).
func (w *World) Trace() []string { return slices.Clone(w.log) }

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

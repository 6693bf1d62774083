package rollout

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

// A line below the handler's level is dropped before its fields are built:
// it allocates nothing. A line at the level carries the invocation's
// fields.
func TestInvocationLoggerBuildsNoFieldsBelowTheLevel(t *testing.T) {
	var out bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l := newInvocationLogger(base, HookPin, "d-1")
	if n := testing.AllocsPerRun(100, func() { l.Info("health", "stable not healthy yet") }); n != 0 {
		t.Errorf("an Info line under a Warn handler allocated %v times a call, want 0", n)
	}
	if out.Len() != 0 {
		t.Fatalf("an Info line under a Warn handler was written: %s", out.String())
	}
	l.Warn("held", "split held", slog.Int("tenants", 2))
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("the Warn line is not one JSON object: %v: %s", err, out.String())
	}
	for k, want := range map[string]any{"hook": "pin", "deployment_id": "d-1", "step": "held", "msg": "split held", "tenants": 2.0} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], want, out.String())
		}
	}
	if _, ok := line["duration_ms"]; !ok {
		t.Errorf("no duration_ms in %s", out.String())
	}
}

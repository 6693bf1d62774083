// Package badversion parses the user-facing description of a bad release of
// the sample app — `--bad 5xx=50%`, `--bad latency=3s`, `--bad health`,
// `--bad refuse`, or several joined by commas — and turns it into what
// builds the app bad: `go build -ldflags -X` values and the matching
// `docker build --build-arg`s of images/app/Dockerfile.
//
// A version is made bad when it is built, like a real bad release: nothing
// about it changes at run time, so the rollout's rollback alarms are what
// must catch it (docs/design.md §3: error share, connection errors, latency
// percentile, unhealthy targets — one kind of bad release for each).
//
// This is the one parser of the spec; images/app cannot import it (its
// Dockerfile compiles the app outside the module), so the app reads the
// plain values LDFlags sets and validates them itself.
package badversion

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Spec is a parsed bad-version description; the zero Spec is a good version.
type Spec struct {
	// ErrorPercent of the app's answers (health checks excepted) are 500s.
	ErrorPercent int
	// Latency delays every answer (health checks excepted).
	Latency time.Duration
	// FailHealth answers the health-check path with 503.
	FailHealth bool
	// Refuse runs the app without listening: every connection is refused.
	Refuse bool
}

// MaxLatency bounds latency=: longer than the load balancer's default
// 60-second idle timeout only makes every request a 504, and a rehearsal
// or an acceptance run should not hold connections for minutes.
const MaxLatency = 2 * time.Minute

// allowed is what the error messages list.
const allowed = "5xx=<1-100>%, latency=<duration such as 3s, up to 2m>, health or refuse, several joined by commas"

// Parse reads a spec such as "5xx=50%" or "latency=3s,health". The empty
// string is a good version. Each kind may appear once.
func Parse(s string) (Spec, error) {
	var spec Spec
	if strings.TrimSpace(s) == "" {
		return spec, nil
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		key, value, hasValue := strings.Cut(part, "=")
		if seen[key] {
			return Spec{}, fmt.Errorf("bad version %q: %s given twice; want %s", s, key, allowed)
		}
		seen[key] = true
		switch key {
		case "5xx":
			p, ok := strings.CutSuffix(value, "%")
			n, err := strconv.Atoi(p)
			if !hasValue || !ok || err != nil || n < 1 || n > 100 {
				return Spec{}, fmt.Errorf("bad version %q: 5xx=%q: want a percentage 1-100 such as 5xx=50%%", s, value)
			}
			spec.ErrorPercent = n
		case "latency":
			d, err := time.ParseDuration(value)
			if !hasValue || err != nil || d <= 0 || d > MaxLatency {
				return Spec{}, fmt.Errorf("bad version %q: latency=%q: want a positive duration up to %s such as latency=3s", s, value, MaxLatency)
			}
			spec.Latency = d
		case "health", "refuse":
			if hasValue {
				return Spec{}, fmt.Errorf("bad version %q: %s takes no value (got %q)", s, key, value)
			}
			if key == "health" {
				spec.FailHealth = true
			} else {
				spec.Refuse = true
			}
		default:
			return Spec{}, fmt.Errorf("bad version %q: unknown kind %q; want %s", s, part, allowed)
		}
	}
	return spec, nil
}

// IsBad says whether the spec makes any difference.
func (s Spec) IsBad() bool { return s != Spec{} }

// String is the spec in Parse's canonical form ("" for a good version).
func (s Spec) String() string {
	var parts []string
	if s.ErrorPercent > 0 {
		parts = append(parts, fmt.Sprintf("5xx=%d%%", s.ErrorPercent))
	}
	if s.Latency > 0 {
		parts = append(parts, "latency="+s.Latency.String())
	}
	if s.FailHealth {
		parts = append(parts, "health")
	}
	if s.Refuse {
		parts = append(parts, "refuse")
	}
	return strings.Join(parts, ",")
}

// The app's build-time variables (package main of images/app) and the
// Dockerfile's build arguments that set them, one pair per kind.
var variables = []struct{ Var, Arg string }{
	{"main.bad5xxPercent", "BAD_5XX_PERCENT"},
	{"main.badLatency", "BAD_LATENCY"},
	{"main.badHealth", "BAD_HEALTH"},
	{"main.badRefuse", "BAD_REFUSE"},
}

// values are the variables' values, in the order of variables ("" unset).
func (s Spec) values() []string {
	v := []string{"", "", "", ""}
	if s.ErrorPercent > 0 {
		v[0] = strconv.Itoa(s.ErrorPercent)
	}
	if s.Latency > 0 {
		v[1] = s.Latency.String()
	}
	if s.FailHealth {
		v[2] = "true"
	}
	if s.Refuse {
		v[3] = "true"
	}
	return v
}

// LDFlags are the `-X name=value` flags (for `go build -ldflags`) that
// build the app bad; none for a good version.
func (s Spec) LDFlags() []string {
	var out []string
	for i, v := range s.values() {
		if v != "" {
			out = append(out, "-X", variables[i].Var+"="+v)
		}
	}
	return out
}

// BuildArgs are the `docker build --build-arg` values that build the image
// bad; every argument is present (empty when unset), so a cached layer of
// a bad build is never reused for a good one.
func (s Spec) BuildArgs() map[string]string {
	out := map[string]string{}
	for i, v := range s.values() {
		out[variables[i].Arg] = v
	}
	return out
}

// Variable is one build-time variable of the app and the Dockerfile
// build argument that sets it.
type Variable struct{ Name, BuildArg string }

// Variables lists every bad-version variable.
func Variables() []Variable {
	out := make([]Variable, len(variables))
	for i, v := range variables {
		out[i] = Variable{Name: v.Var, BuildArg: v.Arg}
	}
	return out
}

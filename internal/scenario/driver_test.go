package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/routing"
)

func runScenario(t *testing.T, f *modelStack, name string, opts Options) (*Report, error) {
	t.Helper()
	s, err := Get(name, Counter(2))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return Run(ctx, f, s, opts)
}

func TestEveryScenarioRunsToItsEndAgainstAStackThatBehaves(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			f := newModelStack(t)
			var log bytes.Buffer
			r, err := runScenario(t, f, name, Options{Log: &log})
			require.NoError(t, err, "log:\n%s", log.String())
			assert.True(t, r.Passed())
			assert.Equal(t, "v1", r.InitialVersion)
			assert.Equal(t, f.o.PinnedTenants, r.PinnedTenants, "the allow-list comes from the stack's outputs")
			for _, c := range r.Checks {
				assert.True(t, c.Passed, "%s: %s", c.Name, c.Detail)
			}
			_, settled := r.settledAt()
			assert.True(t, settled)

			// The report is the JSON the package doc describes.
			raw, err := json.Marshal(r)
			require.NoError(t, err)
			var back map[string]any
			require.NoError(t, json.Unmarshal(raw, &back))
			for _, key := range []string{"scenario", "started", "ended", "stack", "pinnedTenants", "sampleTenants", "initialVersion", "pushes", "responses", "events", "checks"} {
				assert.Contains(t, back, key)
			}
		})
	}
}

func TestHappyRecordsWhatTheSDKShowsAndApprovesWithPutApprovalResult(t *testing.T) {
	f := newModelStack(t)
	r, err := runScenario(t, f, "happy", Options{})
	require.NoError(t, err)

	kinds := map[string]int{}
	var approvals []Event
	for _, e := range r.Events {
		kinds[e.Kind]++
		if e.Kind == KindApproval {
			approvals = append(approvals, e)
		}
	}
	for _, k := range []string{KindStage, KindExecution, KindDeployment, KindRules, KindService, KindStep, KindSettled, KindAlarm} {
		assert.NotZero(t, kinds[k], "no %s event", k)
	}
	require.Len(t, approvals, 2)
	assert.Equal(t, ApprovalPending, approvals[0].Status)
	assert.Equal(t, ApprovalApproved, approvals[1].Status)
	assert.Equal(t, ByDriver, approvals[1].By)
	assert.Equal(t, "v2", approvals[1].Version, "the execution is attributed to the push that started it")
	assert.Equal(t, "approved by tenant-canary scenario happy", f.approvalSummary("v2"), "the answer reached the pipeline")

	var targets []string
	for _, e := range r.Events {
		targets = append(targets, e.TargetIDs...)
	}
	assert.Contains(t, targets, f.o.ClusterName+":"+f.o.LatestServiceName)
	assert.Contains(t, targets, f.o.ClusterName+":"+f.o.StableServiceName)
}

func TestBadImageIsToldWhy(t *testing.T) {
	r, err := runScenario(t, newModelStack(t), "bad-image", Options{})
	require.NoError(t, err)
	require.Len(t, r.Pushes, 1)
	assert.Equal(t, "5xx=50%", r.Pushes[0].Bad)
	var stopped *Result
	for i := range r.Checks {
		if r.Checks[i].Name == "stopped-by-alarm" {
			stopped = &r.Checks[i]
		}
	}
	require.NotNil(t, stopped)
	assert.Contains(t, stopped.Detail, "ALARM")
}

// The driver is a checker: each planted bug must fail the run, naming it.
func TestARunFailsNamingWhatWentWrong(t *testing.T) {
	for _, tc := range []struct {
		name     string
		scenario string
		plant    func(*modelStack)
		mention  []string
	}{
		{"a pinned tenant gets the canary", "happy", func(f *modelStack) { f.leakToPinned = true },
			[]string{"ended, but not as it must", "pinned-never-unapproved: pinned tenant t0 was served v2"}},
		{"the bad version is not caught", "bad-image", func(f *modelStack) { f.noAlarm = true },
			[]string{`step "await-settled": the rollout settling`, "did not happen within 1h0m0s", "approval pending for v2"}},
		{"nothing moves after the push", "happy", func(f *modelStack) { f.stuck = true },
			[]string{`step "await-approval v2": an approval pending for v2 did not happen within 45m0s; last seen:`, "stable desired 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newModelStack(t)
			tc.plant(f)
			r, err := runScenario(t, f, tc.scenario, Options{})
			require.Error(t, err)
			for _, m := range tc.mention {
				assert.Contains(t, err.Error(), m)
			}
			assert.False(t, r.Passed())
			assert.NotEmpty(t, r.Checks, "the checks are judged even when a wait ran out")
		})
	}
}

func TestAWaitEndsAtTheRunsDeadline(t *testing.T) {
	f := newModelStack(t)
	f.stuck = true
	s, err := Get("happy", Counter(2))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	f.onPush = cancel // the run's deadline passes right after the push
	r, err := Run(ctx, f, s, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not happen before the run's deadline")
	assert.NotEmpty(t, r.Error, "the report says why it ended")
}

func TestTheRunHasAWallClockDeadline(t *testing.T) {
	f := newModelStack(t)
	f.stuck = true
	s := Scenario{Name: "slow", Steps: []Step{{Action: ActPush, Version: "v2"}, {Action: ActAwaitApproval, Version: "v2", Within: 10000 * time.Hour}}}
	r, err := Run(context.Background(), f, s, Options{Timeout: 300 * time.Millisecond})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "an approval pending for v2 did not happen before the run's deadline (context deadline exceeded)")
	assert.Contains(t, r.Error, "Source Succeeded (exec-1 v2)", "the report says what was last seen")
}

func TestTrafficIsBounded(t *testing.T) {
	f := newModelStack(t)
	r, err := runScenario(t, f, "happy", Options{MaxRequests: 12, FinalRounds: 2})
	// 12 allow 2 whole rounds of 5 targets (the first, before the push, and
	// one more), then only the 2 final rounds.
	assert.Len(t, r.Responses, 2*5+2*5)
	require.Error(t, err, "the traffic stopped before the canary was seen")
	assert.Contains(t, err.Error(), "unpinned-served-new-during-canary")
	assert.NotContains(t, err.Error(), "everyone-on-v2-at-end", "the end state is still observed")
}

func TestTrafficGoesOnlyToLoopbackOrTheStacksALB(t *testing.T) {
	alb := "http://tc-1.us-east-1.elb.amazonaws.com"
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:8080", true},
		{"http://localhost:9000", true},
		{"http://tc-1.us-east-1.elb.amazonaws.com", true},
		{"https://TC-1.us-east-1.elb.amazonaws.com/", true},
		{"http://example.com", false},
		{"http://10.0.0.8:8080", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
	} {
		_, err := checkBaseURL(tc.url, alb)
		assert.Equal(t, tc.ok, err == nil, "%s: %v", tc.url, err)
		if err != nil && !tc.ok && tc.url == "http://example.com" {
			assert.Contains(t, err.Error(), "only to a loopback address or the stack's albUrl")
		}
	}
}

func TestExecutionsAreAttributedToThePushThatStartedThem(t *testing.T) {
	pushes := []Push{{Version: "v2", Time: at(10)}, {Version: "v3", Time: at(50)}}
	for _, tc := range []struct {
		start int
		want  string
	}{{5, ""}, {10, "v2"}, {30, "v2"}, {50, "v3"}, {90, "v3"}} {
		assert.Equal(t, tc.want, versionStartedAt(pushes, at(tc.start)), "started at %ds", tc.start)
	}
}

func TestCatchAllAboveEveryTenantRuleAndTheAnchor(t *testing.T) {
	rule := func(role, priority string) Rule { return Rule{Role: role, Priority: priority} }
	for _, tc := range []struct {
		rules []Rule
		want  bool
	}{
		{[]Rule{rule(RoleCatchAll, "1"), rule(RoleAnchor, "2"), rule(RoleTenant, "10"), rule(RoleDefault, "default")}, true},
		{[]Rule{rule(RoleCatchAll, "50000"), rule(RoleAnchor, "2"), rule(RoleTenant, "10")}, false},
		{[]Rule{rule(RoleCatchAll, "5"), rule(RoleAnchor, "2")}, false},
		{[]Rule{rule(RoleAnchor, "2")}, false},
	} {
		assert.Equal(t, tc.want, catchAllAbove(tc.rules), "%+v", tc.rules)
	}
}

// The facts only AWS can confirm are judged from what the driver records:
// against the one model of AWS (targets <cluster>:<service>, images by
// digest, the source revision deployed, the tenant and anchor rules shifted
// with each Stable deployment, the original task set gone before a
// deployment succeeds, the replacement Green at the service's size) every
// one holds. facts_test.go shows each
// failing on a report where it does not.
func TestTheAWSFactsAreJudgedFromWhatTheDriverRecorded(t *testing.T) {
	f := newModelStack(t)
	s, err := Get("happy", Counter(2))
	require.NoError(t, err)
	s.Checks = []Check{TargetIDsAreClusterService(), ImagesByDigest(), SourceRevisionIsTheImageDigest(), RulesFollowStableDeployment(),
		OriginalTaskSetGoneBeforeSucceeded(), GreenTaskSetAtFullSize()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Run(ctx, f, s, Options{})
	require.NoError(t, err)
	require.Len(t, r.Checks, 6)
	for _, c := range r.Checks {
		assert.True(t, c.Passed, "%s: %s", c.Name, c.Detail)
	}
	for _, c := range r.Checks {
		if c.Name == "codedeploy-shifts-tenant-and-anchor-rules" {
			assert.Contains(t, c.Detail, "anchor")
		}
	}
}

func TestSeveralRoundsOfTrafficPerPoll(t *testing.T) {
	f := newModelStack(t)
	r, err := runScenario(t, f, "happy", Options{PollEvery: 4})
	require.NoError(t, err)
	rounds := len(r.Responses) / 5 // acme, globex, 7, 42, untenanted
	polls := f.polls()
	assert.LessOrEqual(t, 4*(polls-1), rounds, "one poll at the start, then one per 4 rounds")
	assert.Greater(t, polls, 3)
}

func TestEachRequestNamesItsTenantAsTheTenantRulesMatch(t *testing.T) {
	base, err := checkBaseURL("http://127.0.0.1:8080", "")
	require.NoError(t, err)
	for _, tc := range []struct {
		match             routing.Match
		tenant            string
		url, header, host string
	}{
		{routing.Match{Type: routing.TypePath, Pattern: "/app/{tenant}"}, "acme", "http://127.0.0.1:8080/app/acme", "", "127.0.0.1:8080"},
		{routing.Match{Type: routing.TypePath, Pattern: "/app/{tenant}"}, "", "http://127.0.0.1:8080/", "", "127.0.0.1:8080"},
		{routing.Match{Type: routing.TypeHeader, Pattern: "{tenant}", Name: "X-Tenant-Id"}, "acme", "http://127.0.0.1:8080/", "acme", "127.0.0.1:8080"},
		{routing.Match{Type: routing.TypeHost, Pattern: "{tenant}.example.com"}, "acme", "http://127.0.0.1:8080/", "", "acme.example.com"},
		{routing.Match{Type: routing.TypeHost, Pattern: "{tenant}.example.com"}, "", "http://127.0.0.1:8080/", "", "127.0.0.1:8080"},
	} {
		req, err := newTenantRequest(context.Background(), base, tc.match, tc.tenant)
		require.NoError(t, err)
		assert.Equal(t, tc.url, req.URL.String())
		assert.Equal(t, tc.header, req.Header.Get("X-Tenant-Id"))
		host := req.Host
		if host == "" {
			host = req.URL.Host
		}
		assert.Equal(t, tc.host, host)
	}
	for _, bad := range []routing.Match{{Type: "cookie", Pattern: "{tenant}"}, {Type: routing.TypePath, Pattern: "/app"}, {Type: routing.TypeHeader, Pattern: "{tenant}"}} {
		assert.Error(t, validateMatch(bad), "%+v", bad)
	}
}

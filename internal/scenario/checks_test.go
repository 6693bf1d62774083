package scenario

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func resp(s int, tenant string, pinned bool, version string) Response {
	return Response{Time: at(s), Tenant: tenant, Pinned: pinned, Version: version, Status: 200}
}

// happyReport is a run of happy as it must go: acme pinned on v1 until the
// approval at 50 s, tenant 7 and untenanted traffic on v2 from 20 s,
// settled at 90 s with everyone on v2.
func happyReport() *Report {
	return &Report{
		PinnedTenants: []string{"acme"}, SampleTenants: []string{"7"}, InitialVersion: "v1",
		Pushes: []Push{{Version: "v2", Time: at(10)}},
		Responses: []Response{
			resp(0, "acme", true, "v1"), resp(0, "7", false, "v1"), resp(0, "", false, "v1"),
			resp(20, "acme", true, "v1"), resp(20, "7", false, "v2"), resp(20, "", false, "v1"),
			resp(60, "acme", true, "v2"), resp(60, "7", false, "v2"), resp(60, "", false, "v2"),
			resp(95, "acme", true, "v2"), resp(95, "7", false, "v2"), resp(95, "", false, "v2"),
		},
		Events: []Event{
			{Time: at(40), Kind: KindApproval, ExecutionID: "e-2", Version: "v2", Status: ApprovalPending},
			{Time: at(50), Kind: KindApproval, ExecutionID: "e-2", Version: "v2", Status: ApprovalApproved, By: ByDriver},
			{Time: at(90), Kind: KindSettled},
		},
	}
}

func judge(c Check, mutate func(*Report)) Result {
	r := happyReport()
	if mutate != nil {
		mutate(r)
	}
	return c.Judge(r)
}

func TestPinnedNeverUnapproved(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Report)
		pass   bool
		detail string
	}{
		{"as it must go", nil, true, "1 pinned tenants were served only v1"},
		{"served the new version before the approval", func(r *Report) { r.Responses[3].Version = "v2" }, false, "pinned tenant acme was served v2 at 10:00:20, which no approval covered then"},
		{"approval came after the answer", func(r *Report) { r.Events[1].Time = at(70) }, false, "served v2 at 10:01:00"},
		{"a rejected version is not approved", func(r *Report) { r.Events[1].Status = ApprovalRejected }, false, "acme was served v2"},
		{"an approval of another version covers nothing", func(r *Report) { r.Events[1].Version = "v3" }, false, "acme was served v2"},
		{"a pinned tenant never answered", func(r *Report) { r.PinnedTenants = append(r.PinnedTenants, "globex") }, false, "pinned tenant globex got no answer"},
		{"no pinned tenants proves nothing", func(r *Report) { r.PinnedTenants = nil }, false, "no pinned tenants"},
		{"unpinned tenants may see anything", func(r *Report) { r.Responses[1].Version = "v9" }, true, ""},
		{"an error answer without a version is no version", func(r *Report) {
			r.Responses[3] = Response{Time: at(20), Tenant: "acme", Pinned: true, Status: 502}
		}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := judge(PinnedNeverUnapproved(), tc.mutate)
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

func TestPinnedStayedOnInitial(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Report)
		pass   bool
		detail string
	}{
		{"as it must go", nil, true, "1 pinned tenants were served v1 only during the canary of v2"},
		{"an error during the canary", func(r *Report) { r.Responses[3].Status = 502 }, false, "pinned tenant acme got HTTP 502 ×1 between the push of v2 and its approval, want v1 only"},
		{"no answer during the canary", func(r *Report) { r.Responses[3].Time = at(5) }, false, "acme got nothing"},
		{"the new version during the canary", func(r *Report) { r.Responses[3].Version = "v2" }, false, "acme got v2 ×1"},
		{"never decided", func(r *Report) { r.Events = r.Events[:1] }, false, "never decided"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := judge(PinnedStayedOnInitial("v2"), tc.mutate)
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

func TestUnpinnedServedDuringCanary(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Report)
		pass   bool
		detail string
	}{
		{"as it must go", nil, true, "unpinned tenant 7 was served v2 at 10:00:20"},
		{"only after the approval", func(r *Report) { r.Responses[4].Version = "v1" }, false, "no unpinned request was served v2 between its push and its approval; they got v1 ×2"},
		{"errors are named", func(r *Report) { r.Responses[4] = Response{Time: at(20), Tenant: "7", Status: 500, Version: "v2"} }, true, ""},
		{"a pinned tenant does not count", func(r *Report) { r.Responses[4].Version = "v1"; r.Responses[3].Version = "v2" }, false, "no unpinned request"},
		{"never pushed", func(r *Report) { r.Pushes = nil }, false, "v2 was never pushed"},
		{"undecided: any time after the push", func(r *Report) { r.Events = r.Events[:1] }, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := judge(UnpinnedServedDuringCanary("v2"), tc.mutate)
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

func TestEndsOn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		check   Check
		mutate  func(*Report)
		pass    bool
		detail  string
		checkID string
	}{
		{"as it must go", EndsOn("v2"), nil, true, "every one of 3 targets was served v2 only", "everyone-on-v2-at-end"},
		{"one tenant still on the old version", EndsOn("v2"), func(r *Report) { r.Responses[9].Version = "v1" }, false, "(not one version), want everyone on v2: tenant acme: v1 ×1", ""},
		{"everyone on one other version", EndsOn("v3"), nil, false, "one answer, but not v3", ""},
		{"a failed answer at the end", EndsOn("v2"), func(r *Report) { r.Responses[11].Status = 503 }, false, "(untenanted): HTTP 503 ×1", ""},
		{"a sample tenant never answered at the end", EndsOn("v2"), func(r *Report) { r.Responses = r.Responses[:10] }, false, "(untenanted): no answer", ""},
		{"never settled", EndsOn("v2"), func(r *Report) { r.Events = r.Events[:2] }, false, "never settled", ""},
		{"answers before settling do not count", EndsOn("v2"), func(r *Report) { r.Responses[6].Version = "v1" }, true, "", ""},
		{"back on the initial version", EndsOnInitial(), func(r *Report) {
			for i := 9; i < 12; i++ {
				r.Responses[i].Version = "v1"
			}
		}, true, "served v1 only", "everyone-on-the-initial-version-at-end"},
		{"not back on the initial version", EndsOnInitial(), nil, false, "want everyone on v1", ""},
		{"no initial version", EndsOnInitial(), func(r *Report) { r.InitialVersion = "" }, false, "began without one version", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := judge(tc.check, tc.mutate)
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
			if tc.checkID != "" {
				assert.Equal(t, tc.checkID, tc.check.Name)
			}
		})
	}
}

func TestStoppedByAlarm(t *testing.T) {
	deployment := func(status, code string) Event {
		return Event{Time: at(30), Kind: KindDeployment, Group: "latest", DeploymentID: "d-2", Status: status, ErrorCode: code, Message: "One or more alarms have been activated"}
	}
	for _, tc := range []struct {
		name   string
		events []Event
		pass   bool
		detail string
	}{
		{"failed on the alarm", []Event{deployment("InProgress", ""), deployment("Failed", "ALARM_ACTIVE")}, true, "deployment d-2 (latest) Failed at 10:00:30: One or more alarms"},
		{"stopped on the alarm", []Event{deployment("Stopped", "ALARM_ACTIVE")}, true, ""},
		{"failed for another reason", []Event{deployment("Failed", "HEALTH_CONSTRAINTS")}, false, "d-2 Failed (HEALTH_CONSTRAINTS)"},
		{"not stopped at all", []Event{deployment("Succeeded", "")}, false, "the bad version was not caught"},
		{"an alarm code on a deployment that went on", []Event{deployment("InProgress", "ALARM_ACTIVE")}, false, "not caught"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := StoppedByAlarm().Judge(&Report{Events: tc.events})
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

func TestSupersededApprovalRejected(t *testing.T) {
	approval := func(s int, status, by string) Event {
		return Event{Time: at(s), Kind: KindApproval, ExecutionID: "e-2", Version: "v2", Status: status, By: by, Summary: "superseded by v3"}
	}
	for _, tc := range []struct {
		name   string
		events []Event
		pass   bool
		detail string
	}{
		{"rejected automatically", []Event{approval(10, ApprovalPending, ""), approval(30, ApprovalRejected, ByOther)}, true, "rejected at 10:00:30: superseded by v3"},
		{"rejected by the driver", []Event{approval(10, ApprovalPending, ""), approval(30, ApprovalRejected, ByDriver)}, false, "was rejected by driver"},
		{"approved", []Event{approval(10, ApprovalPending, ""), approval(30, ApprovalApproved, ByOther)}, false, "was approved by other"},
		{"still pending", []Event{approval(10, ApprovalPending, "")}, false, "stayed pending"},
		{"never pending", nil, false, "never seen pending"},
		{"another version's rejection does not count", []Event{approval(10, ApprovalPending, ""), {Time: at(30), Kind: KindApproval, Version: "v3", Status: ApprovalRejected, By: ByOther}}, false, "stayed pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SupersededApprovalRejected("v2").Judge(&Report{Events: tc.events})
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

func TestEveryScenarioIsBuiltWithFreshVersionsAndChecks(t *testing.T) {
	next := Counter(2)
	seen := map[string]bool{}
	for _, name := range []string{"happy", "bad-image", "reject", "newest-push-wins"} {
		s, err := Get(name, next)
		assert.NoError(t, err)
		assert.Equal(t, name, s.Name)
		assert.NotEmpty(t, s.Checks)
		assert.Equal(t, ActPush, s.Steps[0].Action)
		assert.Equal(t, ActAwaitSettled, s.Steps[len(s.Steps)-1].Action, "%s ends settled, so its end state is observed", name)
		for _, st := range s.Steps {
			if st.Action == ActPush {
				assert.False(t, seen[st.Version], "%s pushes %s again", name, st.Version)
				seen[st.Version] = true
			}
		}
	}
	assert.Equal(t, []string{"bad-image", "happy", "newest-push-wins", "reject"}, Names())
	_, err := Get("sad", next)
	assert.EqualError(t, err, `scenario "sad": want one of bad-image, happy, newest-push-wins, reject`)
}

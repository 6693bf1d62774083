package scenario

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func rules(s int, catchAll, anchorTG, tenantTG string, weight int32) Event {
	fwd := func(tg string) []Forward { return []Forward{{TargetGroupArn: "arn:tg/" + tg, Weight: weight}} }
	return Event{Time: at(s), Kind: KindRules, Rules: []Rule{
		{Arn: "rule/catch-all", Priority: catchAll, Role: RoleCatchAll, Forward: fwd("latest-blue")},
		{Arn: "rule/anchor", Priority: "2", Role: RoleAnchor, Forward: fwd(anchorTG)},
		{Arn: "rule/tenants", Priority: "10", Role: RoleTenant, Forward: fwd(tenantTG)},
	}}
}

func dep(s int, group, id, status string) Event {
	return Event{Time: at(s), Kind: KindDeployment, Group: group, DeploymentID: id, Status: status}
}

var names = StackNames{ClusterName: "c", LatestServiceName: "latest", StableServiceName: "stable", LatestDeploymentGroup: "g-latest", StableDeploymentGroup: "g-stable"}

func TestRulesFollowStableDeployment(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []Event
		pass   bool
		detail string
	}{
		{"both moved", []Event{rules(0, "50000", "stable-blue", "stable-blue", 100), dep(10, "g-stable", "d-3", "InProgress"), rules(20, "50000", "stable-green", "stable-green", 100), dep(30, "g-stable", "d-3", "Succeeded")},
			true, "deployment d-3 moved anchor rule/anchor: tg/stable-blue → tg/stable-green"},
		{"only the default action moved", []Event{rules(0, "50000", "stable-blue", "stable-blue", 100), dep(10, "g-stable", "d-3", "InProgress"), dep(30, "g-stable", "d-3", "Succeeded")},
			false, "rules kept their target group: anchor rule/anchor: tg/stable-blue → tg/stable-blue"},
		{"the tenant rule stayed", []Event{rules(0, "50000", "stable-blue", "stable-blue", 100), dep(10, "g-stable", "d-3", "InProgress"), rules(20, "50000", "stable-green", "stable-blue", 100), dep(30, "g-stable", "d-3", "Succeeded")},
			false, "tenant rule/tenants"},
		{"no stable deployment", []Event{rules(0, "1", "stable-blue", "stable-blue", 100), dep(30, "g-latest", "d-2", "Succeeded")}, false, "no Stable deployment succeeded"},
		{"rules never read", []Event{dep(10, "g-stable", "d-3", "InProgress"), dep(30, "g-stable", "d-3", "Succeeded")}, false, "were not read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := RulesFollowStableDeployment().Judge(&Report{Stack: names, Events: tc.events})
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

func TestTargetIDsAreClusterService(t *testing.T) {
	withTargets := func(e Event, ids ...string) Event { e.TargetIDs = ids; return e }
	for _, tc := range []struct {
		name   string
		events []Event
		pass   bool
		detail string
	}{
		{"as assumed", []Event{withTargets(dep(1, "g-latest", "d-2", "InProgress"), "c:latest"), withTargets(dep(9, "g-stable", "d-3", "InProgress"), "c:stable")}, true, "2 deployments"},
		{"another form", []Event{withTargets(dep(1, "g-latest", "d-2", "InProgress"), "arn:aws:ecs:us-east-1:123456789012:service/c/latest")}, false, "want [c:latest]"},
		{"the other group's service", []Event{withTargets(dep(1, "g-stable", "d-3", "InProgress"), "c:latest")}, false, "want [c:stable]"},
		{"never read", []Event{dep(1, "g-latest", "d-2", "InProgress")}, false, "no deployment's targets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := TargetIDsAreClusterService().Judge(&Report{Stack: names, Events: tc.events})
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

func TestImagesByDigest(t *testing.T) {
	svc := func(s int, td, image string) Event {
		return Event{Time: at(s), Kind: KindService, Service: "latest", TaskDefinition: td, Images: []string{image}}
	}
	pushed := []Push{{Version: "v2", Time: at(5)}}
	for _, tc := range []struct {
		name   string
		events []Event
		pass   bool
		detail string
	}{
		{"by digest", []Event{svc(0, "td:1", "repo:latest"), svc(10, "td:2", "repo@sha256:abc")}, true, "1 task definitions"},
		{"by tag after the push", []Event{svc(10, "td:2", "repo:latest")}, false, "with image repo:latest, not by digest"},
		{"nothing registered after the push", []Event{svc(0, "td:1", "repo@sha256:abc")}, false, "no task definition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ImagesByDigest().Judge(&Report{Pushes: pushed, Events: tc.events})
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

func TestRollbackReading(t *testing.T) {
	failed := func(s int, rollbackID string) Event {
		e := dep(s, "g-latest", "d-2", "Failed")
		e.ErrorCode, e.RollbackDeploymentID = "ALARM_ACTIVE", rollbackID
		return e
	}
	shifted := rules(15, "50000", "stable-blue", "stable-blue", 90)
	for _, tc := range []struct {
		name   string
		events []Event
		detail string
	}{
		{"own id, failure seen first", []Event{rules(0, "50000", "stable-blue", "stable-blue", 100), dep(10, "g-latest", "d-2", "InProgress"), shifted, failed(30, "d-4"), rules(40, "50000", "stable-blue", "stable-blue", 100)},
			"deployment d-2 Failed (ALARM_ACTIVE); rolled back under its own id d-4; failure seen (10:00:30) before traffic was back (10:00:40)"},
		{"same id, traffic back first", []Event{rules(0, "50000", "stable-blue", "stable-blue", 100), dep(10, "g-latest", "d-2", "InProgress"), shifted, rules(20, "50000", "stable-blue", "stable-blue", 100), failed(30, "")},
			"rolled back under the same id (no rollback deployment named); traffic back (10:00:20) before the failure was seen (10:00:30)"},
		{"one poll", []Event{rules(0, "50000", "stable-blue", "stable-blue", 100), dep(10, "g-latest", "d-2", "InProgress"), shifted, rules(30, "50000", "stable-blue", "stable-blue", 100), failed(30, "")},
			"in the same poll"},
		{"own id named by the rollback", []Event{dep(10, "g-latest", "d-2", "InProgress"), failed(30, ""), {Time: at(31), Kind: KindDeployment, Group: "g-latest", DeploymentID: "d-5", RollbackTriggeringDeploymentID: "d-2", Status: "InProgress"}},
			"rolled back under its own id d-5; the rules were not seen shifted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := RollbackReading().Judge(&Report{Stack: names, Events: tc.events})
			assert.True(t, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
	got := RollbackReading().Judge(&Report{Stack: names, Events: []Event{dep(10, "g-latest", "d-2", "Succeeded")}})
	assert.False(t, got.Passed)
	assert.Contains(t, got.Detail, "no deployment on latest failed")
}

func TestAlarmTiming(t *testing.T) {
	r := &Report{Pushes: []Push{{Version: "v2", Bad: "5xx=50%", Time: at(10)}},
		Responses: []Response{{Time: at(5), Status: 500}, {Time: at(20), Status: 200}, {Time: at(30), Status: 500}},
		Events:    []Event{{Time: at(100), Kind: KindAlarm, State: "ALARM"}, dep(130, "g-latest", "d-2", "Failed")}}
	got := AlarmTiming().Judge(r)
	assert.True(t, got.Passed, got.Detail)
	assert.Equal(t, "first 5xx 20s after the push; alarm in ALARM 1m10s after that; deployment stopped 30s after the alarm", got.Detail)

	r.Events = r.Events[1:]
	got = AlarmTiming().Judge(r)
	assert.False(t, got.Passed)
	assert.Contains(t, got.Detail, "alarm never seen")
}

func TestSourceRevisionIsTheImageDigest(t *testing.T) {
	exec := func(s int, version string, revs ...string) Event {
		return Event{Time: at(s), Kind: KindExecution, ExecutionID: "e-" + version, Version: version, Revisions: revs}
	}
	svc := func(s int, image string) Event {
		return Event{Time: at(s), Kind: KindService, Service: "latest", TaskDefinition: "td", Images: []string{image}}
	}
	for _, tc := range []struct {
		name   string
		events []Event
		pass   bool
		detail string
	}{
		{"the digest is deployed", []Event{exec(10, "v2", "Image: sha256:aa", "Bundle: 3xYz"), svc(20, "repo@sha256:aa")}, true, "v2 sha256:aa"},
		{"another digest is deployed", []Event{exec(10, "v2", "Image: sha256:aa"), svc(20, "repo@sha256:bb")}, false, "e-v2 (v2): no task definition runs @sha256:aa"},
		{"deployed before the execution", []Event{svc(5, "repo@sha256:aa"), exec(10, "v2", "Image: sha256:aa")}, false, "no task definition runs"},
		{"the revision is a tag", []Event{exec(10, "v2", "Image: latest"), svc(20, "repo@sha256:aa")}, false, "no sha256 revision in [Image: latest]"},
		{"executions from before the run do not count", []Event{exec(10, "", "Image: latest")}, false, "no execution's source revisions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SourceRevisionIsTheImageDigest().Judge(&Report{Events: tc.events})
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

func TestOriginalTaskSetGoneBeforeSucceeded(t *testing.T) {
	svc := func(s int, service string, statuses ...string) Event {
		e := Event{Time: at(s), Kind: KindService, Service: service}
		for i, st := range statuses {
			e.TaskSets = append(e.TaskSets, TaskSet{ID: fmt.Sprintf("ts-%d", i), Status: st})
		}
		return e
	}
	for _, tc := range []struct {
		name   string
		events []Event
		pass   bool
		detail string
	}{
		{"held through the wait", []Event{svc(0, "latest", "PRIMARY"), dep(5, "g-latest", "d-2", "InProgress"), svc(5, "latest", "PRIMARY", "ACTIVE"),
			dep(30, "g-latest", "d-2", "Succeeded"), svc(30, "latest", "PRIMARY")}, true, "1 deployments (d-2)"},
		{"the original draining counts as gone", []Event{dep(5, "g-stable", "d-3", "InProgress"), svc(5, "stable", "PRIMARY", "ACTIVE"),
			dep(30, "g-stable", "d-3", "Succeeded"), svc(30, "stable", "PRIMARY", "DRAINING")}, true, "d-3"},
		{"succeeded with two task sets", []Event{dep(5, "g-latest", "d-2", "InProgress"), svc(5, "latest", "PRIMARY", "ACTIVE"),
			dep(30, "g-latest", "d-2", "Succeeded"), svc(30, "latest", "PRIMARY", "ACTIVE")}, false, "still had 2 task sets"},
		{"the other service's task sets do not count", []Event{dep(5, "g-latest", "d-2", "InProgress"), svc(5, "stable", "PRIMARY", "ACTIVE"),
			dep(30, "g-latest", "d-2", "Succeeded"), svc(30, "latest", "PRIMARY")}, false, "nothing shows the termination wait"},
		{"not read after", []Event{dep(5, "g-latest", "d-2", "InProgress"), svc(5, "latest", "PRIMARY", "ACTIVE"), dep(30, "g-latest", "d-2", "Succeeded")},
			false, "was not read after it"},
		{"first seen succeeded", []Event{svc(0, "latest", "PRIMARY", "ACTIVE"), dep(30, "g-latest", "d-2", "Succeeded"), svc(30, "latest", "PRIMARY")},
			false, "nothing shows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := OriginalTaskSetGoneBeforeSucceeded().Judge(&Report{Stack: names, Events: tc.events})
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

func TestGreenTaskSetAtFullSize(t *testing.T) {
	svc := func(s int, service string, desired int32) Event {
		return Event{Time: at(s), Kind: KindService, Service: service, DesiredCount: &desired}
	}
	target := func(s int, group string, sets ...TaskSet) Event {
		return Event{Time: at(s), Kind: KindTarget, Group: group, DeploymentID: "d-2", TaskSets: sets}
	}
	blue, green := TaskSet{ID: "ts-1", Label: "Blue", DesiredCount: 2}, TaskSet{ID: "ts-2", Label: "Green", DesiredCount: 2}
	for _, tc := range []struct {
		name   string
		events []Event
		pass   bool
		detail string
	}{
		{"as assumed", []Event{svc(0, "latest", 2), target(5, "g-latest", blue), target(10, "g-latest", blue, green)}, true, "1 readings"},
		{"a smaller replacement", []Event{svc(0, "latest", 3), target(10, "g-latest", blue, green)}, false, "wants 2 tasks"},
		{"the other service's count does not count", []Event{svc(0, "stable", 2), svc(0, "latest", 4), target(10, "g-latest", blue, green)}, false, "latest 4"},
		{"labelled otherwise", []Event{svc(0, "latest", 2), target(10, "g-latest", blue, TaskSet{ID: "ts-2", Label: "Blue", DesiredCount: 2})}, false, "no deployment's target"},
		{"two greens", []Event{svc(0, "latest", 2), target(10, "g-latest", green, green)}, false, "2 task sets Green"},
		{"never read", []Event{svc(0, "latest", 2)}, false, "no deployment's target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := GreenTaskSetAtFullSize().Judge(&Report{Stack: names, Events: tc.events})
			assert.Equal(t, tc.pass, got.Passed, got.Detail)
			assert.Contains(t, got.Detail, tc.detail)
		})
	}
}

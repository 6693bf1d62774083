package scenario

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Facts about AWS that only a real account can confirm (docs/verification.md,
// "What needs AWS", whose "The acceptance run on AWS" maps each check to its
// item). Each is a Check over a report, so the acceptance run against AWS
// states them from what it observed; against a rehearsal they restate the
// model's readings.

// RulesFollowStableDeployment: when a Stable deployment succeeds, the
// anchor rule and every tenant rule forward to another target group than
// before it began — CodeDeploy shifted the listener's rules, not only its
// default action.
func RulesFollowStableDeployment() Check {
	return Check{Name: "codedeploy-shifts-tenant-and-anchor-rules", Judge: func(r *Report) Result {
		id, began, succeeded, ok := firstSucceeded(r, r.Stack.StableDeploymentGroup)
		if !ok {
			return Result{Detail: "no Stable deployment succeeded during the run"}
		}
		before, okB := rulesAt(r, began)
		after, okA := rulesAt(r, succeeded)
		if !okB || !okA {
			return Result{Detail: "the listener's rules were not read before and after deployment " + id}
		}
		var moved, stayed []string
		for _, rule := range before {
			if rule.Role != RoleAnchor && rule.Role != RoleTenant {
				continue
			}
			from, to := mainTarget(rule), mainTarget(ruleByArn(after, rule.Arn))
			desc := fmt.Sprintf("%s %s: %s → %s", rule.Role, shortArn(rule.Arn), shortArn(from), shortArn(to))
			if from != "" && to != "" && from != to {
				moved = append(moved, desc)
			} else {
				stayed = append(stayed, desc)
			}
		}
		switch {
		case len(moved) == 0 && len(stayed) == 0:
			return Result{Detail: "no anchor or tenant rule on the listener"}
		case len(stayed) > 0:
			return Result{Detail: fmt.Sprintf("deployment %s succeeded, but rules kept their target group: %s", id, strings.Join(stayed, "; "))}
		}
		return Result{Passed: true, Detail: fmt.Sprintf("deployment %s moved %s", id, strings.Join(moved, "; "))}
	}}
}

// TargetIDsAreClusterService: every deployment's ECS target id is
// <cluster>:<service> of its group's service.
func TargetIDsAreClusterService() Check {
	return Check{Name: "ecs-target-id-is-cluster-colon-service", Judge: func(r *Report) Result {
		want := map[string]string{
			r.Stack.LatestDeploymentGroup: r.Stack.ClusterName + ":" + r.Stack.LatestServiceName,
			r.Stack.StableDeploymentGroup: r.Stack.ClusterName + ":" + r.Stack.StableServiceName,
		}
		seen := 0
		for _, e := range r.Events {
			if e.Kind != KindDeployment || len(e.TargetIDs) == 0 {
				continue
			}
			seen++
			if len(e.TargetIDs) != 1 || e.TargetIDs[0] != want[e.Group] {
				return Result{Detail: fmt.Sprintf("deployment %s (%s) has targets %v, want [%s]", e.DeploymentID, e.Group, e.TargetIDs, want[e.Group])}
			}
		}
		if seen == 0 {
			return Result{Detail: "no deployment's targets were read"}
		}
		return Result{Passed: true, Detail: fmt.Sprintf("%d deployments, each with the one target <cluster>:<service>", seen)}
	}}
}

// ImagesByDigest: every task definition a service ran after the first push
// names its image by digest (repository@sha256:…).
func ImagesByDigest() Check {
	return Check{Name: "codedeploy-to-ecs-writes-image-by-digest", Judge: func(r *Report) Result {
		if len(r.Pushes) == 0 {
			return Result{Detail: "nothing was pushed"}
		}
		seen := map[string]bool{}
		for _, e := range r.Events {
			if e.Kind != KindService || e.Time.Before(r.Pushes[0].Time) || len(e.Images) == 0 || seen[e.TaskDefinition] {
				continue
			}
			seen[e.TaskDefinition] = true
			for _, img := range e.Images {
				if !strings.Contains(img, "@sha256:") {
					return Result{Detail: fmt.Sprintf("service %s runs %s with image %s, not by digest", e.Service, shortArn(e.TaskDefinition), img)}
				}
			}
		}
		if len(seen) == 0 {
			return Result{Detail: "no task definition was registered after the push"}
		}
		return Result{Passed: true, Detail: fmt.Sprintf("%d task definitions after the push, every image by digest", len(seen))}
	}}
}

// SourceRevisionIsTheImageDigest: the ECR source revision of every
// execution a push of the run started is a sha256 digest, and a task
// definition registered after it runs the image by that digest — the
// comparison newest-push-wins and the rollback's superseded check make.
func SourceRevisionIsTheImageDigest() Check {
	return Check{Name: "ecr-source-revision-is-the-deployed-digest", Judge: func(r *Report) Result {
		var matched, unmatched []string
		for _, e := range r.Events {
			if e.Kind != KindExecution || e.Version == "" {
				continue
			}
			digest := ""
			for _, rev := range e.Revisions {
				if _, id, _ := strings.Cut(rev, ": "); strings.HasPrefix(id, "sha256:") {
					digest = id
				}
			}
			if digest == "" {
				unmatched = append(unmatched, fmt.Sprintf("%s (%s): no sha256 revision in %v", e.ExecutionID, e.Version, e.Revisions))
				continue
			}
			if deployedAfter(r, e.Time, "@"+digest) {
				matched = append(matched, e.Version+" "+digest)
			} else {
				unmatched = append(unmatched, fmt.Sprintf("%s (%s): no task definition runs @%s", e.ExecutionID, e.Version, digest))
			}
		}
		switch {
		case len(unmatched) > 0:
			return Result{Detail: strings.Join(unmatched, "; ")}
		case len(matched) == 0:
			return Result{Detail: "no execution's source revisions were read"}
		}
		return Result{Passed: true, Detail: "deployed by the source's digest: " + strings.Join(matched, ", ")}
	}}
}

func deployedAfter(r *Report, after time.Time, suffix string) bool {
	for _, e := range r.Events {
		if e.Kind == KindService && !e.Time.Before(after) {
			for _, img := range e.Images {
				if strings.HasSuffix(img, suffix) {
					return true
				}
			}
		}
	}
	return false
}

// RollbackReading states which of the model's readings a rolled-back
// deployment followed: its rollback under its own deployment id or the same
// one, and its failure seen before or after the listener's rules were back
// as they were (to within one poll). It fails only when no rolled-back
// deployment was observed.
func RollbackReading() Check {
	return Check{Name: "rollback-reading", Judge: func(r *Report) Result {
		var failed Event
		for _, e := range r.Events {
			if e.Kind == KindDeployment && e.Group == r.Stack.LatestDeploymentGroup && (e.Status == "Failed" || e.Status == "Stopped") {
				failed = e
				break
			}
		}
		if failed.DeploymentID == "" {
			return Result{Detail: "no deployment on latest failed or stopped during the run"}
		}
		id := "the same id (no rollback deployment named)"
		if failed.RollbackDeploymentID != "" && failed.RollbackDeploymentID != failed.DeploymentID {
			id = "its own id " + failed.RollbackDeploymentID
		}
		for _, e := range r.Events {
			if e.Kind == KindDeployment && e.RollbackTriggeringDeploymentID == failed.DeploymentID && e.DeploymentID != failed.DeploymentID {
				id = "its own id " + e.DeploymentID
			}
		}
		order := "the rules were not seen shifted and then back as before the deployment"
		if back, ok := trafficBack(r, failed.DeploymentID); ok {
			switch {
			case back.Before(failed.Time):
				order = fmt.Sprintf("traffic back (%s) before the failure was seen (%s)", stamp(back), stamp(failed.Time))
			case back.Equal(failed.Time):
				order = "traffic back and the failure seen in the same poll"
			default:
				order = fmt.Sprintf("failure seen (%s) before traffic was back (%s)", stamp(failed.Time), stamp(back))
			}
		}
		return Result{Passed: true, Detail: fmt.Sprintf("deployment %s %s (%s); rolled back under %s; %s", failed.DeploymentID, failed.Status, orNone(failed.ErrorCode), id, order)}
	}}
}

// AlarmTiming states how long the bad version's errors took to stop it:
// the first 5xx answer after the push, the first rollback alarm in ALARM,
// the deployment stopped. A figure, never asserted on.
func AlarmTiming() Check {
	return Check{Name: "alarm-timing", Judge: func(r *Report) Result {
		if len(r.Pushes) == 0 {
			return Result{Detail: "nothing was pushed"}
		}
		push := r.Pushes[len(r.Pushes)-1].Time
		var firstError, alarm, stopped time.Time
		for _, resp := range r.Responses {
			if resp.Time.After(push) && resp.Status >= 500 && firstError.IsZero() {
				firstError = resp.Time
			}
		}
		for _, e := range r.Events {
			if e.Time.Before(push) {
				continue
			}
			if e.Kind == KindAlarm && e.State == "ALARM" && alarm.IsZero() {
				alarm = e.Time
			}
			if e.Kind == KindDeployment && (e.Status == "Failed" || e.Status == "Stopped") && stopped.IsZero() {
				stopped = e.Time
			}
		}
		if firstError.IsZero() || alarm.IsZero() || stopped.IsZero() {
			return Result{Detail: fmt.Sprintf("incomplete: first 5xx %s, alarm %s, deployment stopped %s", when(firstError), when(alarm), when(stopped))}
		}
		return Result{Passed: true, Detail: fmt.Sprintf("first 5xx %s after the push; alarm in ALARM %s after that; deployment stopped %s after the alarm",
			firstError.Sub(push), alarm.Sub(firstError), stopped.Sub(alarm))}
	}}
}

// trafficBack is when the listener's rules first forwarded again as they
// did when deployment began.
func trafficBack(r *Report, deploymentID string) (time.Time, bool) {
	began, ok := firstEvent(r, deploymentID)
	if !ok {
		return time.Time{}, false
	}
	before, ok := rulesAt(r, began)
	if !ok {
		return time.Time{}, false
	}
	moved := false
	for _, e := range r.Events {
		if e.Kind != KindRules || !e.Time.After(began) {
			continue
		}
		if !sameForwards(before, e.Rules) {
			moved = true
		} else if moved {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never seen"
	}
	return stamp(t)
}

func firstEvent(r *Report, deploymentID string) (time.Time, bool) {
	for _, e := range r.Events {
		if e.Kind == KindDeployment && e.DeploymentID == deploymentID {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

func firstSucceeded(r *Report, group string) (id string, began, succeeded time.Time, ok bool) {
	for _, e := range r.Events {
		if e.Kind == KindDeployment && e.Group == group && e.Status == "Succeeded" {
			began, _ = firstEvent(r, e.DeploymentID)
			return e.DeploymentID, began, e.Time, true
		}
	}
	return "", time.Time{}, time.Time{}, false
}

// rulesAt is the last snapshot of the rules taken at or before t.
func rulesAt(r *Report, t time.Time) ([]Rule, bool) {
	var rules []Rule
	found := false
	for _, e := range r.Events {
		if e.Kind == KindRules && !e.Time.After(t) {
			rules, found = e.Rules, true
		}
	}
	return rules, found
}

func ruleByArn(rules []Rule, arn string) Rule {
	for _, r := range rules {
		if r.Arn == arn {
			return r
		}
	}
	return Rule{}
}

// mainTarget is the target group a rule forwards most weight to.
func mainTarget(r Rule) string {
	best, weight := "", int32(-1)
	for _, f := range r.Forward {
		if f.Weight > weight {
			best, weight = f.TargetGroupArn, f.Weight
		}
	}
	return best
}

func sameForwards(a, b []Rule) bool {
	key := func(rules []Rule) string {
		var parts []string
		for _, r := range rules {
			parts = append(parts, fmt.Sprintf("%s=%v", r.Arn, r.Forward))
		}
		sort.Strings(parts)
		return strings.Join(parts, "|")
	}
	return key(a) == key(b)
}

func shortArn(arn string) string {
	if i := strings.LastIndex(arn, ":"); i >= 0 && strings.Contains(arn[i:], "/") {
		return arn[i+1:]
	}
	return arn
}

// OriginalTaskSetGoneBeforeSucceeded: an ECS deployment stays unfinished
// through its termination wait — while it was InProgress its service was
// seen with two task sets, and the first reading of the service after it
// was seen Succeeded shows one. The driver reads the services after the
// deployments in each poll and reads a service again at the poll its
// deployment ends, so a deployment reported Succeeded while its original
// task set was still there is seen as such. A DRAINING task set counts as
// gone: ECS lists a deleted task set as DRAINING until its tasks stop
// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TaskSet.html).
func OriginalTaskSetGoneBeforeSucceeded() Check {
	return Check{Name: "ecs-deployment-unfinished-until-original-task-set-gone", Judge: func(r *Report) Result {
		service := map[string]string{r.Stack.LatestDeploymentGroup: r.Stack.LatestServiceName, r.Stack.StableDeploymentGroup: r.Stack.StableServiceName}
		var held []string
		done := map[string]bool{}
		for i, e := range r.Events {
			if e.Kind != KindDeployment || e.Status != "Succeeded" || done[e.DeploymentID] || e.RollbackTriggeringDeploymentID != "" {
				continue
			}
			done[e.DeploymentID] = true
			svc, first := service[e.Group], -1
			for j := 0; j < i; j++ {
				if r.Events[j].Kind == KindDeployment && r.Events[j].DeploymentID == e.DeploymentID {
					first = j
					break
				}
			}
			if first < 0 {
				continue // first seen already Succeeded: its wait was not watched
			}
			two := false
			for _, s := range r.Events[first:i] {
				if s.Kind == KindService && s.Service == svc && liveTaskSets(s) >= 2 {
					two = true
				}
			}
			after := -1
			for _, s := range r.Events[i+1:] {
				if s.Kind == KindService && s.Service == svc {
					after = liveTaskSets(s)
					break
				}
			}
			switch {
			case after < 0:
				return Result{Detail: fmt.Sprintf("deployment %s succeeded, but service %s was not read after it", e.DeploymentID, svc)}
			case after >= 2:
				return Result{Detail: fmt.Sprintf("deployment %s was Succeeded at %s while service %s still had %d task sets: it finished before its original task set was gone", e.DeploymentID, stamp(e.Time), svc, after)}
			case two:
				held = append(held, e.DeploymentID)
			}
		}
		if len(held) == 0 {
			return Result{Detail: "no deployment was seen InProgress with two task sets and then Succeeded: nothing shows the termination wait"}
		}
		return Result{Passed: true, Detail: fmt.Sprintf("%d deployments (%s) were InProgress with two task sets and Succeeded with one", len(held), strings.Join(held, ", "))}
	}}
}

// liveTaskSets counts a service event's task sets other than DRAINING ones.
func liveTaskSets(e Event) int {
	n := 0
	for _, ts := range e.TaskSets {
		if ts.Status != "DRAINING" {
			n++
		}
	}
	return n
}

// GreenTaskSetAtFullSize: every reading of a deployment's ECS target that
// names a replacement names one task set labelled Green, whose desiredCount
// is its service's desired count (a task set at scale 100 %) as the driver
// last read the service — what the smoke hook reads the replacement's size
// from.
func GreenTaskSetAtFullSize() Check {
	return Check{Name: "replacement-task-set-is-green-at-full-size", Judge: func(r *Report) Result {
		service := map[string]string{r.Stack.LatestDeploymentGroup: r.Stack.LatestServiceName, r.Stack.StableDeploymentGroup: r.Stack.StableServiceName}
		desired := map[string]int32{}
		var seen []string
		for _, e := range r.Events {
			if e.Kind == KindService && e.DesiredCount != nil {
				desired[e.Service] = *e.DesiredCount
			}
			if e.Kind != KindTarget {
				continue
			}
			var green []TaskSet
			for _, ts := range e.TaskSets {
				if ts.Label == "Green" {
					green = append(green, ts)
				}
			}
			svc := service[e.Group]
			want, known := desired[svc]
			switch {
			case len(green) == 0:
				continue // the replacement is not created yet
			case len(green) > 1:
				return Result{Detail: fmt.Sprintf("deployment %s's target names %d task sets Green at %s", e.DeploymentID, len(green), stamp(e.Time))}
			case !known:
				return Result{Detail: fmt.Sprintf("deployment %s's target was read before service %s was", e.DeploymentID, svc)}
			case green[0].DesiredCount != int64(want):
				return Result{Detail: fmt.Sprintf("deployment %s's Green task set wants %d tasks at %s, its service %s %d", e.DeploymentID, green[0].DesiredCount, stamp(e.Time), svc, want)}
			}
			seen = append(seen, fmt.Sprintf("%s %d", e.DeploymentID, want))
		}
		if len(seen) == 0 {
			return Result{Detail: "no deployment's target was seen naming a Green task set"}
		}
		return Result{Passed: true, Detail: fmt.Sprintf("%d readings, each one Green task set at its service's desired count: %s", len(seen), strings.Join(seen, ", "))}
	}}
}

package protocol

import (
	"fmt"
	"slices"
	"strings"
)

// Stages of the pipeline (components/pipeline).
const (
	StageSource  = "Source"
	StageLatest  = "Latest"
	StageApprove = "Approve"
	StageStable  = "Stable"
)

// pipelineStages are the pipeline's stages in order (components/pipeline).
var pipelineStages = []string{StageSource, StageLatest, StageApprove, StageStable}

func stageIndex(s string) int { return slices.Index(pipelineStages, s) }

// Deployment statuses (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html).
const (
	DepCreated    = "Created"
	DepInProgress = "InProgress"
	DepSucceeded  = "Succeeded"
	DepFailed     = "Failed"
	DepStopped    = "Stopped"
)

// Reading is one interpretation of what the AWS documentation leaves open.
type Reading struct {
	// RollbackOwnID: a rolled-back deployment is assigned a deployment id
	// of its own ("Redeploy and roll back a deployment with CodeDeploy",
	// https://docs.aws.amazon.com/codedeploy/latest/userguide/deployments-rollback-and-redeploy.html):
	// the failed deployment ends Failed at once and a second deployment,
	// with its own id and its own state-change events, shifts traffic back.
	// Otherwise the failed deployment rolls back within its own id.
	RollbackOwnID bool
	// EventBeforeRollback: the FAILURE event (and the Failed status) come
	// before traffic is back on the original task set; otherwise after.
	EventBeforeRollback bool
	// QueuedAndBaking: CodeDeploy's DeploymentStatus also has Queued,
	// Ready and Baking
	// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html),
	// and no page says whether an ECS blue/green deployment without a
	// reroute wait shows any of them. Under this reading a deployment
	// not started yet is Queued and one in its termination wait is
	// Baking; otherwise they are Created and InProgress.
	QueuedAndBaking bool
}

// listedStatus is the status ListDeployments matches a deployment by.
func (r Reading) listedStatus(d *Deployment) string {
	if r.QueuedAndBaking && d.unfinished() {
		switch d.Phase {
		case phaseCreated:
			return "Queued"
		case phaseWait:
			return "Baking"
		}
	}
	return d.Status
}

func (r Reading) String() string {
	id, order := "rollback-in-same-id", "event-after-rollback"
	if r.RollbackOwnID {
		id = "rollback-own-id"
	}
	if r.EventBeforeRollback {
		order = "event-before-rollback"
	}
	if r.QueuedAndBaking {
		order += ",queued-and-baking"
	}
	return id + "," + order
}

// Readings is every reading the explorer runs.
var Readings = []Reading{{false, false, false}, {false, true, false}, {true, false, false}, {true, true, false}}

// Lifecycle is one lifecycle event of an ECS deployment with a hook.
type Lifecycle struct {
	Name   string
	Status string // Pending, InProgress, Succeeded, Failed
	ExecID string
	// EndedByDeployment: the deployment ended (an alarm stopped it) while
	// the hook ran; CodeDeploy accepts no report after that.
	EndedByDeployment bool
}

// Deployment is a CodeDeploy ECS blue/green deployment. Its lifecycle, in
// order: BeforeInstall (hook) → Install (replacement task set) →
// AllowTraffic (shift by the deployment config) → AfterAllowTraffic (hook)
// → termination wait → the original task set is terminated
// (https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-hooks.html#appspec-hooks-ecs,
// https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-ecs.html).
type Deployment struct {
	ID      string
	Group   string
	Status  string
	Phase   string
	TaskDef string
	// Exec is the pipeline execution that created it, -1 for the rollback
	// function's deployment, -2 for a rollback deployment of its own id.
	Exec        int
	Original    string
	Replacement string
	// originalServed: the original task set had running tasks when the
	// deployment started (a Stable deployment that starts on a stable at 0
	// has nothing an instant rollback could return to).
	originalServed bool
	Hooks          []*Lifecycle
	// RollbackOf is the failed deployment a rollback deployment reverts.
	RollbackOf string
	// endStatus is the status (Failed or Stopped) a deployment rolling back
	// within its own id ends with once traffic is back.
	endStatus string
	// The signal path (Signal): the replacement's weight after the last
	// step, and the minute that step (or the install, or the termination
	// wait) began.
	pct, stepAt int
}

// Deployment phases of the model.
const (
	phaseCreated     = "created"
	phaseBefore      = "before-install"
	phaseInstall     = "install"
	phaseInstalled   = "installed"
	phaseCanary      = "canary"
	phaseAfterAllow  = "after-allow-traffic"
	phaseWait        = "termination-wait"
	phaseRollingBack = "rolling-back"
	phaseDone        = "done"
)

func (d *Deployment) unfinished() bool { return d.Status == DepCreated || d.Status == DepInProgress }

func (d *Deployment) hook(name string) *Lifecycle {
	return find(d.Hooks, func(l *Lifecycle) bool { return l.Name == name })
}

func (w *World) deployment(id string) *Deployment {
	return find(w.Deployments, func(d *Deployment) bool { return d.ID == id })
}

func (st *stack) serviceOf(group string) string {
	if group == st.latestGroup {
		return st.latestService
	}
	return st.stableService
}

func (st *stack) pairOf(group string) [2]string {
	if group == st.latestGroup {
		return st.latestTG
	}
	return st.stableTG
}

// createDeployment starts a deployment of group, or fails like CodeDeploy:
// a deployment group runs one deployment at a time
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_CreateDeployment.html,
// DeploymentLimitExceededException).
func (w *World) createDeployment(group, taskDef string, exec int) (*Deployment, error) {
	active := func(d *Deployment) bool { return d.Group == group && (d.unfinished() || d.Phase == phaseRollingBack) }
	if slices.ContainsFunc(w.Deployments, active) {
		return nil, fmt.Errorf("DeploymentLimitExceededException: group %s already has an active deployment", group)
	}
	d := &Deployment{ID: fmt.Sprintf("d-%d", len(w.Deployments)+1), Group: group, Status: DepCreated, Phase: phaseCreated, TaskDef: taskDef, Exec: exec}
	// The AppSpecs name pin at BeforeInstall of Latest and unpin at
	// AfterAllowTraffic of Stable (appspec/); the rollback function's
	// deployment uses the Latest AppSpec, pin included.
	if group == w.st.latestGroup {
		d.Hooks = []*Lifecycle{{Name: "BeforeInstall", Status: "Pending"}}
	} else {
		d.Hooks = []*Lifecycle{{Name: "AfterAllowTraffic", Status: "Pending"}}
	}
	// With smokeTest on, both AppSpecs also name the smoke hook at
	// AfterAllowTestTraffic (appspec/).
	if w.st.smoke != nil {
		d.Hooks = append(d.Hooks, &Lifecycle{Name: hookTestTraffic, Status: "Pending"})
	}
	w.Deployments = append(w.Deployments, d)
	return d, nil
}

// shiftTo sets the production listener's weights between the pair: every
// rule forwarding to the pair (for stable: the anchor and every tenant
// rule; for latest: the default action and the catch-all) gets pct on the
// replacement's group. CodeDeploy shifts the production listener's traffic
// from the original to the replacement target group
// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-bluegreen.html).
func (w *World) shiftTo(d *Deployment, pct int) {
	svc := w.Services[w.st.serviceOf(d.Group)]
	orig, repl := w.taskSet(svc, d.Original), w.taskSet(svc, d.Replacement)
	if orig == nil || repl == nil {
		return
	}
	for _, r := range w.Rules {
		if slices.ContainsFunc(r.Forward, func(f Weighted) bool { return f.TG == orig.TG || f.TG == repl.TG }) {
			r.Forward = []Weighted{{orig.TG, 100 - pct}, {repl.TG, pct}}
		}
	}
}

func (w *World) taskSet(svc *Service, id string) *TaskSet {
	return find(svc.TaskSets, func(ts *TaskSet) bool { return ts.ID == id })
}

func (w *World) removeTaskSet(svc *Service, id string) {
	svc.TaskSets = slices.DeleteFunc(svc.TaskSets, func(ts *TaskSet) bool { return ts.ID == id })
}

// revert puts traffic back on the original task set and terminates the
// replacement: an ECS blue/green rollback
// (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployments-rollback-and-redeploy.html).
func (w *World) revert(d *Deployment) {
	svc := w.Services[w.st.serviceOf(d.Group)]
	if orig := w.taskSet(svc, d.Original); orig != nil {
		w.shiftTo(d, 0)
		orig.Status = "PRIMARY"
		if _, moved := w.testTG[d.Group]; moved {
			w.testTG[d.Group] = orig.TG
		}
	}
	w.removeTaskSet(svc, d.Replacement) // none when it was not created
}

// fail ends a deployment that failed (hook failure, hook timeout). Traffic
// goes back to the original task set when any was shifted, under the
// reading in force.
func (w *World) fail(d *Deployment, why string) { w.end(d, DepFailed, why) }

// stop ends a deployment an alarm stopped: "If any of the specified alarms
// are activated, the deployment stops, and the status is updated to
// Stopped" (CodeDeploy User Guide, "Monitoring deployments with CloudWatch
// alarms in CodeDeploy",
// https://docs.aws.amazon.com/codedeploy/latest/userguide/monitoring-create-alarms.html),
// and the deployment group's automatic rollback on alarm reverts it like a
// failure (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployments-rollback-and-redeploy.html).
// Its state-change event is STOP
// (https://docs.aws.amazon.com/codedeploy/latest/userguide/monitoring-cloudwatch-events.html).
func (w *World) stop(d *Deployment, why string) { w.end(d, DepStopped, why) }

func (w *World) end(d *Deployment, status, why string) {
	w.logf("  %s (%s) fails: %s", d.ID, d.Group, why)
	for _, l := range d.Hooks {
		if l.Status == "InProgress" {
			l.Status, l.EndedByDeployment = "Failed", true
		}
	}
	switch {
	case d.Replacement == "":
		d.Status, d.Phase = status, phaseDone
	case w.Reading.RollbackOwnID:
		d.Status, d.Phase = status, phaseDone
		rb := &Deployment{ID: fmt.Sprintf("d-%d", len(w.Deployments)+1), Group: d.Group, Status: DepInProgress, Phase: phaseRollingBack,
			TaskDef: d.TaskDef, Exec: -2, Original: d.Original, originalServed: d.originalServed, Replacement: d.Replacement, RollbackOf: d.ID}
		w.Deployments = append(w.Deployments, rb)
	case w.Reading.EventBeforeRollback:
		// Ended at once, the revert still to come within the same id.
		d.Status, d.Phase = status, phaseRollingBack
	default:
		// Ended once traffic is back (rolledBack).
		d.Phase, d.endStatus = phaseRollingBack, status
		return
	}
	w.endDeployment(d)
}

// endDeployment publishes the state-change event of an ended deployment
// (https://docs.aws.amazon.com/codedeploy/latest/userguide/monitoring-cloudwatch-events.html)
// and lets the pipeline execution that created it go on or fail.
func (w *World) endDeployment(d *Deployment) {
	state := map[string]string{DepSucceeded: "SUCCESS", DepFailed: "FAILURE", DepStopped: "STOP"}[d.Status]
	w.events = append(w.events, Event{Kind: EventDeployment, Group: d.Group, DeploymentID: d.ID, State: state})
	if d.Exec >= 0 {
		e := w.Executions[d.Exec]
		if d.Status == DepSucceeded {
			w.stageDone(e)
		} else {
			w.execFailed(e, "deployment "+d.ID+" "+strings.ToLower(d.Status))
		}
	}
}

// Execution is a CodePipeline V2 execution in SUPERSEDED mode.
type Execution struct {
	N       int
	ID      string
	Version int
	Stage   string
	Status  string // InProgress, Succeeded, Failed, Superseded
	// Waiting: the execution finished Stage and waits to enter the next.
	Waiting    bool
	Deployment string
	Token      string
}

// holder is the execution a stage is locked by (-1: free): the one inside
// it that has not finished it (stageDone).
func (w *World) holder(stage string) int {
	inside := func(e *Execution) bool { return e.Stage == stage && e.Status == "InProgress" && !e.Waiting }
	if e := find(w.Executions, inside); e != nil {
		return e.N
	}
	return -1
}

func nextStage(s string) string {
	if i := stageIndex(s); i >= 0 && i+1 < len(pipelineStages) {
		return pipelineStages[i+1]
	}
	return ""
}

// push is `docker push`: EventBridge starts a pipeline execution
// (https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html);
// its Source stage takes the image.
func (w *World) push() {
	w.pushes++
	n := len(w.Executions)
	e := &Execution{N: n, ID: fmt.Sprintf("exec-%d", n+1), Version: n + 1, Stage: StageSource, Status: "InProgress"}
	w.Executions = append(w.Executions, e)
	w.stageDone(e)
}

// stageDone: the execution finished its stage and waits to enter the next.
// A stage processes one execution at a time and an execution inside a
// stage is never superseded; one that finished a stage leaves it, so a
// newer execution may run the stage it left while it waits at the next
// transition, where in SUPERSEDED mode a newer execution waiting for the
// same stage supersedes it (CodePipeline User Guide, "How pipeline
// executions work",
// https://docs.aws.amazon.com/codepipeline/latest/userguide/concepts-how-it-works.html).
// A stage holding a manual approval stays locked: the execution is inside
// Approve until the approval is decided.
func (w *World) stageDone(e *Execution) {
	if e.Stage == StageStable {
		e.Status, e.Waiting = "Succeeded", false
		return
	}
	e.Waiting = true
	for _, o := range w.Executions {
		if o != e && o.Status == "InProgress" && o.Waiting && o.Stage == e.Stage && o.N < e.N {
			o.Status, o.Waiting = "Superseded", false
			w.logf("  %s superseded by %s", o.ID, e.ID)
		}
	}
}

// enter moves a waiting execution into its next stage, when that stage is
// free. Entering Latest or Stable creates the CodeDeploy deployment of the
// CodeDeployToECS action with a task definition registered for the image.
func (w *World) enter(e *Execution) {
	next := nextStage(e.Stage)
	e.Stage, e.Waiting = next, false
	switch next {
	case StageApprove:
		e.Token = fmt.Sprintf("token-%d", e.N+1)
	case StageLatest, StageStable:
		group := w.st.latestGroup
		if next == StageStable {
			group = w.st.stableGroup
		}
		d, err := w.createDeployment(group, w.registerTD(e.Version), e.N)
		if err != nil {
			w.execFailed(e, err.Error())
			return
		}
		e.Deployment = d.ID
	}
}

func (w *World) execFailed(e *Execution, why string) {
	w.logf("  %s fails at %s: %s", e.ID, e.Stage, why)
	e.Status, e.Waiting = "Failed", false
	// A failed execution publishes a "CodePipeline Pipeline Execution
	// State Change" event in state FAILED
	// (https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html),
	// which the program routes to cleanup (components/pipeline/plan,
	// PipelineEndedPattern).
	w.events = append(w.events, Event{Kind: EventExecutionFailed, Exec: e.N, State: "FAILED"})
}

// decide is the manual approval's result: approved moves the execution on;
// rejected, and an expired approval, fail the action and the execution
// (https://docs.aws.amazon.com/codepipeline/latest/userguide/approvals.html),
// which publishes a CodePipeline Action Execution State Change event with
// state FAILED
// (https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html).
func (w *World) decide(e *Execution, approve bool, summary string) {
	e.Token = ""
	if approve {
		w.approved[e.Version] = true
		w.stageDone(e)
		return
	}
	w.execFailed(e, summary)
	w.events = append(w.events, Event{Kind: EventApprovalFailed, Exec: e.N})
}

// Event is an EventBridge event on its way to a function.
type Event struct {
	Kind         string
	Group        string
	DeploymentID string
	State        string
	Exec         int
	Attempt      int
}

// Event kinds.
const (
	EventDeployment     = "deployment"
	EventApprovalFailed = "approval-failed"
	// EventExecutionFailed: a pipeline execution ended FAILED.
	EventExecutionFailed = "execution-failed"
)

func (ev Event) String() string {
	if ev.Kind == EventDeployment {
		return fmt.Sprintf("CodeDeploy %s %s (%s)", ev.State, ev.DeploymentID, ev.Group)
	}
	if ev.Kind == EventExecutionFailed {
		return fmt.Sprintf("pipeline execution FAILED exec-%d", ev.Exec+1)
	}
	return fmt.Sprintf("Approve FAILED exec-%d", ev.Exec+1)
}

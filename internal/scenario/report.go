package scenario

import (
	"encoding/json"
	"io"
	"time"
)

// Report is everything a run observed; see the package doc for its JSON.
type Report struct {
	Scenario       string     `json:"scenario"`
	Started        time.Time  `json:"started"`
	Ended          time.Time  `json:"ended"`
	Stack          StackNames `json:"stack"`
	PinnedTenants  []string   `json:"pinnedTenants"`
	SampleTenants  []string   `json:"sampleTenants"`
	InitialVersion string     `json:"initialVersion"`
	Pushes         []Push     `json:"pushes"`
	Responses      []Response `json:"responses"`
	Events         []Event    `json:"events"`
	Error          string     `json:"error,omitempty"`
	Checks         []Result   `json:"checks"`
}

// StackNames are the stack outputs a check needs to read the events.
type StackNames struct {
	ClusterName           string `json:"clusterName"`
	LatestServiceName     string `json:"latestServiceName"`
	StableServiceName     string `json:"stableServiceName"`
	LatestDeploymentGroup string `json:"latestDeploymentGroupName"`
	StableDeploymentGroup string `json:"stableDeploymentGroupName"`
	AnchorRuleArn         string `json:"anchorRuleArn"`
}

// Push is one `docker push` the driver asked the backend for.
type Push struct {
	Version string    `json:"version"`
	Bad     string    `json:"bad,omitempty"`
	Time    time.Time `json:"time"`
}

// Response is one request's outcome.
type Response struct {
	Time    time.Time `json:"time"`
	Tenant  string    `json:"tenant"` // "" for untenanted traffic
	Pinned  bool      `json:"pinned"`
	Version string    `json:"version"`
	Status  int       `json:"status"`
	Error   string    `json:"error,omitempty"`
}

// Event kinds.
const (
	KindStage      = "stage"
	KindExecution  = "execution"
	KindApproval   = "approval"
	KindDeployment = "deployment"
	KindAlarm      = "alarm"
	KindRules      = "rules"
	KindService    = "service"
	KindTarget     = "target"
	KindStep       = "step"
	KindSettled    = "settled"
)

// Approval statuses and who decided.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
	ByDriver         = "driver"
	ByOther          = "other"
)

// Event is one observed change; which fields are set depends on Kind.
type Event struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`

	Stage       string `json:"stage,omitempty"`
	Status      string `json:"status,omitempty"`
	ExecutionID string `json:"executionId,omitempty"`
	Version     string `json:"version,omitempty"`
	Summary     string `json:"summary,omitempty"`
	// Revisions are an execution's source revisions, "artifact: revision id".
	Revisions []string `json:"revisions,omitempty"`
	By        string   `json:"by,omitempty"`

	Group                          string   `json:"group,omitempty"`
	DeploymentID                   string   `json:"deploymentId,omitempty"`
	ErrorCode                      string   `json:"errorCode,omitempty"`
	RollbackDeploymentID           string   `json:"rollbackDeploymentId,omitempty"`
	RollbackTriggeringDeploymentID string   `json:"rollbackTriggeringDeploymentId,omitempty"`
	TargetIDs                      []string `json:"targetIds,omitempty"`

	Alarm string `json:"alarm,omitempty"`
	State string `json:"state,omitempty"`

	Rules []Rule `json:"rules,omitempty"`

	Service        string   `json:"service,omitempty"`
	TaskDefinition string   `json:"taskDefinition,omitempty"`
	DesiredCount   *int32   `json:"desiredCount,omitempty"`
	Images         []string `json:"images,omitempty"`
	// TaskSets are the service's task sets as DescribeServices listed them.
	TaskSets []TaskSet `json:"taskSets,omitempty"`

	Message string `json:"message,omitempty"`
}

// Rule roles in a rules snapshot.
const (
	RoleCatchAll = "catch-all"
	RoleAnchor   = "anchor"
	RoleTenant   = "tenant"
	RoleDefault  = "default"
	RoleOther    = "other"
)

// Rule is one listener rule as DescribeRules showed it.
type Rule struct {
	Arn      string    `json:"arn"`
	Priority string    `json:"priority"`
	Role     string    `json:"role"`
	Forward  []Forward `json:"forward"`
}

// Forward is one target group of a rule's forward action.
type Forward struct {
	TargetGroupArn string `json:"targetGroupArn"`
	Weight         int32  `json:"weight"`
}

// TaskSet is one of an ECS service's task sets.
type TaskSet struct {
	ID             string `json:"id"`
	Status         string `json:"status"` // PRIMARY, ACTIVE or DRAINING
	TaskDefinition string `json:"taskDefinition,omitempty"`
	// Label and DesiredCount as a deployment's ECS target names its task
	// sets ("Blue", "Green"); DesiredCount also for a service's.
	Label        string `json:"label,omitempty"`
	DesiredCount int64  `json:"desiredCount"`
}

// Result is one check's verdict.
type Result struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// WriteJSON writes the report as the package doc describes it.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Passed says whether the run finished and every check passed.
func (r *Report) Passed() bool {
	if r.Error != "" || len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.Passed {
			return false
		}
	}
	return true
}

// settledAt is when the driver saw nothing in flight at the end, if it did.
func (r *Report) settledAt() (time.Time, bool) {
	for i := len(r.Events) - 1; i >= 0; i-- {
		if r.Events[i].Kind == KindSettled {
			return r.Events[i].Time, true
		}
	}
	return time.Time{}, false
}

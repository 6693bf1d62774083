package plan

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// EventPattern is an EventBridge event pattern made of exact-match arrays.
type EventPattern map[string]any

// JSON marshals the pattern (map keys sorted, so it is stable).
func (p EventPattern) JSON() string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("marshal event pattern: %v", err))
	}
	return string(b)
}

// ECRPushPattern matches a successful push of tag to repository: ECR's
// "ECR Image Action" event (docs.aws.amazon.com/AmazonECR/latest/userguide/
// ecr-eventbridge.html). The ECR source action does not start a pipeline by
// itself (docs/design.md §6).
func ECRPushPattern(repository, tag string) EventPattern {
	return EventPattern{
		"source":      []any{"aws.ecr"},
		"detail-type": []any{"ECR Image Action"},
		"detail": map[string]any{
			"action-type":     []any{"PUSH"},
			"result":          []any{"SUCCESS"},
			"repository-name": []any{repository},
			"image-tag":       []any{tag},
		},
	}
}

// DeploymentEndedPattern matches the end of a CodeDeploy deployment of any
// of the given deployment groups of one application: succeeded, failed or
// stopped. It is the "CodeDeploy Deployment State-change Notification"
// event, whose detail carries application, deploymentGroup, deploymentId and
// state (docs.aws.amazon.com/codedeploy/latest/userguide/
// monitoring-cloudwatch-events.html). The cleanup hook brings the system to
// rest after each of them.
func DeploymentEndedPattern(application string, deploymentGroups ...string) EventPattern {
	groups := make([]any, 0, len(deploymentGroups))
	for _, g := range deploymentGroups {
		groups = append(groups, g)
	}
	return EventPattern{
		"source":      []any{"aws.codedeploy"},
		"detail-type": []any{"CodeDeploy Deployment State-change Notification"},
		"detail": map[string]any{
			"state":           []any{"SUCCESS", "FAILURE", "STOP"},
			"application":     []any{application},
			"deploymentGroup": groups,
		},
	}
}

// ApprovalFailedPattern matches the pipeline's Approve action ending in
// FAILED, which is what a rejection and an expired approval both are: the
// "CodePipeline Action Execution State Change" event, whose detail carries
// pipeline, execution-id, stage, action and state (CodePipeline User Guide,
// "Monitoring CodePipeline events",
// https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html).
func ApprovalFailedPattern(pipeline string) EventPattern {
	return EventPattern{
		"source":      []any{"aws.codepipeline"},
		"detail-type": []any{"CodePipeline Action Execution State Change"},
		"detail": map[string]any{
			"pipeline": []any{pipeline},
			"stage":    []any{contract.StageApprove},
			"action":   []any{contract.ActionApprove},
			"state":    []any{"FAILED"},
		},
	}
}

// PipelineEndedPattern matches an execution of the pipeline that ended
// without succeeding or being superseded: the "CodePipeline Pipeline
// Execution State Change" event in state FAILED, CANCELED (the pipeline's
// structure was updated, as a `pulumi up` that changes its definition
// does) or STOPPED (CodePipeline User Guide, "Monitoring CodePipeline
// events",
// https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html).
// Such an end may come with no deployment ending after it, so it too runs
// the cleanup hook.
func PipelineEndedPattern(pipeline string) EventPattern {
	return EventPattern{
		"source":      []any{"aws.codepipeline"},
		"detail-type": []any{"CodePipeline Pipeline Execution State Change"},
		"detail": map[string]any{
			"pipeline": []any{pipeline},
			"state":    []any{"FAILED", "CANCELED", "STOPPED"},
		},
	}
}

// MatchEvent evaluates an event pattern against an event with EventBridge's
// exact-match semantics (docs.aws.amazon.com/eventbridge/latest/userguide/
// eb-event-patterns.html): every field the pattern names must be present;
// a nested object recurses; an array matches when the event's value (or, for
// an array in the event, any of its elements) equals one of its values;
// matching is exact and case-sensitive. Content filters (objects inside the
// array: prefix, anything-but, numeric, exists) are not supported and are
// reported as an error rather than guessed at.
func MatchEvent(pattern, event []byte) (bool, error) {
	var p map[string]any
	if err := json.Unmarshal(pattern, &p); err != nil {
		return false, fmt.Errorf("pattern: %w", err)
	}
	var e map[string]any
	if err := json.Unmarshal(event, &e); err != nil {
		return false, fmt.Errorf("event: %w", err)
	}
	if len(p) == 0 {
		return false, fmt.Errorf("pattern: empty")
	}
	return matchObject(p, e)
}

func matchObject(p, e map[string]any) (bool, error) {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ev, present := e[k]
		switch want := p[k].(type) {
		case map[string]any:
			sub, ok := ev.(map[string]any)
			if !present || !ok {
				return false, nil
			}
			m, err := matchObject(want, sub)
			if err != nil || !m {
				return false, err
			}
		case []any:
			if !present {
				return false, nil
			}
			m, err := matchValues(want, ev)
			if err != nil || !m {
				return false, err
			}
		default:
			return false, fmt.Errorf("pattern field %q: want an object or an array, got %T", k, want)
		}
	}
	return true, nil
}

func matchValues(want []any, ev any) (bool, error) {
	for _, w := range want {
		switch w.(type) {
		case map[string]any, []any:
			return false, fmt.Errorf("content filter %v is not supported", w)
		}
	}
	candidates := []any{ev}
	if arr, ok := ev.([]any); ok {
		candidates = arr
	}
	for _, c := range candidates {
		for _, w := range want {
			if c == w { // string, float64, bool or nil: exact comparison
				return true, nil
			}
		}
	}
	return false, nil
}

package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
)

// The screens the CLI tests show are states the one model of AWS
// (internal/protocol) reaches by running a rollout: a stack as the program
// declares it, a push, CodeDeploy's steps, the real hook functions run by
// the model's invocations, an approval decided through the API. Nothing of
// a state is written by hand.

// rolloutState names a point of a rollout a test starts from.
type rolloutState string

const (
	stateIdle       rolloutState = "idle"        // v1 rolled out everywhere, nothing in flight
	stateCanary     rolloutState = "canary"      // v2's Latest deployment shifting its canary step
	stateApproval   rolloutState = "approval"    // v2 on latest, the approval pending
	stateStable     rolloutState = "stable"      // approved; the Stable deployment in its termination wait
	stateRolledBack rolloutState = "rolled-back" // an alarm stopped v2's Latest deployment
	stateHeld       rolloutState = "held"        // rejected with approval.onReject=hold
	stateRejected   rolloutState = "rejected"    // rejected; the rollback function put everyone back on v1
)

var allStates = []rolloutState{stateIdle, stateCanary, stateApproval, stateStable, stateRolledBack, stateHeld, stateRejected}

// stacksDir holds the declared stacks the model reads (kept what the
// program declares by the root package's fixture test).
const stacksDir = "../../internal/protocol/testdata/stacks/"

// script drives a Direct through a rollout.
type script struct {
	t     testing.TB
	d     *protocol.Direct
	stack *declared.Stack
}

// loadStack reads a declared stack fixture: tenants-2 (two pinned tenants,
// a rejection rolls back) or hold (approval.onReject=hold).
func loadStack(t testing.TB, name string) *declared.Stack {
	t.Helper()
	s, err := protocol.LoadStack(stacksDir + name + ".json")
	require.NoError(t, err)
	return s
}

// reach runs a rollout of stack to state, ending at testNow.
func reach(t testing.TB, stack *declared.Stack, state rolloutState) *script {
	t.Helper()
	s := &script{t: t, stack: stack, d: protocol.NewDirectFromStack(stack, protocol.Scenario{Pushes: 2, Alarms: 1})}
	s.firstRollout()
	switch state {
	case stateIdle:
	case stateCanary:
		s.pushV2(9 * time.Minute)
		s.at(7*time.Minute, "creates the replacement")
		s.at(2*time.Minute, "shifts the canary")
	case stateApproval, stateStable, stateHeld, stateRejected:
		s.pushV2(95 * time.Minute)
		s.at(93*time.Minute, "creates the replacement")
		s.at(90*time.Minute, "shifts the canary")
		s.at(35*time.Minute, "shifts all traffic")
		s.at(30*time.Minute, "termination wait ends", "enters Approve")
		s.deliver()
		switch state {
		case stateStable:
			s.clock(25 * time.Minute)
			s.decide(true, "v2 fine for t0")
			s.do("enters Stable", "CodeDeploy starts")
			s.at(8*time.Minute, "creates the replacement")
			s.at(6*time.Minute, "shifts the canary")
			s.at(3*time.Minute, "shifts all traffic")
		case stateHeld, stateRejected:
			s.clock(10 * time.Minute)
			s.decide(false, "latency regression on v2")
			s.deliver() // the rollback function holds, or redeploys latest with v1
			if state == stateRejected {
				s.at(9*time.Minute, "CodeDeploy starts")
				s.at(8*time.Minute, "creates the replacement")
				s.at(7*time.Minute, "shifts the canary")
				s.at(6*time.Minute, "shifts all traffic")
				s.at(1*time.Minute, "termination wait ends")
				s.deliver()
			}
		}
	case stateRolledBack:
		s.pushV2(30 * time.Minute)
		s.at(28*time.Minute, "creates the replacement")
		s.at(25*time.Minute, "shifts the canary")
		s.at(20*time.Minute, "ALARM during")
		s.at(19*time.Minute, "traffic back on the original task set")
		s.deliver()
	default:
		t.Fatalf("no rollout reaches %q", state)
	}
	s.clock(0)
	s.d.ResetCalls()
	return s
}

// firstRollout takes v1 through both stages two days before testNow.
func (s *script) firstRollout() {
	s.at(50*time.Hour, "PUSH v1", "enters Latest", "CodeDeploy starts")
	s.at(49*time.Hour+50*time.Minute, "creates the replacement")
	s.at(49*time.Hour+45*time.Minute, "shifts the canary")
	s.at(49*time.Hour+40*time.Minute, "shifts all traffic")
	s.at(49*time.Hour+35*time.Minute, "termination wait ends", "enters Approve")
	s.deliver()
	s.clock(49 * time.Hour)
	s.decide(true, "v1 fine")
	s.do("enters Stable", "CodeDeploy starts")
	s.at(48*time.Hour+58*time.Minute, "creates the replacement")
	s.at(48*time.Hour+55*time.Minute, "shifts the canary")
	s.at(48*time.Hour+50*time.Minute, "shifts all traffic")
	s.at(48*time.Hour+45*time.Minute, "termination wait ends")
	s.deliver()
}

// pushV2 pushes v2 100 minutes before testNow; its Latest deployment
// starts (pin runs) ago before testNow.
func (s *script) pushV2(ago time.Duration) {
	s.at(100*time.Minute, "PUSH v2")
	s.at(ago, "enters Latest", "CodeDeploy starts")
}

// clock sets the model's clock to ago before testNow.
func (s *script) clock(ago time.Duration) { s.d.SetNow(testNow.Add(-ago)) }

// at takes events ago before testNow.
func (s *script) at(ago time.Duration, events ...string) {
	s.clock(ago)
	s.do(events...)
}

// do takes each event and runs the functions the model invokes with their
// real handlers.
func (s *script) do(events ...string) {
	s.t.Helper()
	require.NoError(s.t, s.d.Steps(context.Background(), events...))
}

// deliver lets EventBridge deliver every event waiting.
func (s *script) deliver() {
	s.t.Helper()
	require.NoError(s.t, s.d.DeliverAll(context.Background()))
}

// decide approves or rejects the pending approval through the API, as a
// person in the console does.
func (s *script) decide(approve bool, summary string) {
	s.t.Helper()
	api := s.d.Operator()
	o := s.stack.Outputs
	state, err := api.GetPipelineState(context.Background(), &codepipeline.GetPipelineStateInput{Name: &o.PipelineName})
	require.NoError(s.t, err)
	a := approveAction(state)
	require.NotNil(s.t, a, "an Approve action")
	require.NotNil(s.t, a.LatestExecution.Token, "an approval pending")
	status := cptypes.ApprovalStatusRejected
	if approve {
		status = cptypes.ApprovalStatusApproved
	}
	_, err = api.PutApprovalResult(context.Background(), &codepipeline.PutApprovalResultInput{PipelineName: &o.PipelineName,
		StageName: aws.String(contract.StageApprove), ActionName: aws.String(contract.ActionApprove), Token: a.LatestExecution.Token,
		Result: &cptypes.ApprovalResult{Status: status, Summary: aws.String(summary)}})
	require.NoError(s.t, err)
	require.NoError(s.t, s.d.RunQueued(context.Background()))
}

// outputsJSON is the declared stack's outputs as `pulumi stack output
// --json` prints them.
func outputsJSON(t testing.TB, o contract.StackOutputs) []byte {
	t.Helper()
	b, err := json.Marshal(o)
	require.NoError(t, err)
	return b
}

// fixtureOf is the stack a state's rollout runs on.
func fixtureOf(state rolloutState) string {
	if state == stateHeld {
		return "hold"
	}
	return "tenants-2"
}

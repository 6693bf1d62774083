package protocol

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func catchAllPriority(d *Direct) (prio int) {
	d.Inspect(func(w *World) { prio = w.rule(w.st.catchAllARN).Priority })
	return prio
}

func moveCatchAll(ctx context.Context, api API, d *Direct, to int32) error {
	var arn string
	d.Inspect(func(w *World) { arn = w.st.catchAllARN })
	_, err := api.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{
		RulePriorities: []elbtypes.RulePriorityPair{{RuleArn: aws.String(arn), Priority: aws.Int32(to)}}})
	return err
}

// An injected error fails the call before it reaches the model: the state
// is unchanged, the call is recorded, and the next call goes through.
func TestDirectFailNextFailsTheCallBeforeTheModel(t *testing.T) {
	d := NewDirectFromStack(fixture("tenants-1"), Scenario{})
	api := d.API()
	d.FailNext("SetRulePriorities", fakeaws.Throttling("SetRulePriorities"))

	err := moveCatchAll(context.Background(), api, d, 50000)
	assert.ErrorContains(t, err, "Throttling")
	assert.Equal(t, 1, catchAllPriority(d), "a refused call changes nothing")

	require.NoError(t, moveCatchAll(context.Background(), api, d, 50000))
	assert.Equal(t, 50000, catchAllPriority(d))
	assert.Equal(t, []string{"SetRulePriorities", "SetRulePriorities"}, d.Ops(), "failed calls are recorded too")
	assert.Equal(t, "service-catch-all=50000 ", d.Calls()[0].Detail)
}

// A nil error in FailNext's list lets that call through: the fault lands
// on a later call of the same operation.
func TestDirectFailNextNilLetsItsCallThrough(t *testing.T) {
	d := NewDirectFromStack(fixture("tenants-1"), Scenario{})
	api := d.API()
	d.FailNext("SetRulePriorities", nil, fakeaws.ValidationError("nope"))

	require.NoError(t, moveCatchAll(context.Background(), api, d, 50000))
	assert.ErrorContains(t, moveCatchAll(context.Background(), api, d, 1), "nope")
	assert.Equal(t, 50000, catchAllPriority(d))
}

// A lost response: the model ran the call, the caller sees an error.
func TestDirectLoseResponseChangesTheStateAndFailsTheCall(t *testing.T) {
	d := NewDirectFromStack(fixture("tenants-1"), Scenario{})
	d.Inject("SetRulePriorities", Fault{Err: fakeaws.ServerError(), Lost: true})

	err := moveCatchAll(context.Background(), d.API(), d, 50000)
	assert.ErrorContains(t, err, "InternalFailure")
	assert.Equal(t, 50000, catchAllPriority(d), "the call ran")
}

// A delay holds the call; a context that ends meanwhile fails it without
// running it.
func TestDirectDelayRespectsTheCallersContext(t *testing.T) {
	d := NewDirectFromStack(fixture("tenants-1"), Scenario{})
	d.Inject("SetRulePriorities", Fault{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()

	err := moveCatchAll(ctx, d.API(), d, 50000)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, catchAllPriority(d), "the delayed call never ran")

	d.Inject("SetRulePriorities", Fault{Delay: time.Millisecond})
	require.NoError(t, moveCatchAll(context.Background(), d.API(), d, 50000))
	assert.Equal(t, 50000, catchAllPriority(d))
}

func TestDirectPanicOnPanicsInTheCaller(t *testing.T) {
	d := NewDirectFromStack(fixture("tenants-1"), Scenario{})
	d.PanicOn("SetRulePriorities")
	assert.PanicsWithValue(t, "protocol: injected panic in SetRulePriorities", func() {
		_ = moveCatchAll(context.Background(), d.API(), d, 50000)
	})
	assert.Equal(t, 1, catchAllPriority(d))
	// The world is still usable: the lock was not left held.
	_, err := d.API().DescribeRules(context.Background(), &elbv2.DescribeRulesInput{ListenerArn: aws.String(d.Env(contract.HookPin)[contract.EnvListenerARN])})
	assert.NoError(t, err)
}

// The same layer serves the wire: the real SDK retries an injected
// throttle (every attempt is a recorded call) and a lost response, whose
// retry then finds the state already changed.
func TestDirectFaultsReachTheRealSDKOverTheWire(t *testing.T) {
	d := NewDirectFromStack(fixture("tenants-1"), Scenario{})
	srv := httptest.NewServer(fakeaws.NewServer(d.API(), nil))
	t.Cleanup(srv.Close)
	clients := rollout.NewClients(aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		}),
		Retryer: func() aws.Retryer { return rollout.NewRetryer(rollout.RetryMaxAttempts, time.Millisecond) },
	})
	var arn string
	d.Inspect(func(w *World) { arn = w.st.catchAllARN })
	move := func(to int32) error {
		_, err := clients.ELB.SetRulePriorities(context.Background(), &elbv2.SetRulePrioritiesInput{
			RulePriorities: []elbtypes.RulePriorityPair{{RuleArn: aws.String(arn), Priority: aws.Int32(to)}}})
		return err
	}

	d.FailNext("SetRulePriorities", fakeaws.Throttling("SetRulePriorities"), fakeaws.ServerError())
	require.NoError(t, move(50000))
	assert.Equal(t, []string{"SetRulePriorities", "SetRulePriorities", "SetRulePriorities"}, d.Ops())
	assert.Equal(t, 50000, catchAllPriority(d))

	d.ResetCalls()
	d.Inject("SetRulePriorities", Fault{Err: fakeaws.ServerError(), Lost: true})
	require.NoError(t, move(1), "the retry sets the same priority again")
	assert.Equal(t, 2, len(d.Calls()))
	assert.Equal(t, 1, catchAllPriority(d))

	d.FailNext("SetRulePriorities", fakeaws.AccessDenied("SetRulePriorities"))
	assert.ErrorContains(t, move(50000), "AccessDenied")
	assert.Equal(t, 1, catchAllPriority(d))
}

package rollout_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	smithy "github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// sdkHooks wires function hook to real aws-sdk-go-v2 clients that talk to
// the model over the services' wire protocols (fakeaws's server, calling
// the same client as in process, so the same faults apply), with the
// production retry policy except for a short backoff cap so the test
// stays fast.
func (m *model) sdkHooks(hook contract.Hook) *rollout.Hooks {
	m.t.Helper()
	srv := httptest.NewServer(fakeaws.NewServer(m.API(), nil))
	m.t.Cleanup(srv.Close)
	clients := rollout.NewClients(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		}),
		Retryer: func() aws.Retryer { return rollout.NewRetryer(rollout.RetryMaxAttempts, 5*time.Millisecond) },
	})
	h := m.hooks(hook)
	h.ECS, h.ELB, h.CodeDeploy, h.CodePipeline = clients.ECS, clients.ELB, clients.CodeDeploy, clients.CodePipeline
	return h
}

// sdkRun runs an invocation over the wire.
func (m *model) sdkRun(inv protocol.Invoke) error {
	m.t.Helper()
	return m.runWith(context.Background(), m.sdkHooks(inv.Hook), inv)
}

func count(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}

func TestRealSDKPinsOverTheWireProtocols(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{StableOnGreen: true, PageSize: 2})
	m.HealthByEvent()
	m.Before(opHealth, 2, func() { require.NoError(t, m.Do("turns healthy")) })
	m.setForward(m.rules(protocol.KindTenant)[1].ARN, m.stableTGs()[0], m.stableTGs()[1])
	m.ResetCalls()

	require.NoError(t, m.sdkRun(pin))

	claimSequence(t, m)
	assert.Equal(t, []string{m.stableTGs()[1], m.stableTGs()[1], m.stableTGs()[0]}, m.details(opHealth),
		"polled stable's group until healthy, then found the other group empty before repairing")
	assert.Equal(t, 6, count(m.Ops(), opRules), "two reads of three pages (five rules, two a page): NextMarker survives the wire")
	assert.Equal(t, []protocol.Weighted{{TG: m.stableTGs()[1], Weight: 100}}, m.rules(protocol.KindTenant)[1].Forward, "the repair's ForwardConfig survives the wire")
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, 2, m.stableDesired())
	assert.Equal(t, []protocol.Report{{DeploymentID: "d-1", ExecutionID: "d-1-BeforeInstall", Status: "Succeeded"}}, m.Reports())
	assert.Equal(t, []int{0}, m.served("t0"))
}

func TestRealSDKRetriesThrottlingAndServerErrorsThenSucceeds(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	m.FailNext(opLD, fakeaws.Throttling(opLD))
	m.FailNext(opRules, fakeaws.Throttling(opRules), fakeaws.Throttling(opRules))
	m.FailNext(opUpdate, fakeaws.Throttling(opUpdate))
	m.FailNext(opHealth, fakeaws.ServerError())
	m.FailNext(opSet, fakeaws.Throttling(opSet))
	m.FailNext(opPut, fakeaws.Throttling(opPut))

	require.NoError(t, m.sdkRun(pin))

	for op, n := range map[string]int{opLD: 2, opRules: 4, opUpdate: 2, opHealth: 2, opSet: 2, opPut: 2} {
		assert.Equal(t, n, count(m.Ops(), op), "%s: each failed attempt is retried once", op)
	}
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
}

// A call that ran and lost its response is retried by the SDK: the retry
// finds the change made, and pin ends as if nothing went wrong.
func TestRealSDKRetriesACallWhoseResponseWasLost(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	m.Inject(opSet, protocol.Fault{Err: fakeaws.ServerError(), Lost: true})
	m.Inject(opUpdate, protocol.Fault{Err: fakeaws.ServerError(), Lost: true})

	require.NoError(t, m.sdkRun(pin))

	assert.Equal(t, 2, count(m.Ops(), opSet))
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, 2, m.stableDesired())
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
}

func TestRealSDKFailsFastOnPermanentErrors(t *testing.T) {
	tests := []struct {
		op       string
		err      *fakeaws.APIError
		wantCode string
	}{
		{opSet, fakeaws.ValidationError("Priority '50000' is currently in use"), "ValidationError"},
		{opUpdate, fakeaws.AccessDenied(opUpdate), "AccessDeniedException"},
		{opRules, fakeaws.AccessDenied(opRules), "AccessDenied"},
		{opHealth, &fakeaws.APIError{Code: "TargetGroupNotFound", Message: "One or more target groups not found"}, "TargetGroupNotFound"},
		{opLD, fakeaws.AccessDenied(opLD), "AccessDeniedException"},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
			m.FailNext(tt.op, tt.err)

			err := m.sdkRun(pin)

			require.Error(t, err)
			var apiErr smithy.APIError
			require.True(t, errors.As(err, &apiErr), "the SDK decodes the service's error: %v", err)
			assert.Equal(t, tt.wantCode, apiErr.ErrorCode())
			assert.Equal(t, 1, count(m.Ops(), tt.op), "a permanent error is not retried")
			assert.Equal(t, []string{"Failed"}, m.statuses())
			assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority())
		})
	}
}

func TestRealSDKGivesUpAfterTheConfiguredAttempts(t *testing.T) {
	m, unpin := unpinAt(t, "tenants-2", protocol.Scenario{})
	for range rollout.RetryMaxAttempts {
		m.FailNext(opLD, fakeaws.Throttling(opLD))
	}

	err := m.sdkRun(unpin)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "ThrottlingException")
	want := append([]string{opAdd, opGD, opGDT}, slices.Repeat([]string{opLD}, rollout.RetryMaxAttempts)...)
	assert.Equal(t, append(want, opRemove, opPut), m.Ops(), "the claim, every attempt, the claim removed, then the report")
	assert.Equal(t, []string{"Failed"}, m.statuses())
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
}

func TestRealSDKRepairsTenantRulesOverTheWire(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{StableOnGreen: true})
	blue, green := m.stableTGs()[0], m.stableTGs()[1]
	for _, r := range m.rules(protocol.KindTenant) {
		m.setForward(r.ARN, blue, green)
	}
	m.FailNext(opModify, fakeaws.Throttling(opModify))
	m.ResetCalls()

	require.NoError(t, m.sdkRun(pin))

	assert.Equal(t, 3, count(m.Ops(), opModify), "the throttled ModifyRule is retried; both tenant rules are repaired")
	for _, r := range m.rules(protocol.KindTenant) {
		assert.Equal(t, []protocol.Weighted{{TG: green, Weight: 100}}, r.Forward)
	}
	assert.Equal(t, []int{0}, m.served("t1"))
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())

	// A permanent error is not retried and the catch-all stays.
	m, pin = pinAt(t, "tenants-2", protocol.Scenario{StableOnGreen: true})
	m.setForward(m.rules(protocol.KindTenant)[0].ARN, blue, green)
	m.FailNext(opModify, &fakeaws.APIError{Code: "TargetGroupNotFound", Message: "One or more target groups not found"})
	m.ResetCalls()
	err := m.sdkRun(pin)
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, "TargetGroupNotFound", apiErr.ErrorCode())
	assert.Equal(t, 1, count(m.Ops(), opModify))
	assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority())
	assert.Equal(t, []string{"Failed"}, m.statuses())
}

// Cleanup's decisions over the wire, each in a state the model reached by
// a rollout: a finished one is released; one whose approval is pending
// about the image latest serves is held; an approval superseded by a
// newer push is rejected, with its summary intact.
func TestRealSDKCleanupDecidesOverTheWire(t *testing.T) {
	t.Run("finished: released", func(t *testing.T) {
		m, unpin := unpinAt(t, "tenants-2", protocol.Scenario{})
		require.NoError(t, m.run(unpin))
		m.do("d-2: termination wait ends", "deliver CodeDeploy SUCCESS d-1")
		cleanup := m.next("deliver CodeDeploy SUCCESS d-2")
		m.ResetCalls()

		require.NoError(t, m.sdkRun(cleanup))

		assert.Equal(t, opAdd, m.Ops()[0], "the claim before any read")
		assert.Equal(t, opRemove, m.Ops()[len(m.Ops())-1])
		assert.Zero(t, m.stableDesired())
		assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority())
		require.NoError(t, m.Check())
	})
	t.Run("approval pending about latest's image: held", func(t *testing.T) {
		m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
		require.NoError(t, m.run(pin))
		m.deploy("d-1")
		m.do("exec-1 (v1) enters Approve")
		cleanup := m.next("deliver CodeDeploy SUCCESS d-1")
		m.ResetCalls()

		require.NoError(t, m.sdkRun(cleanup))

		assert.Contains(t, m.Ops(), opGPE, "the pending approval's image is looked up")
		assert.Empty(t, m.Approvals())
		assert.Equal(t, m.pinnedPriority(), m.catchAllPriority(), "the split holds for the person's decision")
		assert.Equal(t, []int{0}, m.served("t0"))
		assert.Equal(t, []int{1}, m.served(""))
	})
	t.Run("superseded approval: rejected", func(t *testing.T) {
		m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
		require.NoError(t, m.run(pin))
		m.deploy("d-1")
		m.do("exec-1 (v1) enters Approve", "PUSH v2", "exec-2 (v2) enters Latest", "CodeDeploy starts d-2")
		m.deploy("d-2")
		cleanup := m.next("deliver CodeDeploy SUCCESS d-2")
		m.FailNext(opPAR, fakeaws.Throttling(opPAR))
		m.ResetCalls()

		require.NoError(t, m.sdkRun(cleanup))

		assert.Equal(t, 2, count(m.Ops(), opPAR), "the throttled PutApprovalResult is retried")
		approvals := m.Approvals()
		require.Len(t, approvals, 1)
		assert.Equal(t, "exec-1", approvals[0].ExecutionID)
		assert.Equal(t, "Rejected", approvals[0].Status)
		assert.Contains(t, approvals[0].Summary, m.Image(2), "the summary survives the wire")
		m.Inspect(func(w *protocol.World) { assert.Equal(t, "Failed", w.Executions[0].Status) })
	})

	// An access error is decoded and not retried.
	m, unpin := unpinAt(t, "tenants-2", protocol.Scenario{})
	require.NoError(t, m.run(unpin))
	m.do("d-2: termination wait ends")
	cleanup := m.next("deliver CodeDeploy SUCCESS d-1")
	m.FailNext(opGPS, fakeaws.AccessDenied(opGPS))
	m.ResetCalls()
	err := m.sdkRun(cleanup)
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, "AccessDeniedException", apiErr.ErrorCode())
	assert.Equal(t, 1, count(m.Ops(), opGPS), "not retried")
	assert.Equal(t, opRemove, m.Ops()[len(m.Ops())-1], "the claim is released on the error path too")
	assert.Equal(t, 2, m.stableDesired(), "nothing released")
}

func TestRealSDKPinWaitsForAnUnpinOverTheWire(t *testing.T) {
	m, unpin, pin := pinDuringUnpin(t, protocol.Scenario{PageSize: 1})
	m.Before(opGDT, 2, func() { assert.NoError(t, m.run(unpin)) })

	require.NoError(t, m.sdkRun(pin))

	assert.Equal(t, 3, count(m.Ops(), opGDT), "pin polled the running unpin's target twice, until its AfterAllowTraffic succeeded; the unpin read its own once")
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, []string{"Succeeded", "Succeeded"}, m.statuses())

	// Any other error of GetDeploymentTarget fails pin, decoded.
	m, _, pin = pinDuringUnpin(t, protocol.Scenario{})
	m.FailNext(opGDT, &fakeaws.APIError{Code: "DeploymentDoesNotExistException", Message: "The deployment d-2 does not exist."})
	err := m.sdkRun(pin)
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, "DeploymentDoesNotExistException", apiErr.ErrorCode())
	assert.Equal(t, []string{opLD, opGDT, opPut}, m.Ops())
	assert.Equal(t, []string{"Failed"}, m.statuses())
}

func TestRealSDKPinWaitsForAClaimOverTheWire(t *testing.T) {
	// The claim's key survives AddTags, DescribeTags and RemoveTags in the
	// Query protocol: a cleanup's claim and another tag.
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	key := contract.ReleaseTagPrefix + "c0ffee00-0000-4000-8000-000000000001"
	m.claim(key, time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339))
	m.claim(contract.ReleaseTagPrefix+"dead", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
	m.claim("team", "payments")
	m.ResetCalls()
	m.Before(opTags, 3, func() { m.release(key) })

	require.NoError(t, m.sdkRun(pin))

	assert.Equal(t, 3, count(m.Ops(), opTags), "waited while the live claim was held, not for the expired one")
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, []string{"Succeeded"}, m.statuses())

	// A cleanup's claim over the wire: added with its expiry, then removed.
	m, unpin := unpinAt(t, "tenants-2", protocol.Scenario{})
	require.NoError(t, m.run(unpin))
	m.do("d-2: termination wait ends", "deliver CodeDeploy SUCCESS d-1")
	cleanup := m.next("deliver CodeDeploy SUCCESS d-2")
	var tags []elbtypes.Tag
	m.Before(opLD, 1, func() {
		out, err := m.API().DescribeTags(context.Background(), &elbv2.DescribeTagsInput{ResourceArns: []string{m.env(contract.EnvCatchAllRuleARN)}})
		require.NoError(t, err)
		tags = out.TagDescriptions[0].Tags
	})
	require.NoError(t, m.sdkRun(cleanup))
	require.Len(t, tags, 1)
	assert.Equal(t, claimKey, aws.ToString(tags[0].Key))
	until, err := time.Parse(time.RFC3339, aws.ToString(tags[0].Value))
	require.NoError(t, err, "the value is the claim's expiry")
	assert.True(t, until.After(time.Now()))
	m.Inspect(func(w *protocol.World) {
		for _, r := range w.Rules {
			assert.Empty(t, r.Tags, "the claim is removed")
		}
	})
}

func TestRealSDKUnpinHoldsOverTheWire(t *testing.T) {
	m := approved(t, "tenants-2", protocol.Scenario{})
	m.do("CodeDeploy starts d-2", "d-2 creates the replacement", "d-2 shifts the canary", "PUSH v2", "exec-2 (v2) enters Latest")
	unpin := m.next("d-2 shifts all traffic")
	m.ResetCalls()

	require.NoError(t, m.sdkRun(unpin))

	assert.Equal(t, []string{opAdd, opGD, opGDT, opLD, opRemove, opPut}, m.Ops())
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
}

// A rejected approval reaches the rollback function, which redeploys
// latest with stable's task definition: the AppSpec survives the wire
// (the model reads the task definition out of it), and the throttled
// CreateDeployment is retried.
func TestRealSDKRollbackCreatesTheDeploymentOverTheWire(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{Rejects: 1})
	require.NoError(t, m.run(pin))
	m.deploy("d-1")
	m.do("exec-1 (v1) enters Approve", "REJECT exec-1")
	rb := m.next("deliver Approve FAILED exec-1 to rollback")
	req, ok := rb.Payload.(rollout.RollbackRequest)
	require.True(t, ok)
	m.FailNext(opCreate, fakeaws.Throttling(opCreate))
	m.ResetCalls()
	var stableTD string
	m.Inspect(func(w *protocol.World) {
		stableTD = w.Services[m.env(contract.EnvStableServiceName)].TaskSets[0].TaskDef
	})

	res, err := m.sdkHooks(contract.HookRollback).Rollback(context.Background(), req)

	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomeDeploying, res.Outcome)
	assert.Equal(t, 2, count(m.Ops(), opCreate), "the throttled CreateDeployment is retried")
	var created *protocol.Deployment
	m.Inspect(func(w *protocol.World) {
		for _, d := range w.Deployments {
			if d.ID == res.DeploymentID {
				c := *d
				created = &c
			}
		}
	})
	require.NotNil(t, created, "the deployment %s exists", res.DeploymentID)
	assert.Equal(t, m.env(contract.EnvLatestDeploymentGroupName), created.Group)
	assert.Equal(t, stableTD, created.TaskDef, "the AppSpec crossed the wire: the model read stable's task definition, v0, from it")
	assert.Contains(t, res.Detail, stableTD)
	assert.Contains(t, m.env(contract.EnvAppSpecLatest), appspec.TaskDefinitionPlaceholder)
}

type captureClient struct{ got *http.Request }

func (c *captureClient) Do(r *http.Request) (*http.Response, error) {
	c.got = r
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

// The body the transport sees has no WriteTo, so net/http's last check for
// extra body bytes reads it (io.EOF is a clean end) even after smithy-go
// closed it; the caller's request is left as it was.
func TestCloseSafeHTTPClientHidesTheBodysWriteTo(t *testing.T) {
	inner := &captureClient{}
	body := io.NopCloser(strings.NewReader("Action=DescribeRules"))
	_, isWriterTo := body.(io.WriterTo)
	require.True(t, isWriterTo, "smithy-go's bodies are WriterTo, like this one")
	req := httptest.NewRequest(http.MethodPost, "http://fake/", nil)
	req.Body = body

	_, err := rollout.CloseSafeHTTPClient{HTTPClient: inner}.Do(req)

	require.NoError(t, err)
	require.NotNil(t, inner.got)
	_, isWriterTo = inner.got.Body.(io.WriterTo)
	assert.False(t, isWriterTo)
	got, err := io.ReadAll(inner.got.Body)
	require.NoError(t, err)
	assert.Equal(t, "Action=DescribeRules", string(got))
	assert.Equal(t, body, req.Body, "the caller's request is not modified")
}

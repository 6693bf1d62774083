package rollout_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smithy "github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// sdkHooks wires the hooks to real aws-sdk-go-v2 clients that talk to the
// world over its wire protocols, with the production retry policy except for
// a short backoff cap so the test stays fast.
func sdkHooks(t *testing.T, w *fakeaws.World, hook rollout.Hook) *rollout.Hooks {
	t.Helper()
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	clients := rollout.NewClients(aws.Config{
		Region:       fakeaws.Region,
		BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		}),
		Retryer: func() aws.Retryer { return rollout.NewRetryer(rollout.RetryMaxAttempts, 5*time.Millisecond) },
	})
	h, _ := newHooks(t, w, hook)
	h.ECS, h.ELB, h.CodeDeploy, h.CodePipeline = clients.ECS, clients.ELB, clients.CodeDeploy, clients.CodePipeline
	return h
}

func TestRealSDKPinsOverTheWireProtocols(t *testing.T) {
	w := fakeaws.NewWorld(3, fakeaws.StableGreenTG)
	w.PollsUntilHealthy = 1
	w.RulesPageSize = 3
	h := sdkHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opRules, opRules, opDesc, opUpdate, opHealth, opHealth, opRules, opRules, opSet, opPut}, w.Ops())
	assert.Equal(t, listed(fakeaws.StableGroup), w.Calls()[0].Detail, "the application, group and unfinished statuses reach the wire")
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.EqualValues(t, 2, w.Desired())
	assert.Equal(t, []fakeaws.Report{{DeploymentID: hookEvent.DeploymentID, ExecutionID: hookEvent.LifecycleEventHookExecutionID, Status: "Succeeded"}}, w.Reports())
}

func TestRealSDKRetriesThrottlingAndServerErrorsThenSucceeds(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.FailNext(opLD, fakeaws.Throttling(opLD))
	w.FailNext(opRules, fakeaws.Throttling(opRules), fakeaws.Throttling(opRules))
	w.FailNext(opUpdate, fakeaws.Throttling(opUpdate))
	w.FailNext(opHealth, fakeaws.ServerError())
	w.FailNext(opSet, fakeaws.Throttling(opSet))
	w.FailNext(opPut, fakeaws.Throttling(opPut))
	h := sdkHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opLD, opTags, opRules, opRules, opRules, opDesc, opUpdate, opUpdate, opHealth, opHealth, opRules, opSet, opSet, opPut, opPut}, w.Ops())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
	assert.Equal(t, "50000", w.CatchAllPriority())
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
			w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
			w.FailNext(tt.op, tt.err)
			h := sdkHooks(t, w, rollout.HookPin)

			err := h.Pin(context.Background(), hookEvent)

			require.Error(t, err)
			var apiErr smithy.APIError
			require.True(t, errors.As(err, &apiErr), "the SDK decodes the service's error: %v", err)
			assert.Equal(t, tt.wantCode, apiErr.ErrorCode())
			n := 0
			for _, op := range w.Ops() {
				if op == tt.op {
					n++
				}
			}
			assert.Equal(t, 1, n, "a permanent error is not retried")
			assert.Equal(t, []string{"Failed"}, statuses(w))
		})
	}
}

func TestRealSDKGivesUpAfterTheConfiguredAttempts(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	for range rollout.RetryMaxAttempts {
		w.FailNext(opLD, fakeaws.Throttling(opLD))
	}
	h := sdkHooks(t, w, rollout.HookUnpin)

	err := h.Unpin(context.Background(), hookEvent)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "ThrottlingException")
	assert.Len(t, w.Ops(), rollout.RetryMaxAttempts+1, "every attempt, then the report")
	assert.Equal(t, []string{"Failed"}, statuses(w))
}

func TestRealSDKRepairsTenantRulesOverTheWire(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.StablePrimaryTG = fakeaws.StableGreenTG
	w.FailNext(opModify, fakeaws.Throttling(opModify))
	h := sdkHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opHealth, opModify, opModify, opModify, opModify, opSet, opPut}, w.Ops(),
		"the throttled ModifyRule is retried; the anchor and both tenant rules are repaired")
	assert.Equal(t, []string{fakeaws.AnchorHost}, w.Rule(fakeaws.AnchorRuleARN).Hosts, "ModifyRule sends no conditions: the anchor keeps its host")
	for _, r := range w.Rules[2:] {
		assert.Equal(t, fakeaws.StableGreenTG, w.Rule(r.ARN).Target)
	}
	assert.Equal(t, "50000", w.CatchAllPriority())

	// A permanent error is not retried and the catch-all stays.
	w = fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.StablePrimaryTG = fakeaws.StableGreenTG
	w.FailNext(opModify, &fakeaws.APIError{Code: "TargetGroupNotFound", Message: "One or more target groups not found"})
	h = sdkHooks(t, w, rollout.HookPin)
	err := h.Pin(context.Background(), hookEvent)
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, "TargetGroupNotFound", apiErr.ErrorCode())
	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opHealth, opModify, opPut}, w.Ops())
	assert.Equal(t, "1", w.CatchAllPriority())
}

func TestRealSDKCleanupDecidesOverTheWire(t *testing.T) {
	for _, tt := range []struct {
		name         string
		arrange      func(w *fakeaws.World)
		wantOps      []string
		wantReleased bool
		wantResults  int
	}{
		{"same image", func(*fakeaws.World) {}, released, true, 0},
		{"held on another image", func(w *fakeaws.World) { w.LatestTaskDef = fakeaws.TaskDefV1 },
			claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD), false, 0},
		{"approval about latest's image", func(w *fakeaws.World) {
			w.LatestTaskDef = fakeaws.TaskDefV1
			w.AwaitApproval("exec-A", fakeaws.DigestV1)
		}, claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opGPE), false, 0},
		{"superseded approval", func(w *fakeaws.World) {
			w.LatestTaskDef = fakeaws.TaskDefV2
			w.AwaitApproval("exec-A", fakeaws.DigestV1)
			w.FailNext(opPAR, fakeaws.Throttling(opPAR))
		}, claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opGPE, opPAR, opPAR), false, 1},
		{"busy", func(w *fakeaws.World) {
			w.DeploymentsPageSize = 1
			w.StartDeployment(fakeaws.StableGroup, "d-STABLE01", nil)
			w.StartDeployment(fakeaws.StableGroup, "d-STABLE02", nil)
		}, claimed(opLD, opLD, opLD), false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			tt.arrange(w)
			h := sdkHooks(t, w, rollout.HookCleanup)

			require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))

			assert.Equal(t, tt.wantOps, w.Ops())
			assert.Equal(t, tt.wantReleased, w.CatchAllPriority() == "1")
			results := w.ApprovalResults()
			require.Len(t, results, tt.wantResults)
			if tt.wantResults > 0 {
				assert.Equal(t, "Rejected", results[0].Status)
				assert.Contains(t, results[0].Summary, fakeaws.ImageV2, "the summary survives the wire")
			}
		})
	}

	// A decided approval's error is decoded and tolerated; an access
	// error is not retried.
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.LatestTaskDef = fakeaws.TaskDefV2
	w.AwaitApproval("exec-A", fakeaws.DigestV1)
	w.FailNext(opPAR, &fakeaws.APIError{Code: "ApprovalAlreadyCompletedException", Message: "The approval action has already been completed."})
	h := sdkHooks(t, w, rollout.HookCleanup)
	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))

	w = pinnedWorld(2, fakeaws.StableGreenTG)
	w.FailNext(opGPS, fakeaws.AccessDenied(opGPS))
	h = sdkHooks(t, w, rollout.HookCleanup)
	err := h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE"))
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, "AccessDeniedException", apiErr.ErrorCode())
	assert.Equal(t, claimed(opLD, opLD, opRules, opDesc, opGPS), w.Ops(), "not retried")
}

func TestRealSDKPinWaitsForAnUnpinOverTheWire(t *testing.T) {
	// d-STABLE02 has not created its target (DeploymentTargetDoesNotExist-
	// Exception, as the SDK decodes it, is skipped); d-STABLE01's unpin
	// runs and ends during the second poll. One deployment per page.
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.DeploymentsPageSize = 1
	w.StartDeployment(fakeaws.StableGroup, "d-STABLE01", fakeaws.UnpinRunning())
	w.StartDeployment(fakeaws.StableGroup, "d-STABLE02", nil)
	w.On(opGDT, 4, func(w *fakeaws.World) { w.Deployments[0].Events["AfterAllowTraffic"] = "Succeeded" })
	h := sdkHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opLD, opGDT, opGDT, opLD, opLD, opGDT, opGDT, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opSet, opPut}, w.Ops())
	assert.Equal(t, "d-STABLE01 tc-dev:stable", details(w, opGDT)[1])
	assert.Equal(t, "50000", w.CatchAllPriority())

	// Any other error of GetDeploymentTarget fails pin, decoded.
	w = fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.StartDeployment(fakeaws.StableGroup, "d-STABLE01", fakeaws.UnpinRunning())
	w.FailNext(opGDT, &fakeaws.APIError{Code: "DeploymentDoesNotExistException", Message: "The deployment d-STABLE01 does not exist."})
	h = sdkHooks(t, w, rollout.HookPin)
	err := h.Pin(context.Background(), hookEvent)
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, "DeploymentDoesNotExistException", apiErr.ErrorCode())
	assert.Equal(t, []string{opLD, opGDT, opPut}, w.Ops())
}

func TestRealSDKPinWaitsForAClaimOverTheWire(t *testing.T) {
	// The claim's key and value survive AddTags, DescribeTags and
	// RemoveTags in the Query protocol: a cleanup's claim, an expired one
	// (ignored) and another tag.
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	key := contract.ReleaseTagPrefix + "c0ffee00-0000-4000-8000-000000000001"
	w.SetTag(fakeaws.CatchAllRuleARN, key, time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339))
	w.SetTag(fakeaws.CatchAllRuleARN, contract.ReleaseTagPrefix+"dead", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
	w.SetTag(fakeaws.CatchAllRuleARN, "team", "payments")
	w.On(opTags, 3, func(w *fakeaws.World) { delete(w.Tags[fakeaws.CatchAllRuleARN], key) })
	h := sdkHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opTags, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opSet, opPut}, w.Ops())
	assert.Equal(t, "50000", w.CatchAllPriority())

	// A cleanup's claim over the wire: added with its expiry, then removed.
	w = pinnedWorld(2, fakeaws.StableBlueTG)
	var tags map[string]string
	w.On(opLD, 1, func(w *fakeaws.World) { tags = maps.Clone(w.Tags[fakeaws.CatchAllRuleARN]) })
	h = sdkHooks(t, w, rollout.HookCleanup)
	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))
	assert.Equal(t, released, w.Ops())
	require.Contains(t, tags, claimKey)
	_, err := time.Parse(time.RFC3339, tags[claimKey])
	assert.NoError(t, err, "the value is the claim's expiry")
	assert.Empty(t, w.TagsOf(fakeaws.CatchAllRuleARN))
}

func TestRealSDKUnpinHoldsOverTheWire(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.StartDeployment(fakeaws.LatestGroup, "d-LATEST02", nil)
	h := sdkHooks(t, w, rollout.HookUnpin)

	require.NoError(t, h.Unpin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opPut}, w.Ops())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
	assert.Equal(t, "50000", w.CatchAllPriority())
}

func TestRealSDKRollbackCreatesTheDeploymentOverTheWire(t *testing.T) {
	w := rejectedWorld()
	w.FailNext(opCreate, fakeaws.Throttling(opCreate))
	h := sdkHooks(t, w, rollout.HookRollback)

	res, err := h.Rollback(context.Background(), approvalEvent(t, "exec-A", "FAILED"))

	require.NoError(t, err)
	assert.Equal(t, rollout.RollbackResult{Outcome: rollout.OutcomeDeploying, DeploymentID: "d-CREATED01",
		Detail: "latest is being redeployed with " + fakeaws.TaskDefStableV0 + "; cleanup unpins the tenants when it succeeds"}, res)
	assert.Equal(t, []string{opGPE, opAdd, opLD, opLD, opRules, opDesc, opTD, opTD, opTD, opCreate, opCreate, opRemove}, w.Ops(), "the throttled CreateDeployment is retried")
	created := w.CreatedDeployments()
	require.Len(t, created, 1)
	assert.Equal(t, strings.Replace(fakeaws.AppSpecLatest, appspec.TaskDefinitionPlaceholder, fakeaws.TaskDefStableV0, 1), created[0].AppSpec,
		"the AppSpec survives the wire byte for byte")
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

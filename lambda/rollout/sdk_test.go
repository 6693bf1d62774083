package rollout_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smithy "github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	h.ECS, h.ELB, h.CodeDeploy = clients.ECS, clients.ELB, clients.CodeDeploy
	return h
}

func TestRealSDKPinsOverTheWireProtocols(t *testing.T) {
	w := fakeaws.NewWorld(3, fakeaws.StableGreenTG)
	w.PollsUntilHealthy = 1
	w.RulesPageSize = 3
	h := sdkHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opRules, opDesc, opUpdate, opHealth, opHealth, opSet, opPut}, w.Ops())
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.EqualValues(t, 2, w.Desired())
	assert.Equal(t, []fakeaws.Report{{DeploymentID: hookEvent.DeploymentID, ExecutionID: hookEvent.LifecycleEventHookExecutionID, Status: "Succeeded"}}, w.Reports())
}

func TestRealSDKRetriesThrottlingAndServerErrorsThenSucceeds(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.FailNext(opRules, fakeaws.Throttling(opRules), fakeaws.Throttling(opRules))
	w.FailNext(opUpdate, fakeaws.Throttling(opUpdate))
	w.FailNext(opHealth, fakeaws.ServerError())
	w.FailNext(opSet, fakeaws.Throttling(opSet))
	w.FailNext(opPut, fakeaws.Throttling(opPut))
	h := sdkHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opRules, opRules, opDesc, opUpdate, opUpdate, opHealth, opHealth, opSet, opSet, opPut, opPut}, w.Ops())
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
		w.FailNext(opRules, fakeaws.Throttling(opRules))
	}
	h := sdkHooks(t, w, rollout.HookUnpin)

	err := h.Unpin(context.Background(), hookEvent)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "Throttling")
	assert.Len(t, w.Ops(), rollout.RetryMaxAttempts+1, "every attempt, then the report")
	assert.Equal(t, []string{"Failed"}, statuses(w))
}

func TestRealSDKRepairsTenantRulesOverTheWire(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.StablePrimaryTG = fakeaws.StableGreenTG
	w.FailNext(opModify, fakeaws.Throttling(opModify))
	h := sdkHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opDesc, opUpdate, opHealth, opModify, opModify, opModify, opSet, opPut}, w.Ops(),
		"the throttled ModifyRule is retried")
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
	assert.Equal(t, []string{opRules, opDesc, opUpdate, opHealth, opModify, opPut}, w.Ops())
	assert.Equal(t, "1", w.CatchAllPriority())
}

func TestRealSDKCleanupDecidesOverTheWire(t *testing.T) {
	for _, tt := range []struct {
		name         string
		latestTD     string
		last         string
		wantOps      []string
		wantReleased bool
	}{
		{"same image", fakeaws.TaskDefLatestV0, "d-LATEST", []string{opGetDG, opDesc, opTD, opTD, opRules, opSet, opUpdate}, true},
		{"latest on an unapproved image", fakeaws.TaskDefV1, "d-LATEST", []string{opGetDG, opDesc, opTD, opTD}, false},
		{"stale event", fakeaws.TaskDefLatestV0, "d-NEWER", []string{opGetDG}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableGreenTG)
			w.LatestTaskDef, w.LastAttemptedDeployment = tt.latestTD, tt.last
			h := sdkHooks(t, w, rollout.HookCleanup)

			require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))

			assert.Equal(t, tt.wantOps, w.Ops())
			assert.Equal(t, tt.wantReleased, w.CatchAllPriority() == "1")
		})
	}

	w := pinnedWorld(2, fakeaws.StableGreenTG)
	w.FailNext(opGetDG, fakeaws.AccessDenied(opGetDG))
	h := sdkHooks(t, w, rollout.HookCleanup)
	err := h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE"))
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, "AccessDeniedException", apiErr.ErrorCode())
	assert.Equal(t, []string{opGetDG}, w.Ops(), "not retried")
}

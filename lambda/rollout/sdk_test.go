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

	"github.com/tenant-canary/tenant-canary/lambda/internal/fakeaws"
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

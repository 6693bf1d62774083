package scenario

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
)

// modelStack is the driver's backend in its tests: the one model of AWS
// (internal/protocol's Direct, a stack as the program declares it, the
// real hook functions run by the model's invocations) served over the wire
// to the driver's SDK clients, and a data plane that routes each request
// as the model's listener rules do. Time passes on the backend's clock:
// every stepEvery, one event that happens by itself (CodeDeploy's steps,
// the pipeline moving on, EventBridge's deliveries) takes place; a bad
// version serving traffic sets off a rollback alarm. Bugs can be planted.
type modelStack struct {
	t     *testing.T
	d     *protocol.Direct
	o     contract.StackOutputs
	mu    sync.Mutex
	names map[int]string // the model's version → the driver's name for it
	bad   map[int]bool
	// since is the backend time passed since the last event.
	since   time.Duration
	counter int // requests routed over a weighted rule

	// Bugs to plant.
	leakToPinned bool // pinned tenants are served what everyone else is
	stuck        bool // nothing ever moves after a push
	noAlarm      bool // a bad version is not caught
	onPush       func()

	listener, aws *httptest.Server
}

// stepEvery is the backend time between two events.
const stepEvery = 30 * time.Second

func newModelStack(t *testing.T) *modelStack {
	t.Helper()
	stack, err := protocol.LoadStack("../protocol/testdata/stacks/tenants-2.json")
	require.NoError(t, err)
	d := protocol.NewDirectFromStack(stack, protocol.Scenario{Pushes: 3, Alarms: 3})
	d.SetNow(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC))
	f := &modelStack{t: t, d: d, o: stack.Outputs, names: map[int]string{0: "v1"}, bad: map[int]bool{}}
	f.listener = httptest.NewServer(http.HandlerFunc(f.serve))
	f.aws = httptest.NewServer(d.Handler())
	t.Cleanup(f.listener.Close)
	t.Cleanup(f.aws.Close)
	return f
}

// Backend.

func (f *modelStack) Outputs(context.Context) (contract.StackOutputs, error) { return f.o, nil }

func (f *modelStack) AWSConfig(context.Context) (aws.Config, error) {
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(f.aws.URL), Retryer: fakeaws.Retryer,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		})}, nil
}

func (f *modelStack) BaseURL() string { return f.listener.URL }

// Push is `docker push`: the model's next version, named as the driver
// names it.
func (f *modelStack) Push(ctx context.Context, version string, bad badversion.Spec) error {
	if f.onPush != nil {
		f.onPush()
	}
	f.mu.Lock()
	n := len(f.names)
	f.names[n], f.bad[n] = version, bad.IsBad()
	f.mu.Unlock()
	return f.d.Steps(ctx, fmt.Sprintf("PUSH v%d", n))
}

func (f *modelStack) Now() time.Time { return f.d.Now() }

// After moves the clock on at once (the test never sleeps) and lets what
// happens by itself in that time happen.
func (f *modelStack) After(d time.Duration) <-chan time.Time {
	f.d.Advance(d)
	f.mu.Lock()
	f.since += d
	steps := 0
	for ; f.since >= stepEvery; f.since -= stepEvery {
		steps++
	}
	f.mu.Unlock()
	for range steps {
		if f.stuck {
			break
		}
		f.alarm()
		if _, _, err := f.d.Next(context.Background()); err != nil {
			f.t.Errorf("the model: %v", err)
		}
	}
	ch := make(chan time.Time, 1)
	ch <- f.d.Now()
	return ch
}

// alarm stops a deployment whose replacement runs a bad version once it
// gets traffic: the rollback alarms on its target group fire.
func (f *modelStack) alarm() {
	if f.noAlarm {
		return
	}
	var stop string
	f.d.Inspect(func(w *protocol.World) {
		for _, d := range w.Deployments {
			if d.Status == protocol.DepInProgress && slices.Contains([]string{"canary", "after-allow-traffic", "termination-wait"}, d.Phase) && f.bad[w.TaskDefs[d.TaskDef]] {
				stop = d.ID
			}
		}
	})
	if stop != "" {
		require.NoError(f.t, f.d.Steps(context.Background(), "ALARM during "+stop))
	}
}

// serve is the listener: the request's tenant is routed by the model's
// rules to a target group, weighted ones in turn, and answered by the
// version its task set runs (a bad version with a 500).
func (f *modelStack) serve(w http.ResponseWriter, r *http.Request) {
	tenant, _ := strings.CutPrefix(r.URL.Path, "/app/")
	if f.leakToPinned {
		tenant = ""
	}
	version := -1
	f.d.Inspect(func(world *protocol.World) {
		var served []protocol.Weighted
		for _, fwd := range world.Route(tenant).Forward {
			if fwd.Weight > 0 {
				served = append(served, fwd)
			}
		}
		if len(served) == 0 {
			return
		}
		f.mu.Lock()
		pick, turn := served[0], 0
		if len(served) > 1 {
			f.counter++
			turn = f.counter % 10
			for _, s := range served {
				if turn < s.Weight/10 {
					pick = s
					break
				}
				turn -= s.Weight / 10
			}
		}
		f.mu.Unlock()
		for _, svc := range world.Services {
			for _, ts := range svc.TaskSets {
				if ts.TG == pick.TG && ts.Running > 0 {
					version = world.TaskDefs[ts.TaskDef]
				}
			}
		}
	})
	f.mu.Lock()
	name, bad := f.names[version], f.bad[version]
	f.mu.Unlock()
	if version < 0 {
		http.Error(w, "no healthy target", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("X-App-Version", name)
	if bad {
		http.Error(w, "bad", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte(name))
}

// approvalSummary is the summary the pipeline recorded for the approval of
// the driver's version.
func (f *modelStack) approvalSummary(version string) string {
	f.t.Helper()
	f.mu.Lock()
	n := -1
	for v, name := range f.names {
		if name == version {
			n = v
		}
	}
	f.mu.Unlock()
	out, err := f.d.Operator().ListActionExecutions(context.Background(), &codepipeline.ListActionExecutionsInput{PipelineName: aws.String(f.o.PipelineName),
		Filter: &cptypes.ActionExecutionFilter{PipelineExecutionId: aws.String(fmt.Sprintf("exec-%d", n))}})
	require.NoError(f.t, err)
	for _, a := range out.ActionExecutionDetails {
		if aws.ToString(a.ActionName) == contract.ActionApprove && a.Output != nil && a.Output.ExecutionResult != nil {
			return aws.ToString(a.Output.ExecutionResult.ExternalExecutionSummary)
		}
	}
	return ""
}

// polls counts the driver's GetPipelineState calls.
func (f *modelStack) polls() int {
	n := 0
	for _, c := range f.d.Calls() {
		if c.Op == "GetPipelineState" {
			n++
		}
	}
	return n
}

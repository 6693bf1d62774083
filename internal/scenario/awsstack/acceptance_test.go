package awsstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/tenant-canary/tenant-canary/internal/scenario"
)

// AcceptanceEnv turns the acceptance run on: TENANT_CANARY_ACCEPTANCE=aws.
const AcceptanceEnv = "TENANT_CANARY_ACCEPTANCE"

const howToRun = `the scenarios against a real AWS account run only when asked:

  TENANT_CANARY_ACCEPTANCE=aws \
  AWS_REGION=eu-west-1 AWS_PROFILE=<a profile allowed to create the stack> \
  PULUMI_BACKEND_URL=s3://<state bucket> (or file://$HOME/.pulumi-state) \
  PULUMI_CONFIG_PASSPHRASE=<passphrase for the throwaway stack's secrets> \
  go test -run TestScenariosAgainstAWS -timeout 5h -v ./internal/scenario/awsstack/

It needs the pulumi and docker CLIs on PATH, creates a throwaway stack
scenario-<random> from this checkout (Pulumi's Automation API), runs baseline,
happy, bad-image, reject and newest-push-wins against it, writes each
report to $TENANT_CANARY_REPORT_DIR (default: a directory under the system
temp dir, printed), and destroys the stack at the end, whatever happened.
It costs an ALB, Fargate tasks and a few CodeDeploy/CodePipeline runs for
about two hours`

// TestScenariosAgainstAWS runs the same driver and checks as the rehearsal,
// against a real stack.
func TestScenariosAgainstAWS(t *testing.T) {
	if os.Getenv(AcceptanceEnv) != "aws" {
		t.Skip(howToRun)
	}
	awsCfg, missing := acceptancePrerequisites()
	if len(missing) > 0 {
		t.Skipf("%s=aws, but %s.\n\n%s", AcceptanceEnv, strings.Join(missing, "; "), howToRun)
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	reports := os.Getenv("TENANT_CANARY_REPORT_DIR")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Hour)
	defer cancel()

	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := "scenario-" + hex.EncodeToString(suffix)
	if reports == "" {
		reports = filepath.Join(os.TempDir(), "tenant-canary-acceptance-"+name)
	}
	if err := os.MkdirAll(reports, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("stack %s; reports in %s", name, reports)
	log := &testLog{t: t}

	// The program is this checkout; the stack's config file is written
	// next to Pulumi.yaml and removed with the stack.
	stack, err := auto.UpsertStackLocalSource(ctx, name, root)
	if err != nil {
		t.Fatalf("create stack %s: %v", name, err)
	}
	defer destroy(t, stack, log)

	config := auto.ConfigMap{
		"aws:region":                      {Value: awsCfg.Region},
		"tenant-canary:pinnedTenants":     {Value: `["acme","globex"]`},
		"tenant-canary:traffic":           {Value: `{"type":"canary","percentage":50,"intervalMinutes":5,"terminationWaitMinutes":1}`},
		"tenant-canary:network":           {Value: `{"availabilityZones":2,"nat":"none"}`},
		"tenant-canary:forceDeleteImages": {Value: "true"},
	}
	if err := stack.SetAllConfig(ctx, config); err != nil {
		t.Fatalf("stack %s config: %v", name, err)
	}
	upCtx, upCancel := context.WithTimeout(ctx, 45*time.Minute)
	_, err = stack.Up(upCtx, optup.ProgressStreams(log))
	upCancel()
	if err != nil {
		t.Fatalf("pulumi up %s: %v", name, err)
	}
	backend, err := NewAWSStack(ctx, stack, awsCfg, root)
	if err != nil {
		t.Fatal(err)
	}

	// About 5 requests a second keeps the canary's share above the rollback
	// alarms' minimum request count; AWS is polled every 5 seconds.
	opts := scenario.Options{Tick: time.Second, PollEvery: 5, Log: log}
	next := scenario.Counter(2)
	runs := []scenario.Scenario{scenario.Baseline("v1")}
	for _, n := range []string{"happy", "bad-image", "reject", "newest-push-wins"} {
		s, err := scenario.Get(n, next)
		if err != nil {
			t.Fatal(err)
		}
		switch n {
		case "happy":
			s.Checks = append(s.Checks, scenario.RulesFollowStableDeployment(), scenario.TargetIDsAreClusterService(),
				scenario.ImagesByDigest(), scenario.SourceRevisionIsTheImageDigest(), scenario.OriginalTaskSetGoneBeforeSucceeded(),
				scenario.GreenTaskSetAtFullSize())
		case "bad-image":
			s.Checks = append(s.Checks, scenario.RollbackReading(), scenario.AlarmTiming())
		}
		runs = append(runs, s)
	}
	for _, s := range runs {
		r, err := scenario.Run(ctx, backend, s, opts)
		if r != nil {
			path := filepath.Join(reports, s.Name+".json")
			if werr := writeReport(path, r); werr != nil {
				t.Errorf("write %s: %v", path, werr)
			}
			for _, c := range r.Checks {
				t.Logf("%s: %s passed=%v: %s", s.Name, c.Name, c.Passed, c.Detail)
			}
		}
		if err != nil {
			// Later scenarios start from this one's end: stop here.
			t.Fatalf("%s: %v (report: %s)", s.Name, err, filepath.Join(reports, s.Name+".json"))
		}
	}
}

func writeReport(path string, r *scenario.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.WriteJSON(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// acceptancePrerequisites names everything the run needs that is missing.
func acceptancePrerequisites() (aws.Config, []string) {
	var missing []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	switch {
	case err != nil:
		missing = append(missing, "the AWS configuration does not load: "+err.Error())
	case cfg.Region == "":
		missing = append(missing, "no AWS region (set AWS_REGION)")
	}
	if err == nil {
		if _, cerr := cfg.Credentials.Retrieve(ctx); cerr != nil {
			missing = append(missing, "no AWS credentials: "+cerr.Error())
		}
	}
	if os.Getenv("PULUMI_BACKEND_URL") == "" {
		missing = append(missing, "no PULUMI_BACKEND_URL (a self-managed backend for the throwaway stack)")
	}
	if os.Getenv("PULUMI_CONFIG_PASSPHRASE") == "" && os.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE") == "" {
		missing = append(missing, "no PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE")
	}
	for _, tool := range []string{"pulumi", "docker"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" is not on PATH")
		}
	}
	return cfg, missing
}

// destroy removes the stack whatever happened, within its own bound.
func destroy(t *testing.T, stack auto.Stack, log *testLog) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	if _, err := stack.Destroy(ctx, optdestroy.ProgressStreams(log)); err != nil {
		t.Errorf("pulumi destroy %s: %v; destroy it by hand: pulumi destroy --stack %s", stack.Name(), err, stack.Name())
		return
	}
	if err := stack.Workspace().RemoveStack(ctx, stack.Name()); err != nil {
		t.Errorf("pulumi stack rm %s: %v", stack.Name(), err)
	}
}

// testLog writes progress to the test log, line by line.
type testLog struct {
	t       *testing.T
	pending string
}

func (l *testLog) Write(p []byte) (int, error) {
	l.pending += string(p)
	for {
		line, rest, ok := strings.Cut(l.pending, "\n")
		if !ok {
			return len(p), nil
		}
		l.t.Log(line)
		l.pending = rest
	}
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/tenant-canary/tenant-canary/internal/outputs"
)

// pendingApproval finds the token of the approval waiting at stage
// Approve, action Approve: GetPipelineState shows it in the action's
// latestExecution while its status is InProgress
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_GetPipelineState.html).
func pendingApproval(ctx context.Context, o *outputs.Read, c *clients) (token string, since *time.Time, err error) {
	state, err := c.pipeline.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: &o.PipelineName})
	if err != nil {
		return "", nil, err
	}
	a := approveAction(state)
	if a == nil || a.LatestExecution == nil || a.LatestExecution.Status != cptypes.ActionExecutionStatusInProgress || aws.ToString(a.LatestExecution.Token) == "" {
		return "", nil, nil
	}
	return aws.ToString(a.LatestExecution.Token), a.LatestExecution.LastStatusChange, nil
}

// putApproval answers the approval
// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PutApprovalResult.html).
func putApproval(ctx context.Context, o *outputs.Read, c *clients, token string, approve bool, summary string) error {
	status := cptypes.ApprovalStatusRejected
	if approve {
		status = cptypes.ApprovalStatusApproved
	}
	_, err := c.pipeline.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{
		PipelineName: &o.PipelineName, StageName: aws.String("Approve"), ActionName: aws.String("Approve"), Token: &token,
		Result: &cptypes.ApprovalResult{Status: status, Summary: &summary},
	})
	return err
}

func decideCmd(approve bool) func(context.Context, *flag.FlagSet, []string, *env) error {
	verb := map[bool]string{true: "approve", false: "reject"}[approve]
	done := map[bool]string{true: "approved", false: "rejected"}[approve]
	return func(ctx context.Context, fs *flag.FlagSet, args []string, e *env) error {
		var where outputs.Settings
		where.Register(fs)
		summary := fs.String("summary", done+" with tenant-canary", "the approval's summary, shown in the pipeline's history")
		if err := parse(fs, args); err != nil {
			return err
		}
		o, c, err := connect(ctx, e, where)
		if err != nil {
			return err
		}
		token, since, err := pendingApproval(ctx, o, c)
		if err != nil {
			return err
		}
		if token == "" {
			return &codeError{exitNothing, fmt.Sprintf("nothing to %s: no approval is pending in pipeline %s", verb, o.PipelineName)}
		}
		if err := putApproval(ctx, o, c, token, approve, *summary); err != nil {
			return err
		}
		waited := ""
		if since != nil {
			waited = " after " + dur(e.now().Sub(*since))
		}
		fmt.Fprintf(e.stdout, "%s the pending approval of %s%s: %q\n", done, o.PipelineName, waited, *summary)
		return nil
	}
}

// rollbackAnswer is the rollback function's answer.
type rollbackAnswer struct {
	Outcome      string `json:"outcome"` // deploying, unpinned, nothing-to-do, busy
	Detail       string `json:"detail"`
	DeploymentID string `json:"deploymentId"`
}

func rollbackCmd(ctx context.Context, fs *flag.FlagSet, args []string, e *env) error {
	var where outputs.Settings
	where.Register(fs)
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	reason := fs.String("reason", "requested with tenant-canary rollback", "why, recorded in the rejection and the function's log")
	wait := fs.Duration("wait", 15*time.Minute, "how long to wait for stopped deployments to finish rolling back")
	if err := parse(fs, args); err != nil {
		return err
	}
	o, c, err := connect(ctx, e, where)
	if err != nil {
		return err
	}
	if err := o.Require("hookFunctionNames.rollback"); err != nil {
		var m *outputs.MissingError
		if errors.As(err, &m) {
			m.Detail += " (deployed before the server-side rollback existed?)"
		}
		return err
	}
	fn := o.HookFunctionNames["rollback"]
	if !*yes {
		fmt.Fprintf(e.stderr, "Roll everyone on %s back to the last approved version now? This rejects a pending approval\n"+
			"and stops any deployment in progress. [y/N] ", o.PipelineName)
		answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return &codeError{exitDeclined, "not confirmed; nothing changed"}
		}
	}

	// 1. A pending approval is rejected.
	token, _, err := pendingApproval(ctx, o, c)
	if err != nil {
		return err
	}
	if token != "" {
		if err := putApproval(ctx, o, c, token, false, "tenant-canary rollback: "+*reason); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "rejected the pending approval")
	}

	// 2. Deployments in progress are stopped with a rollback: traffic goes
	// back to the original task set
	// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_StopDeployment.html).
	groups := []string{o.LatestDeploymentGroupName, o.StableDeploymentGroupName}
	for _, g := range groups {
		ids, err := inProgress(ctx, o, c, g)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := c.deploy.StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String(id), AutoRollbackEnabled: aws.Bool(true)}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "stopping deployment %s (%s) with rollback\n", id, g)
		}
	}
	deadline := e.now().Add(*wait)
	for {
		var busy []string
		for _, g := range groups {
			ids, err := inProgress(ctx, o, c, g)
			if err != nil {
				return err
			}
			busy = append(busy, ids...)
		}
		if len(busy) == 0 {
			break
		}
		if !e.now().Before(deadline) {
			return &codeError{exitBusy, fmt.Sprintf("deployments %s still in progress after %s; run rollback again once they have stopped", strings.Join(busy, ", "), *wait)}
		}
		fmt.Fprintf(e.stdout, "waiting for %s to stop (%s left)\n", strings.Join(busy, ", "), dur(deadline.Sub(e.now())))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.poll):
		}
	}

	// 3. The rollback function puts everyone back on the approved version.
	payload, _ := json.Marshal(map[string]string{"reason": *reason})
	out, err := c.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: &fn, InvocationType: lambdatypes.InvocationTypeRequestResponse, Payload: payload})
	if err != nil {
		return err
	}
	if out.FunctionError != nil {
		var fe struct {
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		return fmt.Errorf("rollback function %s failed (%s): %s", fn, *out.FunctionError, cmp(fe.ErrorMessage, string(out.Payload)))
	}
	var a rollbackAnswer
	if err := json.Unmarshal(out.Payload, &a); err != nil {
		return fmt.Errorf("rollback function %s answered %q: %w", fn, out.Payload, err)
	}
	switch a.Outcome {
	case "deploying":
		fmt.Fprintf(e.stdout, "rollback: deploying %s: %s\n  follow it with: tenant-canary status --watch\n", a.DeploymentID, a.Detail)
		return nil
	case "unpinned":
		fmt.Fprintf(e.stdout, "rollback: unpinned: %s\n", a.Detail)
		return nil
	case "nothing-to-do":
		return &codeError{exitNothing, "nothing to roll back: " + a.Detail}
	case "busy":
		return &codeError{exitBusy, "the rollback function is busy: " + a.Detail + "; try again shortly"}
	}
	return fmt.Errorf("rollback function %s answered an unknown outcome %q: %s", fn, a.Outcome, a.Detail)
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

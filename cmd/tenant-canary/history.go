package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/tenant-canary/tenant-canary/internal/outputs"
)

// History is `history --json`, schema 1: the last pipeline executions,
// each with its approval, and the last deployments of both groups.
type History struct {
	Schema      int                 `json:"schema"`
	Stack       string              `json:"stack"`
	Source      string              `json:"source"`
	Time        time.Time           `json:"time"`
	Executions  []HistoryExecution  `json:"executions"`  // newest first
	Deployments []HistoryDeployment `json:"deployments"` // newest first, both groups
}

// HistoryExecution is one pipeline execution.
type HistoryExecution struct {
	ID       string           `json:"id"`
	Status   string           `json:"status"` // CodePipeline's: Succeeded, Failed, Stopped, Superseded, InProgress…
	Started  *time.Time       `json:"started"`
	Updated  *time.Time       `json:"updated"`
	Revision string           `json:"revision"` // the pushed image's digest
	Approval *HistoryApproval `json:"approval"` // null: the execution never reached Approve
}

// HistoryApproval is what became of an execution's approval.
type HistoryApproval struct {
	State   string     `json:"state"`   // pending, approved, rejected (a timeout shows as rejected)
	By      string     `json:"by"`      // the action execution's updatedBy, "" when the API does not give it
	Summary string     `json:"summary"` // the approval's summary, "" when the API does not give it
	At      *time.Time `json:"at"`
}

// HistoryDeployment is one deployment and, when it did not succeed, why.
type HistoryDeployment struct {
	Group string `json:"group"` // latest or stable
	EndedDeployment
}

func historyCmd(ctx context.Context, fs *flag.FlagSet, args []string, e *env) error {
	var where outputs.Settings
	where.Register(fs)
	limit := fs.Int("limit", 5, "how many executions, and deployments per group (at most 25)")
	asJSON := fs.Bool("json", false, "print the history as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 25 {
		return usageError("--limit %d: want 1 to 25", *limit)
	}
	o, c, err := connect(ctx, e, where)
	if err != nil {
		return err
	}
	h, err := collectHistory(ctx, o, c, e.now(), *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(h, "", "  ")
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	_, err = fmt.Fprint(e.stdout, renderHistory(h))
	return err
}

func collectHistory(ctx context.Context, o *outputs.Read, c *clients, now time.Time, limit int) (*History, error) {
	h := &History{Schema: 1, Stack: o.Stack, Source: o.From, Time: now.UTC(), Executions: []HistoryExecution{}, Deployments: []HistoryDeployment{}}
	execs, err := c.pipeline.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: &o.PipelineName, MaxResults: aws.Int32(int32(limit))})
	if err != nil {
		return nil, err
	}
	for _, ex := range execs.PipelineExecutionSummaries {
		he := HistoryExecution{ID: aws.ToString(ex.PipelineExecutionId), Status: string(ex.Status), Started: utc(ex.StartTime), Updated: utc(ex.LastUpdateTime)}
		for _, r := range ex.SourceRevisions {
			he.Revision = aws.ToString(r.RevisionId)
		}
		// Who approved or rejected, and the summary: the Approve action's
		// execution detail, its updatedBy and its result's summary
		// (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ActionExecutionDetail.html).
		actions, err := c.pipeline.ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{PipelineName: &o.PipelineName,
			Filter: &cptypes.ActionExecutionFilter{PipelineExecutionId: ex.PipelineExecutionId}})
		if err != nil {
			return nil, err
		}
		for _, a := range actions.ActionExecutionDetails {
			if aws.ToString(a.StageName) != "Approve" || aws.ToString(a.ActionName) != "Approve" {
				continue
			}
			ha := &HistoryApproval{State: map[cptypes.ActionExecutionStatus]string{cptypes.ActionExecutionStatusInProgress: "pending",
				cptypes.ActionExecutionStatusSucceeded: "approved", cptypes.ActionExecutionStatusFailed: "rejected"}[a.Status],
				By: aws.ToString(a.UpdatedBy), At: utc(a.LastUpdateTime)}
			if ha.State == "" {
				ha.State = strings.ToLower(string(a.Status))
			}
			if a.Output != nil && a.Output.ExecutionResult != nil {
				ha.Summary = aws.ToString(a.Output.ExecutionResult.ExternalExecutionSummary)
			}
			he.Approval = ha
			break
		}
		h.Executions = append(h.Executions, he)
	}

	for _, g := range []struct{ role, name string }{{"latest", o.LatestDeploymentGroupName}, {"stable", o.StableDeploymentGroupName}} {
		group, err := c.deploy.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: &o.ApplicationName, DeploymentGroupName: &g.name})
		if err != nil {
			return nil, err
		}
		recent, err := recentDeployments(ctx, o, c, g.name, limit)
		if err != nil {
			return nil, err
		}
		for _, d := range recent {
			// The alarm that stopped it: CodeDeploy's error message names
			// the alarms that fired (error code ALARM_ACTIVE,
			// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ErrorInformation.html).
			if ac := group.DeploymentGroupInfo.AlarmConfiguration; ac != nil {
				for _, a := range ac.Alarms {
					if name := aws.ToString(a.Name); name != "" && strings.Contains(d.ErrorMessage, name) {
						d.Alarms = append(d.Alarms, name)
					}
				}
			}
			h.Deployments = append(h.Deployments, HistoryDeployment{Group: g.role, EndedDeployment: *d})
		}
	}
	slices.SortStableFunc(h.Deployments, func(a, b HistoryDeployment) int { return aws.ToTime(b.Created).Compare(aws.ToTime(a.Created)) })
	return h, nil
}

func renderHistory(h *History) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tenant-canary history of %s at %s\n\n", stackLabel(h.Stack, h.Source), h.Time.Format("2006-01-02 15:04:05 MST"))
	b.WriteString("pipeline executions, newest first\n")
	if len(h.Executions) == 0 {
		b.WriteString("  none\n")
	}
	for _, ex := range h.Executions {
		fmt.Fprintf(&b, "  %-10s %-11s started %s ago", ex.ID, ex.Status, ago(h.Time, ex.Started))
		if ex.Revision != "" {
			fmt.Fprintf(&b, "  revision %s", short(ex.Revision))
		}
		b.WriteString("\n")
		if a := ex.Approval; a != nil {
			fmt.Fprintf(&b, "  %-10s approval %s", "", a.State)
			if a.By != "" {
				fmt.Fprintf(&b, " by %s", who(a.By))
			}
			if a.At != nil && a.State != "pending" {
				fmt.Fprintf(&b, " %s ago", ago(h.Time, a.At))
			}
			if a.Summary != "" {
				fmt.Fprintf(&b, ": %q", a.Summary)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\ndeployments, newest first\n")
	if len(h.Deployments) == 0 {
		b.WriteString("  none\n")
	}
	for _, d := range h.Deployments {
		fmt.Fprintf(&b, "  %-12s %-7s %-11s created %s ago", d.ID, d.Group, d.Status, ago(h.Time, d.Created))
		if d.Status != "Succeeded" && d.Status != "InProgress" && d.Status != "Ready" {
			fmt.Fprintf(&b, "  %s", d.why())
		}
		b.WriteString("\n")
	}
	return b.String()
}

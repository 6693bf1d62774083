package fakeaws

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// Wire serving of the operations the guards and the rollback function use:
// CodeDeploy's ListDeployments, GetDeploymentTarget and CreateDeployment,
// and CodePipeline (AWS JSON 1.1, X-Amz-Target "CodePipeline_20150709.<Op>").
// Member names are those of the SDK's serializers and deserializers
// (aws-sdk-go-v2 service/codedeploy v1.36.0, service/codepipeline v1.47.0).
// Decoding and encoding go through the SDK's own types, so the same code
// serves any implementation of the small interfaces below.

const codePipelineTarget = "CodePipeline_20150709."

// guardOpService names the service behind each operation here (for the
// error codes Throttling and AccessDenied pick).
var guardOpService = map[string]string{
	OpListDeployments: "codedeploy", OpGetDeploymentTarget: "codedeploy", OpCreateDeployment: "codedeploy",
	OpGetPipelineState: "codepipeline", OpGetPipelineExecution: "codepipeline", OpPutApprovalResult: "codepipeline",
}

// codeDeployGuardsAPI is the CodeDeploy the guards read and the rollback
// function writes.
type codeDeployGuardsAPI interface {
	ListDeployments(context.Context, *codedeploy.ListDeploymentsInput, ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error)
	GetDeploymentTarget(context.Context, *codedeploy.GetDeploymentTargetInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentTargetOutput, error)
	CreateDeployment(context.Context, *codedeploy.CreateDeploymentInput, ...func(*codedeploy.Options)) (*codedeploy.CreateDeploymentOutput, error)
}

// codePipelineGuardsAPI is the CodePipeline the approval guards use.
type codePipelineGuardsAPI interface {
	GetPipelineState(context.Context, *codepipeline.GetPipelineStateInput, ...func(*codepipeline.Options)) (*codepipeline.GetPipelineStateOutput, error)
	GetPipelineExecution(context.Context, *codepipeline.GetPipelineExecutionInput, ...func(*codepipeline.Options)) (*codepipeline.GetPipelineExecutionOutput, error)
	PutApprovalResult(context.Context, *codepipeline.PutApprovalResultInput, ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error)
}

// serveGuards answers the request if target is one of the operations here
// (every CodePipeline operation included: unknown ones are refused) and
// reports whether it did.
func (w *World) serveGuards(rw http.ResponseWriter, target string, body []byte) bool {
	var (
		resp any
		err  error
	)
	switch {
	case strings.HasPrefix(target, codeDeployTarget):
		op := strings.TrimPrefix(target, codeDeployTarget)
		if _, ok := guardOpService[op]; !ok {
			return false
		}
		resp, err = call(func() (any, error) { return serveCodeDeployGuards(w, op, body) })
	case strings.HasPrefix(target, codePipelineTarget):
		resp, err = call(func() (any, error) {
			return serveCodePipelineGuards(w, strings.TrimPrefix(target, codePipelineTarget), body)
		})
	default:
		return false
	}
	if err != nil {
		writeJSONError(rw, err)
		return true
	}
	rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
	rw.Header().Set("X-Amzn-RequestId", "00000000-0000-4000-8000-000000000000")
	_ = json.NewEncoder(rw).Encode(resp)
	return true
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &APIError{Code: "SerializationException", Message: err.Error()}
	}
	return nil
}

// optional is nil for "", as the SDK omits unset members.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func serveCodeDeployGuards(api codeDeployGuardsAPI, op string, body []byte) (any, error) {
	ctx := context.Background()
	switch op {
	case OpListDeployments:
		var req struct {
			ApplicationName     string   `json:"applicationName"`
			DeploymentGroupName string   `json:"deploymentGroupName"`
			IncludeOnlyStatuses []string `json:"includeOnlyStatuses"`
			NextToken           string   `json:"nextToken"`
		}
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		in := &codedeploy.ListDeploymentsInput{ApplicationName: optional(req.ApplicationName),
			DeploymentGroupName: optional(req.DeploymentGroupName), NextToken: optional(req.NextToken)}
		for _, s := range req.IncludeOnlyStatuses {
			in.IncludeOnlyStatuses = append(in.IncludeOnlyStatuses, cdtypes.DeploymentStatus(s))
		}
		out, err := api.ListDeployments(ctx, in)
		if err != nil {
			return nil, err
		}
		resp := map[string]any{"deployments": append([]string{}, out.Deployments...)}
		if out.NextToken != nil {
			resp["nextToken"] = *out.NextToken
		}
		return resp, nil
	case OpGetDeploymentTarget:
		var req struct {
			DeploymentID string `json:"deploymentId"`
			TargetID     string `json:"targetId"`
		}
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		out, err := api.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{
			DeploymentId: optional(req.DeploymentID), TargetId: optional(req.TargetID)})
		if err != nil {
			return nil, err
		}
		t := out.DeploymentTarget
		target := map[string]any{"deploymentTargetType": string(t.DeploymentTargetType)}
		if e := t.EcsTarget; e != nil {
			events := []map[string]any{}
			for _, ev := range e.LifecycleEvents {
				events = append(events, map[string]any{"lifecycleEventName": aws.ToString(ev.LifecycleEventName), "status": string(ev.Status)})
			}
			// JSON 1.1 timestamps are epoch seconds.
			target["ecsTarget"] = map[string]any{
				"deploymentId": aws.ToString(e.DeploymentId), "targetId": aws.ToString(e.TargetId),
				"targetArn": aws.ToString(e.TargetArn), "status": string(e.Status),
				"lastUpdatedAt": 1.7512e9, "lifecycleEvents": events,
			}
		}
		return map[string]any{"deploymentTarget": target}, nil
	case OpCreateDeployment:
		var req struct {
			ApplicationName     string `json:"applicationName"`
			DeploymentGroupName string `json:"deploymentGroupName"`
			Description         string `json:"description"`
			Revision            *struct {
				RevisionType   string `json:"revisionType"`
				AppSpecContent *struct {
					Content string `json:"content"`
					Sha256  string `json:"sha256"`
				} `json:"appSpecContent"`
			} `json:"revision"`
		}
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		in := &codedeploy.CreateDeploymentInput{ApplicationName: optional(req.ApplicationName),
			DeploymentGroupName: optional(req.DeploymentGroupName), Description: optional(req.Description)}
		if r := req.Revision; r != nil {
			in.Revision = &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationType(r.RevisionType)}
			if c := r.AppSpecContent; c != nil {
				in.Revision.AppSpecContent = &cdtypes.AppSpecContent{Content: optional(c.Content), Sha256: optional(c.Sha256)}
			}
		}
		out, err := api.CreateDeployment(ctx, in)
		if err != nil {
			return nil, err
		}
		return map[string]any{"deploymentId": aws.ToString(out.DeploymentId)}, nil
	}
	return nil, &APIError{Code: "UnknownOperationException", Message: "unknown operation " + op}
}

func serveCodePipelineGuards(api codePipelineGuardsAPI, op string, body []byte) (any, error) {
	ctx := context.Background()
	switch op {
	case OpGetPipelineState:
		var req struct {
			Name string `json:"name"`
		}
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		out, err := api.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: optional(req.Name)})
		if err != nil {
			return nil, err
		}
		stages := []map[string]any{}
		for _, st := range out.StageStates {
			stage := map[string]any{"stageName": aws.ToString(st.StageName)}
			if e := st.LatestExecution; e != nil {
				stage["latestExecution"] = map[string]any{"pipelineExecutionId": aws.ToString(e.PipelineExecutionId), "status": string(e.Status)}
			}
			actions := []map[string]any{}
			for _, a := range st.ActionStates {
				action := map[string]any{"actionName": aws.ToString(a.ActionName)}
				if e := a.LatestExecution; e != nil {
					action["latestExecution"] = actionExecutionJSON(e)
				}
				actions = append(actions, action)
			}
			stage["actionStates"] = actions
			stages = append(stages, stage)
		}
		return map[string]any{"pipelineName": aws.ToString(out.PipelineName), "pipelineVersion": aws.ToInt32(out.PipelineVersion),
			"stageStates": stages}, nil
	case OpGetPipelineExecution:
		var req struct {
			PipelineName        string `json:"pipelineName"`
			PipelineExecutionID string `json:"pipelineExecutionId"`
		}
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		out, err := api.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{
			PipelineName: optional(req.PipelineName), PipelineExecutionId: optional(req.PipelineExecutionID)})
		if err != nil {
			return nil, err
		}
		e := out.PipelineExecution
		revisions := []map[string]any{}
		for _, r := range e.ArtifactRevisions {
			rev := map[string]any{"name": aws.ToString(r.Name), "revisionId": aws.ToString(r.RevisionId)}
			if r.RevisionSummary != nil {
				rev["revisionSummary"] = *r.RevisionSummary
			}
			revisions = append(revisions, rev)
		}
		return map[string]any{"pipelineExecution": map[string]any{
			"pipelineName": aws.ToString(e.PipelineName), "pipelineVersion": aws.ToInt32(e.PipelineVersion),
			"pipelineExecutionId": aws.ToString(e.PipelineExecutionId), "status": string(e.Status),
			"artifactRevisions": revisions,
		}}, nil
	case OpPutApprovalResult:
		var req struct {
			PipelineName string `json:"pipelineName"`
			StageName    string `json:"stageName"`
			ActionName   string `json:"actionName"`
			Token        string `json:"token"`
			Result       *struct {
				Status  string `json:"status"`
				Summary string `json:"summary"`
			} `json:"result"`
		}
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		in := &codepipeline.PutApprovalResultInput{PipelineName: optional(req.PipelineName), StageName: optional(req.StageName),
			ActionName: optional(req.ActionName), Token: optional(req.Token)}
		if r := req.Result; r != nil {
			in.Result = &cptypes.ApprovalResult{Status: cptypes.ApprovalStatus(r.Status), Summary: optional(r.Summary)}
		}
		out, err := api.PutApprovalResult(ctx, in)
		if err != nil {
			return nil, err
		}
		resp := map[string]any{}
		if out.ApprovedAt != nil {
			resp["approvedAt"] = float64(out.ApprovedAt.Unix())
		}
		return resp, nil
	}
	return nil, &APIError{Code: "UnknownOperationException", Message: "unknown operation " + op}
}

func actionExecutionJSON(e *cptypes.ActionExecution) map[string]any {
	out := map[string]any{"status": string(e.Status)}
	for k, v := range map[string]*string{"actionExecutionId": e.ActionExecutionId, "token": e.Token, "summary": e.Summary} {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

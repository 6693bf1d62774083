// Package fakeaws serves a backend over the AWS services' wire protocols,
// so the real aws-sdk-go-v2 clients (the hooks', the operator CLI's) can
// talk to it: the backend is internal/protocol's model of AWS (a Direct's
// API), the one model every test runs against; this package holds no state
// of its own. It also builds AWS's error shapes (Throttling, AccessDenied,
// ServerError, ValidationError) for the model's fault layer to inject.
package fakeaws

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	smithy "github.com/aws/smithy-go"
)

// APIError is an AWS service error. It satisfies smithy.APIError, so the
// logic sees the same error whether it talks to the model directly or
// through the SDK, and the server renders it in each protocol's error
// format.
type APIError struct {
	Code    string
	Message string
	Status  int // HTTP status; 400 if zero
}

func (e *APIError) Error() string                 { return fmt.Sprintf("api error %s: %s", e.Code, e.Message) }
func (e *APIError) ErrorCode() string             { return e.Code }
func (e *APIError) ErrorMessage() string          { return e.Message }
func (e *APIError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

func (e *APIError) status() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// Throttling returns the throttling error the service behind op sends:
// "Throttling" from Elastic Load Balancing
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/CommonErrors.html),
// "ThrottlingException" from ECS and CodeDeploy.
func Throttling(op string) *APIError {
	if service(op) == "elb" {
		return &APIError{Code: "Throttling", Message: "Rate exceeded", Status: 400}
	}
	return &APIError{Code: "ThrottlingException", Message: "Rate exceeded", Status: 400}
}

// ValidationError is the Query-protocol error for a bad parameter.
func ValidationError(msg string) *APIError {
	return &APIError{Code: "ValidationError", Message: msg, Status: 400}
}

// AccessDenied returns the access-denied error the service behind op sends.
func AccessDenied(op string) *APIError {
	if service(op) == "elb" {
		return &APIError{Code: "AccessDenied", Message: "User is not authorized to perform: elasticloadbalancing:" + op, Status: 403}
	}
	return &APIError{Code: "AccessDeniedException", Message: "User is not authorized to perform this action", Status: 400}
}

// ServerError is a transient 500 the SDK retries.
func ServerError() *APIError {
	return &APIError{Code: "InternalFailure", Message: "We encountered an internal error. Please try again.", Status: 500}
}

// service is the service an operation belongs to, by its name.
func service(op string) string {
	switch op {
	case "DescribeServices", "UpdateService", "DescribeTaskDefinition", "RegisterTaskDefinition":
		return "ecs"
	case "PutLifecycleEventHookExecutionStatus", "GetDeploymentGroup", "ListDeployments", "GetDeploymentTarget",
		"CreateDeployment", "GetDeployment", "ListDeploymentTargets", "BatchGetDeployments", "GetDeploymentConfig", "StopDeployment":
		return "codedeploy"
	case "GetPipelineState", "GetPipelineExecution", "PutApprovalResult", "GetPipeline", "ListPipelineExecutions", "ListActionExecutions":
		return "codepipeline"
	}
	return "elb"
}

// JSON 1.1 target prefixes (X-Amz-Target: <prefix>.<Operation>).
const (
	ecsTarget        = "AmazonEC2ContainerServiceV20141113."
	codeDeployTarget = "CodeDeploy_20141006."
	elbNamespace     = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
)

// call runs fn and turns a panic inside the backend into a 500, the way a
// broken service looks to a client.
func call[T any](fn func() (T, error)) (out T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &APIError{Code: "InternalFailure", Message: fmt.Sprint(r), Status: 500}
		}
	}()
	return fn()
}

func writeJSONError(rw http.ResponseWriter, err error) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		apiErr = &APIError{Code: "InternalFailure", Message: err.Error(), Status: 500}
	}
	rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
	rw.Header().Set("X-Amzn-RequestId", "00000000-0000-4000-8000-000000000000")
	rw.WriteHeader(apiErr.status())
	_ = json.NewEncoder(rw).Encode(map[string]string{"__type": apiErr.Code, "message": apiErr.Message})
}

// queryInput decodes the AWS Query parameters of an ELBv2 operation into
// its SDK input.
func queryInput(op string, form url.Values) (any, error) {
	switch op {
	case "DescribeRules":
		in := &elbv2.DescribeRulesInput{}
		if v := form.Get("ListenerArn"); v != "" {
			in.ListenerArn = aws.String(v)
		}
		in.RuleArns = members(form, "RuleArns")
		if m := form.Get("Marker"); m != "" {
			in.Marker = aws.String(m)
		}
		if ps := form.Get("PageSize"); ps != "" {
			n, err := strconv.Atoi(ps)
			if err != nil || n < 1 || n > 400 {
				return nil, ValidationError("PageSize must be between 1 and 400")
			}
			in.PageSize = aws.Int32(int32(n))
		}
		return in, nil
	case "DescribeTargetHealth":
		return &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(form.Get("TargetGroupArn"))}, nil
	case "SetRulePriorities":
		in := &elbv2.SetRulePrioritiesInput{}
		for i := 1; form.Has(fmt.Sprintf("RulePriorities.member.%d.RuleArn", i)); i++ {
			p, err := strconv.Atoi(form.Get(fmt.Sprintf("RulePriorities.member.%d.Priority", i)))
			if err != nil {
				return nil, ValidationError("Priority must be an integer")
			}
			in.RulePriorities = append(in.RulePriorities, elbtypes.RulePriorityPair{
				RuleArn: aws.String(form.Get(fmt.Sprintf("RulePriorities.member.%d.RuleArn", i))), Priority: aws.Int32(int32(p))})
		}
		if len(in.RulePriorities) == 0 {
			return nil, ValidationError("RulePriorities is required")
		}
		return in, nil
	case "ModifyRule":
		return modifyRuleInput(form)
	case "AddTags":
		in := &elbv2.AddTagsInput{ResourceArns: members(form, "ResourceArns")}
		for i := 1; form.Has(fmt.Sprintf("Tags.member.%d.Key", i)); i++ {
			t := elbtypes.Tag{Key: aws.String(form.Get(fmt.Sprintf("Tags.member.%d.Key", i)))}
			if k := fmt.Sprintf("Tags.member.%d.Value", i); form.Has(k) {
				t.Value = aws.String(form.Get(k))
			}
			in.Tags = append(in.Tags, t)
		}
		return in, nil
	case "RemoveTags":
		return &elbv2.RemoveTagsInput{ResourceArns: members(form, "ResourceArns"), TagKeys: members(form, "TagKeys")}, nil
	case "DescribeTags":
		return &elbv2.DescribeTagsInput{ResourceArns: members(form, "ResourceArns")}, nil
	}
	return nil, &APIError{Code: "InvalidAction", Message: "The action " + op + " is not valid for this web service."}
}

// members decodes the Query list name.member.1, name.member.2, ….
func members(form url.Values, name string) []string {
	var out []string
	for i := 1; form.Has(fmt.Sprintf("%s.member.%d", name, i)); i++ {
		out = append(out, form.Get(fmt.Sprintf("%s.member.%d", name, i)))
	}
	return out
}

// modifyRuleInput decodes ModifyRule's Query parameters: RuleArn and
// Actions.member.N.{Type,Order,TargetGroupArn} or
// Actions.member.N.ForwardConfig.TargetGroups.member.M.{TargetGroupArn,Weight}.
// Conditions and transforms are not supported by the fake.
func modifyRuleInput(form url.Values) (*elbv2.ModifyRuleInput, error) {
	in := &elbv2.ModifyRuleInput{RuleArn: aws.String(form.Get("RuleArn"))}
	if aws.ToString(in.RuleArn) == "" {
		return nil, ValidationError("RuleArn is required")
	}
	for k := range form {
		if strings.HasPrefix(k, "Conditions.") || strings.HasPrefix(k, "Transforms.") || k == "ResetTransforms" {
			return nil, ValidationError("fakeaws: ModifyRule " + k + " is not supported")
		}
	}
	for i := 1; form.Has(fmt.Sprintf("Actions.member.%d.Type", i)); i++ {
		p := fmt.Sprintf("Actions.member.%d.", i)
		a := elbtypes.Action{Type: elbtypes.ActionTypeEnum(form.Get(p + "Type"))}
		if v := form.Get(p + "TargetGroupArn"); v != "" {
			a.TargetGroupArn = aws.String(v)
		}
		if v := form.Get(p + "Order"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, ValidationError("Order must be an integer")
			}
			a.Order = aws.Int32(int32(n))
		}
		for j := 1; form.Has(fmt.Sprintf("%sForwardConfig.TargetGroups.member.%d.TargetGroupArn", p, j)); j++ {
			q := fmt.Sprintf("%sForwardConfig.TargetGroups.member.%d.", p, j)
			if a.ForwardConfig == nil {
				a.ForwardConfig = &elbtypes.ForwardActionConfig{}
			}
			tg := elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(form.Get(q + "TargetGroupArn"))}
			if v := form.Get(q + "Weight"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 999 {
					return nil, ValidationError("Weight must be an integer in 0..999")
				}
				tg.Weight = aws.Int32(int32(n))
			}
			a.ForwardConfig.TargetGroups = append(a.ForwardConfig.TargetGroups, tg)
		}
		in.Actions = append(in.Actions, a)
	}
	if len(in.Actions) == 0 {
		// ModifyRule without actions changes only conditions; the hooks
		// never send that.
		return nil, ValidationError("fakeaws: ModifyRule without Actions is not supported")
	}
	return in, nil
}

func writeQueryError(rw http.ResponseWriter, err error) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		apiErr = &APIError{Code: "InternalFailure", Message: err.Error(), Status: 500}
	}
	kind := "Sender"
	if apiErr.status() >= 500 {
		kind = "Receiver"
	}
	rw.Header().Set("Content-Type", "text/xml")
	rw.WriteHeader(apiErr.status())
	var msg strings.Builder
	_ = xml.EscapeText(&msg, []byte(apiErr.Message))
	fmt.Fprintf(rw, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>`,
		elbNamespace, kind, apiErr.Code, msg.String())
}

package fakeaws

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	smithy "github.com/aws/smithy-go"
)

// APIError is an AWS service error. It satisfies smithy.APIError, so the
// logic sees the same error whether it talks to the World directly or through
// the SDK, and the server renders it in each protocol's error format.
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

func service(op string) string {
	if s, ok := guardOpService[op]; ok {
		return s
	}
	switch op {
	case OpDescribeServices, OpUpdateService, OpDescribeTaskDef:
		return "ecs"
	case OpPutHookStatus, OpGetDeploymentGroup:
		return "codedeploy"
	}
	return "elb"
}

// JSON 1.1 target prefixes (X-Amz-Target: <prefix>.<Operation>).
const (
	ecsTarget        = "AmazonEC2ContainerServiceV20141113."
	codeDeployTarget = "CodeDeploy_20141006."
	elbNamespace     = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
)

// ServeHTTP speaks ECS and CodeDeploy (AWS JSON 1.1: POST, X-Amz-Target,
// errors as {"__type": …, "message": …}) and Elastic Load Balancing v2 (AWS
// Query: form POST with Action and Version, XML <OpResponse><OpResult> bodies,
// errors as <ErrorResponse><Error><Type/><Code/><Message/></Error>).
func (w *World) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	if w.serveGuards(rw, target, body) {
		return
	}
	switch {
	case strings.HasPrefix(target, ecsTarget), strings.HasPrefix(target, codeDeployTarget):
		w.serveJSON(rw, target[strings.LastIndex(target, ".")+1:], body)
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			writeQueryError(rw, &APIError{Code: "MalformedQueryString", Message: err.Error(), Status: 404})
			return
		}
		w.serveQuery(rw, form)
	}
}

// call runs fn and turns a panic inside the world into a 500, the way a
// broken service looks to a client.
func call[T any](fn func() (T, error)) (out T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &APIError{Code: "InternalFailure", Message: fmt.Sprint(r), Status: 500}
		}
	}()
	return fn()
}

func (w *World) serveJSON(rw http.ResponseWriter, op string, body []byte) {
	ctx := context.Background()
	var req struct {
		Cluster                       string   `json:"cluster"`
		Services                      []string `json:"services"`
		Service                       string   `json:"service"`
		DesiredCount                  *int32   `json:"desiredCount"`
		DeploymentID                  string   `json:"deploymentId"`
		LifecycleEventHookExecutionID string   `json:"lifecycleEventHookExecutionId"`
		Status                        string   `json:"status"`
		TaskDefinition                string   `json:"taskDefinition"`
		ApplicationName               string   `json:"applicationName"`
		DeploymentGroupName           string   `json:"deploymentGroupName"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSONError(rw, &APIError{Code: "SerializationException", Message: err.Error()})
		return
	}
	var (
		resp any
		err  error
	)
	switch op {
	case OpDescribeServices:
		resp, err = call(func() (any, error) {
			out, err := w.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &req.Cluster, Services: req.Services})
			if err != nil {
				return nil, err
			}
			services := []map[string]any{}
			for _, s := range out.Services {
				taskSets := []map[string]any{}
				for _, ts := range s.TaskSets {
					taskSets = append(taskSets, map[string]any{
						"id": aws.ToString(ts.Id), "taskSetArn": aws.ToString(ts.TaskSetArn),
						"status": aws.ToString(ts.Status), "taskDefinition": aws.ToString(ts.TaskDefinition),
						"computedDesiredCount": ts.ComputedDesiredCount, "runningCount": ts.RunningCount,
						"loadBalancers":   jsonLoadBalancers(ts.LoadBalancers),
						"scale":           map[string]any{"value": 100.0, "unit": "PERCENT"},
						"stabilityStatus": "STEADY_STATE",
					})
				}
				services = append(services, map[string]any{
					"serviceName": aws.ToString(s.ServiceName), "serviceArn": aws.ToString(s.ServiceArn),
					"clusterArn": aws.ToString(s.ClusterArn), "status": aws.ToString(s.Status),
					"desiredCount": s.DesiredCount, "runningCount": s.RunningCount, "pendingCount": 0,
					"taskDefinition": aws.ToString(s.TaskDefinition), "loadBalancers": jsonLoadBalancers(s.LoadBalancers),
					"taskSets":             taskSets,
					"deploymentController": map[string]string{"type": "CODE_DEPLOY"},
				})
			}
			failures := []map[string]string{}
			for _, f := range out.Failures {
				failures = append(failures, map[string]string{"arn": aws.ToString(f.Arn), "reason": aws.ToString(f.Reason)})
			}
			return map[string]any{"services": services, "failures": failures}, nil
		})
	case OpUpdateService:
		resp, err = call(func() (any, error) {
			out, err := w.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: &req.Cluster, Service: &req.Service, DesiredCount: req.DesiredCount})
			if err != nil {
				return nil, err
			}
			return map[string]any{"service": map[string]any{
				"serviceName": aws.ToString(out.Service.ServiceName), "status": aws.ToString(out.Service.Status),
				"desiredCount": out.Service.DesiredCount,
			}}, nil
		})
	case OpDescribeTaskDef:
		resp, err = call(func() (any, error) {
			out, err := w.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &req.TaskDefinition})
			if err != nil {
				return nil, err
			}
			containers := []map[string]any{}
			for _, c := range out.TaskDefinition.ContainerDefinitions {
				containers = append(containers, map[string]any{"name": aws.ToString(c.Name), "image": aws.ToString(c.Image), "essential": true})
			}
			return map[string]any{"taskDefinition": map[string]any{
				"taskDefinitionArn":    aws.ToString(out.TaskDefinition.TaskDefinitionArn),
				"containerDefinitions": containers, "status": "ACTIVE",
			}}, nil
		})
	case OpGetDeploymentGroup:
		resp, err = call(func() (any, error) {
			out, err := w.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{
				ApplicationName: &req.ApplicationName, DeploymentGroupName: &req.DeploymentGroupName})
			if err != nil {
				return nil, err
			}
			g := out.DeploymentGroupInfo
			info := map[string]any{
				"applicationName": aws.ToString(g.ApplicationName), "deploymentGroupName": aws.ToString(g.DeploymentGroupName),
				"deploymentGroupId": aws.ToString(g.DeploymentGroupId), "computePlatform": string(g.ComputePlatform),
			}
			if d := g.LastAttemptedDeployment; d != nil {
				// JSON 1.1 timestamps are epoch seconds.
				info["lastAttemptedDeployment"] = map[string]any{
					"deploymentId": aws.ToString(d.DeploymentId), "status": string(d.Status), "createTime": 1.7512e9,
				}
			}
			return map[string]any{"deploymentGroupInfo": info}, nil
		})
	case OpPutHookStatus:
		resp, err = call(func() (any, error) {
			in := &codedeploy.PutLifecycleEventHookExecutionStatusInput{Status: cdtypes.LifecycleEventStatus(req.Status)}
			if req.DeploymentID != "" {
				in.DeploymentId = &req.DeploymentID
			}
			if req.LifecycleEventHookExecutionID != "" {
				in.LifecycleEventHookExecutionId = &req.LifecycleEventHookExecutionID
			}
			out, err := w.PutLifecycleEventHookExecutionStatus(ctx, in)
			if err != nil {
				return nil, err
			}
			return map[string]any{"lifecycleEventHookExecutionId": aws.ToString(out.LifecycleEventHookExecutionId)}, nil
		})
	default:
		err = &APIError{Code: "UnknownOperationException", Message: "unknown operation " + op}
	}
	if err != nil {
		writeJSONError(rw, err)
		return
	}
	rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
	rw.Header().Set("X-Amzn-RequestId", "00000000-0000-4000-8000-000000000000")
	_ = json.NewEncoder(rw).Encode(resp)
}

func jsonLoadBalancers(lbs []ecstypes.LoadBalancer) []map[string]any {
	out := []map[string]any{}
	for _, lb := range lbs {
		out = append(out, map[string]any{"targetGroupArn": aws.ToString(lb.TargetGroupArn),
			"containerName": aws.ToString(lb.ContainerName), "containerPort": aws.ToInt32(lb.ContainerPort)})
	}
	return out
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

// XML shapes of the Query responses, as in the ELBv2 API reference examples.
type (
	xmlTuple struct {
		TargetGroupArn string `xml:"TargetGroupArn"`
		Weight         int32  `xml:"Weight"`
	}
	xmlAction struct {
		Type           string     `xml:"Type"`
		Order          int32      `xml:"Order"`
		TargetGroupArn string     `xml:"TargetGroupArn,omitempty"`
		TargetGroups   []xmlTuple `xml:"ForwardConfig>TargetGroups>member,omitempty"`
	}
	xmlRule struct {
		RuleArn    string         `xml:"RuleArn"`
		Priority   string         `xml:"Priority"`
		IsDefault  bool           `xml:"IsDefault"`
		Conditions []xmlCondition `xml:"Conditions>member"`
		Actions    []xmlAction    `xml:"Actions>member"`
	}
	xmlCondition struct {
		Field string   `xml:"Field"`
		Hosts []string `xml:"HostHeaderConfig>Values>member"`
	}
	xmlTargetHealth struct {
		ID          string `xml:"Target>Id"`
		Port        int32  `xml:"Target>Port"`
		HealthPort  string `xml:"HealthCheckPort"`
		State       string `xml:"TargetHealth>State"`
		Reason      string `xml:"TargetHealth>Reason,omitempty"`
		Description string `xml:"TargetHealth>Description,omitempty"`
	}
)

// rulesResult is the <…Result><Rules> body SetRulePriorities and ModifyRule
// both answer with.
func rulesResult(op string, rules []elbtypes.Rule) any {
	return struct {
		XMLName xml.Name
		Rules   []xmlRule `xml:"Rules>member"`
	}{resultName(op), xmlRules(rules)}
}

func xmlRules(rules []elbtypes.Rule) []xmlRule {
	var out []xmlRule
	for _, r := range rules {
		xr := xmlRule{RuleArn: aws.ToString(r.RuleArn), Priority: aws.ToString(r.Priority), IsDefault: aws.ToBool(r.IsDefault)}
		for _, c := range r.Conditions {
			xc := xmlCondition{Field: aws.ToString(c.Field)}
			if c.HostHeaderConfig != nil {
				xc.Hosts = c.HostHeaderConfig.Values
			}
			xr.Conditions = append(xr.Conditions, xc)
		}
		for _, a := range r.Actions {
			xa := xmlAction{Type: string(a.Type), Order: aws.ToInt32(a.Order), TargetGroupArn: aws.ToString(a.TargetGroupArn)}
			if a.ForwardConfig != nil {
				for _, tg := range a.ForwardConfig.TargetGroups {
					xa.TargetGroups = append(xa.TargetGroups, xmlTuple{TargetGroupArn: aws.ToString(tg.TargetGroupArn), Weight: aws.ToInt32(tg.Weight)})
				}
			}
			xr.Actions = append(xr.Actions, xa)
		}
		out = append(out, xr)
	}
	return out
}

func (w *World) serveQuery(rw http.ResponseWriter, form url.Values) {
	ctx := context.Background()
	op := form.Get("Action")
	if form.Get("Version") != "2015-12-01" {
		writeQueryError(rw, &APIError{Code: "InvalidAction", Message: "unsupported Version " + form.Get("Version")})
		return
	}
	var (
		result any
		err    error
	)
	switch op {
	case OpDescribeRules:
		result, err = call(func() (any, error) {
			in := &elbv2.DescribeRulesInput{ListenerArn: aws.String(form.Get("ListenerArn"))}
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
			out, err := w.DescribeRules(ctx, in)
			if err != nil {
				return nil, err
			}
			return struct {
				XMLName    xml.Name
				Rules      []xmlRule `xml:"Rules>member"`
				NextMarker string    `xml:"NextMarker,omitempty"`
			}{resultName(op), xmlRules(out.Rules), aws.ToString(out.NextMarker)}, nil
		})
	case OpDescribeTargetHealth:
		result, err = call(func() (any, error) {
			out, err := w.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(form.Get("TargetGroupArn"))})
			if err != nil {
				return nil, err
			}
			var ths []xmlTargetHealth
			for _, d := range out.TargetHealthDescriptions {
				ths = append(ths, xmlTargetHealth{ID: aws.ToString(d.Target.Id), Port: aws.ToInt32(d.Target.Port),
					HealthPort: "8080", State: string(d.TargetHealth.State), Reason: string(d.TargetHealth.Reason)})
			}
			return struct {
				XMLName                  xml.Name
				TargetHealthDescriptions []xmlTargetHealth `xml:"TargetHealthDescriptions>member"`
			}{resultName(op), ths}, nil
		})
	case OpSetRulePriorities:
		result, err = call(func() (any, error) {
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
			out, err := w.SetRulePriorities(ctx, in)
			if err != nil {
				return nil, err
			}
			return rulesResult(op, out.Rules), nil
		})
	case OpModifyRule:
		result, err = call(func() (any, error) {
			in, err := modifyRuleInput(form)
			if err != nil {
				return nil, err
			}
			out, err := w.ModifyRule(ctx, in)
			if err != nil {
				return nil, err
			}
			return rulesResult(op, out.Rules), nil
		})
	default:
		err = &APIError{Code: "InvalidAction", Message: "The action " + op + " is not valid for this web service."}
	}
	if err != nil {
		writeQueryError(rw, err)
		return
	}
	resultXML, err := xml.Marshal(result)
	if err != nil {
		writeQueryError(rw, err)
		return
	}
	rw.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(rw, `<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata></%sResponse>`,
		op, elbNamespace, resultXML, op)
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

func resultName(op string) xml.Name { return xml.Name{Local: op + "Result"} }

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

package fakeaws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go/encoding/cbor"
)

// The interfaces a backend implements to be served by a Server, one per
// service, with the SDK clients' own method signatures: a backend can be
// used directly in place of the clients, or over the wire through them.

// ECSReader is the slice of ECS the operator CLI reads.
type ECSReader interface {
	DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
}

// ELBReader is the slice of Elastic Load Balancing v2 the CLI reads.
type ELBReader interface {
	DescribeRules(context.Context, *elbv2.DescribeRulesInput, ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
	DescribeTargetHealth(context.Context, *elbv2.DescribeTargetHealthInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error)
}

// CodeDeployAPI is the slice of CodeDeploy the CLI uses.
type CodeDeployAPI interface {
	GetDeploymentGroup(context.Context, *codedeploy.GetDeploymentGroupInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentGroupOutput, error)
	ListDeployments(context.Context, *codedeploy.ListDeploymentsInput, ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentsOutput, error)
	GetDeployment(context.Context, *codedeploy.GetDeploymentInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error)
	GetDeploymentConfig(context.Context, *codedeploy.GetDeploymentConfigInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentConfigOutput, error)
	ListDeploymentTargets(context.Context, *codedeploy.ListDeploymentTargetsInput, ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error)
	GetDeploymentTarget(context.Context, *codedeploy.GetDeploymentTargetInput, ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentTargetOutput, error)
	StopDeployment(context.Context, *codedeploy.StopDeploymentInput, ...func(*codedeploy.Options)) (*codedeploy.StopDeploymentOutput, error)
}

// CodePipelineAPI is the slice of CodePipeline the CLI uses.
type CodePipelineAPI interface {
	GetPipelineState(context.Context, *codepipeline.GetPipelineStateInput, ...func(*codepipeline.Options)) (*codepipeline.GetPipelineStateOutput, error)
	GetPipeline(context.Context, *codepipeline.GetPipelineInput, ...func(*codepipeline.Options)) (*codepipeline.GetPipelineOutput, error)
	ListPipelineExecutions(context.Context, *codepipeline.ListPipelineExecutionsInput, ...func(*codepipeline.Options)) (*codepipeline.ListPipelineExecutionsOutput, error)
	PutApprovalResult(context.Context, *codepipeline.PutApprovalResultInput, ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error)
}

// CloudWatchAPI is the slice of CloudWatch the CLI reads.
type CloudWatchAPI interface {
	DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
}

// LambdaAPI is the slice of Lambda the CLI uses.
type LambdaAPI interface {
	Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// ECRReader is the slice of ECR the CLI reads (an image's tags).
type ECRReader interface {
	DescribeImages(context.Context, *ecr.DescribeImagesInput, ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
}

// JSON 1.1 target prefixes of the services only the Server speaks.
const (
	codePipelineTarget = "CodePipeline_20150709."
	ecrTarget          = "AmazonEC2ContainerRegistry_V20150921."
	// cloudWatchPath is the RPC v2 CBOR path prefix of CloudWatch; the
	// service's Smithy shape name is GraniteServiceVersion20100801.
	cloudWatchPath = "/service/GraniteServiceVersion20100801/operation/"
	lambdaPrefix   = "/2015-03-31/functions/"
)

// Server serves the wire protocols of every service whose backend is set,
// through the interfaces above: AWS JSON 1.1 (ECS, CodeDeploy, CodePipeline,
// ECR), Smithy RPC v2 CBOR (CloudWatch, as aws-sdk-go-v2's cloudwatch client
// speaks it since v1.76), REST-JSON (Lambda Invoke) and AWS Query (ELBv2).
// A request for a service or operation it does not serve goes to Fallback
// (e.g. a World), or fails as an unknown operation.
type Server struct {
	ECS          ECSReader
	ELB          ELBReader
	CodeDeploy   CodeDeployAPI
	CodePipeline CodePipelineAPI
	CloudWatch   CloudWatchAPI
	Lambda       LambdaAPI
	ECR          ECRReader
	Fallback     http.Handler
}

// NewServer serves backend for every interface it implements.
func NewServer(backend any, fallback http.Handler) *Server {
	s := &Server{Fallback: fallback}
	s.ECS, _ = backend.(ECSReader)
	s.ELB, _ = backend.(ELBReader)
	s.CodeDeploy, _ = backend.(CodeDeployAPI)
	s.CodePipeline, _ = backend.(CodePipelineAPI)
	s.CloudWatch, _ = backend.(CloudWatchAPI)
	s.Lambda, _ = backend.(LambdaAPI)
	s.ECR, _ = backend.(ECRReader)
	return s
}

type jsonOp func(ctx context.Context, body []byte) (any, error)

// decoded reads a JSON 1.1 request into the SDK's input struct: the wire's
// camelCase members match the struct's fields case-insensitively.
func decoded[I any](call func(context.Context, *I) (any, error)) jsonOp {
	return func(ctx context.Context, body []byte) (any, error) {
		in := new(I)
		if len(body) > 0 {
			if err := json.Unmarshal(body, in); err != nil {
				return nil, &APIError{Code: "SerializationException", Message: err.Error()}
			}
		}
		return call(ctx, in)
	}
}

func (s *Server) jsonOps(target string) map[string]jsonOp {
	switch {
	case strings.HasPrefix(target, ecsTarget) && s.ECS != nil:
		return map[string]jsonOp{
			"DescribeServices": decoded(func(ctx context.Context, in *ecs.DescribeServicesInput) (any, error) {
				return s.ECS.DescribeServices(ctx, in)
			}),
			"DescribeTaskDefinition": decoded(func(ctx context.Context, in *ecs.DescribeTaskDefinitionInput) (any, error) {
				return s.ECS.DescribeTaskDefinition(ctx, in)
			}),
		}
	case strings.HasPrefix(target, codeDeployTarget) && s.CodeDeploy != nil:
		cd := s.CodeDeploy
		return map[string]jsonOp{
			"GetDeploymentGroup": decoded(func(ctx context.Context, in *codedeploy.GetDeploymentGroupInput) (any, error) {
				return cd.GetDeploymentGroup(ctx, in)
			}),
			"ListDeployments": decoded(func(ctx context.Context, in *codedeploy.ListDeploymentsInput) (any, error) {
				return cd.ListDeployments(ctx, in)
			}),
			"GetDeployment": decoded(func(ctx context.Context, in *codedeploy.GetDeploymentInput) (any, error) {
				return cd.GetDeployment(ctx, in)
			}),
			"GetDeploymentConfig": decoded(func(ctx context.Context, in *codedeploy.GetDeploymentConfigInput) (any, error) {
				return cd.GetDeploymentConfig(ctx, in)
			}),
			"ListDeploymentTargets": decoded(func(ctx context.Context, in *codedeploy.ListDeploymentTargetsInput) (any, error) {
				return cd.ListDeploymentTargets(ctx, in)
			}),
			"GetDeploymentTarget": decoded(func(ctx context.Context, in *codedeploy.GetDeploymentTargetInput) (any, error) {
				return cd.GetDeploymentTarget(ctx, in)
			}),
			"StopDeployment": decoded(func(ctx context.Context, in *codedeploy.StopDeploymentInput) (any, error) {
				return cd.StopDeployment(ctx, in)
			}),
		}
	case strings.HasPrefix(target, codePipelineTarget) && s.CodePipeline != nil:
		cp := s.CodePipeline
		return map[string]jsonOp{
			"GetPipelineState": decoded(func(ctx context.Context, in *codepipeline.GetPipelineStateInput) (any, error) {
				return cp.GetPipelineState(ctx, in)
			}),
			"GetPipeline": decoded(func(ctx context.Context, in *codepipeline.GetPipelineInput) (any, error) {
				return cp.GetPipeline(ctx, in)
			}),
			"ListPipelineExecutions": decoded(func(ctx context.Context, in *codepipeline.ListPipelineExecutionsInput) (any, error) {
				return cp.ListPipelineExecutions(ctx, in)
			}),
			"PutApprovalResult": decoded(func(ctx context.Context, in *codepipeline.PutApprovalResultInput) (any, error) {
				return cp.PutApprovalResult(ctx, in)
			}),
		}
	case strings.HasPrefix(target, ecrTarget) && s.ECR != nil:
		return map[string]jsonOp{
			"DescribeImages": decoded(func(ctx context.Context, in *ecr.DescribeImagesInput) (any, error) {
				return s.ECR.DescribeImages(ctx, in)
			}),
		}
	}
	return nil
}

func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, lambdaPrefix) && s.Lambda != nil:
		s.serveLambda(rw, r)
		return
	case strings.HasPrefix(r.URL.Path, cloudWatchPath) && s.CloudWatch != nil:
		s.serveCBOR(rw, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		op, ok := s.jsonOps(target)[target[strings.LastIndex(target, ".")+1:]]
		if !ok {
			s.fallback(rw, r)
			return
		}
		out, err := call(func() (any, error) { return op(r.Context(), body) })
		if err != nil {
			writeJSONError(rw, err)
			return
		}
		v, _ := jsonValue(reflect.ValueOf(out), lowerFirst)
		rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(rw).Encode(v)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || s.ELB == nil {
		s.fallback(rw, r)
		return
	}
	var result any
	op := form.Get("Action")
	switch op {
	case OpDescribeRules:
		in := &elbv2.DescribeRulesInput{}
		if v := form.Get("ListenerArn"); v != "" {
			in.ListenerArn = aws.String(v)
		}
		for i := 1; form.Has("RuleArns.member." + itoa(i)); i++ {
			in.RuleArns = append(in.RuleArns, form.Get("RuleArns.member."+itoa(i)))
		}
		if v := form.Get("Marker"); v != "" {
			in.Marker = aws.String(v)
		}
		result, err = call(func() (any, error) { return s.ELB.DescribeRules(r.Context(), in) })
	case OpDescribeTargetHealth:
		in := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(form.Get("TargetGroupArn"))}
		result, err = call(func() (any, error) { return s.ELB.DescribeTargetHealth(r.Context(), in) })
	default:
		s.fallback(rw, r)
		return
	}
	if err != nil {
		writeQueryError(rw, err)
		return
	}
	var b strings.Builder
	writeXML(&b, reflect.ValueOf(result))
	rw.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(rw, `<`+op+`Response xmlns="`+elbNamespace+`"><`+op+`Result>`+b.String()+`</`+op+
		`Result><ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata></`+op+`Response>`)
}

func itoa(i int) string { return strconv.Itoa(i) }

func (s *Server) fallback(rw http.ResponseWriter, r *http.Request) {
	if s.Fallback != nil {
		s.Fallback.ServeHTTP(rw, r)
		return
	}
	if r.Header.Get("X-Amz-Target") != "" {
		writeJSONError(rw, &APIError{Code: "UnknownOperationException", Message: "fakeaws: not served: " + r.Header.Get("X-Amz-Target")})
		return
	}
	writeQueryError(rw, &APIError{Code: "InvalidAction", Message: "fakeaws: not served: " + r.URL.Path})
}

// serveCBOR speaks Smithy RPC v2 CBOR for CloudWatch DescribeAlarms:
// POST /service/<service>/operation/<op>, a CBOR map body, and errors as a
// map with __type and message
// (https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html).
func (s *Server) serveCBOR(rw http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.URL.Path, cloudWatchPath)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	var out any
	switch op {
	case "DescribeAlarms":
		in := &cloudwatch.DescribeAlarmsInput{}
		if len(body) > 0 {
			v, derr := cbor.Decode(body)
			m, ok := v.(cbor.Map)
			if derr != nil || !ok {
				writeCBORError(rw, &APIError{Code: "SerializationException", Message: "body is not a CBOR map"})
				return
			}
			if names, ok := m["AlarmNames"].(cbor.List); ok {
				for _, n := range names {
					if s, ok := n.(cbor.String); ok {
						in.AlarmNames = append(in.AlarmNames, string(s))
					}
				}
			}
			if t, ok := m["NextToken"].(cbor.String); ok {
				in.NextToken = aws.String(string(t))
			}
		}
		out, err = call(func() (any, error) { return s.CloudWatch.DescribeAlarms(r.Context(), in) })
	default:
		err = &APIError{Code: "UnknownOperationException", Message: "fakeaws: not served: CloudWatch " + op}
	}
	if err != nil {
		writeCBORError(rw, err)
		return
	}
	v, _ := cborValue(reflect.ValueOf(out))
	rw.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	rw.Header().Set("Content-Type", "application/cbor")
	_, _ = rw.Write(cbor.Encode(v))
}

func writeCBORError(rw http.ResponseWriter, err error) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		apiErr = &APIError{Code: "InternalFailure", Message: err.Error(), Status: 500}
	}
	rw.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	rw.Header().Set("Content-Type", "application/cbor")
	// CloudWatch is awsQueryCompatible: the Query error code travels in a
	// header too.
	rw.Header().Set("X-Amzn-Query-Error", apiErr.Code+";Sender")
	rw.WriteHeader(apiErr.status())
	_, _ = rw.Write(cbor.Encode(cbor.Map{"__type": cbor.String(apiErr.Code), "message": cbor.String(apiErr.Message)}))
}

// serveLambda speaks Lambda Invoke (REST-JSON): POST
// /2015-03-31/functions/{FunctionName}/invocations, the payload as the body
// both ways, a function error in X-Amz-Function-Error
// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
func (s *Server) serveLambda(rw http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, lambdaPrefix)
	name, ok := strings.CutSuffix(rest, "/invocations")
	if !ok || r.Method != http.MethodPost {
		writeRESTError(rw, &APIError{Code: "UnknownOperationException", Message: "fakeaws: not served: " + r.Method + " " + r.URL.Path, Status: 404})
		return
	}
	name, _ = url.PathUnescape(name)
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload}
	in.InvocationType = lambdatypes.InvocationType(r.Header.Get("X-Amz-Invocation-Type"))
	out, err := call(func() (*lambda.InvokeOutput, error) { return s.Lambda.Invoke(r.Context(), in) })
	if err != nil {
		writeRESTError(rw, err)
		return
	}
	if out.FunctionError != nil {
		rw.Header().Set("X-Amz-Function-Error", *out.FunctionError)
	}
	rw.Header().Set("X-Amz-Executed-Version", "$LATEST")
	rw.Header().Set("Content-Type", "application/json")
	status := int(out.StatusCode)
	if status == 0 {
		status = http.StatusOK
	}
	rw.WriteHeader(status)
	_, _ = rw.Write(out.Payload)
}

func writeRESTError(rw http.ResponseWriter, err error) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		apiErr = &APIError{Code: "ServiceException", Message: err.Error(), Status: 500}
	}
	rw.Header().Set("X-Amzn-ErrorType", apiErr.Code)
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(apiErr.status())
	_ = json.NewEncoder(rw).Encode(map[string]string{"Type": "User", "message": apiErr.Message})
}

package fakeaws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
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
	BatchGetDeployments(context.Context, *codedeploy.BatchGetDeploymentsInput, ...func(*codedeploy.Options)) (*codedeploy.BatchGetDeploymentsOutput, error)
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
	ListActionExecutions(context.Context, *codepipeline.ListActionExecutionsInput, ...func(*codepipeline.Options)) (*codepipeline.ListActionExecutionsOutput, error)
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

// Target prefixes and paths of the services beside ECS, CodeDeploy and
// ELBv2 (server.go).
const (
	codePipelineTarget = "CodePipeline_20150709."
	ecrTarget          = "AmazonEC2ContainerRegistry_V20150921."
	// cloudWatchPath is the RPC v2 CBOR path prefix of CloudWatch; the
	// service's Smithy shape name is GraniteServiceVersion20100801.
	cloudWatchPath = "/service/GraniteServiceVersion20100801/operation/"
	lambdaPrefix   = "/2015-03-31/functions/"
)

// Every backend is served through the same Server: a backend need not
// implement a whole interface; the Server serves each operation whose
// method the backend has with the SDK client's own signature, and no
// other. internal/protocol's model implements all of them.

// The SDK clients whose method sets define the operations, by AWS JSON 1.1
// target prefix, and the other protocols' clients.
var (
	jsonClients = map[string]reflect.Type{
		ecsTarget:          reflect.TypeFor[*ecs.Client](),
		codeDeployTarget:   reflect.TypeFor[*codedeploy.Client](),
		codePipelineTarget: reflect.TypeFor[*codepipeline.Client](),
		ecrTarget:          reflect.TypeFor[*ecr.Client](),
	}
	elbClient        = reflect.TypeFor[*elbv2.Client]()
	cloudWatchClient = reflect.TypeFor[*cloudwatch.Client]()
	lambdaClient     = reflect.TypeFor[*lambda.Client]()
)

// Server serves the wire protocols of every operation its Backend
// implements: AWS JSON 1.1 (ECS, CodeDeploy, CodePipeline, ECR), Smithy RPC
// v2 CBOR (CloudWatch DescribeAlarms, as aws-sdk-go-v2's cloudwatch client
// speaks it since v1.76), REST-JSON (Lambda Invoke) and AWS Query (ELBv2
// DescribeRules, DescribeTargetHealth, SetRulePriorities, ModifyRule,
// AddTags, RemoveTags, DescribeTags). A
// request for an operation the Backend lacks goes to Fallback, or fails as
// an unknown operation.
type Server struct {
	Backend  any
	Fallback http.Handler
}

// NewServer serves backend, every operation it implements.
func NewServer(backend any, fallback http.Handler) *Server {
	return &Server{Backend: backend, Fallback: fallback}
}

// method is the backend's method for client's operation op, if it has one
// with the client's signature.
func (s *Server) method(client reflect.Type, op string) (reflect.Value, bool) {
	want, ok := client.MethodByName(op)
	if !ok || s.Backend == nil {
		return reflect.Value{}, false
	}
	m := reflect.ValueOf(s.Backend).MethodByName(op)
	if !m.IsValid() || m.Type().NumIn() != want.Type.NumIn()-1 {
		return reflect.Value{}, false
	}
	for i := range m.Type().NumIn() {
		if m.Type().In(i) != want.Type.In(i+1) {
			return reflect.Value{}, false
		}
	}
	if m.Type().NumOut() != want.Type.NumOut() || m.Type().Out(0) != want.Type.Out(0) {
		return reflect.Value{}, false
	}
	return m, true
}

// invoke calls m with in (a pointer to the operation's input struct) and
// turns a panic into a 500, as call does.
func invoke(ctx context.Context, m reflect.Value, in reflect.Value) (any, error) {
	return call(func() (any, error) {
		res := m.Call([]reflect.Value{reflect.ValueOf(ctx), in})
		if err, _ := res[1].Interface().(error); err != nil {
			return nil, err
		}
		return res[0].Interface(), nil
	})
}

// serves reports whether the Backend has client's operation op.
func (s *Server) serves(client reflect.Type, op string) bool {
	_, ok := s.method(client, op)
	return ok
}

// callOp calls client's operation op of the Backend with in.
func (s *Server) callOp(ctx context.Context, client reflect.Type, op string, in any) (any, error) {
	m, ok := s.method(client, op)
	if !ok {
		return nil, &APIError{Code: "UnknownOperationException", Message: "fakeaws: not served: " + op}
	}
	return invoke(ctx, m, reflect.ValueOf(in))
}

func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, lambdaPrefix) && s.serves(lambdaClient, "Invoke"):
		s.serveLambda(rw, r)
		return
	case strings.HasPrefix(r.URL.Path, cloudWatchPath) && s.serves(cloudWatchClient, "DescribeAlarms"):
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
		s.serveJSON(rw, r, target, body)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.fallback(rw, r)
		return
	}
	op := form.Get("Action")
	if !s.serves(elbClient, op) {
		s.fallback(rw, r)
		return
	}
	if form.Get("Version") != "2015-12-01" {
		writeQueryError(rw, &APIError{Code: "InvalidAction", Message: "unsupported Version " + form.Get("Version")})
		return
	}
	result, err := call(func() (any, error) {
		in, err := queryInput(op, form)
		if err != nil {
			return nil, err
		}
		return s.callOp(r.Context(), elbClient, op, in)
	})
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

// serveJSON answers an AWS JSON 1.1 call: the body decodes into the SDK's
// input struct (the wire's camelCase members match its fields
// case-insensitively), the output encodes by reflection (codec.go).
func (s *Server) serveJSON(rw http.ResponseWriter, r *http.Request, target string, body []byte) {
	var (
		m  reflect.Value
		ok bool
	)
	for prefix, client := range jsonClients {
		if op, found := strings.CutPrefix(target, prefix); found {
			m, ok = s.method(client, op)
			break
		}
	}
	if !ok {
		s.fallback(rw, r)
		return
	}
	in := reflect.New(m.Type().In(1).Elem())
	if len(body) > 0 {
		if err := json.Unmarshal(body, in.Interface()); err != nil {
			writeJSONError(rw, &APIError{Code: "SerializationException", Message: err.Error()})
			return
		}
	}
	out, err := invoke(r.Context(), m, in)
	if err != nil {
		writeJSONError(rw, err)
		return
	}
	v, _ := jsonValue(reflect.ValueOf(out), lowerFirst)
	rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
	rw.Header().Set("X-Amzn-RequestId", "00000000-0000-4000-8000-000000000000")
	_ = json.NewEncoder(rw).Encode(v)
}

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
		out, err = s.callOp(r.Context(), cloudWatchClient, "DescribeAlarms", in)
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
	res, err := s.callOp(r.Context(), lambdaClient, "Invoke", in)
	if err != nil {
		writeRESTError(rw, err)
		return
	}
	out := res.(*lambda.InvokeOutput)
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

package pipeline_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

const (
	account  = "000000000000"
	region   = "eu-west-1"
	listener = "arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
	catchAll = "arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener-rule/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
	anchor   = "arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener-rule/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2/1a2b3c4d5e6f7a8b"
)

// recorded is one resource registration the mock saw.
type recorded struct {
	typ, name string
	parent    string
	inputs    resource.PropertyMap
	outputs   resource.PropertyMap
}

type mocks struct {
	mu        sync.Mutex
	resources []recorded
	// liveOnGreen makes the live catch-all and anchor rules forward to
	// their pair's second (green) group, as after an odd number of
	// deployments.
	liveOnGreen bool
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	outs := args.Inputs.Copy()
	set := func(k, v string) {
		if _, ok := outs[resource.PropertyKey(k)]; !ok {
			outs[resource.PropertyKey(k)] = resource.NewStringProperty(v)
		}
	}
	name := args.Name
	if n, ok := args.Inputs["name"]; ok && n.IsString() {
		name = n.StringValue()
	}
	switch args.TypeToken {
	case "aws:ecr/repository:Repository":
		set("name", name)
		set("repositoryUrl", account+".dkr.ecr."+region+".amazonaws.com/"+name)
		set("arn", "arn:aws:ecr:"+region+":"+account+":repository/"+name)
	case "aws:s3/bucketV2:BucketV2":
		set("bucket", name)
		set("arn", "arn:aws:s3:::"+name)
	case "aws:lambda/function:Function":
		set("arn", "arn:aws:lambda:"+region+":"+account+":function:"+name)
	case "aws:codedeploy/deploymentGroup:DeploymentGroup":
		app := args.Inputs["appName"].StringValue()
		group := args.Inputs["deploymentGroupName"].StringValue()
		set("arn", "arn:aws:codedeploy:"+region+":"+account+":deploymentgroup:"+app+"/"+group)
	case "aws:codedeploy/application:Application":
		set("arn", "arn:aws:codedeploy:"+region+":"+account+":application:"+name)
	case "aws:codepipeline/pipeline:Pipeline":
		set("arn", "arn:aws:codepipeline:"+region+":"+account+":"+name)
	case "aws:cloudwatch/metricAlarm:MetricAlarm":
		set("name", args.Name+"-alarm")
	}
	set("name", name)
	svc := strings.SplitN(strings.TrimPrefix(args.TypeToken, "aws:"), "/", 2)[0]
	set("arn", fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", svc, region, account, svc, name))
	m.mu.Lock()
	parent := ""
	if args.RegisterRPC != nil {
		parent = args.RegisterRPC.GetParent()
	}
	m.resources = append(m.resources, recorded{typ: args.TypeToken, name: args.Name, parent: parent, inputs: args.Inputs, outputs: outs})
	m.mu.Unlock()
	return args.Name + "-id", outs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "aws:lb/getListenerRule:getListenerRule":
		// The rule as AWS describes it: a forward to its pair with weights.
		pair := map[string][2]string{catchAll: {"latest-blue", "latest-green"}, anchor: {"stable-blue", "stable-green"}}[args.Args["arn"].StringValue()]
		if pair[0] == "" {
			return nil, fmt.Errorf("no listener rule %s", args.Args["arn"].StringValue())
		}
		live, idle := pair[0], pair[1]
		if m.liveOnGreen {
			live, idle = idle, live
		}
		group := func(name string, weight int) map[string]interface{} {
			return map[string]interface{}{"arn": "arn:aws:elasticloadbalancing:" + region + ":" + account + ":targetgroup/" + name + "/0123456789abcdef", "weight": weight}
		}
		return resource.NewPropertyMapFromMap(map[string]interface{}{
			"arn": args.Args["arn"].StringValue(),
			"actions": []interface{}{map[string]interface{}{"type": "forward", "order": 1,
				"forward": map[string]interface{}{"targetGroups": []interface{}{group(live, 100), group(idle, 0)}}}},
		}), nil
	case "aws:index/getRegion:getRegion":
		return resource.NewPropertyMapFromMap(map[string]interface{}{"name": region, "id": region}), nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]interface{}{
			"accountId": account, "arn": "arn:aws:iam::" + account + ":user/ci", "userId": "AIDATEST", "id": account,
		}), nil
	}
	return args.Args, nil
}

func (m *mocks) byType(typ string) []recorded {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []recorded
	for _, r := range m.resources {
		if r.typ == typ {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (m *mocks) one(t *testing.T, typ, name string) recorded {
	t.Helper()
	for _, r := range m.byType(typ) {
		if r.name == name {
			return r
		}
	}
	require.Failf(t, "resource not registered", "%s %s", typ, name)
	return recorded{}
}

func tg(name string) pipeline.TargetGroup {
	return pipeline.TargetGroup{
		Name:      pulumi.String(name),
		Arn:       pulumi.String("arn:aws:elasticloadbalancing:" + region + ":" + account + ":targetgroup/" + name + "/0123456789abcdef"),
		ArnSuffix: pulumi.String("targetgroup/" + name + "/0123456789abcdef"),
	}
}

func testArgs(mutate func(*pipeline.Args)) *pipeline.Args {
	cfg := config.Defaults()
	cfg.Approval = config.Approval{Required: true, NotifyEmails: []string{"oncall@example.com", "lead@example.com"}, TimeoutMinutes: 120, OnReject: config.OnRejectRollback}
	a := &pipeline.Args{
		Traffic: cfg.Traffic, Approval: cfg.Approval, Rollback: cfg.Rollback, Service: cfg.Service,
		ImageTag: "release", ForceDeleteImages: true, TaskFamily: "tc-dev-app",
		ClusterName:           pulumi.String("tc-dev"),
		ClusterArn:            pulumi.String("arn:aws:ecs:" + region + ":" + account + ":cluster/tc-dev"),
		LatestServiceName:     pulumi.String("latest-svc"),
		StableServiceName:     pulumi.String("stable-svc"),
		LatestTargetGroups:    [2]pipeline.TargetGroup{tg("latest-blue"), tg("latest-green")},
		StableTargetGroups:    [2]pipeline.TargetGroup{tg("stable-blue"), tg("stable-green")},
		ListenerArn:           pulumi.String(listener),
		LoadBalancerArnSuffix: pulumi.String("app/alb/50dc6c495c0c9188"),
		CatchAllRuleArn:       pulumi.String(catchAll),
		AnchorRuleArn:         pulumi.String(anchor),
		TaskExecutionRoleArn:  pulumi.String("arn:aws:iam::" + account + ":role/exec"),
		TaskRoleArn:           pulumi.String("arn:aws:iam::" + account + ":role/task"),
		TaskExecutionRoleName: pulumi.String("exec"),
		LogGroupName:          pulumi.String("/ecs/tc-dev"),
		AlbURL:                pulumi.String("http://alb-123.eu-west-1.elb.amazonaws.com"),
		SourceDir:             "../..",
	}
	if mutate != nil {
		mutate(a)
	}
	return a
}

// run runs NewPipeline under mocks and returns what was registered.
func run(t *testing.T, mutate func(*pipeline.Args)) *mocks {
	t.Helper()
	return runMocks(t, &mocks{}, mutate)
}

// runMocks is run with a prepared mock (live AWS state).
func runMocks(t *testing.T, m *mocks, mutate func(*pipeline.Args)) *mocks {
	t.Helper()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := pipeline.NewPipeline(ctx, "pipeline", testArgs(mutate))
		return err
	}, pulumi.WithMocks("tenant-canary", "dev", m))
	require.NoError(t, err)
	return m
}

// props turns a resource's inputs (plus the fake ids and ARNs the mock
// added) into plain Go values.
func props(r recorded) map[string]interface{} { return r.outputs.Mappable() }

type action struct {
	Name            string            `json:"name"`
	Category        string            `json:"category"`
	Owner           string            `json:"owner"`
	Provider        string            `json:"provider"`
	Version         string            `json:"version"`
	Configuration   map[string]string `json:"configuration"`
	InputArtifacts  []string          `json:"inputArtifacts"`
	OutputArtifacts []string          `json:"outputArtifacts"`
	TimeoutInMin    *int              `json:"timeoutInMinutes"`
}

type stage struct {
	Name    string   `json:"name"`
	Actions []action `json:"actions"`
}

// decode round-trips plain values through JSON into a typed struct.
func decode(t *testing.T, v interface{}, into interface{}) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, into))
}

func stagesOf(t *testing.T, m *mocks) []stage {
	t.Helper()
	pipes := m.byType("aws:codepipeline/pipeline:Pipeline")
	require.Len(t, pipes, 1)
	var stages []stage
	decode(t, props(pipes[0])["stages"], &stages)
	return stages
}

func names(stages []stage) []string {
	var out []string
	for _, s := range stages {
		out = append(out, s.Name)
	}
	return out
}

func TestPipelineStagesDeployTheBundleWithCodeDeployToECS(t *testing.T) {
	m := run(t, nil)
	pipe := props(m.byType("aws:codepipeline/pipeline:Pipeline")[0])
	assert.Equal(t, "V2", pipe["pipelineType"])
	assert.Equal(t, "SUPERSEDED", pipe["executionMode"], "an approval always decides about the image latest serves")

	stages := stagesOf(t, m)
	require.Equal(t, []string{"Source", "Latest", "Approve", "Stable"}, names(stages))

	source := stages[0].Actions
	require.Len(t, source, 2)
	repoName := props(m.byType("aws:ecr/repository:Repository")[0])["name"]
	assert.Equal(t, "ECR", source[0].Provider)
	assert.Equal(t, map[string]string{"RepositoryName": repoName.(string), "ImageTag": "release"}, source[0].Configuration)
	assert.Equal(t, []string{"Image"}, source[0].OutputArtifacts)
	assert.Equal(t, "S3", source[1].Provider)
	assert.Equal(t, "false", source[1].Configuration["PollForSourceChanges"])
	assert.Equal(t, pipeline.BundleKey, source[1].Configuration["S3ObjectKey"])
	assert.Equal(t, []string{"Bundle"}, source[1].OutputArtifacts)

	app := props(m.byType("aws:codedeploy/application:Application")[0])["name"].(string)
	groups := map[string]string{}
	for _, g := range m.byType("aws:codedeploy/deploymentGroup:DeploymentGroup") {
		groups[g.name] = props(g)["deploymentGroupName"].(string)
	}
	for _, tc := range []struct {
		stage   stage
		group   string
		appSpec string
	}{
		{stages[1], groups["pipeline-latest-group"], "appspec-latest.yaml"},
		{stages[3], groups["pipeline-stable-group"], "appspec-stable.yaml"},
	} {
		require.Len(t, tc.stage.Actions, 1, tc.stage.Name)
		a := tc.stage.Actions[0]
		assert.Equal(t, "CodeDeployToECS", a.Provider)
		assert.Equal(t, "Deploy", a.Category)
		assert.ElementsMatch(t, []string{"Bundle", "Image"}, a.InputArtifacts)
		// Exactly the keys CodeDeployToECS reads (docs/design.md §6).
		assert.Equal(t, map[string]string{
			"ApplicationName":                app,
			"DeploymentGroupName":            tc.group,
			"TaskDefinitionTemplateArtifact": "Bundle",
			"TaskDefinitionTemplatePath":     "taskdef.json",
			"AppSpecTemplateArtifact":        "Bundle",
			"AppSpecTemplatePath":            tc.appSpec,
			"Image1ArtifactName":             "Image",
			"Image1ContainerName":            "IMAGE1_NAME",
		}, a.Configuration, tc.stage.Name)
	}
	assert.NotEqual(t, groups["pipeline-latest-group"], groups["pipeline-stable-group"])

	// The files the actions name are in the uploaded bundle, with the hooks
	// of docs/design.md §4.
	files := bundleFiles(t, m)
	require.Contains(t, files, "taskdef.json")
	fns := functionNames(m)
	for file, want := range map[string]map[string]string{
		"appspec-latest.yaml": {"BeforeInstall": fns["pipeline-pin-hook"]},
		"appspec-stable.yaml": {"AfterAllowTraffic": fns["pipeline-unpin-hook"]},
	} {
		var spec struct {
			Hooks []map[string]string `yaml:"Hooks"`
		}
		require.NoError(t, yaml.Unmarshal(files[file], &spec), file)
		assert.Equal(t, []map[string]string{want}, spec.Hooks, file)
	}
	var td map[string]interface{}
	require.NoError(t, json.Unmarshal(files["taskdef.json"], &td))
	// CodeDeployToECS replaces "<" + Image1ContainerName + ">" in the task
	// definition with the pushed image: the container must carry exactly
	// that placeholder, or the new task set runs no pushed image at all.
	for _, stage := range stagesOf(t, m) {
		for _, a := range stage.Actions {
			if a.Provider == "CodeDeployToECS" {
				container := td["containerDefinitions"].([]interface{})[0].(map[string]interface{})
				assert.Equal(t, "<"+a.Configuration["Image1ContainerName"]+">", container["image"], stage.Name)
			}
		}
	}
	assert.Equal(t, "tc-dev-app", td["family"])
	logOpts := td["containerDefinitions"].([]interface{})[0].(map[string]interface{})["logConfiguration"].(map[string]interface{})["options"].(map[string]interface{})
	assert.Equal(t, region, logOpts["awslogs-region"], "region from the provider")
	assert.Equal(t, "/ecs/tc-dev", logOpts["awslogs-group"])
}

func bundleFiles(t *testing.T, m *mocks) map[string][]byte {
	t.Helper()
	objs := m.byType("aws:s3/bucketObjectv2:BucketObjectv2")
	require.Len(t, objs, 1)
	raw, err := base64.StdEncoding.DecodeString(props(objs[0])["contentBase64"].(string))
	require.NoError(t, err)
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		files[f.Name] = b
	}
	return files
}

func functionNames(m *mocks) map[string]string {
	out := map[string]string{}
	for _, f := range m.byType("aws:lambda/function:Function") {
		out[f.name] = props(f)["name"].(string)
	}
	return out
}

func TestBundleIsIdenticalAcrossRuns(t *testing.T) {
	hash := func(m *mocks) (string, string) {
		p := props(m.byType("aws:s3/bucketObjectv2:BucketObjectv2")[0])
		return p["contentBase64"].(string), p["sourceHash"].(string)
	}
	a, ha := hash(run(t, nil))
	b, hb := hash(run(t, nil))
	assert.Equal(t, a, b, "same inputs, same bundle bytes: no diff on preview")
	assert.Equal(t, ha, hb)
	c, hc := hash(run(t, func(a *pipeline.Args) { a.Service.Port = 9090 }))
	assert.NotEqual(t, a, c, "a changed port changes the bundle")
	assert.NotEqual(t, ha, hc)
}

func TestApproveStageExistsOnlyWhenApprovalIsRequired(t *testing.T) {
	m := run(t, nil)
	stages := stagesOf(t, m)
	require.Equal(t, "Approve", stages[2].Name)
	approve := stages[2].Actions[0]
	assert.Equal(t, "Manual", approve.Provider)
	assert.Equal(t, "Approval", approve.Category)
	topics := m.byType("aws:sns/topic:Topic")
	require.Len(t, topics, 1)
	assert.Equal(t, "alias/aws/sns", props(topics[0])["kmsMasterKeyId"], "topic encrypted")
	assert.Equal(t, topics[0].outputs["arn"].StringValue(), approve.Configuration["NotificationArn"])
	assert.Equal(t, "http://alb-123.eu-west-1.elb.amazonaws.com", approve.Configuration["ExternalEntityLink"])
	assert.Contains(t, approve.Configuration["CustomData"], "codepipeline/pipelines/tenant-canary-dev-pipeline-pipeline/view?region=eu-west-1")
	assert.LessOrEqual(t, len(approve.Configuration["CustomData"]), 500, "CodePipeline's CustomData limit")
	require.NotNil(t, approve.TimeoutInMin)
	assert.Equal(t, 120, *approve.TimeoutInMin)
	var emails []string
	for _, s := range m.byType("aws:sns/topicSubscription:TopicSubscription") {
		assert.Equal(t, "email", props(s)["protocol"])
		emails = append(emails, props(s)["endpoint"].(string))
	}
	assert.ElementsMatch(t, []string{"oncall@example.com", "lead@example.com"}, emails)

	m = run(t, func(a *pipeline.Args) { a.Approval = config.Approval{Required: false} })
	assert.Equal(t, []string{"Source", "Latest", "Stable"}, names(stagesOf(t, m)))
	assert.Empty(t, m.byType("aws:sns/topic:Topic"))
	for _, r := range m.byType("aws:iam/rolePolicy:RolePolicy") {
		assert.NotContains(t, props(r)["policy"], "sns:Publish", "no topic, no publish permission")
	}
}

func TestDeploymentConfigFollowsTraffic(t *testing.T) {
	for _, tc := range []struct {
		traffic config.Traffic
		want    map[string]interface{} // nil: predefined all-at-once
	}{
		{config.Traffic{Type: "canary", Percentage: 10, IntervalMinutes: 5, TerminationWaitMinutes: 5},
			map[string]interface{}{"type": "TimeBasedCanary", "timeBasedCanary": map[string]interface{}{"percentage": 10.0, "interval": 5.0}}},
		{config.Traffic{Type: "linear", Percentage: 20, IntervalMinutes: 3, TerminationWaitMinutes: 5},
			map[string]interface{}{"type": "TimeBasedLinear", "timeBasedLinear": map[string]interface{}{"percentage": 20.0, "interval": 3.0}}},
		{config.Traffic{Type: "all-at-once", TerminationWaitMinutes: 5}, nil},
	} {
		t.Run(tc.traffic.Type, func(t *testing.T) {
			m := run(t, func(a *pipeline.Args) { a.Traffic = tc.traffic })
			configs := m.byType("aws:codedeploy/deploymentConfig:DeploymentConfig")
			wantName := "CodeDeployDefault.ECSAllAtOnce"
			if tc.want == nil {
				assert.Empty(t, configs)
			} else {
				require.Len(t, configs, 1)
				c := props(configs[0])
				assert.Equal(t, "ECS", c["computePlatform"])
				assert.Equal(t, tc.want, c["trafficRoutingConfig"])
				wantName = c["deploymentConfigName"].(string)
			}
			for _, g := range m.byType("aws:codedeploy/deploymentGroup:DeploymentGroup") {
				assert.Equal(t, wantName, props(g)["deploymentConfigName"], g.name)
			}
		})
	}
}

func TestEachDeploymentGroupRollsBackItsOwnServiceOnItsOwnAlarms(t *testing.T) {
	m := run(t, nil)
	wantAlarms := plan.RollbackAlarms(config.Defaults().Rollback)
	alarmsByTargetGroup := map[string][]string{}
	signalsByTargetGroup := map[string][]string{}
	for _, a := range m.byType("aws:cloudwatch/metricAlarm:MetricAlarm") {
		p := props(a)
		assert.Equal(t, "notBreaching", p["treatMissingData"])
		// rollback.evaluationPeriods (2) breaching periods of the last 4:
		// the newest two minutes may not be published yet.
		assert.Equal(t, 4.0, p["evaluationPeriods"])
		assert.Equal(t, 2.0, p["datapointsToAlarm"])
		var queries []struct {
			ID         string `json:"id"`
			Label      string `json:"label"`
			Expression string `json:"expression"`
			ReturnData bool   `json:"returnData"`
			Metric     *struct {
				Namespace  string            `json:"namespace"`
				MetricName string            `json:"metricName"`
				Stat       string            `json:"stat"`
				Dimensions map[string]string `json:"dimensions"`
				Period     int               `json:"period"`
			} `json:"metric"`
		}
		decode(t, p["metricQueries"], &queries)
		var spec *plan.Alarm
		for i := range wantAlarms {
			if strings.HasSuffix(a.name, "-"+wantAlarms[i].Signal) {
				spec = &wantAlarms[i]
			}
		}
		require.NotNil(t, spec, "alarm %s is a rollback signal", a.name)
		assert.Equal(t, spec.Threshold, p["threshold"], a.name)
		assert.Equal(t, "GreaterThanThreshold", p["comparisonOperator"], a.name)
		assert.Contains(t, p["alarmDescription"], "in 2 of 4 periods of 60s", a.name)
		require.Len(t, queries, len(spec.Queries), a.name)
		tgDim := ""
		for i, q := range queries {
			assert.Equal(t, spec.Queries[i].ID, q.ID)
			assert.Equal(t, spec.Queries[i].ReturnData, q.ReturnData)
			assert.Equal(t, spec.Queries[i].Label, q.Label)
			if q.Metric == nil {
				assert.Equal(t, spec.Queries[i].Expression, q.Expression)
				continue
			}
			assert.Equal(t, "AWS/ApplicationELB", q.Metric.Namespace)
			assert.Equal(t, spec.Queries[i].MetricName, q.Metric.MetricName)
			assert.Equal(t, spec.Queries[i].Stat, q.Metric.Stat)
			assert.Equal(t, 60, q.Metric.Period)
			assert.Equal(t, "app/alb/50dc6c495c0c9188", q.Metric.Dimensions["LoadBalancer"])
			if tgDim == "" {
				tgDim = q.Metric.Dimensions["TargetGroup"]
			}
			assert.Equal(t, tgDim, q.Metric.Dimensions["TargetGroup"], "one target group per alarm")
		}
		alarmsByTargetGroup[tgDim] = append(alarmsByTargetGroup[tgDim], a.outputs["name"].StringValue())
		signalsByTargetGroup[tgDim] = append(signalsByTargetGroup[tgDim], spec.Signal)
	}
	require.Len(t, alarmsByTargetGroup, 4, "alarms for every target group")
	for tg, signals := range signalsByTargetGroup {
		assert.ElementsMatch(t, plan.Signals, signals, "every signal on %s", tg)
	}

	for _, tc := range []struct {
		group, service string
		pair           []string
	}{
		{"pipeline-latest-group", "latest-svc", []string{"latest-blue", "latest-green"}},
		{"pipeline-stable-group", "stable-svc", []string{"stable-blue", "stable-green"}},
	} {
		t.Run(tc.service, func(t *testing.T) {
			var g struct {
				DeploymentStyle struct {
					DeploymentType   string `json:"deploymentType"`
					DeploymentOption string `json:"deploymentOption"`
				} `json:"deploymentStyle"`
				EcsService struct {
					ClusterName string `json:"clusterName"`
					ServiceName string `json:"serviceName"`
				} `json:"ecsService"`
				LoadBalancerInfo struct {
					TargetGroupPairInfo struct {
						ProdTrafficRoute struct {
							ListenerArns []string `json:"listenerArns"`
						} `json:"prodTrafficRoute"`
						TargetGroups []struct {
							Name string `json:"name"`
						} `json:"targetGroups"`
					} `json:"targetGroupPairInfo"`
				} `json:"loadBalancerInfo"`
				BlueGreen struct {
					Ready struct {
						ActionOnTimeout string `json:"actionOnTimeout"`
					} `json:"deploymentReadyOption"`
					Terminate struct {
						Action string `json:"action"`
						Wait   int    `json:"terminationWaitTimeInMinutes"`
					} `json:"terminateBlueInstancesOnDeploymentSuccess"`
				} `json:"blueGreenDeploymentConfig"`
				AutoRollback struct {
					Enabled bool     `json:"enabled"`
					Events  []string `json:"events"`
				} `json:"autoRollbackConfiguration"`
				Alarms struct {
					Enabled bool     `json:"enabled"`
					Alarms  []string `json:"alarms"`
				} `json:"alarmConfiguration"`
			}
			decode(t, props(m.one(t, "aws:codedeploy/deploymentGroup:DeploymentGroup", tc.group)), &g)
			assert.Equal(t, "BLUE_GREEN", g.DeploymentStyle.DeploymentType)
			assert.Equal(t, "WITH_TRAFFIC_CONTROL", g.DeploymentStyle.DeploymentOption)
			assert.Equal(t, "tc-dev", g.EcsService.ClusterName)
			assert.Equal(t, tc.service, g.EcsService.ServiceName)
			assert.Equal(t, []string{listener}, g.LoadBalancerInfo.TargetGroupPairInfo.ProdTrafficRoute.ListenerArns)
			var tgNames []string
			var wantAlarms []string
			for _, tg := range g.LoadBalancerInfo.TargetGroupPairInfo.TargetGroups {
				tgNames = append(tgNames, tg.Name)
			}
			for _, n := range tc.pair {
				wantAlarms = append(wantAlarms, alarmsByTargetGroup["targetgroup/"+n+"/0123456789abcdef"]...)
			}
			assert.Equal(t, tc.pair, tgNames)
			assert.Equal(t, "CONTINUE_DEPLOYMENT", g.BlueGreen.Ready.ActionOnTimeout)
			assert.Equal(t, "TERMINATE", g.BlueGreen.Terminate.Action)
			assert.Equal(t, 5, g.BlueGreen.Terminate.Wait)
			assert.True(t, g.AutoRollback.Enabled)
			assert.ElementsMatch(t, []string{"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"}, g.AutoRollback.Events)
			assert.True(t, g.Alarms.Enabled)
			assert.ElementsMatch(t, wantAlarms, g.Alarms.Alarms, "every alarm of its own pair, none of the other service's")
			assert.LessOrEqual(t, len(g.Alarms.Alarms), plan.MaxAlarmsPerDeploymentGroup)
		})
	}
}

func TestHookFunctionsRuntimeAndEnvironment(t *testing.T) {
	m := run(t, nil)
	stableTGs := "arn:aws:elasticloadbalancing:eu-west-1:000000000000:targetgroup/stable-blue/0123456789abcdef," +
		"arn:aws:elasticloadbalancing:eu-west-1:000000000000:targetgroup/stable-green/0123456789abcdef"
	app := props(m.byType("aws:codedeploy/application:Application")[0])["name"]
	latestGroup := props(m.one(t, "aws:codedeploy/deploymentGroup:DeploymentGroup", "pipeline-latest-group"))["deploymentGroupName"]
	stableGroup := props(m.one(t, "aws:codedeploy/deploymentGroup:DeploymentGroup", "pipeline-stable-group"))["deploymentGroupName"]
	pipeName := props(m.byType("aws:codepipeline/pipeline:Pipeline")[0])["name"]
	common := map[string]interface{}{
		"CLUSTER_NAME": "tc-dev", "STABLE_SERVICE_NAME": "stable-svc", "STABLE_DESIRED_COUNT": "2",
		"LISTENER_ARN": listener, "STABLE_TARGET_GROUP_ARNS": stableTGs, "CATCH_ALL_RULE_ARN": catchAll,
		"ANCHOR_RULE_ARN": anchor, "CATCH_ALL_PRIORITY_UNPINNED": "1", "CATCH_ALL_PRIORITY_PINNED": "50000",
		"CODEDEPLOY_APPLICATION_NAME": app, "LATEST_DEPLOYMENT_GROUP_NAME": latestGroup,
		"STABLE_DEPLOYMENT_GROUP_NAME": stableGroup, "LATEST_SERVICE_NAME": "latest-svc", "PIPELINE_NAME": pipeName,
	}
	logGroups := map[string]interface{}{}
	for _, lg := range m.byType("aws:cloudwatch/logGroup:LogGroup") {
		logGroups[props(lg)["name"].(string)] = props(lg)["retentionInDays"]
	}
	// The bundle's appspec-latest.yaml without its comment lines.
	var appSpecLines []string
	for _, line := range strings.SplitAfter(string(bundleFiles(t, m)["appspec-latest.yaml"]), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			appSpecLines = append(appSpecLines, line)
		}
	}
	appSpecLatest := strings.Join(appSpecLines, "")
	assert.Equal(t, 1, strings.Count(appSpecLatest, appspec.TaskDefinitionPlaceholder), "the rollback fills the placeholder in")
	var spec struct {
		Hooks []map[string]string `yaml:"Hooks"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(appSpecLatest), &spec))
	assert.Equal(t, []map[string]string{{"BeforeInstall": functionNames(m)["pipeline-pin-hook"]}}, spec.Hooks, "a rollback runs pin too")
	for _, tc := range []struct {
		hook    string
		timeout float64
		extra   map[string]interface{}
	}{
		{"pin", 600, nil},
		{"unpin", 120, nil},
		// cleanup and rollback wait out the target groups' deregistration
		// delay (service.deregistrationDelaySeconds, 15 by default) when
		// they release: it is in their environment, from the one config
		// value, and on top of their timeout.
		{"cleanup", 120 + 15, map[string]interface{}{"ON_REJECT": "rollback", "APPSPEC_LATEST": appSpecLatest, "RELEASE_DELAY_SECONDS": "15"}},
		{"rollback", 120 + 15, map[string]interface{}{"ON_REJECT": "rollback", "APPSPEC_LATEST": appSpecLatest, "RELEASE_DELAY_SECONDS": "15"}},
	} {
		t.Run(tc.hook, func(t *testing.T) {
			f := props(m.one(t, "aws:lambda/function:Function", "pipeline-"+tc.hook+"-hook"))
			assert.Equal(t, "provided.al2023", f["runtime"])
			assert.Equal(t, []interface{}{"arm64"}, f["architectures"])
			assert.Equal(t, "bootstrap", f["handler"])
			assert.Equal(t, tc.timeout, f["timeout"])
			assert.Less(t, tc.timeout, 900.0, "well under Lambda's 15 minutes")
			assert.Equal(t, 128.0, f["memorySize"])
			assert.NotEmpty(t, f["sourceCodeHash"])
			want := map[string]interface{}{}
			for k, v := range common {
				want[k] = v
			}
			for k, v := range tc.extra {
				want[k] = v
			}
			env := f["environment"].(map[string]interface{})["variables"].(map[string]interface{})
			assert.Equal(t, want, env, "exactly the hook contract")
			size := 0
			for k, v := range env {
				size += len(k) + len(v.(string))
			}
			assert.Less(t, size, 4096, "Lambda's 4 KB limit on a function's environment")

			// The function's own parser accepts it and reads every variable
			// it is given: nothing missing, nothing extra.
			read := map[string]bool{}
			_, err := rollout.ConfigFromEnv(func(name string) (string, bool) {
				read[name] = true
				v, ok := env[name]
				if !ok {
					return "", false
				}
				return v.(string), true
			}, contract.Hook(tc.hook))
			require.NoError(t, err)
			var given, parsed []string
			for k := range env {
				given = append(given, k)
			}
			for k := range read {
				parsed = append(parsed, k)
			}
			assert.ElementsMatch(t, parsed, given, "the environment is exactly what ConfigFromEnv reads for %s", tc.hook)

			logGroup := "/aws/lambda/" + f["name"].(string)
			assert.Equal(t, 30.0, logGroups[logGroup], "own log group with retention")
			assert.Equal(t, logGroup, f["loggingConfig"].(map[string]interface{})["logGroup"])
			// pin and unpin must never be retried by Lambda after they
			// reported: a retried pin could re-pin tenants after cleanup.
			// cleanup and rollback keep their retries but drop stale events.
			var configs []map[string]interface{}
			for _, c := range m.byType("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig") {
				if props(c)["functionName"] == f["name"] {
					configs = append(configs, props(c))
				}
			}
			require.Len(t, configs, 1, "one async invocation config per hook")
			if tc.hook == "cleanup" || tc.hook == "rollback" {
				assert.Equal(t, 2.0, configs[0]["maximumRetryAttempts"], "EventBridge-invoked hooks keep Lambda's retries: they decide from the state they read")
				assert.Equal(t, 600.0, configs[0]["maximumEventAgeInSeconds"], "no event older than 10 minutes")
			} else {
				assert.Equal(t, 0.0, configs[0]["maximumRetryAttempts"])
				assert.NotContains(t, configs[0], "maximumEventAgeInSeconds")
			}
		})
	}

	m = run(t, func(a *pipeline.Args) { a.Approval.OnReject = config.OnRejectHold })
	f := props(m.one(t, "aws:lambda/function:Function", "pipeline-rollback-hook"))
	assert.Equal(t, "hold", f["environment"].(map[string]interface{})["variables"].(map[string]interface{})["ON_REJECT"])
}

// Each hook's policy is plan.HookPolicy over this stack's resources: pin
// repairs only this listener's rules, cleanup rejects only this pipeline's
// approval, rollback redeploys only the Latest group.
func TestHookPoliciesAreScopedToThisStack(t *testing.T) {
	m := run(t, nil)
	latestGroupArn := m.one(t, "aws:codedeploy/deploymentGroup:DeploymentGroup", "pipeline-latest-group").outputs["arn"].StringValue()
	stableGroupArn := m.one(t, "aws:codedeploy/deploymentGroup:DeploymentGroup", "pipeline-stable-group").outputs["arn"].StringValue()
	pipeName := props(m.byType("aws:codepipeline/pipeline:Pipeline")[0])["name"].(string)
	byAction := func(hook string) map[string][]string {
		var doc plan.PolicyDocument
		require.NoError(t, json.Unmarshal([]byte(props(m.one(t, "aws:iam/rolePolicy:RolePolicy", "pipeline-"+hook+"-hook"))["policy"].(string)), &doc))
		out := map[string][]string{}
		for _, s := range doc.Statement {
			for _, a := range s.Action {
				out[a] = append(out[a], s.Resource...)
			}
		}
		return out
	}
	rules, err := plan.ListenerRulesArn(listener)
	require.NoError(t, err)
	pin, unpin, cleanup, rollback := byAction("pin"), byAction("unpin"), byAction("cleanup"), byAction("rollback")
	assert.Equal(t, []string{rules}, pin["elasticloadbalancing:ModifyRule"])
	// "*" only: the Service Authorization Reference lists no resource type
	// for GetDeploymentTarget, so a grant on the group's ARN is denied.
	assert.Equal(t, []string{"*"}, pin["codedeploy:GetDeploymentTarget"])
	// "*" for the status report too: the Service Authorization Reference
	// lists no resource type for it (plan.UnscopedActions).
	assert.Equal(t, []string{"*"}, pin["codedeploy:PutLifecycleEventHookExecutionStatus"])
	assert.Equal(t, []string{"*"}, unpin["codedeploy:PutLifecycleEventHookExecutionStatus"])
	assert.Equal(t, []string{latestGroupArn}, unpin["codedeploy:ListDeployments"])
	assert.Equal(t, []string{stableGroupArn}, unpin["codedeploy:GetDeployment"], "unpin reads its own Stable deployment")
	assert.Equal(t, []string{catchAll}, unpin["elasticloadbalancing:AddTags"], "unpin claims the catch-all rule")
	for _, hook := range []map[string][]string{unpin, cleanup, rollback} {
		assert.NotContains(t, hook, "elasticloadbalancing:ModifyRule")
	}
	pipelineArn := "arn:aws:codepipeline:" + region + ":" + account + ":" + pipeName
	assert.Equal(t, []string{pipelineArn + "/Approve/Approve"}, cleanup["codepipeline:PutApprovalResult"])
	assert.ElementsMatch(t, []string{latestGroupArn, stableGroupArn}, cleanup["codedeploy:ListDeployments"])
	assert.Equal(t, []string{latestGroupArn}, rollback["codedeploy:CreateDeployment"])
	assert.Equal(t, []string{pipelineArn}, rollback["codepipeline:GetPipelineExecution"])
	cfgName := props(m.byType("aws:codedeploy/deploymentConfig:DeploymentConfig")[0])["deploymentConfigName"].(string)
	assert.Equal(t, []string{"arn:aws:codedeploy:" + region + ":" + account + ":deploymentconfig:" + cfgName}, rollback["codedeploy:GetDeploymentConfig"])
	stableSvc := "arn:aws:ecs:" + region + ":" + account + ":service/tc-dev/stable-svc"
	assert.Equal(t, []string{stableSvc}, cleanup["ecs:UpdateService"], "cleanup scales only stable")
	assert.NotContains(t, unpin, "ecs:UpdateService", "unpin never scales")
}

func TestPushRuleStartsThePipelineOnlyForThisRepositoryAndTag(t *testing.T) {
	m := run(t, nil)
	repo := props(m.byType("aws:ecr/repository:Repository")[0])["name"].(string)
	rule := m.one(t, "aws:cloudwatch/eventRule:EventRule", "pipeline-push")
	pattern := []byte(props(rule)["eventPattern"].(string))
	push := func(repository, tag string) []byte {
		return []byte(fmt.Sprintf(`{"version":"0","id":"13cde686-328b-6117-af20-0e5566167482","detail-type":"ECR Image Action",
			"source":"aws.ecr","account":"%s","time":"2019-11-16T01:54:34Z","region":"%s","resources":[],
			"detail":{"result":"SUCCESS","repository-name":%q,"image-digest":"sha256:7f5b","action-type":"PUSH","image-tag":%q}}`,
			account, region, repository, tag))
	}
	for _, tc := range []struct {
		event []byte
		want  bool
	}{
		{push(repo, "release"), true},
		{push(repo, "latest"), false},
		{push("someone-elses-repo", "release"), false},
	} {
		got, err := plan.MatchEvent(pattern, tc.event)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, string(tc.event))
	}
	target := props(m.one(t, "aws:cloudwatch/eventTarget:EventTarget", "pipeline-push-target"))
	pipeArn := m.byType("aws:codepipeline/pipeline:Pipeline")[0].outputs["arn"].StringValue()
	assert.Equal(t, pipeArn, target["arn"])
	triggerPolicy := props(m.one(t, "aws:iam/rolePolicy:RolePolicy", "pipeline-trigger"))["policy"].(string)
	var doc plan.PolicyDocument
	require.NoError(t, json.Unmarshal([]byte(triggerPolicy), &doc))
	require.Len(t, doc.Statement, 1)
	assert.Equal(t, []string{"codepipeline:StartPipelineExecution"}, doc.Statement[0].Action)
	assert.Equal(t, []string{pipeArn}, doc.Statement[0].Resource)
}

func TestCleanupRuleFiresWhenEitherGroupsDeploymentEnds(t *testing.T) {
	m := run(t, nil)
	app := props(m.byType("aws:codedeploy/application:Application")[0])["name"].(string)
	latest := props(m.one(t, "aws:codedeploy/deploymentGroup:DeploymentGroup", "pipeline-latest-group"))["deploymentGroupName"].(string)
	stable := props(m.one(t, "aws:codedeploy/deploymentGroup:DeploymentGroup", "pipeline-stable-group"))["deploymentGroupName"].(string)
	rule := m.one(t, "aws:cloudwatch/eventRule:EventRule", "pipeline-deployment-ended")
	pattern := []byte(props(rule)["eventPattern"].(string))
	event := func(application, group, state string) []byte {
		return []byte(fmt.Sprintf(`{"account":"%[1]s","region":"%[2]s","detail-type":"CodeDeploy Deployment State-change Notification",
			"source":"aws.codedeploy","version":"0","time":"2016-06-30T22:06:31Z","id":"c071bfbf-83c4-49ca-a6ff-3df053957145",
			"resources":["arn:aws:codedeploy:%[2]s:%[1]s:application:%[3]s"],
			"detail":{"instanceGroupId":"9fd2","region":"%[2]s","application":%[3]q,"deploymentId":"d-123456789","state":%[5]q,"deploymentGroup":%[4]q}}`,
			account, region, application, group, state))
	}
	for _, tc := range []struct {
		app, group, state string
		want              bool
	}{
		{app, latest, "FAILURE", true},
		{app, latest, "STOP", true},
		{app, latest, "SUCCESS", true},
		{app, stable, "FAILURE", true},
		{app, stable, "STOP", true},
		{app, stable, "SUCCESS", true},
		{app, latest, "START", false},
		{app, stable, "READY", false},
		{app, "someone-elses-group", "SUCCESS", false},
		{"other-app", latest, "SUCCESS", false},
	} {
		got, err := plan.MatchEvent(pattern, event(tc.app, tc.group, tc.state))
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s %s %s", tc.app, tc.group, tc.state)
	}
	cleanupArn := m.one(t, "aws:lambda/function:Function", "pipeline-cleanup-hook").outputs["arn"].StringValue()
	assert.Equal(t, cleanupArn, props(m.one(t, "aws:cloudwatch/eventTarget:EventTarget", "pipeline-deployment-ended-target"))["arn"])
	perm := props(m.one(t, "aws:lambda/permission:Permission", "pipeline-cleanup-invoke"))
	assert.Equal(t, "events.amazonaws.com", perm["principal"])
	assert.Equal(t, rule.outputs["arn"].StringValue(), perm["sourceArn"], "only this rule may invoke cleanup")
}

// A `pulumi up` that changes the pipeline's definition cancels or fails the
// execution in flight ("Edit a pipeline"); an operator may stop one. Such an
// end runs cleanup, which before had no rule for it.
func TestCleanupRuleFiresWhenAPipelineExecutionFailsIsCanceledOrStopped(t *testing.T) {
	m := run(t, nil)
	pipeName := props(m.byType("aws:codepipeline/pipeline:Pipeline")[0])["name"].(string)
	rule := m.one(t, "aws:cloudwatch/eventRule:EventRule", "pipeline-pipeline-ended")
	pattern := []byte(props(rule)["eventPattern"].(string))
	event := func(pipelineName, state string) []byte {
		return []byte(fmt.Sprintf(`{"version":"0","id":"CWE-event-id","detail-type":"CodePipeline Pipeline Execution State Change",
			"source":"aws.codepipeline","account":%q,"time":"2017-04-22T03:31:47Z","region":%q,
			"resources":["arn:aws:codepipeline:%s:%s:%s"],
			"detail":{"pipeline":%q,"version":1,"state":%q,"execution-id":"01234567-0123-0123-0123-012345678901"}}`,
			account, region, region, account, pipelineName, pipelineName, state))
	}
	for _, tc := range []struct {
		pipeline, state string
		want            bool
	}{
		{pipeName, "CANCELED", true},
		{pipeName, "FAILED", true},
		{pipeName, "STOPPED", true},
		{pipeName, "STARTED", false},
		{pipeName, "SUCCEEDED", false},
		{pipeName, "SUPERSEDED", false},
		{pipeName, "STOPPING", false},
		{"another-pipeline", "CANCELED", false},
	} {
		got, err := plan.MatchEvent(pattern, event(tc.pipeline, tc.state))
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%+v", tc)
	}
	cleanupArn := m.one(t, "aws:lambda/function:Function", "pipeline-cleanup-hook").outputs["arn"].StringValue()
	assert.Equal(t, cleanupArn, props(m.one(t, "aws:cloudwatch/eventTarget:EventTarget", "pipeline-pipeline-ended-target"))["arn"])
	perm := props(m.one(t, "aws:lambda/permission:Permission", "pipeline-cleanup-invoke-pipeline-ended"))
	assert.Equal(t, "events.amazonaws.com", perm["principal"])
	assert.Equal(t, rule.outputs["arn"].StringValue(), perm["sourceArn"], "only this rule may invoke cleanup through this permission")
}

func TestRollbackRuleFiresOnAFailedApprovalOfThisPipeline(t *testing.T) {
	m := run(t, nil)
	pipeName := props(m.byType("aws:codepipeline/pipeline:Pipeline")[0])["name"].(string)
	rule := m.one(t, "aws:cloudwatch/eventRule:EventRule", "pipeline-approval-failed")
	pattern := []byte(props(rule)["eventPattern"].(string))
	event := func(pipelineName, stage, action, state string) []byte {
		return []byte(fmt.Sprintf(`{"version":"0","id":"CWE-event-id","detail-type":"CodePipeline Action Execution State Change",
			"source":"aws.codepipeline","account":%q,"time":"2017-04-22T03:31:47Z","region":%q,
			"resources":["arn:aws:codepipeline:%s:%s:%s"],
			"detail":{"pipeline":%q,"version":1,"execution-id":"01234567-0123-0123-0123-012345678901","stage":%q,"action":%q,"state":%q,
			"type":{"owner":"AWS","category":"Approval","provider":"Manual","version":"1"}}}`,
			account, region, region, account, pipelineName, pipelineName, stage, action, state))
	}
	for _, tc := range []struct {
		pipeline, stage, action, state string
		want                           bool
	}{
		{pipeName, "Approve", "Approve", "FAILED", true},
		{pipeName, "Approve", "Approve", "SUCCEEDED", false},
		{pipeName, "Approve", "Approve", "CANCELED", false},
		{pipeName, "Latest", "Deploy", "FAILED", false},
		{"another-pipeline", "Approve", "Approve", "FAILED", false},
	} {
		got, err := plan.MatchEvent(pattern, event(tc.pipeline, tc.stage, tc.action, tc.state))
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%+v", tc)
	}
	rollbackArn := m.one(t, "aws:lambda/function:Function", "pipeline-rollback-hook").outputs["arn"].StringValue()
	assert.Equal(t, rollbackArn, props(m.one(t, "aws:cloudwatch/eventTarget:EventTarget", "pipeline-approval-failed-target"))["arn"])
	perm := props(m.one(t, "aws:lambda/permission:Permission", "pipeline-rollback-invoke"))
	assert.Equal(t, rule.outputs["arn"].StringValue(), perm["sourceArn"], "only this rule may invoke rollback")

	m = run(t, func(a *pipeline.Args) {
		a.Approval = config.Approval{Required: false, OnReject: config.OnRejectRollback}
	})
	for _, r := range m.byType("aws:cloudwatch/eventRule:EventRule") {
		assert.NotEqual(t, "pipeline-approval-failed", r.name, "no Approve stage, no rejection to act on")
	}
	assert.Len(t, m.byType("aws:lambda/function:Function"), 4, "the rollback function stays for operators")
}

// Every policy document the component produces passes the least-privilege
// check: "*" only for the allow-listed unscoped actions, iam:PassRole only to
// ECS tasks, and every other resource an ARN of this stack.
func TestEveryPolicyIsLeastPrivilege(t *testing.T) {
	m := run(t, nil)
	docs := map[string]string{}
	for _, r := range m.byType("aws:iam/rolePolicy:RolePolicy") {
		docs["policy "+r.name] = props(r)["policy"].(string)
	}
	for _, r := range m.byType("aws:iam/role:Role") {
		docs["trust "+r.name] = props(r)["assumeRolePolicy"].(string)
	}
	for _, r := range m.byType("aws:s3/bucketPolicy:BucketPolicy") {
		docs["bucket "+r.name] = props(r)["policy"].(string)
	}
	for _, r := range m.byType("aws:sns/topicPolicy:TopicPolicy") {
		docs["topic "+r.name] = props(r)["policy"].(string)
	}
	for _, r := range m.byType("aws:iam/policy:Policy") {
		docs["managed "+r.name] = props(r)["policy"].(string)
	}
	require.Len(t, m.byType("aws:iam/role:Role"), 7, "pipeline, codedeploy, trigger, pin, unpin, cleanup, rollback")
	require.Len(t, m.byType("aws:iam/rolePolicy:RolePolicy"), 8, "one per role, and image pulls for the task execution role")
	assert.Empty(t, m.byType("aws:iam/rolePolicyAttachment:RolePolicyAttachment"), "no managed policies")

	passRoles := 0
	for name, text := range docs {
		var doc plan.PolicyDocument
		require.NoError(t, json.Unmarshal([]byte(text), &doc), name)
		require.NotEmpty(t, doc.Statement, name)
		for _, p := range plan.Check(doc) {
			t.Errorf("%s: %s", name, p)
		}
		for _, s := range doc.Statement {
			for _, a := range s.Action {
				if a == "iam:PassRole" {
					passRoles++
					assert.ElementsMatch(t, []string{"arn:aws:iam::" + account + ":role/exec", "arn:aws:iam::" + account + ":role/task"}, s.Resource, name)
				}
			}
			for _, r := range s.Resource {
				if r == "*" {
					continue
				}
				assert.True(t, strings.HasPrefix(r, "arn:aws:"), "%s: %q is an ARN", name, r)
				assert.NotContains(t, r, ":*:", "%s: %q names a resource of this stack", name, r)
				if !strings.HasPrefix(r, "arn:aws:s3:::") && !strings.HasPrefix(r, "arn:aws:iam::") {
					assert.Contains(t, r, ":"+region+":"+account+":", "%s: %q is in this stack's account and region", name, r)
				}
			}
		}
	}
	assert.Equal(t, 2, passRoles, "the pipeline and CodeDeploy pass the task roles, nobody else")
}

func TestArtifactsAreEncryptedPrivateAndVersioned(t *testing.T) {
	m := run(t, nil)
	pab := props(m.byType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0])
	for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		assert.Equal(t, true, pab[k], k)
	}
	sse := props(m.byType("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")[0])
	assert.Contains(t, fmt.Sprint(sse["rules"]), "AES256")
	ver := props(m.byType("aws:s3/bucketVersioningV2:BucketVersioningV2")[0])
	assert.Equal(t, "Enabled", ver["versioningConfiguration"].(map[string]interface{})["status"])
	assert.Len(t, m.byType("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"), 1)
	bucket := props(m.byType("aws:s3/bucketV2:BucketV2")[0])
	assert.Equal(t, true, bucket["forceDestroy"])

	repo := props(m.byType("aws:ecr/repository:Repository")[0])
	assert.Equal(t, true, repo["forceDelete"])
	assert.Equal(t, true, repo["imageScanningConfiguration"].(map[string]interface{})["scanOnPush"])
	assert.Len(t, m.byType("aws:ecr/lifecyclePolicy:LifecyclePolicy"), 1)
}

func TestChildrenAreParentedAndOutputsRegistered(t *testing.T) {
	m := &mocks{}
	var p *pipeline.Pipeline
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var err error
		p, err = pipeline.NewPipeline(ctx, "pipeline", testArgs(nil))
		if err != nil {
			return err
		}
		url := make(chan string, 1)
		p.PipelineUrl.ApplyT(func(u string) string { url <- u; return u })
		assert.Equal(t, "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/tenant-canary-dev-pipeline-pipeline/view?region=eu-west-1", <-url)
		return nil
	}, pulumi.WithMocks("tenant-canary", "dev", m))
	require.NoError(t, err)
	comps := m.byType(pipeline.TypeToken)
	require.Len(t, comps, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	require.Greater(t, len(m.resources), 40)
	for _, r := range m.resources {
		if r.typ == pipeline.TypeToken {
			continue
		}
		assert.Contains(t, r.parent, "tenant-canary:pipeline:CanaryPipeline::pipeline", "%s %s is a child of the component", r.typ, r.name)
		assert.True(t, strings.HasPrefix(r.name, "pipeline-"), "%s is named after the component", r.name)
	}
}

func TestMissingArgsAreReportedByName(t *testing.T) {
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := pipeline.NewPipeline(ctx, "pipeline", testArgs(func(a *pipeline.Args) { a.ListenerArn = nil }))
		return err
	}, pulumi.WithMocks("tenant-canary", "dev", &mocks{}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ListenerArn")
}

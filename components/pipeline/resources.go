package pipeline

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/codedeploy"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/codepipeline"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/components/pipeline/build"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/components/routing"
)

// Sizes and retention of the pipeline's own resources.
const (
	// KeepImages bounds the repository by count (see plan.ECRLifecyclePolicy
	// for why never by age): about the last 30 rollouts.
	KeepImages = 30
	// ArtifactRetentionDays expires old pipeline artifacts and old versions
	// of the bundle: executions only read the artifacts of their own run.
	ArtifactRetentionDays = 30
	// Hook timeouts, well under Lambda's 15-minute limit. pin waits for the
	// stable tasks to become healthy, so it gets the longest budget; the
	// hooks bound their own waits inside these (lambda/rollout).
	PinTimeoutSeconds     = 600
	UnpinTimeoutSeconds   = 120
	CleanupTimeoutSeconds = 120
	HookMemoryMB          = 128
	// cleanup's asynchronous invocations: Lambda's two retries stay (the
	// hook is idempotent and checks that its event is still current), but
	// an event older than ten minutes is dropped instead of being kept for
	// Lambda's default six hours; a newer rollout decides by then.
	CleanupMaxRetryAttempts   = 2
	CleanupMaxEventAgeSeconds = 600
	// HookRuntime runs the `bootstrap` executable of the zip.
	HookRuntime      = "provided.al2023"
	HookArchitecture = "arm64"
	HookHandler      = "bootstrap"
	// AppLogStreamPrefix is the awslogs stream prefix of the deployed tasks.
	AppLogStreamPrefix = "app"
)

// hookTimeouts are the per-hook function timeouts.
var hookTimeouts = map[string]int{HookPin: PinTimeoutSeconds, HookUnpin: UnpinTimeoutSeconds, HookCleanup: CleanupTimeoutSeconds}

type serviceRole string

const (
	roleLatest serviceRole = "latest"
	roleStable serviceRole = "stable"
)

type hook struct {
	name     string // physical function name
	fn       *lambda.Function
	role     *iam.Role
	logGroup string
}

// builder creates the component's children in dependency order.
type builder struct {
	ctx    *pulumi.Context
	name   string
	args   *Args
	comp   *Pipeline
	parent pulumi.ResourceOrInvokeOption
	facts  stackFacts

	repo             *ecr.Repository
	bucket           *s3.BucketV2
	bucketReady      []pulumi.Resource
	app              *codedeploy.Application
	groupNames       map[serviceRole]string
	hooks            map[string]*hook
	bundle           *s3.BucketObjectv2
	deployConfigName pulumi.StringOutput
	groups           map[serviceRole]*codedeploy.DeploymentGroup
	hookPolicyRes    []pulumi.Resource
	topic            *sns.Topic
	pipe             *codepipeline.Pipeline
}

// child names a child resource after the component.
func (b *builder) child(suffix string) string { return b.name + "-" + suffix }

// physical is an AWS-side name unique per project, stack and component.
func (b *builder) physical(maxLen int, suffix string) string {
	return plan.PhysicalName(maxLen, b.ctx.Project(), b.ctx.Stack(), b.name, suffix)
}

func sortStrings(s []string) { sort.Strings(s) }

// pipelineName is the pipeline's physical name, known before it exists so
// the approval message and the artifact lifecycle can name it.
func (b *builder) pipelineName() string { return b.physical(100, "pipeline") }

// artifactPrefix is the folder CodePipeline writes a pipeline's artifacts to.
func artifactPrefix(pipelineName string) string {
	if len(pipelineName) > 20 {
		pipelineName = pipelineName[:20]
	}
	return pipelineName + "/"
}

func (b *builder) repository() error {
	repo, err := ecr.NewRepository(b.ctx, b.child("repository"), &ecr.RepositoryArgs{
		// The configured tag is pushed again for every rollout.
		ImageTagMutability: pulumi.String("MUTABLE"),
		ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{
			ScanOnPush: pulumi.Bool(true),
		},
		ForceDelete: pulumi.Bool(b.args.ForceDeleteImages),
	}, b.parent)
	if err != nil {
		return fmt.Errorf("create repository: %w", err)
	}
	b.repo = repo
	if _, err := ecr.NewLifecyclePolicy(b.ctx, b.child("repository-lifecycle"), &ecr.LifecyclePolicyArgs{
		Repository: repo.Name,
		Policy:     pulumi.String(plan.ECRLifecyclePolicy(KeepImages)),
	}, b.parent); err != nil {
		return fmt.Errorf("create repository lifecycle policy: %w", err)
	}
	// The tasks' execution role pulls the pushed image from this repository
	// (and only this one); the service component, which owns the role,
	// cannot name a repository that does not exist yet.
	pull := repo.Arn.ApplyT(func(arn string) string { return plan.TaskImagePullPolicy(arn).JSON() }).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(b.ctx, b.child("task-image-pull"), &iam.RolePolicyArgs{
		Role: b.args.TaskExecutionRoleName, Policy: pull,
	}, b.parent); err != nil {
		return fmt.Errorf("grant the task execution role pulls from the repository: %w", err)
	}
	return nil
}

// artifactBucket is the pipeline's artifact store and the bundle's home.
//
// Encryption is SSE-S3 (AES256): the bucket is read only by this stack's
// roles, so the AWS-managed KMS key would add per-request KMS calls and cost
// without adding any control (its key policy cannot be edited); a customer
// managed key is the upgrade path if key-level audit or revocation is needed.
func (b *builder) artifactBucket() error {
	bucket, err := s3.NewBucketV2(b.ctx, b.child("artifacts"), &s3.BucketV2Args{
		// Artifacts are disposable: `pulumi destroy` must not stop at a
		// non-empty bucket.
		ForceDestroy: pulumi.Bool(true),
	}, b.parent)
	if err != nil {
		return fmt.Errorf("create artifact bucket: %w", err)
	}
	b.bucket = bucket
	pab, err := s3.NewBucketPublicAccessBlock(b.ctx, b.child("artifacts-public-access"), &s3.BucketPublicAccessBlockArgs{
		Bucket:          bucket.ID(),
		BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	}, b.parent)
	if err != nil {
		return fmt.Errorf("block public access to artifact bucket: %w", err)
	}
	if _, err := s3.NewBucketOwnershipControls(b.ctx, b.child("artifacts-ownership"), &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule:   &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, b.parent); err != nil {
		return fmt.Errorf("disable ACLs on artifact bucket: %w", err)
	}
	sse, err := s3.NewBucketServerSideEncryptionConfigurationV2(b.ctx, b.child("artifacts-encryption"), &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{
			&s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
				ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
					SseAlgorithm: pulumi.String("AES256"),
				},
			},
		},
	}, b.parent)
	if err != nil {
		return fmt.Errorf("encrypt artifact bucket: %w", err)
	}
	// CodePipeline's S3 source action requires a versioned bucket.
	versioning, err := s3.NewBucketVersioningV2(b.ctx, b.child("artifacts-versioning"), &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, b.parent)
	if err != nil {
		return fmt.Errorf("version artifact bucket: %w", err)
	}
	// Old artifacts age out: replaced bundle versions and every
	// noncurrent version after ArtifactRetentionDays, and the pipeline's
	// own artifacts, which CodePipeline writes under a folder named after
	// the first 20 characters of the pipeline name (CodePipeline user guide,
	// "Input and output artifacts"). The current bundle, outside that
	// folder, never expires: Pulumi rewrites it only when it changes.
	if _, err := s3.NewBucketLifecycleConfigurationV2(b.ctx, b.child("artifacts-lifecycle"), &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{
			&s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:     pulumi.String("expire-noncurrent-versions"),
				Status: pulumi.String("Enabled"),
				Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{},
				NoncurrentVersionExpiration: &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
					NoncurrentDays: pulumi.Int(ArtifactRetentionDays),
				},
				AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
					DaysAfterInitiation: pulumi.Int(1),
				},
			},
			&s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:         pulumi.String("expire-pipeline-artifacts"),
				Status:     pulumi.String("Enabled"),
				Filter:     &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String(artifactPrefix(b.pipelineName()))},
				Expiration: &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(ArtifactRetentionDays)},
			},
		},
	}, b.parent, pulumi.DependsOn([]pulumi.Resource{versioning})); err != nil {
		return fmt.Errorf("set artifact bucket lifecycle: %w", err)
	}
	policy, err := s3.NewBucketPolicy(b.ctx, b.child("artifacts-tls-only"), &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: bucket.Arn.ApplyT(func(arn string) string { return plan.TLSOnlyBucketPolicy(arn).JSON() }).(pulumi.StringOutput),
	}, b.parent, pulumi.DependsOn([]pulumi.Resource{pab}))
	if err != nil {
		return fmt.Errorf("attach TLS-only policy to artifact bucket: %w", err)
	}
	b.bucketReady = []pulumi.Resource{pab, sse, versioning, policy}
	return nil
}

func (b *builder) application() error {
	app, err := codedeploy.NewApplication(b.ctx, b.child("app"), &codedeploy.ApplicationArgs{
		Name:            pulumi.String(b.physical(100, "app")),
		ComputePlatform: pulumi.String("ECS"),
	}, b.parent)
	if err != nil {
		return fmt.Errorf("create codedeploy application: %w", err)
	}
	b.app = app
	b.groupNames = map[serviceRole]string{
		roleLatest: b.physical(100, "latest"),
		roleStable: b.physical(100, "stable"),
	}
	return nil
}

// newRole creates a role the given service assumes.
func (b *builder) newRole(suffix, service string) (*iam.Role, error) {
	role, err := iam.NewRole(b.ctx, b.child(suffix), &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(plan.AssumeRolePolicy(service).JSON()),
	}, b.parent)
	if err != nil {
		return nil, fmt.Errorf("create %s role: %w", suffix, err)
	}
	return role, nil
}

func (b *builder) rolePolicy(suffix string, role *iam.Role, doc pulumi.StringOutput) (*iam.RolePolicy, error) {
	p, err := iam.NewRolePolicy(b.ctx, b.child(suffix), &iam.RolePolicyArgs{
		Role:   role.ID(),
		Policy: doc,
	}, b.parent)
	if err != nil {
		return nil, fmt.Errorf("attach %s policy: %w", suffix, err)
	}
	return p, nil
}

// hookEnvironment is exactly the contract of lambda/rollout's ConfigFromEnv.
func (b *builder) hookEnvironment(h string) pulumi.StringMap {
	a := b.args
	env := pulumi.StringMap{
		contract.EnvClusterName:              a.ClusterName,
		contract.EnvStableServiceName:        a.StableServiceName,
		contract.EnvStableDesiredCount:       pulumi.String(strconv.Itoa(a.Service.StableCount)),
		contract.EnvListenerARN:              a.ListenerArn,
		contract.EnvStableTargetGroupARNs:    pulumi.Sprintf("%s,%s", a.StableTargetGroups[0].Arn, a.StableTargetGroups[1].Arn),
		contract.EnvCatchAllRuleARN:          a.CatchAllRuleArn,
		contract.EnvCatchAllPriorityUnpinned: pulumi.String(strconv.Itoa(routing.CatchAllPriorityUnpinned)),
		contract.EnvCatchAllPriorityPinned:   pulumi.String(strconv.Itoa(routing.CatchAllPriorityPinned)),
	}
	if h == HookCleanup {
		env[contract.EnvCodeDeployApplicationName] = b.app.Name
		env[contract.EnvLatestDeploymentGroupName] = pulumi.String(b.groupNames[roleLatest])
		env[contract.EnvLatestServiceName] = a.LatestServiceName
	}
	return env
}

// hookFunctions builds each hook from source (once per program run, in
// preview and update alike, so the preview shows the real hash) and deploys
// it with its own role and log group.
func (b *builder) hookFunctions() error {
	b.hooks = map[string]*hook{}
	for _, h := range []string{HookPin, HookUnpin, HookCleanup} {
		artifact, err := build.Default.Hook(b.ctx.Context(), b.args.SourceDir, h)
		if err != nil {
			return fmt.Errorf("build %s hook: %w", h, err)
		}
		fnName := b.physical(64, h)
		logGroupName := "/aws/lambda/" + fnName
		// Created before the function, so Lambda never auto-creates it
		// without retention.
		logGroup, err := cloudwatch.NewLogGroup(b.ctx, b.child(h+"-logs"), &cloudwatch.LogGroupArgs{
			Name:            pulumi.String(logGroupName),
			RetentionInDays: pulumi.Int(b.args.Service.LogRetentionDays),
		}, b.parent)
		if err != nil {
			return fmt.Errorf("create %s hook log group: %w", h, err)
		}
		role, err := b.newRole(h+"-hook", plan.ServiceLambda)
		if err != nil {
			return err
		}
		fn, err := lambda.NewFunction(b.ctx, b.child(h+"-hook"), &lambda.FunctionArgs{
			Name:           pulumi.String(fnName),
			Role:           role.Arn,
			Runtime:        pulumi.String(HookRuntime),
			Architectures:  pulumi.StringArray{pulumi.String(HookArchitecture)},
			Handler:        pulumi.String(HookHandler),
			Code:           pulumi.NewFileArchive(artifact.Path),
			SourceCodeHash: pulumi.String(artifact.SourceCodeHash),
			Timeout:        pulumi.Int(hookTimeouts[h]),
			MemorySize:     pulumi.Int(HookMemoryMB),
			Environment:    &lambda.FunctionEnvironmentArgs{Variables: b.hookEnvironment(h)},
			LoggingConfig: &lambda.FunctionLoggingConfigArgs{
				// The hooks write log/slog JSON lines.
				LogFormat: pulumi.String("JSON"),
				LogGroup:  logGroup.Name,
			},
			Description: pulumi.String(fmt.Sprintf("tenant-canary %s hook (docs/design.md §4)", h)),
		}, b.parent, pulumi.DependsOn([]pulumi.Resource{logGroup}))
		if err != nil {
			return fmt.Errorf("create %s hook function: %w", h, err)
		}
		// CodeDeploy invokes lifecycle hooks asynchronously and waits for
		// their status call, not their return value. pin and unpin have
		// already reported when they return an error, and Lambda's default
		// two retries of an async invocation could re-pin tenants after a
		// failed deployment's cleanup released them: no retries. cleanup
		// keeps the retries (idempotent, reports nothing, ignores a stale
		// event) but drops events older than CleanupMaxEventAgeSeconds.
		invoke := &lambda.FunctionEventInvokeConfigArgs{FunctionName: fn.Name, MaximumRetryAttempts: pulumi.Int(0)}
		if h == HookCleanup {
			invoke.MaximumRetryAttempts = pulumi.Int(CleanupMaxRetryAttempts)
			invoke.MaximumEventAgeInSeconds = pulumi.Int(CleanupMaxEventAgeSeconds)
		}
		if _, err := lambda.NewFunctionEventInvokeConfig(b.ctx, b.child(h+"-hook-invoke"), invoke, b.parent); err != nil {
			return fmt.Errorf("configure %s hook async invocation: %w", h, err)
		}
		b.hooks[h] = &hook{name: fnName, fn: fn, role: role, logGroup: logGroupName}
	}
	return nil
}

// deployBundle renders the AppSpecs and task definition with the real ARNs
// and names, zips them deterministically and uploads the zip as the
// pipeline's S3 source object.
func (b *builder) deployBundle() error {
	a := b.args
	zipped := pulumi.All(a.TaskExecutionRoleArn, a.TaskRoleArn, a.LogGroupName, b.facts.region).ApplyT(
		func(vals []interface{}) (string, error) {
			files, err := appspec.Render(appspec.Values{
				Family: a.TaskFamily, Cpu: a.Service.Cpu, Memory: a.Service.Memory,
				ExecutionRoleArn: vals[0].(string), TaskRoleArn: vals[1].(string),
				LogGroup: vals[2].(string), Region: vals[3].(string), StreamPrefix: AppLogStreamPrefix,
				ContainerName: a.Service.ContainerName, ContainerPort: a.Service.Port,
				Environment:     a.ContainerEnvironment,
				PinFunctionName: b.hooks[HookPin].name, UnpinFunctionName: b.hooks[HookUnpin].name,
			})
			if err != nil {
				return "", err
			}
			entries := make([]build.File, 0, len(files))
			for name, data := range files {
				entries = append(entries, build.File{Name: name, Data: data})
			}
			z, err := build.Zip(entries)
			if err != nil {
				return "", err
			}
			return base64.StdEncoding.EncodeToString(z), nil
		}).(pulumi.StringOutput)
	hash := zipped.ApplyT(func(z string) string {
		raw, _ := base64.StdEncoding.DecodeString(z)
		sum := sha256.Sum256(raw)
		return hex.EncodeToString(sum[:])
	}).(pulumi.StringOutput)
	obj, err := s3.NewBucketObjectv2(b.ctx, b.child("bundle"), &s3.BucketObjectv2Args{
		Bucket:        b.bucket.ID(),
		Key:           pulumi.String(BundleKey),
		ContentBase64: zipped,
		ContentType:   pulumi.String("application/zip"),
		// The same bundle bytes give the same hash: no diff, no new version.
		SourceHash: hash,
	}, b.parent, pulumi.DependsOn(b.bucketReady))
	if err != nil {
		return fmt.Errorf("upload deploy bundle: %w", err)
	}
	b.bundle = obj
	return nil
}

func (b *builder) deploymentConfig() (pulumi.StringOutput, error) {
	r, err := plan.Routing(b.args.Traffic)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	if r.Predefined != "" {
		return pulumi.String(r.Predefined).ToStringOutput(), nil
	}
	routingArgs := &codedeploy.DeploymentConfigTrafficRoutingConfigArgs{Type: pulumi.String(r.Type)}
	interval, percentage := pulumi.IntPtr(r.IntervalMinutes), pulumi.IntPtr(r.Percentage)
	switch r.Type {
	case plan.RoutingCanary:
		routingArgs.TimeBasedCanary = &codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedCanaryArgs{Interval: interval, Percentage: percentage}
	case plan.RoutingLinear:
		routingArgs.TimeBasedLinear = &codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedLinearArgs{Interval: interval, Percentage: percentage}
	}
	// The name carries the plan, so a traffic change replaces the config
	// (CodeDeploy configs are immutable) without a name clash.
	cfgName := b.physical(100, fmt.Sprintf("%s-%d-%d", strings.ToLower(strings.TrimPrefix(r.Type, "TimeBased")), r.Percentage, r.IntervalMinutes))
	cfg, err := codedeploy.NewDeploymentConfig(b.ctx, b.child("deploy-config"), &codedeploy.DeploymentConfigArgs{
		DeploymentConfigName: pulumi.String(cfgName),
		ComputePlatform:      pulumi.String("ECS"),
		TrafficRoutingConfig: routingArgs,
	}, b.parent)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("create deployment config: %w", err)
	}
	return cfg.DeploymentConfigName, nil
}

// fiveXXAlarm watches one target group's 5xx rate.
func (b *builder) fiveXXAlarm(suffix string, tg TargetGroup) (*cloudwatch.MetricAlarm, error) {
	r := b.args.Rollback
	dims := pulumi.StringMap{"LoadBalancer": b.args.LoadBalancerArnSuffix, "TargetGroup": tg.ArnSuffix}
	metric := func(id, name string) *cloudwatch.MetricAlarmMetricQueryArgs {
		return &cloudwatch.MetricAlarmMetricQueryArgs{
			Id: pulumi.String(id),
			Metric: &cloudwatch.MetricAlarmMetricQueryMetricArgs{
				Namespace: pulumi.String("AWS/ApplicationELB"), MetricName: pulumi.String(name),
				Dimensions: dims, Period: pulumi.Int(r.PeriodSeconds), Stat: pulumi.String("Sum"),
			},
			ReturnData: pulumi.Bool(false),
		}
	}
	alarm, err := cloudwatch.NewMetricAlarm(b.ctx, b.child(suffix+"-5xx"), &cloudwatch.MetricAlarmArgs{
		AlarmDescription: pulumi.Sprintf("5xx rate of target group %s above %v%% (with at least %d requests per %ds): CodeDeploy stops and rolls back the deployment",
			tg.Name, r.Max5xxPercent, r.MinRequests, r.PeriodSeconds),
		ComparisonOperator: pulumi.String("GreaterThanThreshold"),
		Threshold:          pulumi.Float64(r.Max5xxPercent),
		EvaluationPeriods:  pulumi.Int(r.EvaluationPeriods),
		DatapointsToAlarm:  pulumi.Int(r.EvaluationPeriods),
		// No data means no traffic on this group: not an error.
		TreatMissingData: pulumi.String("notBreaching"),
		MetricQueries: cloudwatch.MetricAlarmMetricQueryArray{
			metric(plan.MetricErrors, "HTTPCode_Target_5XX_Count"),
			metric(plan.MetricRequests, "RequestCount"),
			&cloudwatch.MetricAlarmMetricQueryArgs{
				Id:         pulumi.String(plan.MetricRate),
				Expression: pulumi.String(plan.FiveXXRateExpression(r.MinRequests)),
				Label:      pulumi.String("5xx percentage"),
				ReturnData: pulumi.Bool(true),
			},
		},
	}, b.parent)
	if err != nil {
		return nil, fmt.Errorf("create %s 5xx alarm: %w", suffix, err)
	}
	return alarm, nil
}

func (b *builder) deploymentGroups() error {
	a := b.args
	cfgName, err := b.deploymentConfig()
	if err != nil {
		return err
	}
	b.deployConfigName = cfgName

	role, err := b.newRole("codedeploy", plan.ServiceCodeDeploy)
	if err != nil {
		return err
	}
	doc := b.facts.with(func(st plan.Stack, v []interface{}) (string, error) {
		d, err := plan.CodeDeployRole{
			ClusterArn: v[0].(string), ServiceNames: []string{v[1].(string), v[2].(string)},
			ListenerArn: v[3].(string), HookFunctionArns: []string{v[4].(string), v[5].(string)},
			BucketArn: v[6].(string), TaskRoleArns: []string{v[7].(string), v[8].(string)},
		}.Policy()
		return d.JSON(), err
	}, a.ClusterArn, a.LatestServiceName, a.StableServiceName, a.ListenerArn,
		b.hooks[HookPin].fn.Arn, b.hooks[HookUnpin].fn.Arn, b.bucket.Arn, a.TaskExecutionRoleArn, a.TaskRoleArn)
	policy, err := b.rolePolicy("codedeploy", role, doc)
	if err != nil {
		return err
	}

	b.groups = map[serviceRole]*codedeploy.DeploymentGroup{}
	for _, svc := range []struct {
		role    serviceRole
		service pulumi.StringInput
		tgs     [2]TargetGroup
	}{
		{roleLatest, a.LatestServiceName, a.LatestTargetGroups},
		{roleStable, a.StableServiceName, a.StableTargetGroups},
	} {
		// Either group of a blue/green pair can be the new version's: they
		// swap roles with every deployment. Each group gets its own alarm
		// and both alarms of the pair watch this service's deployments; the
		// idle group of the pair serves no traffic, so its alarm sees no
		// data (notBreaching) and never fires, while the group receiving the
		// new version is always watched.
		var alarmNames pulumi.StringArray
		for i, tg := range svc.tgs {
			alarm, err := b.fiveXXAlarm(fmt.Sprintf("%s-tg%d", svc.role, i), tg)
			if err != nil {
				return err
			}
			alarmNames = append(alarmNames, alarm.Name)
		}
		group, err := codedeploy.NewDeploymentGroup(b.ctx, b.child(string(svc.role)+"-group"), &codedeploy.DeploymentGroupArgs{
			AppName:              b.app.Name,
			DeploymentGroupName:  pulumi.String(b.groupNames[svc.role]),
			ServiceRoleArn:       role.Arn,
			DeploymentConfigName: cfgName,
			DeploymentStyle: &codedeploy.DeploymentGroupDeploymentStyleArgs{
				DeploymentType:   pulumi.String("BLUE_GREEN"),
				DeploymentOption: pulumi.String("WITH_TRAFFIC_CONTROL"),
			},
			EcsService: &codedeploy.DeploymentGroupEcsServiceArgs{
				ClusterName: a.ClusterName,
				ServiceName: svc.service,
			},
			LoadBalancerInfo: &codedeploy.DeploymentGroupLoadBalancerInfoArgs{
				TargetGroupPairInfo: &codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoArgs{
					ProdTrafficRoute: &codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoProdTrafficRouteArgs{
						ListenerArns: pulumi.StringArray{a.ListenerArn},
					},
					TargetGroups: codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArray{
						&codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArgs{Name: svc.tgs[0].Name},
						&codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArgs{Name: svc.tgs[1].Name},
					},
				},
			},
			BlueGreenDeploymentConfig: &codedeploy.DeploymentGroupBlueGreenDeploymentConfigArgs{
				DeploymentReadyOption: &codedeploy.DeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOptionArgs{
					ActionOnTimeout: pulumi.String("CONTINUE_DEPLOYMENT"),
				},
				TerminateBlueInstancesOnDeploymentSuccess: &codedeploy.DeploymentGroupBlueGreenDeploymentConfigTerminateBlueInstancesOnDeploymentSuccessArgs{
					Action:                       pulumi.String("TERMINATE"),
					TerminationWaitTimeInMinutes: pulumi.Int(a.Traffic.TerminationWaitMinutes),
				},
			},
			AutoRollbackConfiguration: &codedeploy.DeploymentGroupAutoRollbackConfigurationArgs{
				Enabled: pulumi.Bool(true),
				Events:  pulumi.StringArray{pulumi.String("DEPLOYMENT_FAILURE"), pulumi.String("DEPLOYMENT_STOP_ON_ALARM")},
			},
			AlarmConfiguration: &codedeploy.DeploymentGroupAlarmConfigurationArgs{
				Enabled: pulumi.Bool(true),
				Alarms:  alarmNames,
			},
		}, b.parent, pulumi.DependsOn([]pulumi.Resource{policy}))
		if err != nil {
			return fmt.Errorf("create %s deployment group: %w", svc.role, err)
		}
		b.groups[svc.role] = group
	}
	return nil
}

// hookPolicies grants each hook what docs/design.md §4 has it do.
func (b *builder) hookPolicies() error {
	a := b.args
	reportsTo := map[string]*codedeploy.DeploymentGroup{HookPin: b.groups[roleLatest], HookUnpin: b.groups[roleStable]}
	empty := pulumi.String("").ToStringOutput()
	for _, h := range []string{HookPin, HookUnpin, HookCleanup} {
		hk := b.hooks[h]
		groupArn, listenerArn, latestService, latestGroupArn := empty, empty, empty, empty
		if g, ok := reportsTo[h]; ok {
			groupArn = g.Arn
		}
		switch h {
		case HookPin:
			// pin repairs tenant rules of the production listener.
			listenerArn = a.ListenerArn.ToStringOutput()
		case HookCleanup:
			// cleanup compares latest's image with stable's and checks its
			// event against the Latest group's last attempted deployment.
			latestService = a.LatestServiceName.ToStringOutput()
			latestGroupArn = b.groups[roleLatest].Arn
		}
		doc := b.facts.with(func(st plan.Stack, v []interface{}) (string, error) {
			var groups []string
			if arn := v[3].(string); arn != "" {
				groups = []string{arn}
			}
			d, err := plan.HookRole{
				Stack: st, ClusterArn: v[0].(string), StableServiceName: v[1].(string),
				CatchAllRuleArn: v[2].(string), DeploymentGroupArns: groups, LogGroupName: hk.logGroup,
				RepairRulesOfListenerArn: v[4].(string),
				LatestServiceName:        v[5].(string), LatestDeploymentGroupArn: v[6].(string),
			}.Policy()
			return d.JSON(), err
		}, a.ClusterArn, a.StableServiceName, a.CatchAllRuleArn, groupArn, listenerArn, latestService, latestGroupArn)
		p, err := b.rolePolicy(h+"-hook", hk.role, doc)
		if err != nil {
			return err
		}
		b.hookPolicyRes = append(b.hookPolicyRes, p)
	}
	return nil
}

// approvalTopic is the SNS topic the Manual approval action notifies.
func (b *builder) approvalTopic() error {
	if !b.args.Approval.Required {
		return nil
	}
	topic, err := sns.NewTopic(b.ctx, b.child("approval"), &sns.TopicArgs{
		// Encrypted with the AWS-managed SNS key: the pipeline role
		// publishes through SNS, which the managed key's policy allows for
		// principals of this account, so no key policy is needed. (The
		// publisher is the pipeline's role, not a service principal, so no
		// topic policy is needed either.)
		KmsMasterKeyId: pulumi.String("alias/aws/sns"),
	}, b.parent)
	if err != nil {
		return fmt.Errorf("create approval topic: %w", err)
	}
	b.topic = topic
	for i, email := range b.args.Approval.NotifyEmails {
		if _, err := sns.NewTopicSubscription(b.ctx, b.child(fmt.Sprintf("approval-email-%d", i)), &sns.TopicSubscriptionArgs{
			Topic:    topic.Arn,
			Protocol: pulumi.String("email"),
			Endpoint: pulumi.String(email),
		}, b.parent); err != nil {
			return fmt.Errorf("subscribe %s to approval topic: %w", email, err)
		}
	}
	return nil
}

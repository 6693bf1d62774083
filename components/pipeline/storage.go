package pipeline

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/components/pipeline/build"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
)

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

// renderBundle renders the AppSpecs and the task definition with the real
// ARNs and names, once: the deploy bundle zips them and the rollback
// function gets appspec-latest.yaml as it is (its <TASK_DEFINITION>
// placeholder left in). Hook function names are physical names, known
// before the functions exist.
func (b *builder) renderBundle() pulumi.StringMapOutput {
	if b.bundleFiles.OutputState != nil {
		return b.bundleFiles
	}
	a := b.args
	b.bundleFiles = pulumi.All(a.TaskExecutionRoleArn, a.TaskRoleArn, a.LogGroupName, b.facts.region).ApplyT(
		func(vals []interface{}) (map[string]string, error) {
			files, err := appspec.Render(appspec.Values{
				Family: a.TaskFamily, Cpu: a.Service.Cpu, Memory: a.Service.Memory,
				ExecutionRoleArn: vals[0].(string), TaskRoleArn: vals[1].(string),
				LogGroup: vals[2].(string), Region: vals[3].(string), StreamPrefix: AppLogStreamPrefix,
				ContainerName: a.Service.ContainerName, ContainerPort: a.Service.Port,
				Environment:     a.ContainerEnvironment,
				PinFunctionName: b.hookName(HookPin), UnpinFunctionName: b.hookName(HookUnpin),
				SmokeFunctionName: b.smokeFunctionName(),
			})
			if err != nil {
				return nil, err
			}
			out := make(map[string]string, len(files))
			for name, data := range files {
				out[name] = string(data)
			}
			return out, nil
		}).(pulumi.StringMapOutput)
	return b.bundleFiles
}

// deployBundle zips the rendered files deterministically and uploads the
// zip as the pipeline's S3 source object.
func (b *builder) deployBundle() error {
	zipped := b.renderBundle().ApplyT(func(files map[string]string) (string, error) {
		entries := make([]build.File, 0, len(files))
		for name, data := range files {
			entries = append(entries, build.File{Name: name, Data: []byte(data)})
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

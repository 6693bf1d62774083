// Package awsstack is the scenario driver's Backend for a real AWS stack:
// deployed with Pulumi's Automation API, read through its outputs, pushed
// to with docker. It is its own package so that what imports the driver
// (the rehearsal) does not link the Automation API.
package awsstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/scenario"
)

// AWSStack is a scenario.Backend for a real stack deployed with Pulumi's Automation
// API: outputs from the stack, the SDK's credentials, and `docker build`
// and `docker push` for a push, exactly what a user does by hand
// (docs/sample-app.md, "Rollout commands").
type AWSStack struct {
	scenario.WallClock
	stack   auto.Stack
	cfg     aws.Config
	outputs contract.StackOutputs
	// SourceDir is the repository root; images/app is built from it.
	SourceDir string
	// Docker is the docker CLI (default "docker"; podman works too).
	Docker string
	// Platform is the image platform (default linux/amd64, Fargate's).
	Platform string
}

// NewAWSStack reads the deployed stack's outputs once.
func NewAWSStack(ctx context.Context, stack auto.Stack, cfg aws.Config, sourceDir string) (*AWSStack, error) {
	out, err := stack.Outputs(ctx)
	if err != nil {
		return nil, fmt.Errorf("stack %s outputs: %w", stack.Name(), err)
	}
	outputs, err := OutputsFromAutomation(out)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack.Name(), err)
	}
	return &AWSStack{stack: stack, cfg: cfg, outputs: outputs, SourceDir: sourceDir}, nil
}

var _ scenario.Backend = (*AWSStack)(nil)

// OutputsFromAutomation reads the Automation API's output map as the
// program exports it (contract.StackOutputs).
func OutputsFromAutomation(m auto.OutputMap) (contract.StackOutputs, error) {
	plain := map[string]any{}
	for k, v := range m {
		plain[k] = v.Value
	}
	raw, err := json.Marshal(plain)
	if err != nil {
		return contract.StackOutputs{}, err
	}
	var out contract.StackOutputs
	if err := json.Unmarshal(raw, &out); err != nil {
		return contract.StackOutputs{}, fmt.Errorf("reading the stack outputs: %w", err)
	}
	var missing []string
	for name, v := range map[string]string{"albUrl": out.AlbURL, "repositoryUrl": out.RepositoryURL, "imageTag": out.ImageTag,
		"pipelineName": out.PipelineName, "listenerArn": out.ListenerArn, "catchAllRuleArn": out.CatchAllRuleArn} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return contract.StackOutputs{}, fmt.Errorf("the stack has no output %s: was it deployed by this program?", strings.Join(missing, ", "))
	}
	return out, nil
}

// Outputs implements scenario.Backend.
func (s *AWSStack) Outputs(context.Context) (contract.StackOutputs, error) { return s.outputs, nil }

// AWSConfig implements scenario.Backend.
func (s *AWSStack) AWSConfig(context.Context) (aws.Config, error) { return s.cfg, nil }

// BaseURL implements scenario.Backend: the stack's ALB.
func (s *AWSStack) BaseURL() string { return s.outputs.AlbURL }

// Push implements scenario.Backend: docker build images/app as version (bad as
// told), log in to the stack's ECR registry, tag it with the rollout tag and
// push it; the push starts the pipeline (EventBridge, ECR image action).
func (s *AWSStack) Push(ctx context.Context, version string, bad badversion.Spec) error {
	docker := s.Docker
	if docker == "" {
		docker = "docker"
	}
	platform := s.Platform
	if platform == "" {
		platform = "linux/amd64"
	}
	image := s.outputs.RepositoryURL + ":" + s.outputs.ImageTag
	if err := run(ctx, nil, docker, DockerBuildArgs(filepath.Join(s.SourceDir, "images", "app"), image, platform, version, ColorFor(version), bad)...); err != nil {
		return err
	}
	user, password, err := ecrLogin(ctx, s.cfg)
	if err != nil {
		return err
	}
	registry, _, _ := strings.Cut(s.outputs.RepositoryURL, "/")
	if err := run(ctx, strings.NewReader(password), docker, "login", "--username", user, "--password-stdin", registry); err != nil {
		return err
	}
	return run(ctx, nil, docker, "push", image)
}

// DockerBuildArgs are the arguments of `docker build` for one version, the
// Dockerfile's VERSION, COLOR and every BAD_* build argument set, so a
// cached bad layer is never reused for a good build.
func DockerBuildArgs(dir, image, platform, version, color string, bad badversion.Spec) []string {
	args := []string{"build", "--platform", platform, "--build-arg", "VERSION=" + version, "--build-arg", "COLOR=" + color}
	buildArgs := bad.BuildArgs()
	names := make([]string, 0, len(buildArgs))
	for k := range buildArgs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "--build-arg", k+"="+buildArgs[k])
	}
	return append(args, "-t", image, dir)
}

// palette is a set of accent colours far enough apart to tell versions
// apart on the sample app's page.
var palette = []string{"royalblue", "green", "darkorange", "purple", "crimson", "teal", "goldenrod", "slategray"}

// ColorFor gives each version a stable accent colour.
func ColorFor(version string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(version))
	return palette[h.Sum32()%uint32(len(palette))]
}

// ecrLogin gets a registry password from ECR's GetAuthorizationToken: a
// base64 "user:password" pair valid for 12 hours
// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetAuthorizationToken.html).
func ecrLogin(ctx context.Context, cfg aws.Config) (user, password string, err error) {
	out, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return "", "", fmt.Errorf("ECR authorization token: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return "", "", errors.New("ECR returned no authorization data")
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		return "", "", fmt.Errorf("ECR authorization token: %w", err)
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New("ECR authorization token: not user:password")
	}
	return user, password, nil
}

func run(ctx context.Context, stdin *strings.Reader, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tail := out.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("%s %s: %w\n%s", name, args[0], err, strings.TrimSpace(tail))
	}
	return nil
}

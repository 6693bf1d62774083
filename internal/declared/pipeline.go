package declared

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

type pPipeline struct {
	Name           string `json:"name"`
	PipelineType   string `json:"pipelineType"`
	ExecutionMode  string `json:"executionMode"`
	RoleArn        string `json:"roleArn"`
	ArtifactStores []struct {
		Location string `json:"location"`
		Type     string `json:"type"`
	} `json:"artifactStores"`
	Stages []struct {
		Name    string `json:"name"`
		Actions []struct {
			Name             string            `json:"name"`
			Category         string            `json:"category"`
			Owner            string            `json:"owner"`
			Provider         string            `json:"provider"`
			Version          string            `json:"version"`
			Configuration    map[string]string `json:"configuration"`
			InputArtifacts   []string          `json:"inputArtifacts"`
			OutputArtifacts  []string          `json:"outputArtifacts"`
			RunOrder         *int32            `json:"runOrder"`
			TimeoutInMinutes *int32            `json:"timeoutInMinutes"`
		} `json:"actions"`
	} `json:"stages"`
}

func (b *builder) pipeline(s *Stack) error {
	r, err := b.one(typePipeline)
	if err != nil {
		return err
	}
	var p pPipeline
	if err := decode(r.Inputs, &p); err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	d := cptypes.PipelineDeclaration{
		Name: aws.String(p.Name), RoleArn: aws.String(p.RoleArn), Version: aws.Int32(1),
		PipelineType: cptypes.PipelineType(p.PipelineType), ExecutionMode: cptypes.ExecutionMode(p.ExecutionMode),
	}
	if len(p.ArtifactStores) == 1 {
		d.ArtifactStore = &cptypes.ArtifactStore{Location: aws.String(p.ArtifactStores[0].Location), Type: cptypes.ArtifactStoreType(p.ArtifactStores[0].Type)}
	}
	var bucket, key string
	for _, st := range p.Stages {
		stage := cptypes.StageDeclaration{Name: aws.String(st.Name)}
		for _, a := range st.Actions {
			act := cptypes.ActionDeclaration{
				Name: aws.String(a.Name),
				ActionTypeId: &cptypes.ActionTypeId{
					Category: cptypes.ActionCategory(a.Category), Owner: cptypes.ActionOwner(a.Owner),
					Provider: aws.String(a.Provider), Version: aws.String(a.Version),
				},
				Configuration: a.Configuration, RunOrder: a.RunOrder, TimeoutInMinutes: a.TimeoutInMinutes,
			}
			// CodePipeline's default run order is 1 (CodePipeline
			// pipeline structure reference, runOrder,
			// https://docs.aws.amazon.com/codepipeline/latest/userguide/reference-pipeline-structure.html).
			if act.RunOrder == nil {
				act.RunOrder = aws.Int32(1)
			}
			for _, n := range a.InputArtifacts {
				act.InputArtifacts = append(act.InputArtifacts, cptypes.InputArtifact{Name: aws.String(n)})
			}
			for _, n := range a.OutputArtifacts {
				act.OutputArtifacts = append(act.OutputArtifacts, cptypes.OutputArtifact{Name: aws.String(n)})
			}
			if a.Provider == "S3" && a.Category == "Source" {
				bucket, key = a.Configuration["S3Bucket"], a.Configuration["S3ObjectKey"]
			}
			stage.Actions = append(stage.Actions, act)
		}
		d.Stages = append(d.Stages, stage)
	}
	s.Pipeline = Pipeline{Arn: r.out("arn"), Declaration: d}
	if key == "" {
		return fmt.Errorf("pipeline %s has no S3 source action: no deploy bundle", p.Name)
	}
	bundle, err := b.bundle(bucket, key)
	if err != nil {
		return err
	}
	s.Pipeline.Bundle = bundle
	raw, ok := bundle["taskdef.json"]
	if !ok {
		return fmt.Errorf("deploy bundle s3://%s/%s has no taskdef.json", bucket, key)
	}
	if err := strictDecode([]byte(raw), &s.ECS.DeployTaskDefinition); err != nil {
		return fmt.Errorf("deploy bundle taskdef.json: %w", err)
	}
	return nil
}

// bundle unzips the bucket object the pipeline's S3 source reads.
func (b *builder) bundle(bucket, key string) (map[string]string, error) {
	for _, r := range b.byType[typeBucketObject] {
		var p struct {
			Bucket        string `json:"bucket"`
			Key           string `json:"key"`
			ContentBase64 string `json:"contentBase64"`
		}
		if err := decode(r.Inputs, &p); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		if p.Key != key {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(p.ContentBase64)
		if err != nil {
			return nil, fmt.Errorf("deploy bundle s3://%s/%s: %w", bucket, key, err)
		}
		z, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			return nil, fmt.Errorf("deploy bundle s3://%s/%s: %w", bucket, key, err)
		}
		files := map[string]string{}
		for _, f := range z.File {
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return nil, err
			}
			files[f.Name] = string(data)
		}
		return files, nil
	}
	return nil, fmt.Errorf("the pipeline's bundle s3://%s/%s is no object the program uploads", bucket, key)
}

func (b *builder) functions(s *Stack) error {
	hookOf := map[string]contract.Hook{}
	for h, name := range b.in.Outputs.HookFunctionNames {
		hookOf[name] = contract.Hook(h)
	}
	type invoke struct{ retries, age int }
	invokes := map[string]invoke{}
	for _, r := range b.byType[typeInvokeConfig] {
		var p struct {
			FunctionName             string `json:"functionName"`
			MaximumRetryAttempts     int    `json:"maximumRetryAttempts"`
			MaximumEventAgeInSeconds int    `json:"maximumEventAgeInSeconds"`
		}
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		invokes[p.FunctionName] = invoke{p.MaximumRetryAttempts, p.MaximumEventAgeInSeconds}
	}
	for _, r := range b.byType[typeFunction] {
		var p struct {
			Name          string   `json:"name"`
			Role          string   `json:"role"`
			Runtime       string   `json:"runtime"`
			Handler       string   `json:"handler"`
			Architectures []string `json:"architectures"`
			Timeout       int      `json:"timeout"`
			MemorySize    int      `json:"memorySize"`
			Environment   struct {
				Variables map[string]string `json:"variables"`
			} `json:"environment"`
		}
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		hook, ok := hookOf[p.Name]
		if !ok {
			return fmt.Errorf("function %s is no hook of the stack output hookFunctionNames", p.Name)
		}
		inv, ok := invokes[p.Name]
		if !ok {
			return fmt.Errorf("function %s has no asynchronous invocation config", p.Name)
		}
		s.Functions = append(s.Functions, Function{
			Hook: hook, Name: p.Name, Arn: r.out("arn"), Role: p.Role, Runtime: p.Runtime, Handler: p.Handler,
			Architectures: p.Architectures, TimeoutSeconds: p.Timeout, MemoryMB: p.MemorySize, Environment: p.Environment.Variables,
			MaximumRetryAttempts: inv.retries, MaximumEventAgeSeconds: inv.age,
		})
	}
	order := func(h contract.Hook) int {
		if i := slices.Index(contract.Hooks, h); i >= 0 {
			return i
		}
		return len(contract.Hooks)
	}
	sort.Slice(s.Functions, func(i, j int) bool { return order(s.Functions[i].Hook) < order(s.Functions[j].Hook) })
	if len(s.Functions) != len(b.in.Outputs.HookFunctionNames) {
		return fmt.Errorf("stack output hookFunctionNames names %d functions, the program creates %d", len(b.in.Outputs.HookFunctionNames), len(s.Functions))
	}
	return nil
}

func (b *builder) eventRules(s *Stack) error {
	fnByArn := map[string]string{}
	for _, f := range s.Functions {
		fnByArn[f.Arn] = f.Name
	}
	rules := map[string]*EventRule{}
	var names []string
	for _, r := range b.byType[typeEventRule] {
		var p struct {
			Description  string `json:"description"`
			EventPattern string `json:"eventPattern"`
		}
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		name := r.out("name")
		rules[name] = &EventRule{Name: name, Arn: r.out("arn"), Description: p.Description, EventPattern: p.EventPattern}
		names = append(names, name)
	}
	for _, r := range b.byType[typeEventTarget] {
		var p struct {
			Rule    string `json:"rule"`
			Arn     string `json:"arn"`
			RoleArn string `json:"roleArn"`
		}
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		rule, ok := rules[p.Rule]
		if !ok {
			return fmt.Errorf("event target %s is on rule %s, which the program does not create", r.Name, p.Rule)
		}
		t := EventTarget{Arn: p.Arn, RoleArn: p.RoleArn}
		switch {
		case fnByArn[p.Arn] != "":
			t.Function = fnByArn[p.Arn]
		case p.Arn == s.Pipeline.Arn:
			t.Pipeline = aws.ToString(s.Pipeline.Declaration.Name)
		default:
			return fmt.Errorf("event target %s starts %s, neither a hook function nor the pipeline", r.Name, p.Arn)
		}
		rule.Targets = append(rule.Targets, t)
	}
	sort.Strings(names)
	for _, n := range names {
		if len(rules[n].Targets) == 0 {
			return fmt.Errorf("event rule %s has no target", n)
		}
		s.EventRules = append(s.EventRules, *rules[n])
	}
	return nil
}

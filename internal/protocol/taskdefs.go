package protocol

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// RegisterTaskDefinition is how a person (not the pipeline, whose
// CodeDeployToECS action registers every task definition by the image's
// digest) puts another image reference into a task definition, e.g. a tag,
// to deploy it by hand with CreateDeployment. The hooks never call it; a
// test reaches such a state through it.
//
// The model's images are its repository's versions. An image named by a
// version's digest runs that version; one named by a tag of the
// repository runs the version the tag points at, and `docker push` of the
// configured tag moves it, so it is the newest version pushed (v0 before
// any push). ECS resolves an image tag in a task definition to a digest
// when it deploys it (ContainerImage,
// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerImage.html),
// and DescribeTaskDefinition keeps answering the image as registered
// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html).
func (c *client) RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error) {
	return do(c, ctx, "RegisterTaskDefinition", aws.ToString(in.Family), func(w *World) (*ecs.RegisterTaskDefinitionOutput, error) {
		if len(in.ContainerDefinitions) != 1 || aws.ToString(in.ContainerDefinitions[0].Name) != w.st.container {
			return nil, apiErr("ClientException", "the model's task definitions have one container, "+w.st.container)
		}
		image := aws.ToString(in.ContainerDefinitions[0].Image)
		repo := w.st.repositoryURL()
		// The last version the image can name: by digest, that version;
		// by tag, any, so the newest.
		version := -1
		for v := range len(w.Executions) + 1 {
			if image == w.st.image(v) || strings.HasPrefix(image, repo+":") {
				version = v
			}
		}
		if version < 0 {
			return nil, apiErr("ClientException", "image "+image+" is not in the model's repository "+repo)
		}
		arn := w.registerTD(version)
		if image != w.st.image(version) {
			if w.images == nil {
				w.images = map[string]string{}
			}
			w.images[arn] = image
		}
		return &ecs.RegisterTaskDefinitionOutput{TaskDefinition: &ecstypes.TaskDefinition{TaskDefinitionArn: aws.String(arn),
			ContainerDefinitions: in.ContainerDefinitions}}, nil
	})
}

// imageOf is the image task definition td names (version v's digest,
// unless registered otherwise).
func (w *World) imageOf(td string, v int) string {
	if image, ok := w.images[td]; ok {
		return image
	}
	return w.st.image(v)
}

// repositoryURL is the declared repository as an image reference names it.
func (st *stack) repositoryURL() string {
	registry, name := st.repository()
	return registry + "/" + name
}

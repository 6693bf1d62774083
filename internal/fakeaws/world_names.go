package fakeaws

// Names the scripted World shares with the retired Stack: its pipeline,
// and stable's revision of image v1 (registered by the Stable deployment
// that follows an approval of v1). They go with the World.
const (
	PipelineName    = "tc-dev-pipeline"
	TaskDefStableV1 = "arn:aws:ecs:us-east-1:123456789012:task-definition/tc-dev:12"
)

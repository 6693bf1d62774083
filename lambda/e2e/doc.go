// Package e2e runs the hook binaries, built exactly as the pipeline builds
// them, under AWS's Lambda Runtime Interface Emulator (aws-lambda-rie), with
// the real aws-sdk-go-v2 clients pointed at the wire-protocol fake in
// internal/fakeaws through AWS_ENDPOINT_URL. It holds only tests and
// benchmarks; see lambda/README.md.
package e2e

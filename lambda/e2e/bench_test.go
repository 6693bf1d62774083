//go:build linux

package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tenant-canary/tenant-canary/components/pipeline/build"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
)

// BenchmarkColdStartToFirstInvocation measures, per iteration, the wall time
// from starting aws-lambda-rie with a fresh pin bootstrap to the response of
// its first invocation: the pin CodeDeploy invokes at the first push's
// Latest deployment of a stack with no pinned tenants (the model, its
// targets healthy at once: it scales stable up, moves the catch-all and
// reports, over loopback). It includes the emulator's own start-up.
func BenchmarkColdStartToFirstInvocation(b *testing.B) {
	rieBinary(b)
	bootstrap(b, "pin")
	var total time.Duration
	for b.Loop() {
		w := newWorld(b, "tenants-0", protocol.Scenario{Pushes: 1})
		w.do("PUSH v1", "exec-1 (v1) enters Latest")
		pin := w.next("CodeDeploy starts d-1", contract.HookPin)
		payload, err := json.Marshal(pin.Payload)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		fn := w.start(contract.HookPin, nil, 60)
		if body := fn.invoke(b, string(payload)); body != "null" {
			b.Fatalf("invocation failed: %s", body)
		}
		total += time.Since(start)
		fn.stop()
		if !w.catchAllPinned() {
			b.Fatal("pin did not pin")
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first-response")
}

// BenchmarkDeploymentPackage builds each hook exactly as the program does
// for `pulumi up` (build.Hook: linux/arm64, the pipeline's flags, the
// deterministic zip) and reports the sizes of its bootstrap and of the zip
// Lambda receives, in bytes; ns/op is the time to zip the bootstrap.
func BenchmarkDeploymentPackage(b *testing.B) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range append(slices.Clone(contract.Hooks), contract.HookSmoke) {
		hook := string(h)
		b.Run(hook, func(b *testing.B) {
			artifact, err := build.Hook(context.Background(), root, hook)
			if err != nil {
				b.Fatal(err)
			}
			archive, err := os.ReadFile(artifact.Path)
			if err != nil {
				b.Fatal(err)
			}
			zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
			if err != nil || len(zr.File) != 1 {
				b.Fatalf("%s: want a zip with one entry: %v", artifact.Path, err)
			}
			rc, err := zr.File[0].Open()
			if err != nil {
				b.Fatal(err)
			}
			exe, err := io.ReadAll(rc)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := build.Zip([]build.File{{Name: build.Executable, Data: exe, Mode: 0o755}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(exe)), "bytes-bootstrap")
			b.ReportMetric(float64(len(archive)), "bytes-zip")
		})
	}
}

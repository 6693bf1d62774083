//go:build linux

package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
)

// BenchmarkColdStartToFirstInvocation measures, per iteration, the wall time
// from starting aws-lambda-rie with a fresh pin bootstrap to the response of
// its first invocation (a pin with no pinned tenants: one ListDeployments,
// one DescribeRules and one report over loopback). It includes the emulator's own start-up.
func BenchmarkColdStartToFirstInvocation(b *testing.B) {
	rieBinary(b)
	bootstrap(b, "pin")
	var total time.Duration
	for b.Loop() {
		w := fakeaws.NewWorld(0, fakeaws.StableBlueTG)
		start := time.Now()
		fn := startFunction(b, "pin", w, 60, fakeaws.Env())
		if body := fn.invoke(b, hookEvent); body != "null" {
			b.Fatalf("invocation failed: %s", body)
		}
		total += time.Since(start)
		fn.stop()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first-response")
}

// BenchmarkDeploymentPackage builds each hook exactly as the pipeline does
// (linux/arm64) and reports the binary and zip sizes.
func BenchmarkDeploymentPackage(b *testing.B) {
	dir := b.TempDir()
	for _, h := range contract.Hooks {
		hook := string(h)
		b.Run(hook, func(b *testing.B) {
			out := filepath.Join(dir, hook, "bootstrap")
			if err := buildBootstrap("arm64", hook, out); err != nil {
				b.Fatal(err)
			}
			info, err := os.Stat(out)
			if err != nil {
				b.Fatal(err)
			}
			var zipBytes int
			for b.Loop() {
				zipBytes = zipSize(b, out)
			}
			b.ReportMetric(float64(info.Size())/1e6, "MB-binary")
			b.ReportMetric(float64(zipBytes)/1e6, "MB-zip")
		})
	}
}

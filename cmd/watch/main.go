// Command watch is `tenant-canary watch` under its old name: it shows a
// canary rollout as the ALB's users see it (internal/watch).
//
//	go run ./cmd/watch -tenants 7,42
package main

import (
	"os"

	"github.com/tenant-canary/tenant-canary/internal/outputs"
	"github.com/tenant-canary/tenant-canary/internal/watch"
)

func main() {
	os.Exit(watch.RunAs("watch", os.Args[1:], os.Stdout, os.Stderr, watch.IsTerminal(os.Stdout), outputs.PulumiCLI{}))
}

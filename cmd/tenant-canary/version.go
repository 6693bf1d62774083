package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// readBuildInfo is the binary's module and VCS information, nil when the
// binary was built without it.
func readBuildInfo() *debug.BuildInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return info
}

// versionText is --version's line: the module version (a tag when built
// with `go install …@vX`, "(devel)" from a checkout), the commit and its
// time that `go build` stamps from git (vcs.* settings, see `go help
// buildvcs`), "+dirty" for uncommitted changes, and the Go version.
func versionText(info *debug.BuildInfo) string {
	if info == nil {
		return "tenant-canary (unknown version: built without module information)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var parts []string
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if settings["vcs.modified"] == "true" {
			rev += "+dirty"
		}
		parts = append(parts, "commit "+rev)
	}
	if t := settings["vcs.time"]; t != "" {
		parts = append(parts, t)
	}
	parts = append(parts, info.GoVersion)
	return fmt.Sprintf("tenant-canary %s (%s)", version, strings.Join(parts, ", "))
}

package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

var unsafeNameChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// PhysicalName joins parts into an AWS resource name of at most maxLen
// characters using only letters, digits, '-' and '_' (valid for Lambda
// functions, CodeDeploy groups and IAM). Names that are too long keep a
// readable prefix and end in a short hash of the full name, so two long names
// never collide. The hook function names must be known before the functions
// exist (their log groups are created first), hence explicit names built from
// project, stack and component rather than provider auto-naming.
func PhysicalName(maxLen int, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p = strings.Trim(unsafeNameChars.ReplaceAllString(p, "-"), "-"); p != "" {
			kept = append(kept, p)
		}
	}
	name := strings.Join(kept, "-")
	if len(name) <= maxLen {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := hex.EncodeToString(sum[:])[:8]
	return strings.TrimRight(name[:maxLen-len(suffix)-1], "-") + "-" + suffix
}

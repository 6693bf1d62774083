package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenant-canary/tenant-canary/components/config"
)

// The sample app reads these (images/app): the tenant match as the ALB's
// rules see it, and the path the target groups health-check, which a
// version built with `--bad health` fails.
func TestContainerIsToldTheTenantMatchAndTheHealthCheckPath(t *testing.T) {
	for _, tc := range []struct {
		match config.TenantMatch
		want  map[string]string
	}{
		{config.TenantMatch{Type: config.MatchPath, Pattern: "/t/{tenant}"}, map[string]string{"TENANT_MATCH": "path", "TENANT_PATH_PATTERN": "/t/{tenant}", "HEALTH_CHECK_PATH": "/ready"}},
		{config.TenantMatch{Type: config.MatchHeader, Name: "X-Org"}, map[string]string{"TENANT_MATCH": "header", "TENANT_HEADER": "X-Org", "HEALTH_CHECK_PATH": "/ready"}},
		{config.TenantMatch{Type: config.MatchHost, Pattern: "{tenant}.example.com"}, map[string]string{"TENANT_MATCH": "host", "TENANT_HOST_PATTERN": "{tenant}.example.com", "HEALTH_CHECK_PATH": "/ready"}},
	} {
		assert.Equal(t, tc.want, containerEnvironment(tc.match, "/ready"))
	}
}

package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Tenant match kinds, the same three the stack's tenantMatch config offers
// (docs/design.md §5), so the page shows the tenant the ALB's rules saw.
const (
	matchPath   = "path"
	matchHeader = "header"
	matchHost   = "host"
)

const tenantPlaceholder = "{tenant}"

// tenantMatcher recognises a request's tenant the way the ALB tenant rules do.
type tenantMatcher struct {
	kind   string
	header string // matchHeader: the header name
	// prefix and suffix surround {tenant} in the path or host pattern.
	prefix, suffix string
}

// newTenantMatcher validates the match settings once at start, so a typo in
// the task definition's environment fails the task instead of every request.
func newTenantMatcher(kind, header, pathPattern, hostPattern string) (tenantMatcher, error) {
	switch kind {
	case matchPath:
		prefix, suffix, err := splitPattern("TENANT_PATH_PATTERN", pathPattern)
		if err != nil {
			return tenantMatcher{}, err
		}
		if !strings.HasPrefix(prefix, "/") {
			return tenantMatcher{}, fmt.Errorf("TENANT_PATH_PATTERN %q: must start with /", pathPattern)
		}
		if suffix != "" && !strings.HasPrefix(suffix, "/") {
			return tenantMatcher{}, fmt.Errorf("TENANT_PATH_PATTERN %q: {tenant} must be a whole path segment", pathPattern)
		}
		return tenantMatcher{kind: kind, prefix: prefix, suffix: suffix}, nil
	case matchHeader:
		if header == "" {
			return tenantMatcher{}, fmt.Errorf("TENANT_HEADER is required when TENANT_MATCH=header")
		}
		return tenantMatcher{kind: kind, header: http.CanonicalHeaderKey(header)}, nil
	case matchHost:
		prefix, suffix, err := splitPattern("TENANT_HOST_PATTERN", strings.ToLower(hostPattern))
		if err != nil {
			return tenantMatcher{}, err
		}
		return tenantMatcher{kind: kind, prefix: prefix, suffix: suffix}, nil
	default:
		return tenantMatcher{}, fmt.Errorf("TENANT_MATCH %q: want path, header or host", kind)
	}
}

func splitPattern(key, pattern string) (prefix, suffix string, err error) {
	if strings.Count(pattern, tenantPlaceholder) != 1 {
		return "", "", fmt.Errorf("%s %q: must contain %s exactly once", key, pattern, tenantPlaceholder)
	}
	prefix, suffix, _ = strings.Cut(pattern, tenantPlaceholder)
	return prefix, suffix, nil
}

// tenant returns the request's tenant, or "" for untenanted traffic.
func (m tenantMatcher) tenant(r *http.Request) string {
	switch m.kind {
	case matchPath:
		return m.pathTenant(r.URL.Path)
	case matchHeader:
		return r.Header.Get(m.header)
	case matchHost:
		return m.hostTenant(r.Host)
	}
	return ""
}

// pathTenant takes the whole path segment at {tenant}: like the ALB rules
// (/app/12 and /app/12/*), /app/12 and /app/12/x are tenant 12 and /app/123
// is tenant 123, never 12.
func (m tenantMatcher) pathTenant(path string) string {
	rest, ok := strings.CutPrefix(path, m.prefix)
	if !ok {
		return ""
	}
	tenant, rest, _ := strings.Cut(rest, "/")
	if tenant == "" {
		return ""
	}
	if rest != "" {
		rest = "/" + rest
	}
	if m.suffix != "" {
		after, ok := strings.CutPrefix(rest, m.suffix)
		if !ok || (after != "" && !strings.HasPrefix(after, "/")) {
			return ""
		}
	}
	return tenant
}

// hostTenant matches case-insensitively (host names are) and takes one DNS
// label, so {tenant}.example.com does not see a.b.example.com as tenant "a.b".
func (m tenantMatcher) hostTenant(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	if len(host) < len(m.prefix)+len(m.suffix) || !strings.HasPrefix(host, m.prefix) || !strings.HasSuffix(host, m.suffix) {
		return ""
	}
	tenant := host[len(m.prefix) : len(host)-len(m.suffix)]
	if tenant == "" || strings.Contains(tenant, ".") {
		return ""
	}
	return tenant
}

// describe says how tenants are recognised, for the page and /version.
func (m tenantMatcher) describe() string {
	switch m.kind {
	case matchHeader:
		return "header " + m.header
	default:
		return m.kind + " " + m.prefix + tenantPlaceholder + m.suffix
	}
}

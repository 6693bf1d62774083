package main

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTenantRecognisedLikeTheALBRules(t *testing.T) {
	tests := []struct {
		name        string
		kind        string
		header      string
		pathPattern string
		hostPattern string
		target      string
		host        string
		headers     map[string]string
		want        string
	}{
		{name: "path exact", kind: "path", target: "/app/12", want: "12"},
		{name: "path below tenant", kind: "path", target: "/app/12/x", want: "12"},
		{name: "path deep below tenant", kind: "path", target: "/app/12/x/y?z=1", want: "12"},
		{name: "longer tenant id is its own tenant", kind: "path", target: "/app/123", want: "123"},
		{name: "trailing slash", kind: "path", target: "/app/12/", want: "12"},
		{name: "root is untenanted", kind: "path", target: "/", want: ""},
		{name: "prefix only is untenanted", kind: "path", target: "/app/", want: ""},
		{name: "prefix without slash is untenanted", kind: "path", target: "/app", want: ""},
		{name: "other prefix is untenanted", kind: "path", target: "/application/12", want: ""},
		{name: "path is case-sensitive like the ALB", kind: "path", target: "/APP/12", want: ""},
		{name: "custom path pattern", kind: "path", pathPattern: "/t/{tenant}", target: "/t/acme/page", want: "acme"},
		{name: "pattern with suffix", kind: "path", pathPattern: "/t/{tenant}/app", target: "/t/acme/app/x", want: "acme"},
		{name: "pattern with suffix not matched", kind: "path", pathPattern: "/t/{tenant}/app", target: "/t/acme/apple", want: ""},
		{name: "header", kind: "header", header: "X-Tenant-Id", target: "/", headers: map[string]string{"X-Tenant-Id": "acme"}, want: "acme"},
		{name: "header name is case-insensitive", kind: "header", header: "x-tenant-id", target: "/", headers: map[string]string{"X-TENANT-ID": "42"}, want: "42"},
		{name: "header absent", kind: "header", header: "X-Tenant-Id", target: "/app/12", want: ""},
		{name: "host", kind: "host", hostPattern: "{tenant}.example.com", target: "/", host: "acme.example.com", want: "acme"},
		{name: "host with port", kind: "host", hostPattern: "{tenant}.example.com", target: "/", host: "acme.example.com:8080", want: "acme"},
		{name: "host is case-insensitive", kind: "host", hostPattern: "{tenant}.Example.com", target: "/", host: "ACME.example.COM", want: "acme"},
		{name: "host takes one label", kind: "host", hostPattern: "{tenant}.example.com", target: "/", host: "a.b.example.com", want: ""},
		{name: "other host", kind: "host", hostPattern: "{tenant}.example.com", target: "/", host: "example.com", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pathPattern := tt.pathPattern
			if pathPattern == "" {
				pathPattern = "/app/{tenant}"
			}
			m, err := newTenantMatcher(tt.kind, tt.header, pathPattern, tt.hostPattern)
			require.NoError(t, err)
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.host != "" {
				r.Host = tt.host
			}
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			assert.Equal(t, tt.want, m.tenant(r))
		})
	}
}

func TestBadTenantMatchSettingsAreRejectedAtStart(t *testing.T) {
	tests := []struct {
		name, kind, header, pathPattern, hostPattern, wantErr string
	}{
		{name: "unknown kind", kind: "cookie", pathPattern: "/app/{tenant}", wantErr: `TENANT_MATCH "cookie"`},
		{name: "path without placeholder", kind: "path", pathPattern: "/app/", wantErr: "TENANT_PATH_PATTERN"},
		{name: "path placeholder twice", kind: "path", pathPattern: "/{tenant}/{tenant}", wantErr: "exactly once"},
		{name: "relative path", kind: "path", pathPattern: "app/{tenant}", wantErr: "must start with /"},
		{name: "partial segment", kind: "path", pathPattern: "/app/{tenant}x", wantErr: "whole path segment"},
		{name: "header without name", kind: "header", wantErr: "TENANT_HEADER"},
		{name: "host without placeholder", kind: "host", hostPattern: "example.com", wantErr: "TENANT_HOST_PATTERN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTenantMatcher(tt.kind, tt.header, tt.pathPattern, tt.hostPattern)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

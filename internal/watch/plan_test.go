package watch

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTargetsArePinnedThenSampleThenUntenanted(t *testing.T) {
	got := planTargets([]string{"123", "acme", "123"}, []string{"7", "acme", "", "42"})
	assert.Equal(t, []target{
		{tenant: "123", pinned: true},
		{tenant: "acme", pinned: true},
		{tenant: "7"},
		{tenant: "42"},
		{},
	}, got)
	assert.Equal(t, []string{"123 (pinned)", "7", "(untenanted)"},
		[]string{got[0].label(), got[2].label(), got[4].label()})
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		raw, want, wantErr string
	}{
		{raw: "http://alb-1.eu-west-1.elb.amazonaws.com", want: "http://alb-1.eu-west-1.elb.amazonaws.com"},
		{raw: "alb-1.eu-west-1.elb.amazonaws.com", want: "http://alb-1.eu-west-1.elb.amazonaws.com"},
		{raw: " https://canary.example.com/ \n", want: "https://canary.example.com"},
		{raw: "http://127.0.0.1:8080/base/", want: "http://127.0.0.1:8080/base"},
		{raw: "", wantErr: "no URL"},
		{raw: "ftp://alb", wantErr: "scheme must be http or https"},
		{raw: "http://", wantErr: "no host"},
		{raw: "http://alb/?x=1", wantErr: "without query"},
		{raw: "http://user:pw@alb", wantErr: "credentials"},
		{raw: "http://alb:port", wantErr: "invalid port"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := parseBaseURL(tt.raw)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, u.String())
		})
	}
}

func TestRequestsNameTheTenantAsTheALBRulesExpect(t *testing.T) {
	base, err := parseBaseURL("http://alb.example.net/base")
	require.NoError(t, err)
	tenant, untenanted := target{tenant: "123", pinned: true}, target{}
	tests := []struct {
		name                string
		match               tenantMatch
		target              target
		wantURL, wantHost   string
		wantHeader, wantVal string
	}{
		{name: "path", match: tenantMatch{kind: "path", pathPattern: "/app/{tenant}"}, target: tenant,
			wantURL: "http://alb.example.net/base/app/123", wantHost: "alb.example.net"},
		{name: "path untenanted", match: tenantMatch{kind: "path", pathPattern: "/app/{tenant}"}, target: untenanted,
			wantURL: "http://alb.example.net/base/", wantHost: "alb.example.net"},
		{name: "header", match: tenantMatch{kind: "header", header: "X-Tenant-Id"}, target: tenant,
			wantURL: "http://alb.example.net/base/", wantHost: "alb.example.net", wantHeader: "X-Tenant-Id", wantVal: "123"},
		{name: "header untenanted", match: tenantMatch{kind: "header", header: "X-Tenant-Id"}, target: untenanted,
			wantURL: "http://alb.example.net/base/", wantHost: "alb.example.net", wantHeader: "X-Tenant-Id", wantVal: ""},
		{name: "host", match: tenantMatch{kind: "host", hostPattern: "{tenant}.example.com"}, target: tenant,
			wantURL: "http://alb.example.net/base/", wantHost: "123.example.com"},
		{name: "host untenanted", match: tenantMatch{kind: "host", hostPattern: "{tenant}.example.com"}, target: untenanted,
			wantURL: "http://alb.example.net/base/", wantHost: "alb.example.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plan{base: base, match: tt.match}
			req, err := p.request(context.Background(), tt.target)
			require.NoError(t, err)
			assert.Equal(t, tt.wantURL, req.URL.String())
			host := req.Host
			if host == "" {
				host = req.URL.Host
			}
			assert.Equal(t, tt.wantHost, host)
			if tt.wantHeader != "" {
				assert.Equal(t, tt.wantVal, req.Header.Get(tt.wantHeader))
			}
		})
	}
}

func TestTenantMatchValidation(t *testing.T) {
	tests := []struct {
		match   tenantMatch
		wantErr string
	}{
		{match: tenantMatch{kind: "path", pathPattern: "/app/{tenant}"}},
		{match: tenantMatch{kind: "header", header: "X-Tenant-Id"}},
		{match: tenantMatch{kind: "host", hostPattern: "{tenant}.example.com"}},
		{match: tenantMatch{kind: "cookie"}, wantErr: `-match "cookie"`},
		{match: tenantMatch{kind: "path", pathPattern: "/app/"}, wantErr: "-path-pattern"},
		{match: tenantMatch{kind: "path", pathPattern: "app/{tenant}"}, wantErr: "-path-pattern"},
		{match: tenantMatch{kind: "header", header: ""}, wantErr: "-header"},
		{match: tenantMatch{kind: "header", header: "X Tenant"}, wantErr: "-header"},
		{match: tenantMatch{kind: "host", hostPattern: "example.com"}, wantErr: "-host-pattern"},
		{match: tenantMatch{kind: "host", hostPattern: "{tenant}.example.com/x"}, wantErr: "-host-pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.match.String(), func(t *testing.T) {
			err := tt.match.validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestRatePlanning(t *testing.T) {
	tests := []struct {
		rate         float64
		timeout      time.Duration
		wantInterval time.Duration
		wantInFlight int
	}{
		{rate: 10, timeout: 5 * time.Second, wantInterval: 100 * time.Millisecond, wantInFlight: 50},
		{rate: 0.5, timeout: time.Second, wantInterval: 2 * time.Second, wantInFlight: 1},
		{rate: 100, timeout: 250 * time.Millisecond, wantInterval: 10 * time.Millisecond, wantInFlight: 25},
		{rate: 3, timeout: 100 * time.Millisecond, wantInterval: 333333333, wantInFlight: 1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.wantInterval, interval(tt.rate), "interval(%g)", tt.rate)
		assert.Equal(t, tt.wantInFlight, maxInFlight(tt.rate, tt.timeout), "maxInFlight(%g, %s)", tt.rate, tt.timeout)
	}
}

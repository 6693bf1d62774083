package rehearsal

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The rollback alarms count only in a period with at least the configured
// minimum of requests (config rollback.minRequests), and during a canary
// the new version gets only its share: with nobody but a browser on the
// listener, a bad version would pass its canary unseen, on AWS as here.
// Traffic is the rehearsal's stand-in for the tenants' users: a steady
// stream of requests, untenanted and for each pinned tenant.

// Response is what one request of the traffic got.
type Response struct {
	// Time is on the rehearsal clock.
	Time time.Time
	// Tenant is the pinned tenant the request named, "" for untenanted.
	Tenant  string
	Version string // X-App-Version, "" if none
	Status  int    // 0: no HTTP answer
}

// Traffic sends requests to the listener until ctx ends: each round one
// untenanted request and one per pinned tenant (by the URL of its rule),
// perMinute rounds per rehearsal minute, each request on its own without
// waiting for the others. Every response goes to record (which may be nil,
// and is called concurrently).
func (r *Rehearsal) Traffic(ctx context.Context, perMinute int, record func(Response)) {
	if perMinute <= 0 {
		return
	}
	type target struct {
		tenant, url, header, value string
		host                       string
	}
	targets := []target{{url: r.ListenerURL() + "/"}}
	for _, t := range r.opts.Stack.Outputs.PinnedTenants {
		u, how := r.TenantURL(t)
		tg := target{tenant: t, url: u}
		switch {
		case strings.HasPrefix(how, "header "):
			name, value, _ := strings.Cut(strings.TrimPrefix(how, "header "), ": ")
			tg.header, tg.value = name, value
		case strings.HasPrefix(how, "Host: "):
			tg.host = strings.TrimPrefix(how, "Host: ")
		}
		targets = append(targets, tg)
	}
	// Its own transport, keeping as many idle connections as requests may
	// be in flight: the default keeps two, so each burst (a slow version,
	// a busy machine) would open new connections to the listener and close
	// them again, work for this machine that the requests are not.
	transport := &http.Transport{MaxIdleConns: maxInFlight, MaxIdleConnsPerHost: maxInFlight, IdleConnTimeout: 90 * time.Second}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: 10 * time.Second, Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	every := max(time.Millisecond, r.clock.Wall(time.Minute)/time.Duration(perMinute))
	tick := time.NewTicker(every)
	defer tick.Stop()
	inflight := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, t := range targets {
			// Open loop, as many users are: a slow version does not slow
			// the requests down, it only has more of them in flight.
			select {
			case inflight <- struct{}{}:
			default:
				continue // maxInFlight requests wait already: drop this one
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-inflight }()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
				if err != nil {
					return
				}
				if t.header != "" {
					req.Header.Set(t.header, t.value)
				}
				if t.host != "" {
					req.Host = t.host
				}
				res := Response{Time: r.clock.Now(), Tenant: t.tenant}
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
					_ = resp.Body.Close()
					res.Status, res.Version = resp.StatusCode, resp.Header.Get("X-App-Version")
				}
				if ctx.Err() == nil && record != nil {
					record(res)
				}
			}()
		}
	}
}

// maxInFlight bounds the traffic's requests waiting for an answer.
const maxInFlight = 256

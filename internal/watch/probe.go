package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

const versionHeader = "X-App-Version"

// maxBody bounds how much of a response the watcher reads: enough for the
// sample app's page, and the connection can be reused.
const maxBody = 1 << 20

// newClient makes the watcher's HTTP client: one timeout for the whole
// exchange, no redirects followed (a redirect is reported, not hidden) and
// enough idle connections for the configured concurrency.
func newClient(timeout time.Duration, inFlight int) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = inFlight
	return &http.Client{
		Timeout:   timeout,
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// probe sends one request, never retried, and classifies the outcome. ok is
// false only when ctx was cancelled by the watcher itself (exit): such a
// request says nothing about the endpoint.
func probe(ctx context.Context, client *http.Client, p plan, targetIndex int, now func() time.Time) (s sample, ok bool) {
	s = sample{at: now(), target: targetIndex}
	req, err := p.request(ctx, p.targets[targetIndex])
	if err != nil {
		s.failure = transport
		return s, true
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
		s.status = resp.StatusCode
		s.version = resp.Header.Get(versionHeader)
	}
	s.latency = time.Since(start)
	switch {
	case err != nil && ctx.Err() != nil:
		return s, false
	case err != nil && isTimeout(err):
		s.status, s.version, s.failure = 0, "", timedOut
	case err != nil:
		s.status, s.version, s.failure = 0, "", transport
	case s.status < 200 || s.status > 299:
		s.failure = non2xx
	case s.version == "":
		s.failure = noVersion
	}
	return s, true
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

// run sends one request per tick, cycling through the targets, until ctx
// is done or ticks is closed, then waits for the requests in flight. At
// most limit requests are in flight; a tick beyond that is counted as
// skipped rather than queued, so the rate stays bounded.
func run(ctx context.Context, client *http.Client, p plan, rec *recorder, ticks <-chan time.Time, limit int, now func() time.Time) {
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case _, open := <-ticks:
			if !open {
				return
			}
		}
		select {
		case slots <- struct{}{}:
		default:
			rec.skip()
			continue
		}
		targetIndex := i % len(p.targets)
		wg.Go(func() {
			defer func() { <-slots }()
			if s, ok := probe(ctx, client, p, targetIndex, now); ok {
				rec.add(s)
			}
		})
	}
}

// preflight sends one untenanted request before the stream starts, so a bad
// URL, an unreachable ALB or an app without X-App-Version is one clear
// error instead of a table full of failures.
func preflight(ctx context.Context, client *http.Client, p plan) error {
	untenanted := len(p.targets) - 1
	req, err := p.request(ctx, p.targets[untenanted])
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		if isTimeout(err) {
			return fmt.Errorf("%s did not answer within the timeout (%v); is the ALB reachable from here (security group, VPN)?", req.URL, err)
		}
		return fmt.Errorf("cannot reach %s: %v; is the stack deployed and the URL right?", req.URL, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return fmt.Errorf("%s redirects (HTTP %d) to %q; watch that URL instead (-url), the watcher does not follow redirects", req.URL, resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.Header.Get(versionHeader) == "" {
		return fmt.Errorf("%s answered HTTP %d without an %s header, so versions cannot be told apart: "+
			"is this the tenant-canary sample app (images/app)? The placeholder image used before the first push does not set it. "+
			"Use -preflight=false to watch anyway (such responses are counted as errors)", req.URL, resp.StatusCode, versionHeader)
	}
	return nil
}

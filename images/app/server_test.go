package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowHandler holds each request until release is closed.
type slowHandler struct {
	started chan struct{}
	release chan struct{}
}

func (s slowHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.started <- struct{}{}
	<-s.release
	w.Header().Set("X-App-Version", "v1")
	_, _ = io.WriteString(w, "finished")
}

func TestShutdownFinishesInFlightRequestAndRefusesNewConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	slow := slowHandler{started: make(chan struct{}, 1), release: make(chan struct{})}
	listenerClosed := make(chan struct{})

	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, ln, slow, time.Minute, slog.New(slog.DiscardHandler), func() { close(listenerClosed) })
	}()

	type result struct {
		body string
		err  error
	}
	inFlight := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/app/12")
		if err != nil {
			inFlight <- result{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		inFlight <- result{body: string(b), err: err}
	}()
	<-slow.started

	sigterm() // what signal.NotifyContext does on SIGTERM
	<-listenerClosed

	_, err = net.Dial("tcp", addr)
	require.Error(t, err, "a new connection must be refused during shutdown")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)

	select {
	case <-served:
		t.Fatal("serve returned while a request was still in flight")
	default:
	}

	close(slow.release)
	got := <-inFlight
	require.NoError(t, got.err)
	assert.Equal(t, "finished", got.body)
	assert.NoError(t, <-served)
}

func TestShutdownIsBoundedWhenARequestNeverFinishes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	slow := slowHandler{started: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(slow.release)

	ctx, sigterm := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, ln, slow, 10*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	}()
	clientErr := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			_ = resp.Body.Close()
		}
		clientErr <- err
	}()
	<-slow.started
	sigterm()

	err = <-served
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	assert.Contains(t, err.Error(), "10ms")
	assert.Error(t, <-clientErr, "the stuck request is cut off, not left hanging")
}

func TestTaskIdentityFromECSMetadata(t *testing.T) {
	metadata := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v4/abc/task" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, `{"Cluster":"arn:aws:ecs:eu-west-1:111122223333:cluster/dev","TaskARN":"arn:aws:ecs:eu-west-1:111122223333:task/dev/158d1c8083dd49d6b527399fd6414f5c"}`)
	}))
	defer metadata.Close()
	hostname := func() (string, error) { return "ip-10-0-1-23", nil }
	logger := slog.New(slog.DiscardHandler)

	assert.Equal(t, "158d1c8083dd49d6b527399fd6414f5c",
		taskIdentity(context.Background(), metadata.Client(), metadata.URL+"/v4/abc", hostname, logger))
	assert.Equal(t, "ip-10-0-1-23",
		taskIdentity(context.Background(), metadata.Client(), metadata.URL+"/v4/missing", hostname, logger),
		"falls back to the hostname when the endpoint fails")
	assert.Equal(t, "ip-10-0-1-23",
		taskIdentity(context.Background(), metadata.Client(), "", hostname, logger),
		"uses the hostname outside ECS")
}

func TestTaskIdentityDoesNotWaitForASlowMetadataEndpoint(t *testing.T) {
	release := make(chan struct{})
	metadata := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer metadata.Close()
	defer close(release)
	// The caller's deadline (here already passed) bounds the lookup too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := taskIdentity(ctx, metadata.Client(), metadata.URL, func() (string, error) { return "host", nil }, slog.New(slog.DiscardHandler))
	assert.Equal(t, "host", got)
}

package rollout

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// NewLogger returns the JSON logger the hooks write to stdout (CloudWatch Logs
// keeps one JSON object per line, queryable with Logs Insights).
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}

// invocationLogger stamps every line of one invocation with the hook, the
// deployment id, the current step and the time since the invocation started.
type invocationLogger struct {
	base       *slog.Logger
	start      time.Time
	hook       Hook
	deployment string
}

func newInvocationLogger(base *slog.Logger, hook Hook, deploymentID string) *invocationLogger {
	return &invocationLogger{base: base, start: time.Now(), hook: hook, deployment: deploymentID}
}

// log asks the handler first: a line below its level costs no fields (the
// hooks log every poll at Info, and production runs at Info or above).
func (l *invocationLogger) log(level slog.Level, step, msg string, attrs ...any) {
	ctx := context.Background()
	if !l.base.Enabled(ctx, level) {
		return
	}
	attrs = append([]any{
		slog.String("hook", string(l.hook)),
		slog.String("deployment_id", l.deployment),
		slog.String("step", step),
		slog.Int64("duration_ms", time.Since(l.start).Milliseconds()),
	}, attrs...)
	l.base.Log(ctx, level, msg, attrs...)
}

func (l *invocationLogger) Info(step, msg string, attrs ...any) {
	l.log(slog.LevelInfo, step, msg, attrs...)
}

func (l *invocationLogger) Error(step, msg string, attrs ...any) {
	l.log(slog.LevelError, step, msg, attrs...)
}

func (l *invocationLogger) Warn(step, msg string, attrs ...any) {
	l.log(slog.LevelWarn, step, msg, attrs...)
}

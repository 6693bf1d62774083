package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// taskIdentity names the task serving requests: the ECS task id when the
// task metadata endpoint v4 is available (ECS sets ECS_CONTAINER_METADATA_URI_V4
// in every Fargate container), else the hostname. It asks once, at start,
// with a short timeout, so a slow endpoint never delays the health check.
func taskIdentity(ctx context.Context, client *http.Client, metadataURI string, hostname func() (string, error), logger *slog.Logger) string {
	if metadataURI != "" {
		id, err := ecsTaskID(ctx, client, metadataURI)
		if err == nil {
			return id
		}
		logger.Warn("ECS task metadata unavailable, using hostname", "error", err.Error())
	}
	name, err := hostname()
	if err != nil || name == "" {
		return "unknown"
	}
	return name
}

// ecsTaskID reads ${ECS_CONTAINER_METADATA_URI_V4}/task, whose TaskARN is
// arn:aws:ecs:<region>:<account>:task/<cluster>/<task id>.
func ecsTaskID(ctx context.Context, client *http.Client, metadataURI string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(metadataURI, "/")+"/task", nil)
	if err != nil {
		return "", fmt.Errorf("task metadata request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("task metadata: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("task metadata: HTTP %d", resp.StatusCode)
	}
	var task struct {
		TaskARN string `json:"TaskARN"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&task); err != nil {
		return "", fmt.Errorf("task metadata: decode: %w", err)
	}
	i := strings.LastIndex(task.TaskARN, "/")
	if i < 0 || i == len(task.TaskARN)-1 {
		return "", fmt.Errorf("task metadata: unexpected TaskARN %q", task.TaskARN)
	}
	return task.TaskARN[i+1:], nil
}

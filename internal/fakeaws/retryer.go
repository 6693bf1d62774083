package fakeaws

import (
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Retryer is the retryer for SDK clients of a Server in tests: every
// error reaches the caller at once — the faults a test injects included —
// but one. After client.Do returns, the SDK closes the request body the
// transport may still be reading to check for excess bytes; the transport
// then closes the connection the answer is being read from, and an answer
// longer than what is already buffered fails with "use of closed network
// connection" (aws/aws-sdk-go-v2 issues 1825 and 2737). A server on
// loopback answers fast enough to hit that, so the call gets one more
// attempt, at once, as the SDK's default retryer would give it (it
// retries that error: aws/retry's RetryableConnectionError).
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if err != nil && strings.Contains(err.Error(), "use of closed network connection") {
				return aws.TrueTernary
			}
			return aws.FalseTernary
		})}
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = ratelimit.None
	})
}

//go:build !crashtest_ackearly

package server

import "time"

// ackEarlyDelay is zero in every real build: updates are acknowledged only once durable. The
// crashtest_ackearly build tag sets it (ackearly_on.go) to break that rule on purpose, so that the
// crash test can prove it detects lost acknowledged updates.
const ackEarlyDelay time.Duration = 0

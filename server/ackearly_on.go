//go:build crashtest_ackearly

package server

import "time"

// ackEarlyDelay, in this mutation build only, makes the actor acknowledge an update at once and hand
// it to storage this much later, so that a SIGKILL in between loses an acknowledged update. The
// crash test builds with it to prove that it detects such a loss. Never use it otherwise.
const ackEarlyDelay = 20 * time.Millisecond

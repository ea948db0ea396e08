package client

import (
	"math/rand/v2"
	"time"
)

// Default reconnect delays: the ones centrifuge-js uses, which spread a crowd of clients
// reconnecting after a server restart over seconds instead of letting them arrive in lock-step.
const (
	defaultMinBackoff = 500 * time.Millisecond
	defaultMaxBackoff = 20 * time.Second
)

// backoff returns the delay before reconnect attempt number attempt (0 for the first), with full
// jitter: min plus a uniformly random part of min·2^attempt, capped at max. The floor at min makes
// a client honour "try again later" even on its first retry; the random part is what breaks up a
// reconnect storm (a fixed schedule, as y-websocket uses, brings every client back at once).
// Zero (or negative) bounds are the defaults, as Options documents; a max below min is min.
// rnd returns a uniform value in [0, n); nil means math/rand/v2.
func backoff(attempt int, min, max time.Duration, rnd func(n int64) int64) time.Duration {
	if min <= 0 {
		min = defaultMinBackoff
	}
	if max <= 0 {
		max = defaultMaxBackoff
	}
	if max < min {
		max = min
	}
	window := min
	for i := 0; i < attempt && window < max; i++ {
		window *= 2
	}
	if window > max-min {
		window = max - min
	}
	if window <= 0 {
		return min
	}
	if rnd == nil {
		rnd = rand.Int64N
	}
	return min + time.Duration(rnd(int64(window)+1))
}

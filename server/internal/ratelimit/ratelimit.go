package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrLimited is returned by Throttle.Take when a connection has stayed over its rate for longer
// than the grace period.
var ErrLimited = errors.New("ratelimit: rate limit exceeded")

// Bucket is a token bucket: it holds at most Burst tokens, gains Rate tokens per second, and lends
// tokens it does not have yet (its balance may go negative) through Reserve. The zero value is not
// usable; create one with NewBucket.
type Bucket struct {
	rate   float64   // tokens per second, > 0
	burst  float64   // capacity, >= 1
	tokens float64   // balance at last; below zero while tokens are lent
	last   time.Time // when tokens was last brought up to date
}

// NewBucket returns a full bucket that refills at rate tokens per second up to burst tokens. It
// returns an error for a rate that is not a positive finite number or a burst below 1.
func NewBucket(rate float64, burst int, now time.Time) (*Bucket, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("ratelimit: rate %v: want a positive number", rate)
	}
	if burst < 1 {
		return nil, fmt.Errorf("ratelimit: burst %d: want at least 1", burst)
	}
	return &Bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}, nil
}

// refill brings the balance up to date at now. A now before the last update (a clock that went
// back) adds nothing.
func (b *Bucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// Tokens returns the balance at now: the tokens available, or minus the tokens lent and not yet
// earned.
func (b *Bucket) Tokens(now time.Time) float64 {
	b.refill(now)
	return b.tokens
}

// Allow takes a token if one is available at now and reports whether it did.
func (b *Bucket) Allow(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Reserve takes a token at now, lending it if none is available, and returns how long from now
// until the bucket has earned it back: zero if a token was available.
func (b *Bucket) Reserve(now time.Time) time.Duration {
	b.refill(now)
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(math.Ceil(-b.tokens / b.rate * float64(time.Second)))
}

// Throttle decides the fate of each message of one connection: pass it at once, pass it after a
// delay, or refuse it. Create one with NewThrottle.
type Throttle struct {
	bucket *Bucket
	grace  time.Duration
	since  time.Time // when the current run of throttled messages began; zero if not throttled
	// rested is the balance at which a run of throttling ends: a quarter of a second's worth of
	// tokens (at least one, at most half the burst). Ending a run at a single token would let a
	// flooder escape whenever the caller's sleep overshoots by one token's time, which a loaded
	// machine does all the time.
	rested float64
}

// NewThrottle returns a Throttle over a full bucket of rate and burst that refuses messages once
// the connection has been throttled for grace without a break. A zero grace refuses the first
// message that finds the bucket empty.
func NewThrottle(rate float64, burst int, grace time.Duration, now time.Time) (*Throttle, error) {
	if grace < 0 {
		return nil, fmt.Errorf("ratelimit: grace %v: want zero or more", grace)
	}
	b, err := NewBucket(rate, burst, now)
	if err != nil {
		return nil, err
	}
	rested := math.Max(1, math.Min(float64(burst)/2, rate/4))
	return &Throttle{bucket: b, grace: grace, rested: rested}, nil
}

// Take accounts for one message arriving at now. It returns zero if the message may pass at once,
// a delay if it may pass after waiting that long (the caller waits before reading on), or
// ErrLimited if the connection has been throttled without a break since grace ago or longer; a
// refused message takes no token.
//
// A run of throttling starts with the first message that finds less than a token, and ends when
// a message finds the bucket rested again (a quarter of a second's worth of tokens): a client that
// slows down below its rate starts a new grace period the next time it bursts, while one that keeps
// pushing at or above its rate stays in its run, and is refused once the run has lasted grace.
func (t *Throttle) Take(now time.Time) (time.Duration, error) {
	tokens := t.bucket.Tokens(now)
	if tokens >= t.rested {
		t.since = time.Time{}
	}
	if tokens >= 1 && t.since.IsZero() {
		return t.bucket.Reserve(now), nil
	}
	if t.since.IsZero() {
		t.since = now
	}
	if now.Sub(t.since) >= t.grace {
		return 0, fmt.Errorf("%w: over %g per second (burst %g) for %v", ErrLimited, t.bucket.rate, t.bucket.burst, now.Sub(t.since).Round(time.Millisecond))
	}
	return t.bucket.Reserve(now), nil
}

// Throttled reports whether the connection is in a run of throttling: a message found the bucket
// empty and none has found it rested since.
func (t *Throttle) Throttled() bool { return !t.since.IsZero() }

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

// Throttle decides the fate of each message of a connection: pass it at once, pass it after a
// delay, or refuse it. It holds the rule only (rate, burst, grace), never a connection's standing,
// which is a [State] the caller keeps, so that one Throttle serves every connection of a server
// and a connection's limits are a few numbers inside it rather than objects of their own. A
// Throttle does not change after NewThrottle and is safe for concurrent use.
type Throttle struct {
	rate  float64 // tokens per second, > 0
	burst float64 // capacity, >= 1
	grace time.Duration
	// rested is the balance at which a run of throttling ends: a quarter of a second's worth of
	// tokens (at least one, at most half the burst). Ending a run at a single token would let a
	// flooder escape whenever the caller's sleep overshoots by one token's time, which a loaded
	// machine does all the time.
	rested float64
}

// State is one connection's standing against a Throttle: its token bucket and its current run of
// throttling. The zero value is a full bucket, not throttled, so a State needs no setting up, and
// it holds no pointer. A State belongs to one goroutine at a time.
type State struct {
	// spent is how far the balance is below the burst: zero for a full bucket, more than the
	// burst while tokens are lent.
	spent float64
	// last is when spent was last brought up to date (Unix nanoseconds); zero before the first
	// message, when the bucket is full.
	last int64
	// since is when the current run of throttling began (Unix nanoseconds); zero if the
	// connection is not throttled.
	since int64
}

// NewThrottle returns a Throttle over buckets of rate and burst that refuses messages once a
// connection has been throttled for grace without a break. A zero grace refuses the first message
// that finds the bucket empty. It returns an error for a rate that is not a positive finite
// number, a burst below 1 or a negative grace.
func NewThrottle(rate float64, burst int, grace time.Duration) (*Throttle, error) {
	if grace < 0 {
		return nil, fmt.Errorf("ratelimit: grace %v: want zero or more", grace)
	}
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("ratelimit: rate %v: want a positive number", rate)
	}
	if burst < 1 {
		return nil, fmt.Errorf("ratelimit: burst %d: want at least 1", burst)
	}
	rested := math.Max(1, math.Min(float64(burst)/2, rate/4))
	return &Throttle{rate: rate, burst: float64(burst), grace: grace, rested: rested}, nil
}

// Take accounts for one message of the connection whose standing is s, arriving at now. It
// returns zero if the message may pass at once, a delay if it may pass after waiting that long
// (the caller waits before reading on), or ErrLimited if the connection has been throttled
// without a break since grace ago or longer; a refused message takes no token.
//
// A run of throttling starts with the first message that finds less than a token, and ends when
// a message finds the bucket rested again (a quarter of a second's worth of tokens): a client that
// slows down below its rate starts a new grace period the next time it bursts, while one that keeps
// pushing at or above its rate stays in its run, and is refused once the run has lasted grace.
func (t *Throttle) Take(s *State, now time.Time) (time.Duration, error) {
	n := now.UnixNano()
	t.refill(s, n)
	tokens := t.burst - s.spent
	if tokens >= t.rested {
		s.since = 0
	}
	if tokens >= 1 && s.since == 0 {
		return t.reserve(s), nil
	}
	if s.since == 0 {
		s.since = n
	}
	if over := time.Duration(n - s.since); over >= t.grace {
		return 0, fmt.Errorf("%w: over %g per second (burst %g) for %v", ErrLimited, t.rate, t.burst, over.Round(time.Millisecond))
	}
	return t.reserve(s), nil
}

// refill brings s's balance up to date at n (Unix nanoseconds). A time before the last update (a
// clock that went back) adds nothing.
func (t *Throttle) refill(s *State, n int64) {
	if s.last == 0 {
		s.last = n // the first message: the bucket is full
		return
	}
	if n > s.last {
		s.spent = math.Max(0, s.spent-time.Duration(n-s.last).Seconds()*t.rate)
		s.last = n
	}
}

// reserve takes a token from s, lending it if none is available, and returns how long until the
// bucket has earned it back: zero if a token was available.
func (t *Throttle) reserve(s *State) time.Duration {
	s.spent++
	tokens := t.burst - s.spent
	if tokens >= 0 {
		return 0
	}
	return time.Duration(math.Ceil(-tokens / t.rate * float64(time.Second)))
}

// Throttled reports whether the connection is in a run of throttling: a message found the bucket
// empty and none has found it rested since.
func (s *State) Throttled() bool { return s.since != 0 }

package ratelimit

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestNewRefusesBadParameters(t *testing.T) {
	tests := []struct {
		rate  float64
		burst int
		grace time.Duration
	}{
		{0, 1, 0},
		{-1, 1, 0},
		{1, 0, 0},
		{1, -5, 0},
		{1, 1, -time.Second},
	}
	for _, tt := range tests {
		if _, err := NewThrottle(tt.rate, tt.burst, tt.grace); err == nil {
			t.Errorf("NewThrottle(%v, %d, %v) = nil error; want an error", tt.rate, tt.burst, tt.grace)
		}
	}
}

func TestBucketAllow(t *testing.T) {
	b, err := NewBucket(10, 3, t0)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {0, true}, {0, true}, // the burst
		{0, false},
		{99 * time.Millisecond, false}, // 0.99 of a token
		{100 * time.Millisecond, true}, // one token earned
		{100 * time.Millisecond, false},
		{10 * time.Second, true}, // refilled, but only up to the burst
		{10 * time.Second, true},
		{10 * time.Second, true},
		{10 * time.Second, false},
		{5 * time.Second, false}, // the clock went back: nothing gained
	}
	for i, s := range steps {
		if got := b.Allow(t0.Add(s.at)); got != s.want {
			t.Errorf("step %d: Allow(t0+%v) = %v; want %v", i, s.at, got, s.want)
		}
	}
}

func TestBucketReserve(t *testing.T) {
	b, err := NewBucket(4, 2, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}
	for i, w := range want {
		if got := b.Reserve(t0); got != w {
			t.Errorf("Reserve #%d at t0 = %v; want %v", i, got, w)
		}
	}
	if got := b.Tokens(t0); got != -3 {
		t.Errorf("Tokens(t0) = %v; want -3", got)
	}
	if got := b.Tokens(t0.Add(time.Second)); got != 1 {
		t.Errorf("Tokens(t0+1s) = %v; want 1", got)
	}
}

// simulate sends n messages, the next one gap after the previous one passed (after its delay),
// and returns the time of the first refusal relative to t0 and the number of messages passed.
func simulate(t *testing.T, th *Throttle, n int, gap func(i int) time.Duration) (refusedAt time.Duration, passed int) {
	t.Helper()
	var st State
	now := t0
	for i := range n {
		d, err := th.Take(&st, now)
		if errors.Is(err, ErrLimited) {
			return now.Sub(t0), passed
		}
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		passed++
		now = now.Add(d + gap(i))
	}
	return -1, passed
}

func TestThrottleFlooderClosedWithinGrace(t *testing.T) {
	const (
		rate  = 60
		burst = 300
		grace = time.Second
	)
	tests := []struct {
		name string
		gap  time.Duration // between messages when not throttled
	}{
		{"10x rate", time.Second / (10 * rate)},
		{"back to back", 0},
		{"1.5x rate", time.Second / (rate * 3 / 2)},
	}
	for _, tt := range tests {
		th, err := NewThrottle(rate, burst, grace)
		if err != nil {
			t.Fatal(err)
		}
		// When does the burst run out? The first message that finds less than a token.
		probe, _ := NewBucket(rate, burst, t0)
		exceeded := time.Duration(-1)
		now := t0
		for range 100000 {
			if probe.Tokens(now) < 1 {
				exceeded = now.Sub(t0)
				break
			}
			probe.Reserve(now)
			now = now.Add(tt.gap)
		}
		refusedAt, passed := simulate(t, th, 1_000_000, func(int) time.Duration { return tt.gap })
		if refusedAt < 0 {
			t.Errorf("%s: never refused after %d messages; want a refusal", tt.name, passed)
			continue
		}
		// The criterion of T-SEC-08: closed within 2 s of exceeding the burst; with a grace of 1 s
		// the refusal comes within grace plus one message's delay.
		if late := refusedAt - exceeded; late < grace || late > grace+time.Second/rate+time.Millisecond {
			t.Errorf("%s: refused %v after the burst ran out; want within [%v, %v]", tt.name, late, grace, grace+time.Second/rate)
		}
		// While throttled it passed messages at the rate, not faster.
		maxPassed := burst + int(refusedAt.Seconds()*rate) + 1
		if passed > maxPassed {
			t.Errorf("%s: passed %d messages in %v; want at most %d", tt.name, passed, refusedAt, maxPassed)
		}
	}
}

func TestThrottleHonestClientsNeverRefused(t *testing.T) {
	const (
		rate  = 60
		burst = 300
		grace = time.Second
	)
	tests := []struct {
		name string
		gap  func(i int) time.Duration
	}{
		{"exactly the rate", func(int) time.Duration { return time.Second / rate }},
		{"half the rate", func(int) time.Duration { return 2 * time.Second / rate }},
		// Pastes: 250 messages at once every 5 s (50/s on average).
		{"bursts below the burst size", func(i int) time.Duration {
			if i%250 == 249 {
				return 5 * time.Second
			}
			return 0
		}},
	}
	for _, tt := range tests {
		th, err := NewThrottle(rate, burst, grace)
		if err != nil {
			t.Fatal(err)
		}
		if refusedAt, passed := simulate(t, th, 20000, tt.gap); refusedAt >= 0 {
			t.Errorf("%s: refused at %v after %d messages; want never", tt.name, refusedAt, passed)
		}
	}
}

// TestThrottleShortOverrunForgiven: a client that goes over its burst for less than the grace and
// then slows down is delayed, never refused, and a later overrun gets a fresh grace period.
func TestThrottleShortOverrunForgiven(t *testing.T) {
	th, err := NewThrottle(10, 5, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st State
	rng := rand.New(rand.NewPCG(1, 2))
	now := t0
	for round := range 20 {
		throttledFor := time.Duration(0)
		// 5 messages use the burst; then ~5 more at once, each delayed by 100 ms (0.5 s in all).
		for i := range 10 {
			d, err := th.Take(&st, now)
			if err != nil {
				t.Fatalf("round %d message %d: Take = %v; want a delay", round, i, err)
			}
			throttledFor += d
			now = now.Add(d)
		}
		if !st.Throttled() || throttledFor == 0 {
			t.Fatalf("round %d: not throttled after 10 messages at once; want throttled", round)
		}
		// A pause long enough to refill.
		now = now.Add(time.Second + time.Duration(rng.IntN(int(time.Second))))
	}
	if _, err := th.Take(&st, now); err != nil || st.Throttled() {
		t.Errorf("after a pause: Take = %v, throttled %v; want nil, false", err, st.Throttled())
	}
}

func TestThrottleZeroGrace(t *testing.T) {
	th, err := NewThrottle(1, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	var st State
	for i := range 2 {
		if d, err := th.Take(&st, t0); d != 0 || err != nil {
			t.Fatalf("message %d: Take = %v, %v; want 0, nil", i, d, err)
		}
	}
	if _, err := th.Take(&st, t0); !errors.Is(err, ErrLimited) {
		t.Errorf("third message: Take = %v; want ErrLimited", err)
	}
	// A refused message took no token: one second later exactly one token is there.
	if d, err := th.Take(&st, t0.Add(time.Second)); d != 0 || err != nil {
		t.Errorf("after 1 s: Take = %v, %v; want 0, nil", d, err)
	}
}

func BenchmarkThrottleTake(b *testing.B) {
	th, err := NewThrottle(60, 300, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	var st State
	now := t0
	for b.Loop() {
		now = now.Add(time.Second / 60)
		if _, err := th.Take(&st, now); err != nil {
			b.Fatal(err)
		}
	}
}

// TestThrottleOvershoot: the caller's sleeps overshoot (a loaded machine), by up to three tokens'
// time; a flooder is refused all the same, within the grace and a few tokens' time.
func TestThrottleOvershoot(t *testing.T) {
	const (
		rate  = 60
		burst = 300
		grace = time.Second
	)
	rng := rand.New(rand.NewPCG(3, 4))
	for run := range 50 {
		th, err := NewThrottle(rate, burst, grace)
		if err != nil {
			t.Fatal(err)
		}
		var st State
		now := t0
		var exceeded time.Time
		for i := 0; ; i++ {
			d, err := th.Take(&st, now)
			if errors.Is(err, ErrLimited) {
				if late := now.Sub(exceeded); late > grace+4*time.Second/rate {
					t.Fatalf("run %d: refused %v after the burst ran out; want within %v", run, late, grace+4*time.Second/rate)
				}
				break
			}
			if d > 0 && exceeded.IsZero() {
				exceeded = now
			}
			if i > 100000 {
				t.Fatalf("run %d: never refused", run)
			}
			overshoot := time.Duration(0)
			if d > 0 {
				overshoot = time.Duration(rng.Int64N(int64(3 * time.Second / rate)))
			}
			now = now.Add(d + overshoot + 100*time.Microsecond)
		}
	}
}

// TestStateZeroIsFull: a State needs no setting up. Its zero value is a full bucket, not
// throttled, whenever its first message comes.
func TestStateZeroIsFull(t *testing.T) {
	th, err := NewThrottle(1, 3, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, first := range []time.Time{t0, t0.Add(time.Hour)} {
		var st State
		if st.Throttled() {
			t.Fatalf("zero State throttled")
		}
		for i := range 3 {
			if d, err := th.Take(&st, first); d != 0 || err != nil {
				t.Errorf("first message at %v, message %d: Take = %v, %v; want 0, nil (the burst)", first, i, d, err)
			}
		}
		if d, err := th.Take(&st, first); d != time.Second || err != nil || !st.Throttled() {
			t.Errorf("message past the burst: Take = %v, %v, throttled %v; want 1s, nil, true", d, err, st.Throttled())
		}
	}
}

// TestThrottleShared: one Throttle serves many connections, each with its own State: one
// connection's flood takes nothing from another's bucket.
func TestThrottleShared(t *testing.T) {
	th, err := NewThrottle(10, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	var flooder, quiet State
	for range 2 {
		if _, err := th.Take(&flooder, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := th.Take(&flooder, t0); !errors.Is(err, ErrLimited) {
		t.Fatalf("flooder's third message: Take = %v; want ErrLimited", err)
	}
	for i := range 2 {
		if d, err := th.Take(&quiet, t0); d != 0 || err != nil {
			t.Errorf("other connection's message %d: Take = %v, %v; want 0, nil", i, d, err)
		}
	}
}

// TestStateHoldsNoPointer: a State is numbers only, so that a connection holding two of them
// gives the collector nothing to follow and allocates nothing.
func TestStateHoldsNoPointer(t *testing.T) {
	typ := reflect.TypeFor[State]()
	for i := range typ.NumField() {
		switch k := typ.Field(i).Type.Kind(); k {
		case reflect.Float64, reflect.Int64:
		default:
			t.Errorf("State.%s is a %s; want a number", typ.Field(i).Name, k)
		}
	}
	if got := typ.Size(); got > 24 {
		t.Errorf("State is %d bytes; want at most 24", got)
	}
}

package server

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/transport"
)

func TestSecurityConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*SecurityConfig)
		field string // "" for valid
	}{
		{"defaults", func(*SecurityConfig) {}, ""},
		{"secret ok", func(c *SecurityConfig) { c.AuthSecret = testAuthSecret }, ""},
		{"short secret", func(c *SecurityConfig) { c.AuthSecret = []byte("hunter2") }, "AuthSecret"},
		{"negative conns", func(c *SecurityConfig) { c.MaxConnsPerSubject = -1 }, "MaxConnsPerSubject"},
		{"negative burst", func(c *SecurityConfig) { c.UpdateBurst = -1 }, "UpdateBurst"},
		{"negative rate", func(c *SecurityConfig) { c.UpdatesPerSecond = -3 }, "UpdatesPerSecond"},
		{"negative awareness rate", func(c *SecurityConfig) { c.AwarenessPerSecond = -1 }, "AwarenessPerSecond"},
		{"negative grace", func(c *SecurityConfig) { c.RateLimitGrace = -time.Second }, "RateLimitGrace"},
		{"negative pending", func(c *SecurityConfig) { c.MaxPendingBytes = -1 }, "MaxPendingBytes"},
		{"negative pending total", func(c *SecurityConfig) { c.MaxPendingBytesTotal = -1 }, "MaxPendingBytesTotal"},
		{"negative header bytes", func(c *SecurityConfig) { c.MaxHeaderBytes = -1 }, "MaxHeaderBytes"},
		{"negative header timeout", func(c *SecurityConfig) { c.ReadHeaderTimeout = -1 }, "ReadHeaderTimeout"},
		{"cert without key", func(c *SecurityConfig) { c.TLSCertFile = "cert.pem" }, "TLSCertFile"},
		{"key without cert", func(c *SecurityConfig) { c.TLSKeyFile = "key.pem" }, "TLSCertFile"},
	}
	for _, tt := range tests {
		var c SecurityConfig
		tt.edit(&c)
		err := c.withDefaults().validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: validate = %v; want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) || !bytes.Contains([]byte(err.Error()), []byte(tt.field)) {
			t.Errorf("%s: validate = %v; want ErrInvalidConfig naming %s", tt.name, err, tt.field)
		}
	}
	d := SecurityConfig{}.withDefaults()
	want := SecurityConfig{
		MaxConnsPerSubject: 100, UpdatesPerSecond: 60, UpdateBurst: 300, AwarenessPerSecond: 20,
		AwarenessBurst: 40, RateLimitGrace: time.Second, MaxPendingBytes: 8 << 20,
		MaxHeaderBytes: 16 << 10, ReadHeaderTimeout: 5 * time.Second,
	}
	if d.MaxConnsPerSubject != want.MaxConnsPerSubject || d.UpdatesPerSecond != want.UpdatesPerSecond ||
		d.UpdateBurst != want.UpdateBurst || d.AwarenessPerSecond != want.AwarenessPerSecond ||
		d.AwarenessBurst != want.AwarenessBurst || d.RateLimitGrace != want.RateLimitGrace ||
		d.MaxPendingBytes != want.MaxPendingBytes || d.MaxHeaderBytes != want.MaxHeaderBytes ||
		d.ReadHeaderTimeout != want.ReadHeaderTimeout || d.EnableCompression {
		t.Errorf("defaults = %+v; want %+v", d, want)
	}
}

func TestAdmitConn(t *testing.T) {
	var logs bytes.Buffer
	s := newAuthTestServer(t, testAuthSecret, &logs)
	s.sec.subjects.max = 2
	alice := principal{Subject: "alice", Role: auth.RoleWrite}
	bob := principal{Subject: "bob", Role: auth.RoleRead}
	r1, err := s.admitConn(alice)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.admitConn(alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.admitConn(alice); !errors.Is(err, errTooManySubjectConns) {
		t.Fatalf("third connection of alice: admitConn = %v; want errTooManySubjectConns", err)
	}
	if got := s.metrics.refusals.Value(reasonTooManySubjectConns); got != 1 {
		t.Errorf("refusals[%s] = %d; want 1", reasonTooManySubjectConns, got)
	}
	// Others are not affected.
	rb, err := s.admitConn(bob)
	if err != nil {
		t.Fatalf("bob: admitConn = %v; want nil", err)
	}
	r1()
	r1() // a second release does nothing
	r3, err := s.admitConn(alice)
	if err != nil {
		t.Fatalf("after a release: admitConn = %v; want nil", err)
	}
	if _, err := s.admitConn(alice); !errors.Is(err, errTooManySubjectConns) {
		t.Fatalf("after a double release: admitConn = %v; want errTooManySubjectConns (released once only)", err)
	}
	r2()
	r3()
	rb()
	if n := len(s.sec.subjects.n); n != 0 {
		t.Errorf("after every release, %d subjects counted; want 0", n)
	}

	open := newAuthTestServer(t, nil, &logs)
	open.sec.subjects.max = 1
	for i := range 5 {
		if _, err := open.admitConn(anonymous); err != nil {
			t.Fatalf("open server, connection %d: admitConn = %v; want nil", i, err)
		}
	}
}

func newRateTestServer(t *testing.T) *Server {
	t.Helper()
	cfg := Config{SecurityConfig: SecurityConfig{
		UpdatesPerSecond: 60, UpdateBurst: 300, AwarenessPerSecond: 20, AwarenessBurst: 40,
		RateLimitGrace: time.Second,
	}.withDefaults()}
	s := &Server{cfg: cfg, metrics: newServerMetrics(), sec: &security{throttles: newThrottles(cfg.SecurityConfig)}}
	s.hub = transport.New(s.transportConfig())
	return s
}

// TestConnRateFlood floods one connection with updates at 10 times its rate and checks it is
// throttled, then refused with 4429 within 2 s of exceeding its burst (T-SEC-08's criterion).
func TestConnRateFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newRateTestServer(t)
		c := newConn(s, nil, "rate", anonymous) // its rate limits start with full buckets
		ctx := context.Background()
		start := time.Now()
		var burstGone time.Time
		sent := 0
		for {
			before := time.Now()
			err := c.rateWait(ctx, protocol.TypeUpdate)
			if err != nil {
				var pe *protocol.Error
				if !errors.As(err, &pe) || pe.Code != protocol.CloseRateLimited {
					t.Fatalf("rateWait = %v; want a 4429 *protocol.Error", err)
				}
				break
			}
			if time.Since(before) > 0 && burstGone.IsZero() {
				burstGone = before
			}
			sent++
			time.Sleep(time.Second / 600) // 10 x 60 per second
			if sent > 100000 {
				t.Fatal("never refused")
			}
		}
		if burstGone.IsZero() {
			t.Fatal("never throttled before the refusal")
		}
		if late := time.Since(burstGone); late > 2*time.Second {
			t.Errorf("refused %v after the burst ran out; want within 2s", late)
		}
		elapsed := time.Since(start)
		if max := 300 + int(elapsed.Seconds()*60) + 1; sent > max {
			t.Errorf("passed %d updates in %v; want at most %d", sent, elapsed, max)
		}
		if got := s.metrics.refusals.Value(reasonRateLimited); got != 1 {
			t.Errorf("refusals[rate_limited] = %d; want 1", got)
		}
	})
}

func TestConnRateSeparateBuckets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newRateTestServer(t)
		c := newConn(s, nil, "rate", anonymous) // its rate limits start with full buckets
		ctx := context.Background()
		// Use up the awareness burst: further awareness waits, updates and hellos do not.
		for range 40 {
			if err := c.rateWait(ctx, protocol.TypeAwareness); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		for _, typ := range []protocol.Type{protocol.TypeUpdate, protocol.TypeHello, protocol.TypePong, protocol.TypeUpdate} {
			if err := c.rateWait(ctx, typ); err != nil || time.Since(start) != 0 {
				t.Fatalf("%s after the awareness burst: wait = %v after %v; want nil at once", typ, err, time.Since(start))
			}
		}
		for _, typ := range []protocol.Type{protocol.TypeBroadcast, protocol.TypePing, protocol.TypeAwareness} {
			before := time.Now()
			if err := c.rateWait(ctx, typ); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(before); got != time.Second/20 {
				t.Errorf("%s over the awareness rate waited %v; want %v", typ, got, time.Second/20)
			}
		}
		// A context that ends during the wait ends it.
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			time.Sleep(time.Millisecond)
			cancel()
		}()
		if err := c.rateWait(cctx, protocol.TypeAwareness); !errors.Is(err, context.Canceled) {
			t.Errorf("wait with a cancelled context = %v; want context.Canceled", err)
		}
	})
}

func TestWatchExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newRateTestServer(t)
		start := time.Now()
		got := make(chan error, 1)
		var at time.Time
		stop := s.watchExpiry(principal{Subject: "a", Expires: start.Add(90 * time.Second)}, func(err error) {
			at = time.Now()
			got <- err
		})
		defer stop()
		err := <-got
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CloseUnauthorized {
			t.Fatalf("expiry error = %v; want 4401", err)
		}
		if d := at.Sub(start); d != 90*time.Second {
			t.Errorf("expired after %v; want 90s", d)
		}

		called := false
		stop2 := s.watchExpiry(principal{Subject: "b", Expires: time.Now().Add(time.Second)}, func(error) { called = true })
		stop2()
		time.Sleep(2 * time.Second)
		if called {
			t.Errorf("callback ran after stop")
		}
		never := s.watchExpiry(anonymous, func(error) { called = true })
		time.Sleep(time.Hour)
		never()
		if called {
			t.Errorf("callback ran for a principal without expiry")
		}
	})
}

package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/ratelimit"
)

// SecurityConfig holds the settings of authentication, rate limits and the limits that protect the
// server from its clients. It is embedded in Config, so its fields read as Config's own
// (cfg.AuthSecret). docs/security.md explains each defence.
type SecurityConfig struct {
	// AuthSecret is the HMAC-SHA256 key that access tokens are signed with, at least 32 bytes
	// (auth.MinSecretBytes). Empty means the server runs open: every request acts as the
	// anonymous writer of every document, and New logs a warning saying so.
	AuthSecret []byte

	// MaxConnsPerSubject bounds the WebSocket connections one token subject holds open at once,
	// over all documents; the next one is refused with 503 before the upgrade. Zero means 100.
	// It does not apply while the server runs open, where every client is "anonymous".
	MaxConnsPerSubject int

	// UpdatesPerSecond and UpdateBurst are the token bucket of one connection's update messages.
	// A connection over its rate is throttled (its socket is not read until it is back within
	// it); one that stays throttled for RateLimitGrace is closed with 4429. Zero means 60 per
	// second and a burst of 300.
	UpdatesPerSecond float64
	UpdateBurst      int

	// AwarenessPerSecond and AwarenessBurst are the same for the connection's awareness,
	// broadcast and ping messages, which cost the server a message to every other editor (or a
	// pong) each. Zero means 20 per second and a burst of 40.
	AwarenessPerSecond float64
	AwarenessBurst     int

	// RateLimitGrace is how long a connection may stay throttled without a break before it is
	// closed with 4429. Zero means 1 s.
	RateLimitGrace time.Duration

	// MaxPendingBytes bounds, per document, the bytes that updates waiting for missing
	// dependencies hold in memory (crdt.Doc.PendingMemory, about 10 to 40 times their encoded
	// size); an update that would pass it is refused with 4422 and closes its connection. Zero
	// means 8 MiB.
	MaxPendingBytes int

	// MaxPendingBytesTotal bounds the same bytes across all loaded documents; an update that
	// would pass it is refused with 1013 (try again later) and closes its connection. Zero means
	// 64 MiB. See pending.go.
	MaxPendingBytesTotal int

	// MaxHeaderBytes bounds the request line and headers of an HTTP request, in bytes; a larger
	// request gets 431. Zero means 16 KiB.
	MaxHeaderBytes int

	// ReadHeaderTimeout bounds the time to read an HTTP request's headers, so that a client that
	// dribbles them (slowloris) is dropped. Zero means 5 s.
	ReadHeaderTimeout time.Duration

	// EnableCompression negotiates permessage-deflate with clients that offer it. Off by default:
	// compression lets an attacker learn secrets from message sizes, costs CPU, and a compressed
	// message can inflate far past its size on the wire. When on, MaxMessageBytes bounds the
	// inflated size of a message, so a decompression bomb closes with 1009.
	EnableCompression bool

	// RevokedSubjects are subjects none of whose tokens is accepted, whenever issued: a ban, for
	// as long as the server runs with it. Revoking through the administration API is the other
	// way, kept across restarts (revoke.go).
	RevokedSubjects []string

	// RevocationsPath is the file that keeps the revocations made through the administration API
	// across restarts; written on the first one. Empty means DataPath + ".revocations.json".
	RevocationsPath string

	// RevocationTTL is how long a revocation made without an explicit "until" is kept; it should
	// outlast the tokens it revokes. Zero means 30 days.
	RevocationTTL time.Duration

	// TLSCertFile and TLSKeyFile are the PEM files of a certificate chain and its private key.
	// With both set, Serve speaks HTTPS and WSS; with both empty, plain HTTP. Setting only one is
	// an error.
	TLSCertFile string
	TLSKeyFile  string
}

// Defaults of SecurityConfig, applied to zero fields.
const (
	DefaultMaxConnsPerSubject   = 100
	DefaultUpdatesPerSecond     = 60
	DefaultUpdateBurst          = 300
	DefaultAwarenessPerSecond   = 20
	DefaultAwarenessBurst       = 40
	DefaultRateLimitGrace       = time.Second
	DefaultMaxPendingBytes      = crdt.DefaultMaxPendingBytes
	DefaultMaxPendingBytesTotal = 64 << 20
	DefaultMaxHeaderBytes       = 16 << 10
	DefaultReadHeaderTimeout    = 5 * time.Second
	DefaultRevocationTTL        = 30 * 24 * time.Hour
)

// withDefaults returns c with every zero field set to its default.
func (c SecurityConfig) withDefaults() SecurityConfig {
	if c.MaxConnsPerSubject == 0 {
		c.MaxConnsPerSubject = DefaultMaxConnsPerSubject
	}
	if c.UpdatesPerSecond == 0 {
		c.UpdatesPerSecond = DefaultUpdatesPerSecond
	}
	if c.UpdateBurst == 0 {
		c.UpdateBurst = DefaultUpdateBurst
	}
	if c.AwarenessPerSecond == 0 {
		c.AwarenessPerSecond = DefaultAwarenessPerSecond
	}
	if c.AwarenessBurst == 0 {
		c.AwarenessBurst = DefaultAwarenessBurst
	}
	if c.RateLimitGrace == 0 {
		c.RateLimitGrace = DefaultRateLimitGrace
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if c.MaxPendingBytesTotal == 0 {
		c.MaxPendingBytesTotal = DefaultMaxPendingBytesTotal
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.RevocationTTL == 0 {
		c.RevocationTTL = DefaultRevocationTTL
	}
	return c
}

// validate reports the first field of c (after withDefaults) that holds a bad value, wrapping
// ErrInvalidConfig.
func (c SecurityConfig) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if n := len(c.AuthSecret); n > 0 && n < auth.MinSecretBytes {
		return bad("AuthSecret", "is %d bytes: want at least %d (openssl rand -base64 32 makes one)", n, auth.MinSecretBytes)
	}
	ints := []struct {
		name string
		v    int
	}{
		{"MaxConnsPerSubject", c.MaxConnsPerSubject},
		{"UpdateBurst", c.UpdateBurst},
		{"AwarenessBurst", c.AwarenessBurst},
		{"MaxPendingBytes", c.MaxPendingBytes},
		{"MaxPendingBytesTotal", c.MaxPendingBytesTotal},
		{"MaxHeaderBytes", c.MaxHeaderBytes},
	}
	for _, f := range ints {
		if f.v < 0 {
			return bad(f.name, "is negative (%d)", f.v)
		}
	}
	rates := []struct {
		name string
		v    float64
	}{
		{"UpdatesPerSecond", c.UpdatesPerSecond},
		{"AwarenessPerSecond", c.AwarenessPerSecond},
	}
	for _, f := range rates {
		if !(f.v > 0) || math.IsInf(f.v, 0) {
			return bad(f.name, "is %v: want a positive number", f.v)
		}
	}
	if c.RateLimitGrace < 0 {
		return bad("RateLimitGrace", "is negative (%s)", c.RateLimitGrace)
	}
	if c.ReadHeaderTimeout < 0 {
		return bad("ReadHeaderTimeout", "is negative (%s)", c.ReadHeaderTimeout)
	}
	if c.RevocationTTL < 0 {
		return bad("RevocationTTL", "is negative (%s)", c.RevocationTTL)
	}
	for _, s := range c.RevokedSubjects {
		if !validRevocationSubject(s) {
			return bad("RevokedSubjects", "holds %q: want a token subject (1 to %d bytes of UTF-8)", s, auth.MaxSubjectBytes)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return bad("TLSCertFile", "and TLSKeyFile must be set together")
	}
	if c.TLSCertFile != "" {
		// Load them now, so that a bad path or a key that does not match fails at start with the
		// field named, not at the first connection.
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			return bad("TLSCertFile", "and TLSKeyFile: %v", err)
		}
	}
	return nil
}

// Refusal reasons counted by this file and auth.go, labels of tandem_refusals_total.
const (
	reasonRateLimited         = "rate_limited"
	reasonTokenExpired        = "token_expired"
	reasonTooManySubjectConns = "too_many_subject_connections"
	reasonPendingOverflow     = "pending_overflow"
)

// errTooManySubjectConns is returned by admitConn when a subject holds MaxConnsPerSubject
// connections already; the upgrade handler answers 503.
var errTooManySubjectConns = errors.New("server: too many connections for this subject")

// subjectConns counts the open WebSocket connections of each subject.
type subjectConns struct {
	max int

	mu sync.Mutex
	n  map[string]int // guarded by mu; subjects with no connection are absent
}

// admitConn counts a new connection for p's subject and returns the function that uncounts it
// when the connection ends (call it once). It refuses the connection, with an error wrapping
// errTooManySubjectConns, when the subject is at MaxConnsPerSubject. The server running open
// counts nothing.
func (s *Server) admitConn(p principal) (release func(), err error) {
	if s.runsOpen() {
		return func() {}, nil
	}
	sc := &s.sec.subjects
	sc.mu.Lock()
	if sc.n[p.Subject] >= sc.max {
		n := sc.n[p.Subject]
		sc.mu.Unlock()
		s.refuse(reasonTooManySubjectConns)
		s.warns.warn(nil, "too many connections for a subject", "subject", p.Subject, "open", n)
		return nil, fmt.Errorf("%w: %q holds %d open connections, the limit", errTooManySubjectConns, p.Subject, n)
	}
	sc.n[p.Subject]++
	sc.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			sc.mu.Lock()
			if sc.n[p.Subject]--; sc.n[p.Subject] <= 0 {
				delete(sc.n, p.Subject)
			}
			sc.mu.Unlock()
		})
	}, nil
}

// subjectFull reports whether p's subject holds MaxConnsPerSubject connections already, so that
// its next upgrade would be refused (the access endpoint says so without admitting anything).
func (s *Server) subjectFull(p principal) bool {
	if s.runsOpen() {
		return false
	}
	sc := &s.sec.subjects
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.n[p.Subject] >= sc.max
}

// connRate is the rate limit of one connection's messages: its standing against the server's
// throttle for updates, and against the one for the messages that fan out or are answered
// (awareness, broadcast, ping). It is a value inside the connection, numbers only, whose zero
// value is full buckets: rate limits cost a connection no allocation, idle or not. It belongs to
// the connection's reader.
type connRate struct {
	updates   ratelimit.State
	ephemeral ratelimit.State
}

// throttles are a server's rate-limit rules, shared by its connections (each keeps its standing,
// connRate).
type throttles struct {
	updates   *ratelimit.Throttle
	ephemeral *ratelimit.Throttle
}

// newThrottles returns the rate-limit rules of cfg. validate has checked the parameters, so the
// constructors cannot fail; withDefaults covers servers built by tests from a zero Config.
func newThrottles(cfg SecurityConfig) throttles {
	cfg = cfg.withDefaults()
	up, err := ratelimit.NewThrottle(cfg.UpdatesPerSecond, cfg.UpdateBurst, cfg.RateLimitGrace)
	if err != nil {
		panic(fmt.Sprintf("server: update rate limit: %v", err))
	}
	eph, err := ratelimit.NewThrottle(cfg.AwarenessPerSecond, cfg.AwarenessBurst, cfg.RateLimitGrace)
	if err != nil {
		panic(fmt.Sprintf("server: awareness rate limit: %v", err))
	}
	return throttles{updates: up, ephemeral: eph}
}

// rateWait accounts for one message of type t that c's reader has just read. It returns at once
// if the connection is within its rate; it sleeps, so that the reader stops reading and TCP slows
// the client down, if the connection is over its rate; and it returns a *protocol.Error with code
// 4429 if the connection has been over its rate for RateLimitGrace. Messages other than update,
// awareness, broadcast, ping and auth are not limited (hello is allowed once, pong answers the server).
// It returns ctx's error if ctx ends while it sleeps.
func (c *conn) rateWait(ctx context.Context, t protocol.Type) error {
	th, st := c.srv().sec.throttles.updates, &c.rate.updates
	switch t {
	case protocol.TypeUpdate:
	case protocol.TypeAwareness, protocol.TypeBroadcast, protocol.TypePing, protocol.TypeAuth:
		th, st = c.srv().sec.throttles.ephemeral, &c.rate.ephemeral
	default:
		return nil
	}
	d, err := th.Take(st, time.Now())
	if err != nil {
		c.srv().refuse(reasonRateLimited)
		cfg := c.srv().cfg.SecurityConfig.withDefaults() // the figures newThrottles used
		if t == protocol.TypeUpdate {
			return protocol.Errorf(protocol.CloseRateLimited, "too many updates: the limit is %g per second with bursts of %d", cfg.UpdatesPerSecond, cfg.UpdateBurst)
		}
		return protocol.Errorf(protocol.CloseRateLimited, "too many awareness, broadcast, ping and auth messages: the limit is %g per second with bursts of %d", cfg.AwarenessPerSecond, cfg.AwarenessBurst)
	}
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watchConn starts what security keeps for c, an open connection of who: the close at the
// token's expiry, and release, which gives back the connection's place among its subject's (from
// admitConn); c.secDone ends both once the connection has ended. A principal without an expiry
// on a server that runs open (where release does nothing) keeps nothing for the connection's life.
func (s *Server) watchConn(c *conn, who principal, release func()) {
	if who.Expires.IsZero() && s.runsOpen() {
		release()
		return
	}
	c.auth = s.newConnAuth(c, who, release) // refresh.go
}

// secDone ends what security keeps for c (watchConn). It is called once c has ended, or was never
// registered.
func (c *conn) secDone() {
	if c.auth != nil {
		c.auth.end()
	}
}

// errPendingOverflow refuses an update that would take the document's updates waiting for
// missing dependencies past MaxPendingBytes.
var errPendingOverflow = protocol.Errorf(protocol.CloseInvalidUpdate, "too many updates waiting for missing dependencies: send the updates they depend on first")

// errTokenExpired is what a connection closes with when its token expires.
var errTokenExpired = &protocol.Error{Code: protocol.CloseUnauthorized, Message: "token expired"}

// watchExpiry arranges for onExpire to be called with a 4401 error when p's token expires, and
// returns the function that cancels it (call it when the connection ends). onExpire runs on a
// timer's goroutine: it must only start the close. A principal without an expiry (the server
// running open) is never called back.
func (s *Server) watchExpiry(p principal, onExpire func(error)) (stop func()) {
	if p.Expires.IsZero() {
		return func() {}
	}
	t := time.AfterFunc(time.Until(p.Expires), func() {
		s.refuse(reasonTokenExpired)
		onExpire(errTokenExpired)
	})
	return func() { t.Stop() }
}

// serveHTTP serves srv on l: HTTPS (and so WSS) with the configured certificate when TLSCertFile
// and TLSKeyFile are set, plain HTTP otherwise.
func (s *Server) serveHTTP(srv *http.Server, l net.Listener) error {
	if s.cfg.TLSCertFile != "" {
		return srv.ServeTLS(l, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
	}
	return srv.Serve(l)
}

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/server/internal/metrics"
)

// Hooks for embedders. An application that mounts tandem on its own router supplies, as
// Config.Hooks, what Hocuspocus users reach for first: its own authentication (beside or instead
// of the built-in tokens), its own per-document authorization, and an observer of the documents'
// changes. Every hook is optional; the zero Hooks leaves the server as it is without them.
//
// The authentication hooks run on the request's goroutine, before anything else is decided about
// the request (the origin check of a WebSocket upgrade excepted), on the WebSocket upgrade, the
// access endpoint and every HTTP API call alike; their refusals are the built-in token check's:
// 401 and close code 4401, 403 and 4403. The observer runs on a goroutine of its own, never on a
// document's: a slow observer delays nothing but its own notifications, which merge (changes of one
// document) or are dropped (past Hooks.MaxPendingEvents) and counted.

// Hooks are the embedding application's hooks (Config.Hooks). Each func field is optional.
type Hooks struct {
	// Authenticate establishes who makes a request: a WebSocket upgrade, a call of the HTTP API or
	// of the access endpoint. It returns the request's identity, or an error that refuses the
	// request: 401 (close code 4401 in the access endpoint's answer), or 403 (4403) if the error
	// wraps ErrForbidden. ErrUseToken leaves the request to the built-in token check
	// (SecurityConfig.AuthSecret), which refuses it with 401 when the server has no token secret.
	// The error's text is logged, never sent to the client. Nil means the built-in check alone.
	//
	// It is called on the request's goroutine, concurrently for concurrent requests, and must not
	// keep the request. A server with an Authenticate hook does not run open: per-subject limits
	// and client ID bindings (docs/security.md) hold for its identities as for tokens.
	Authenticate func(r *http.Request) (Identity, error)

	// Authorize decides what subject may do with document docID, given the role the request asks
	// for: auth.RoleRead for an HTTP read, auth.RoleWrite for an HTTP write or delete, and for a
	// WebSocket connection (or the access endpoint) the most its identity allows (write or read).
	// It returns the role granted for this document, which may be less than the one asked for
	// (auth.RoleRead makes a WebSocket connection read-only and refuses an HTTP write with 403)
	// and is never more than the identity's own (a higher one is lowered to it: the hook
	// restricts, never widens), or an error that refuses the request: 403 (4403), or 401 (4401) if the error wraps
	// ErrUnauthorized. It runs after the identity's own document pattern (a token's "docs") has
	// allowed the document, for identities of tokens and of Authenticate alike, and for the
	// anonymous writer of a server that runs open. The error's text is logged, never sent to the
	// client. Nil means the identity's document pattern and role alone decide.
	//
	// A WebSocket connection is authorized once, at its upgrade (and again at each token refresh,
	// docs/protocol.md section 4.9); to end a connection's access, revoke its subject
	// (POST /v1/revocations) or let its identity expire.
	Authorize func(ctx context.Context, subject, docID string, want auth.Role) (auth.Role, error)

	// Observe is told of the documents' lives: created (the first write of a document not in
	// storage became durable), changed (writes became durable; debounced per document, see
	// ChangeDebounce) and deleted. It runs on one goroutine of the server's, one event at a time,
	// in the order of the events of each document. A slow Observe delays its own events only: a
	// document's changes merge into one while they wait, and events past MaxPendingEvents are
	// dropped and counted (tandem_observer_events_dropped_total). A panic in it is logged and the
	// event is lost. Shutdown delivers what waits, debounced or not, before it returns.
	Observe func(DocEvent)

	// ChangeDebounce is how long a document must stay unchanged before its change is observed:
	// each durable write of the document restarts the wait (up to ChangeMaxDebounce). Zero means
	// 2 s.
	ChangeDebounce time.Duration

	// ChangeMaxDebounce bounds how long a document that keeps changing waits for its change to be
	// observed, from the first change not observed yet. Zero means 10 s; it may not be below
	// ChangeDebounce.
	ChangeMaxDebounce time.Duration

	// MaxPendingEvents bounds the events waiting for Observe: created and deleted events, and
	// documents whose change waits (each counts once, however many writes it merges). An event
	// past it is dropped and counted. Zero means 4096.
	MaxPendingEvents int
}

// Hook defaults, applied by Hooks.withDefaults.
const (
	DefaultChangeDebounce    = 2 * time.Second
	DefaultChangeMaxDebounce = 10 * time.Second
	DefaultMaxPendingEvents  = 4096
)

func (h Hooks) withDefaults() Hooks {
	if h.ChangeDebounce == 0 {
		h.ChangeDebounce = DefaultChangeDebounce
	}
	if h.ChangeMaxDebounce == 0 {
		h.ChangeMaxDebounce = max(DefaultChangeMaxDebounce, h.ChangeDebounce)
	}
	if h.MaxPendingEvents == 0 {
		h.MaxPendingEvents = DefaultMaxPendingEvents
	}
	return h
}

// Identity is who makes a request, as an Authenticate hook establishes it.
type Identity struct {
	// Subject names the user or service; required. Per-subject limits (MaxConnsPerSubject),
	// client ID bindings and revocations by subject apply to it as to a token's subject.
	Subject string
	// Role is what the identity may do: auth.RoleRead, auth.RoleWrite or auth.RoleAdmin (which may
	// also use the administration API); required. Authorize may lower it per document.
	Role auth.Role
	// Documents is the pattern of the documents the identity may open, as a token's (auth.Match):
	// "*", a prefix followed by "*", or one document ID. Empty means every document, leaving the
	// decision to Authorize.
	Documents string
	// Expires, when not zero, is when the identity's access ends: an open WebSocket connection is
	// closed with 4401 then, unless its client refreshes it in time with a token of the built-in
	// check (which needs SecurityConfig.AuthSecret).
	Expires time.Time
}

// ErrUseToken is returned by an Authenticate hook to leave a request to the built-in token check.
var ErrUseToken = errors.New("server: use the built-in token check")

// errHookIdentity: an Authenticate hook returned an identity without a subject or a valid role.
var errHookIdentity = errors.New("server: the authenticate hook returned an invalid identity")

// runsOpen reports whether the server lets everyone in as the anonymous writer: no token secret,
// no Authenticate hook.
func (s *Server) runsOpen() bool {
	return s.sec.authority == nil && s.cfg.Hooks.Authenticate == nil
}

// authenticate decides who r is: the Authenticate hook's identity, or the built-in token's, or the
// anonymous writer while the server runs open. The error wraps ErrUnauthorized or ErrForbidden and
// an httpError to answer with.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	if h := s.cfg.Hooks.Authenticate; h != nil {
		id, err := h(r)
		switch {
		case err == nil:
			return s.hookPrincipal(r, id)
		case errors.Is(err, ErrForbidden):
			s.warns.warn(nil, "forbidden by the authenticate hook", "err", err, "method", r.Method, "url", auth.RedactURL(r.URL), "remote", r.RemoteAddr)
			he := &httpError{status: http.StatusForbidden, code: "forbidden", msg: "the request's credentials do not allow it"}
			return principal{}, fmt.Errorf("%w: %w", ErrForbidden, he)
		case !errors.Is(err, ErrUseToken):
			return principal{}, s.unauthorized(r, err, "the request's credentials were refused")
		case s.sec.authority == nil:
			return principal{}, s.unauthorized(r, err, "the request's credentials were refused")
		}
	}
	if s.sec.authority == nil {
		return anonymous, nil
	}
	tok, err := auth.FromRequest(r)
	if err == nil {
		var p principal
		if p, err = s.verifyToken(tok); err == nil {
			return p, nil
		}
	}
	return principal{}, s.unauthorized(r, err, unauthorizedMessage(err))
}

// hookPrincipal checks an identity of the Authenticate hook and returns the principal it makes.
// A subject revoked (POST /v1/revocations) is refused as a revoked token is.
func (s *Server) hookPrincipal(r *http.Request, id Identity) (principal, error) {
	if id.Subject == "" || !id.Role.Valid() {
		s.log.Error("the authenticate hook returned an identity without a subject or a valid role",
			"subject", id.Subject, "role", id.Role)
		return principal{}, fmt.Errorf("%w: subject %q, role %q", errHookIdentity, id.Subject, id.Role)
	}
	if s.sec.deny.denies(id.Subject, "", time.Time{}) {
		s.refuse(reasonRevoked)
		return principal{}, s.unauthorized(r, fmt.Errorf("%w: subject %q", errTokenRevoked, id.Subject), "token revoked")
	}
	p := principal{Subject: id.Subject, Role: id.Role, Documents: id.Documents, Expires: id.Expires}
	if p.Documents == "" {
		p.Documents = "*"
	}
	return p, nil
}

// unauthorized logs (rate-limited) and returns the 401 refusal of r, whose cause is err; msg is what
// the client is told.
func (s *Server) unauthorized(r *http.Request, err error, msg string) error {
	s.warns.warn(nil, "unauthorized", "err", err, "method", r.Method, "url", auth.RedactURL(r.URL), "remote", r.RemoteAddr)
	he := &httpError{status: http.StatusUnauthorized, code: "unauthorized", msg: msg}
	return fmt.Errorf("%w: %w: %w", ErrUnauthorized, he, err)
}

// grant decides what p may do with document docID: its document pattern first, then the Authorize
// hook, asked for want. It returns p with the role granted for the document. The error wraps
// ErrForbidden or ErrUnauthorized and an httpError to answer with.
func (s *Server) grant(ctx context.Context, p principal, docID string, want auth.Role) (principal, error) {
	if !p.allows(docID) {
		s.warns.warn(nil, "forbidden: the token does not name this document", "doc", docID, "who", p)
		msg := fmt.Sprintf("the token does not allow document %q", docID)
		return principal{}, fmt.Errorf("%w: %w", ErrForbidden, &httpError{status: http.StatusForbidden, code: "forbidden", msg: msg})
	}
	h := s.cfg.Hooks.Authorize
	if h == nil {
		return p, nil
	}
	role, err := h(ctx, p.Subject, docID, want)
	if err == nil && !role.Valid() {
		s.log.Error("the authorize hook granted no valid role", "doc", docID, "who", p, "role", role)
		err = fmt.Errorf("server: the authorize hook granted role %q", role)
	}
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			s.warns.warn(nil, "unauthorized by the authorize hook", "doc", docID, "who", p, "err", err)
			he := &httpError{status: http.StatusUnauthorized, code: "unauthorized", msg: "the request's credentials were refused"}
			return principal{}, fmt.Errorf("%w: %w: %w", ErrUnauthorized, he, err)
		}
		s.warns.warn(nil, "forbidden by the authorize hook", "doc", docID, "who", p, "err", err)
		msg := fmt.Sprintf("access to document %q is not allowed", docID)
		return principal{}, fmt.Errorf("%w: %w", ErrForbidden, &httpError{status: http.StatusForbidden, code: "forbidden", msg: msg})
	}
	if roleRank(role) < roleRank(p.Role) {
		p.Role = role // the hook restricts, never widens
	}
	return p, nil
}

// roleRank orders the roles: read, write, admin.
func roleRank(r auth.Role) int {
	switch {
	case r.CanAdminister():
		return 2
	case r.CanWrite():
		return 1
	}
	return 0
}

// wantedRole is the role a request on a document asks for (Hooks.Authorize): the most p may do for
// a WebSocket connection and the access endpoint, which tells what the connection would get;
// reading for the other GETs; writing for the rest.
func wantedRole(r *http.Request, p principal) auth.Role {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return auth.RoleWrite
	}
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if pat := rc.RoutePattern(); strings.HasSuffix(pat, "/{id}/ws") || strings.HasSuffix(pat, "/{id}/access") {
			if p.Role.CanWrite() {
				return auth.RoleWrite
			}
		}
	}
	return auth.RoleRead
}

// EventKind is what happened to a document (DocEvent).
type EventKind uint8

// Kinds of DocEvent.
const (
	// DocumentCreated: the first write of a document that was not in storage became durable.
	DocumentCreated EventKind = iota + 1
	// DocumentChanged: writes of the document became durable (debounced: one event may stand for
	// many writes).
	DocumentChanged
	// DocumentDeleted: the document was deleted from storage (DELETE /v1/docs/{id}).
	DocumentDeleted
)

func (k EventKind) String() string {
	switch k {
	case DocumentCreated:
		return "created"
	case DocumentChanged:
		return "changed"
	case DocumentDeleted:
		return "deleted"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// DocEvent is what Hooks.Observe is told.
type DocEvent struct {
	Kind EventKind
	// Document is the document's ID.
	Document string
	// StateVector is, for DocumentChanged, the document's state vector when its last merged change
	// became durable: it covers every durable write up to then (and may cover writes of clients
	// still in flight, never the server's own before they are durable). GET
	// /v1/docs/{id}/update?sv= with an earlier state vector gives what changed since. The
	// observer owns it. Nil for the other kinds.
	StateVector crdt.StateVector
}

// changeMark is what a document's actor keeps for the change observer: how far it has told it.
type changeMark struct {
	told    uint64 // the durability index up to which the document's changes were reported
	existed bool   // the document was in storage when loaded, or its creation was reported
}

// notifier takes the documents' events from their actors and hands them to Hooks.Observe on a
// goroutine of its own (run). Actors call it without ever waiting: a call takes mu for a few map
// and slice operations. Changes of one document wait in changes until their debounce has passed,
// merging; then they join queue, with the created and deleted events, in order.
type notifier struct {
	observe     func(DocEvent)
	debounce    time.Duration
	maxDebounce time.Duration
	max         int
	log         *slog.Logger
	dropped     *metrics.CounterVec // by kind
	merged      *metrics.Counter

	mu      sync.Mutex
	queue   []DocEvent                // due to be delivered, in order
	changes map[string]*pendingChange // documents whose change waits for its debounce
	wake    chan struct{}             // capacity 1: something new in queue or changes
	stop    chan struct{}             // closed by close: deliver what waits, then end
	done    chan struct{}             // closed when run has returned
	once    sync.Once
}

// pendingChange is a document's change waiting for its debounce.
type pendingChange struct {
	sv          crdt.StateVector // the latest; shared with the actor, which never modifies it
	first, last time.Time
}

// newNotifier returns the notifier of h, started, or nil when h has no Observe.
func newNotifier(h Hooks, log *slog.Logger, m *serverMetrics) *notifier {
	if h.Observe == nil {
		return nil
	}
	n := &notifier{
		observe:     h.Observe,
		debounce:    h.ChangeDebounce,
		maxDebounce: h.ChangeMaxDebounce,
		max:         h.MaxPendingEvents,
		log:         log,
		dropped: m.reg.NewCounterVec("tandem_observer_events_dropped_total",
			"Document events dropped because Hooks.MaxPendingEvents were waiting for the observer, by kind.",
			"kind", DocumentCreated.String(), DocumentChanged.String(), DocumentDeleted.String()),
		merged: m.reg.NewCounter("tandem_observer_changes_merged_total",
			"Durable changes merged into a document's change already waiting for the observer (debounce), or dropped by its deletion."),
		changes: make(map[string]*pendingChange),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go n.run()
	return n
}

// durable is called by document id's actor whenever storage reports have moved its durability
// index to d; selfDone says whether the server's own writes (HTTP edits) are all durable, and sv
// is the document's state vector, which the actor will not modify. It reports the document
// created (once) and changed. A nil notifier does nothing.
func (n *notifier) durable(m *changeMark, id string, d uint64, selfDone bool, sv func() crdt.StateVector) {
	if n == nil || d <= m.told || !selfDone {
		// Nothing new, or the server's own units are still in flight: what they hold must not
		// leave the process before it is durable (the document's next report tells).
		return
	}
	m.told = d
	if !m.existed {
		m.existed = true
		n.event(DocEvent{Kind: DocumentCreated, Document: id})
	}
	n.changed(id, sv())
}

// deleted is called by document id's actor once storage has deleted it. A nil notifier does
// nothing.
func (n *notifier) deleted(id string) {
	if n == nil {
		return
	}
	n.event(DocEvent{Kind: DocumentDeleted, Document: id})
}

// changed records that document id changed, as of state vector sv.
func (n *notifier) changed(id string, sv crdt.StateVector) {
	now := time.Now()
	n.mu.Lock()
	if c, ok := n.changes[id]; ok {
		c.sv, c.last = sv, now
		n.mu.Unlock()
		n.merged.Inc()
		return
	}
	if len(n.changes)+len(n.queue) >= n.max {
		n.mu.Unlock()
		n.dropped.Inc(DocumentChanged.String())
		return
	}
	n.changes[id] = &pendingChange{sv: sv, first: now, last: now}
	n.mu.Unlock()
	n.signal()
}

// event queues a created or deleted event. A deletion drops the document's change that waits.
func (n *notifier) event(e DocEvent) {
	n.mu.Lock()
	if _, ok := n.changes[e.Document]; ok && e.Kind == DocumentDeleted {
		delete(n.changes, e.Document)
		n.merged.Inc()
	}
	if len(n.changes)+len(n.queue) >= n.max {
		n.mu.Unlock()
		n.dropped.Inc(e.Kind.String())
		return
	}
	n.queue = append(n.queue, e)
	n.mu.Unlock()
	n.signal()
}

func (n *notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// run delivers the events as they become due, until close.
func (n *notifier) run() {
	defer close(n.done)
	stopping := false
	for {
		batch, next := n.due(time.Now(), stopping)
		for _, e := range batch {
			n.deliver(e)
		}
		if stopping {
			return
		}
		if len(batch) > 0 {
			continue // time has passed while the observer worked
		}
		var timer *time.Timer
		var tc <-chan time.Time
		if !next.IsZero() {
			timer = time.NewTimer(time.Until(next))
			tc = timer.C
		}
		select {
		case <-n.wake:
		case <-tc:
		case <-n.stop:
			stopping = true
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// due takes the events due at now (all of them if flush) and returns them, with the time at which
// the next waiting change becomes due (zero if none waits). Changes that become due together are
// delivered in document ID order.
func (n *notifier) due(now time.Time, flush bool) ([]DocEvent, time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var next time.Time
	var ids []string
	for id, c := range n.changes {
		at := c.last.Add(n.debounce)
		if capped := c.first.Add(n.maxDebounce); capped.Before(at) {
			at = capped
		}
		if flush || !at.After(now) {
			ids = append(ids, id)
		} else if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		n.queue = append(n.queue, DocEvent{Kind: DocumentChanged, Document: id, StateVector: n.changes[id].sv})
		delete(n.changes, id)
	}
	batch := n.queue
	n.queue = nil
	return batch, next
}

// deliver hands e to the observer, a copy of its state vector included.
func (n *notifier) deliver(e DocEvent) {
	if e.StateVector != nil {
		e.StateVector = maps.Clone(e.StateVector)
	}
	defer func() {
		if v := recover(); v != nil {
			n.log.Error("the document observer panicked: its event is lost", "doc", e.Document, "kind", e.Kind.String(), "panic", v)
		}
	}()
	n.observe(e)
}

// close delivers what waits, debounced or not, and ends run; it returns when run has ended or ctx
// ends. Calls after the first wait for the same end. A nil notifier returns at once.
func (n *notifier) close(ctx context.Context) error {
	if n == nil {
		return nil
	}
	n.once.Do(func() { close(n.stop) })
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("server: shutdown: waiting for the document observer: %w", ctx.Err())
	}
}

package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/server/internal/metrics"
)

// The document observer (Hooks.Observe). A document's actor reports what storage has made durable
// and what it has deleted to the server's notifier, at one place each (actor.drainEvents,
// actor.onDeleted), without ever waiting; the notifier debounces the changes per document and
// hands the events to the observer on a goroutine of its own.

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

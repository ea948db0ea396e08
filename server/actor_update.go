package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/room"
)

func (a *actor) onUpdate(m updateMsg) {
	s := a.seatOf(m.c)
	if s == nil || s.Refused {
		return
	}
	s.Received++
	seq := s.Received
	refuse := func(err error) {
		s.Refused = true
		a.s.refuseErr(err)
		m.c.CloseWith(err)
	}
	if m.c.ReadOnly() {
		refuse(errReadOnly)
		return
	}
	if err := a.authorizeUpdate(m.c.Subject(), m.c.ClientID(), m.data); err != nil { // security: auth_bindings.go
		refuse(err)
		return
	}
	index, err := a.applyAndStore(m.data, m.at, m.c)
	if err != nil {
		refuse(err)
		return
	}
	if ackEarlyDelay > 0 {
		// Crash-test mutation build only: acknowledge before durability.
		m.c.Send(outFrame{data: protocol.EncodeFrame(0, &protocol.Ack{Seq: seq})})
		return
	}
	a.ledger.Pend(m.c, seq, index)
	a.release()
}

// applyAndStore applies an update from a connection (from, nil for HTTP) to the document, hands it
// to storage and broadcasts it to the other connections. It returns the durability index after
// which the update is durable. An update that brings nothing new is neither stored nor broadcast;
// its index is that of the last append, so that its acknowledgement keeps the order.
func (a *actor) applyAndStore(data []byte, at time.Time, from member) (uint64, error) {
	if a.saver.DocBytes()+int64(len(data)) > a.s.cfg.MaxDocumentBytes {
		return 0, protocol.Errorf(protocol.CloseDocumentTooLarge, "the document would exceed %d bytes", a.s.cfg.MaxDocumentBytes)
	}
	// The document's version tells a no-op (a reconnecting client's catch-up of what the server
	// already has) from an update that changed anything, visible or not, at no cost.
	before := a.doc.Version()
	limit, serverWide := a.s.pending.limit(a.s.cfg.MaxPendingBytes, a.pendingHeld)
	a.doc.SetMaxPendingMemory(limit)
	err := a.doc.Integrate(data)
	a.accountPending()
	if err != nil {
		if errors.Is(err, crdt.ErrPendingOverflow) {
			if serverWide {
				return 0, errPendingBudget // MaxPendingBytesTotal (pending.go)
			}
			return 0, errPendingOverflow // security: MaxPendingBytes (limits.go)
		}
		if errors.Is(err, crdt.ErrMalformedUpdate) {
			return 0, protocol.Errorf(protocol.CloseInvalidUpdate, "update refused: %v", err)
		}
		return 0, fmt.Errorf("server: apply update to %q: %w", a.id, err)
	}
	if a.doc.Version() == before {
		return a.ledger.Issued(), nil
	}
	a.version++
	a.s.metrics.updatesApplied.Inc()
	index := a.appendUpdate(data)
	a.relay(outFrame{data: protocol.EncodeFrame(0, &protocol.Update{Data: data}), born: at}, index, from, false)
	return index, nil
}

// docBytes is the document's stored size: snapshot plus log.
func (a *actor) docBytes() int64 { return a.saver.DocBytes() }

// appendUpdate hands an update to storage and returns its durability index.
func (a *actor) appendUpdate(data []byte) uint64 {
	i := a.ledger.Issue()
	a.saver.Appended(int64(len(data)))
	a.exists = true
	start := time.Now()
	n := int64(len(data))
	if ackEarlyDelay > 0 {
		time.AfterFunc(ackEarlyDelay, func() {
			a.s.store.Append(a.id, data, func(seq uint64, err error) {
				a.postEvent(event{kind: evAppend, index: i, seq: seq, bytes: n, start: start, err: err})
			})
		})
	} else {
		a.s.store.Append(a.id, data, func(seq uint64, err error) {
			a.postEvent(event{kind: evAppend, index: i, seq: seq, bytes: n, start: start, err: err})
		})
	}
	a.maybeCompact()
	return i
}

// broadcast queues f, which carries no CRDT content (a broadcast message), for every member but
// from.
func (a *actor) broadcast(f outFrame, from member) {
	for _, c := range a.members {
		if c != from {
			a.out(c, f, 0)
		}
	}
}

// Relay after durable (DESIGN.md, "Identity and crashes"). A unit relayed before it is durable
// can be lost in a crash while another replica holds it. Two things then go wrong, and relay
// prevents both by holding such a unit back, from whoever it matters for, until it is durable:
//
//   - The server's own units (HTTP edits): the restarted server issues the lost clocks again with
//     other content, and the replica that holds the old content never converges. So they are
//     held from everyone (own), whatever the configuration.
//   - With client bindings on (auth_bindings.go), a replica of another subject would re-send the
//     lost unit in its catch-up after the crash, and be refused as a forger (4403, terminal). So
//     with bindings on, a unit is held from every connection of another subject than its
//     author's; connections of the same subject get it at once (they may re-send it). Without
//     bindings, re-sending a lost unit of another client is accepted and restores it, so nothing
//     is held.
//
// The cost is the commit latency (docs/server.md) on the relay between subjects while bindings
// are on. The same rule covers what a joiner or an HTTP reader is shown (visibleNeed).

// relay sends f, an update frame whose units became durability index index, to every member but
// from (nil for HTTP writes and the server's own edits, own), at once or once durable.
func (a *actor) relay(f outFrame, index uint64, from member, own bool) {
	need := uint64(0)
	if own || !a.bindings.open {
		need = index
	}
	for _, c := range a.members {
		if c == from {
			continue
		}
		n := need
		if n > 0 && !own && from != nil && c.Subject() == from.Subject() {
			n = 0
		}
		a.out(c, f, n)
	}
}

// visibleNeed returns the durability index up to which the document must be durable before its
// present content may be shown to a joiner or an HTTP reader (0: at once): with bindings on,
// every update handed to storage; without, the server's own units.
func (a *actor) visibleNeed() uint64 {
	switch {
	case !a.bindings.open:
		return a.ledger.Issued()
	case a.selfInFlight > a.ledger.Durable():
		return a.selfInFlight
	}
	return 0
}

// out sends f to member c once every update up to durability index need is durable, and after
// every frame sent to c before it (room.Ledger.Out).
//
// The frames waiting count against the connection's send queue limit: a connection that has
// SendQueueMessages of them (storage stalled for long) is closed as a slow consumer, and its
// client resyncs once it reconnects.
func (a *actor) out(c member, f outFrame, need uint64) {
	switch a.ledger.Out(c, f, need) {
	case room.Now:
		a.sendTo(c, f)
	case room.Over:
		a.overflow(c)
	}
}

// overflow closes c, which has more frames held for durability than its send queue takes.
func (a *actor) overflow(c member) {
	a.s.metrics.slowConsumers.Inc(slowQueueFull)
	c.CloseWith(errSlowConsumer)
}

// release carries out what the ledger finds due now: the acks and held frames, then the HTTP
// writes and reads, whose answers may let the document go idle.
func (a *actor) release() {
	a.ledger.Release()
	ready := a.ledger.Ready()
	if len(ready) == 0 {
		return
	}
	var sv []byte // the state vector HTTP writes are answered with, encoded once
	answered := false
	for _, e := range ready {
		switch e.Kind {
		case room.Changed:
			a.changed()
		case room.Send:
			a.sendTo(e.Member, e.Frame)
		case room.Overflow:
			a.overflow(e.Member)
		case room.AnswerWrite:
			if sv == nil {
				sv = crdt.EncodeStateVector(a.stateVector())
			}
			e.Waiter.write <- writeResult{sv: sv}
			answered = true
		case room.AnswerRead:
			e.Waiter.read <- e.Waiter.result
			answered = true
		}
	}
	a.ledger.Advance()
	if answered && a.ledger.Writes() == 0 && len(a.members) == 0 {
		a.armIdle()
	}
}

// wait answers an HTTP write once durability index i is durable.
func (a *actor) wait(i uint64, reply chan writeResult) {
	if a.ledger.WaitWrite(i, waitReply{write: reply}) {
		reply <- writeResult{sv: crdt.EncodeStateVector(a.stateVector())}
	}
}

// changed is called on the actor's goroutine whenever the document's durable content has moved on
// (room.Changed, listed before the acks and relays it releases): every update and HTTP edit passes
// here once durable, several at once under load. It is the one place for a change notification:
// what storage has made durable is reported to the embedder's observer (Hooks.Observe), which never
// blocks the actor (observe.go, notifier.durable).
func (a *actor) changed() {
	if a.s.changes != nil {
		d := a.ledger.Durable()
		a.s.changes.durable(&a.changes, a.id, d, a.selfInFlight <= d, a.stateVector)
	}
}

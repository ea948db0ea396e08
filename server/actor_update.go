package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/room"
)

// onUpdate applies an update of member m.c and tells the core (room.Core.Apply), which stores
// and relays it, and acknowledges it once durable. A refused update closes the member, whose
// later updates are dropped unread (room.Core.Refuse).
func (a *actor) onUpdate(m updateMsg) {
	seq, ok := a.core.Receive(m.c)
	if !ok {
		return
	}
	refuse := func(err error) {
		a.s.refuseErr(err)
		a.core.Refuse(m.c, err)
	}
	if m.c.ReadOnly() {
		refuse(errReadOnly)
		return
	}
	if err := a.authorizeUpdate(m.c.Subject(), m.c.ClientID(), m.data); err != nil { // security: auth_bindings.go
		refuse(err)
		return
	}
	changed, err := a.apply(m.data)
	if err != nil {
		refuse(err)
		return
	}
	u := room.Applied[member, outFrame]{From: m.c, Seq: seq, Changed: changed, Data: m.data}
	if changed {
		u.Frame = outFrame{data: protocol.EncodeFrame(0, &protocol.Update{Data: m.data}), born: m.at}
	}
	if ackEarlyDelay > 0 {
		// Crash-test mutation build only: acknowledge before durability.
		u.Seq = 0
		a.core.Apply(u)
		m.c.Send(outFrame{data: protocol.EncodeFrame(0, &protocol.Ack{Seq: seq})})
		return
	}
	a.core.Apply(u)
}

// apply applies an update from a connection or an HTTP request to the document, and reports
// whether it changed anything: the core then stores and relays it (room.Applied). The document's
// version tells a no-op (a reconnecting client's catch-up of what the server already has) from an
// update that changed anything, visible or not, at no cost.
func (a *actor) apply(data []byte) (bool, error) {
	if !a.core.Fits(int64(len(data))) {
		return false, protocol.Errorf(protocol.CloseDocumentTooLarge, "the document would exceed %d bytes", a.s.cfg.MaxDocumentBytes)
	}
	before := a.doc.Version()
	limit, serverWide := a.s.pending.limit(a.s.cfg.MaxPendingBytes, a.pendingHeld)
	a.doc.SetMaxPendingMemory(limit)
	err := a.doc.Integrate(data)
	a.accountPending()
	if err != nil {
		if errors.Is(err, crdt.ErrPendingOverflow) {
			if serverWide {
				return false, errPendingBudget // MaxPendingBytesTotal (pending.go)
			}
			return false, errPendingOverflow // security: MaxPendingBytes (limits.go)
		}
		if errors.Is(err, crdt.ErrMalformedUpdate) {
			return false, protocol.Errorf(protocol.CloseInvalidUpdate, "update refused: %v", err)
		}
		return false, fmt.Errorf("server: apply update to %q: %w", a.id, err)
	}
	if a.doc.Version() == before {
		return false, nil
	}
	a.version++
	a.s.metrics.updatesApplied.Inc()
	return true, nil
}

// docBytes is the document's stored size: snapshot plus log.
func (a *actor) docBytes() int64 { return a.core.DocBytes() }

// append carries out room.Append: it hands data to storage as the append of durability index i,
// whose report comes back as an event.
func (a *actor) append(i uint64, data []byte) {
	start := time.Now()
	n := int64(len(data))
	if ackEarlyDelay > 0 {
		time.AfterFunc(ackEarlyDelay, func() {
			a.s.store.Append(a.id, data, func(seq uint64, err error) {
				a.postEvent(event{kind: evAppend, index: i, seq: seq, bytes: n, start: start, err: err})
			})
		})
		return
	}
	a.s.store.Append(a.id, data, func(seq uint64, err error) {
		a.postEvent(event{kind: evAppend, index: i, seq: seq, bytes: n, start: start, err: err})
	})
}

// Relay after durable (DESIGN.md, "Identity and crashes"; room.Core decides it). A unit relayed
// before it is durable can be lost in a crash while another replica holds it. Two things then go
// wrong, and relay prevents both by holding such a unit back, from whoever it matters for, until
// it is durable:
//
//   - The server's own units (HTTP edits): the restarted server issues the lost clocks again with
//     other content, and the replica that holds the old content never converges. So they are
//     held from everyone (room.Applied.Own), whatever the configuration.
//   - With client bindings on (auth_bindings.go), a replica of another subject would re-send the
//     lost unit in its catch-up after the crash, and be refused as a forger (4403, terminal). So
//     with bindings on (room.Loaded.HoldFromOthers), a unit is held from every connection of
//     another subject than its author's; connections of the same subject get it at once (they
//     may re-send it). Without bindings, re-sending a lost unit of another client is accepted and
//     restores it, so nothing is held.
//
// The cost is the commit latency (docs/server.md) on the relay between subjects while bindings
// are on. The same rule covers what a joiner or an HTTP reader is shown.

// changed carries out room.Changed, listed whenever the document's durable content has moved on,
// before the acks and relays it releases: every update and HTTP edit passes here once durable,
// several at once under load. It is the one place for a change notification: what storage has
// made durable is reported to the embedder's observer (Hooks.Observe), which never blocks the
// actor (observe.go, notifier.durable).
func (a *actor) changed() {
	if a.s.changes != nil {
		a.s.changes.durable(&a.changes, a.id, a.core.Durable(), a.core.OwnDurable(), a.stateVector)
	}
}

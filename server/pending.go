package server

import (
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/metrics"
)

// Updates whose units wait for missing dependencies (pending units) cost memory until what they
// wait for arrives: the crdt reports what its pending structures hold (crdt.Doc.PendingMemory),
// about 10 to 40 times their encoded size. Two budgets bound it, both in those bytes: one per
// document (SecurityConfig.MaxPendingBytes, refused with 4422: the sender must send the
// dependencies first) and one for the whole server (SecurityConfig.MaxPendingBytesTotal, refused
// with 1013: the budget belongs to every document, and the client may retry later, when others
// have released theirs). A document releases its share when its pending units integrate and
// when it unloads.

// Refusal reason of the server-wide pending budget, a label of tandem_refusals_total.
const reasonPendingBudget = "pending_budget"

// errPendingBudget refuses an update that would take the units waiting for missing dependencies,
// across all documents, past MaxPendingBytesTotal.
var errPendingBudget = protocol.Errorf(protocol.CloseTryAgainLater, "the server holds too many updates waiting for missing dependencies: try again later")

// pendingBudget is the server-wide budget of bytes that pending units hold. Actors account
// their documents' bytes in held (the tandem_pending_bytes gauge) after every update, without a
// lock: actors that apply at the same instant may pass the budget by one update each.
type pendingBudget struct {
	total int64
	held  *metrics.Gauge
}

// limit returns the bound on the bytes a document that holds mine may hold after its next
// update: perDoc, or what is left of the server's budget if that is less (server set).
func (b *pendingBudget) limit(perDoc, mine int) (limit int, server bool) {
	left := b.total - b.held.Value() + int64(mine)
	if left < int64(perDoc) {
		return int(max(left, 1)), true // 1, not 0: 0 means no bound to the crdt
	}
	return perDoc, false
}

// accountPending moves the actor's share of the server's pending budget to what its document
// holds now (nothing when it has no document).
func (a *actor) accountPending() {
	now := 0
	if a.doc != nil {
		now = a.doc.PendingMemory()
	}
	a.s.pending.held.Add(int64(now - a.pendingHeld))
	a.pendingHeld = now
}

// releasePending gives the actor's share of the server's pending budget back, when it exits.
func (a *actor) releasePending() {
	a.s.pending.held.Add(int64(-a.pendingHeld))
	a.pendingHeld = 0
}

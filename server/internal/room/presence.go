package room

import (
	"cmp"
	"slices"
)

// Presence keeps a document's awareness states (cursors, names: opaque bytes), the latest per
// client, and what changed since they were last sent, so that the members get the changes of an
// interval coalesced into one message. A state belongs to the member that set it; a removal (an
// empty state, or its member leaving) is kept until it has been sent, then forgotten.
//
// M is the caller's member handle, as for Ledger.
type Presence[M comparable] struct {
	states map[uint64]*presenceState[M]
	dirty  map[uint64]struct{}
}

type presenceState[M comparable] struct {
	owner M
	clock uint64
	state []byte // nil: a removal not yet sent
}

// PresenceEntry is one client's awareness state as sent: a nil State is a removal.
type PresenceEntry struct {
	ClientID uint64
	Clock    uint64
	State    []byte
}

// NewPresence returns an empty Presence.
func NewPresence[M comparable]() *Presence[M] {
	return &Presence[M]{states: make(map[uint64]*presenceState[M]), dirty: make(map[uint64]struct{})}
}

// Set records the state that member m, whose client is cid, sent at clock; an empty state
// removes m's. It reports whether the change is to be sent (the caller arms its interval timer):
// not for a stale clock, nor for the removal of a state m does not hold.
func (p *Presence[M]) Set(m M, cid, clock uint64, state []byte) bool {
	e := p.states[cid]
	if len(state) == 0 {
		if e == nil || e.owner != m || e.state == nil {
			return false
		}
		e.state = nil
		e.clock = max(clock, e.clock+1)
		p.dirty[cid] = struct{}{}
		return true
	}
	if e == nil {
		e = &presenceState[M]{}
		p.states[cid] = e
	} else if e.owner == m && clock <= e.clock {
		return false // stale
	}
	e.owner, e.clock, e.state = m, clock, state
	p.dirty[cid] = struct{}{}
	return true
}

// Leave removes the state of member m, whose client is cid, if m holds it, and reports whether
// the removal is to be sent.
func (p *Presence[M]) Leave(m M, cid uint64) bool {
	e := p.states[cid]
	if e == nil || e.owner != m || e.state == nil {
		return false
	}
	e.state = nil
	e.clock++
	p.dirty[cid] = struct{}{}
	return true
}

// Flush returns what changed since the last Flush, the latest per client, by client ID, and
// forgets the removals it returns.
func (p *Presence[M]) Flush() []PresenceEntry {
	if len(p.dirty) == 0 {
		return nil
	}
	entries := make([]PresenceEntry, 0, len(p.dirty))
	for cid := range p.dirty {
		e := p.states[cid]
		if e == nil {
			continue
		}
		entries = append(entries, PresenceEntry{ClientID: cid, Clock: e.clock, State: e.state})
		if e.state == nil {
			delete(p.states, cid)
		}
	}
	clear(p.dirty)
	slices.SortFunc(entries, func(a, b PresenceEntry) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return entries
}

// Current returns every state held but client except's, by client ID: what a joiner gets.
func (p *Presence[M]) Current(except uint64) []PresenceEntry {
	var entries []PresenceEntry
	for cid, e := range p.states {
		if cid != except && e.state != nil {
			entries = append(entries, PresenceEntry{ClientID: cid, Clock: e.clock, State: e.state})
		}
	}
	slices.SortFunc(entries, func(a, b PresenceEntry) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return entries
}

// Len returns how many clients have a state or a removal not yet sent; Pending how many changes
// wait for the next Flush.
func (p *Presence[M]) Len() int { return len(p.states) }

// Pending returns how many clients' changes wait for the next Flush.
func (p *Presence[M]) Pending() int { return len(p.dirty) }

package relay

import (
	"cmp"
	"slices"
	"time"
)

// Node names one running tandem process: the node ID its operator gave it, and an instance
// number drawn at start, so that a node restarted under the same ID is another sender whose
// predecessor's clients expire on their own.
type Node struct {
	ID       string
	Instance uint64
}

// Entry is one client's awareness state, stamped with the client ID of the connection that set
// it. A nil State is a removal.
type Entry struct {
	ClientID uint64
	Clock    uint64
	State    []byte
}

// Limits bound what a Table holds, so that no other node, buggy or hostile, can make it grow
// without end. A zero field is no limit (tests only: Relay always sets them).
type Limits struct {
	// MaxClients is the most live remote states of one document, over every node.
	MaxClients int
	// MaxClientsPerNode is the most live states of one document one node may hold.
	MaxClientsPerNode int
	// MaxStateBytes is the largest state kept; a larger one is ignored.
	MaxStateBytes int
}

// Table holds the awareness states that other nodes relayed for one document: the latest per
// client, the node that set it, and what changed since the last Flush, so that the document's
// actor sends its editors the changes of an interval in one message. A state belongs to the node
// that last set it: a removal from another node, or another node's death, leaves it alone (its
// client moved to the node that holds it now).
//
// A Table is a value: no goroutines, no clock, no I/O. Its owner serialises the calls.
type Table struct {
	limits  Limits
	states  map[uint64]*remoteState
	perNode map[Node]int // live states per node
	live    int          // live states in all
	dirty   map[uint64]struct{}
}

type remoteState struct {
	owner Node
	clock uint64
	state []byte // nil: a removal not yet flushed
}

// NewTable returns an empty Table that holds at most what l allows.
func NewTable(l Limits) *Table {
	return &Table{
		limits:  l,
		states:  make(map[uint64]*remoteState),
		perNode: make(map[Node]int),
		dirty:   make(map[uint64]struct{}),
	}
}

// Apply records the entries node n sent, and reports whether anything changed. With full, the
// entries are every state n holds for the document: n's states missing from them are removed.
//
// An entry is ignored when its clock is not newer than that of the state n holds for its client,
// when it removes a state n does not hold, when its state is larger than the limit, and when it
// is a new state beyond n's share or the table's total.
func (t *Table) Apply(n Node, full bool, entries []Entry) bool {
	changed := false
	var listed map[uint64]struct{}
	if full {
		listed = make(map[uint64]struct{}, len(entries))
	}
	for _, e := range entries {
		if listed != nil {
			listed[e.ClientID] = struct{}{}
		}
		if t.apply(n, e) {
			changed = true
		}
	}
	if full {
		for cid, s := range t.states {
			if _, ok := listed[cid]; !ok && s.owner == n && s.state != nil {
				t.remove(cid, s)
				changed = true
			}
		}
	}
	return changed
}

func (t *Table) apply(n Node, e Entry) bool {
	s := t.states[e.ClientID]
	if len(e.State) == 0 {
		if s == nil || s.owner != n || s.state == nil || e.Clock < s.clock {
			return false
		}
		t.remove(e.ClientID, s)
		s.clock = e.Clock
		return true
	}
	if t.limits.MaxStateBytes > 0 && len(e.State) > t.limits.MaxStateBytes {
		return false
	}
	switch {
	case s != nil && s.owner == n:
		if e.Clock < s.clock || (e.Clock == s.clock && s.state != nil) {
			return false // stale (a state removed at its own clock may come back at it)
		}
		if s.state != nil {
			s.clock, s.state = e.Clock, e.State // a newer state of a client n holds
			t.dirty[e.ClientID] = struct{}{}
			return true
		}
		if !t.admit(n) {
			return false
		}
	case s != nil && s.state != nil:
		// Another node's state: the client moved here from it (its clock went on growing).
		if e.Clock < s.clock || !t.admit(n) {
			return false
		}
		t.perNode[s.owner]--
		if t.perNode[s.owner] == 0 {
			delete(t.perNode, s.owner)
		}
		t.live--
	default:
		if !t.admit(n) {
			return false
		}
		if s == nil {
			s = &remoteState{}
			t.states[e.ClientID] = s
		}
	}
	s.owner, s.clock, s.state = n, e.Clock, e.State
	t.perNode[n]++
	t.live++
	t.dirty[e.ClientID] = struct{}{}
	return true
}

// admit reports whether node n may hold one more live state.
func (t *Table) admit(n Node) bool {
	if t.limits.MaxClients > 0 && t.live >= t.limits.MaxClients {
		return false
	}
	return t.limits.MaxClientsPerNode <= 0 || t.perNode[n] < t.limits.MaxClientsPerNode
}

// remove turns live state s of client cid into a removal to be flushed, at the state's clock: an
// editor ignores only an entry whose clock is below the last it saw (docs/protocol.md §6), so it
// applies the removal, and applies the state again if its node comes back with it.
func (t *Table) remove(cid uint64, s *remoteState) {
	t.perNode[s.owner]--
	if t.perNode[s.owner] == 0 {
		delete(t.perNode, s.owner)
	}
	t.live--
	s.state = nil
	t.dirty[cid] = struct{}{}
}

// DropNode removes every state node n holds (it died or left) and reports whether there was any.
func (t *Table) DropNode(n Node) bool {
	if t.perNode[n] == 0 {
		return false
	}
	for cid, s := range t.states {
		if s.owner == n && s.state != nil {
			t.remove(cid, s)
		}
	}
	return true
}

// Flush returns what changed since the last Flush, the latest per client, by client ID, and
// forgets the removals it returns.
func (t *Table) Flush() []Entry {
	if len(t.dirty) == 0 {
		return nil
	}
	out := make([]Entry, 0, len(t.dirty))
	for cid := range t.dirty {
		s := t.states[cid]
		out = append(out, Entry{ClientID: cid, Clock: s.clock, State: s.state})
		if s.state == nil {
			delete(t.states, cid)
		}
	}
	clear(t.dirty)
	sortEntries(out)
	return out
}

// Current returns every live state, by client ID: what a joining editor gets.
func (t *Table) Current() []Entry {
	var out []Entry
	for cid, s := range t.states {
		if s.state != nil {
			out = append(out, Entry{ClientID: cid, Clock: s.clock, State: s.state})
		}
	}
	sortEntries(out)
	return out
}

// Len returns the number of live states.
func (t *Table) Len() int { return t.live }

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int { return cmp.Compare(a.ClientID, b.ClientID) })
}

// Nodes keeps when each other node was last heard from, and decides which ones have died: a node
// silent for longer than the expiry. It holds at most a fixed number of nodes; a message from a new
// node beyond that is not accepted (and whatever it carries is ignored) until one expires.
//
// Like Table, a value without goroutines or clock; its owner serialises the calls.
type Nodes struct {
	max    int
	expiry time.Duration
	seen   map[Node]time.Time
}

// NewNodes returns a tracker of at most max nodes that expires a node silent for longer than expiry.
func NewNodes(max int, expiry time.Duration) *Nodes {
	return &Nodes{max: max, expiry: expiry, seen: make(map[Node]time.Time)}
}

// Heard records that node n spoke at now, and reports whether n is tracked (false: a new node
// beyond the limit, whose message is to be ignored).
func (ns *Nodes) Heard(n Node, now time.Time) bool {
	if _, ok := ns.seen[n]; !ok && len(ns.seen) >= ns.max {
		return false
	}
	if last, ok := ns.seen[n]; !ok || now.After(last) {
		ns.seen[n] = now
	}
	return true
}

// Gone forgets node n, which said it is leaving, and reports whether it was tracked.
func (ns *Nodes) Gone(n Node) bool {
	_, ok := ns.seen[n]
	delete(ns.seen, n)
	return ok
}

// Expire forgets and returns, sorted, the nodes not heard from for longer than the expiry at now.
func (ns *Nodes) Expire(now time.Time) []Node {
	var dead []Node
	for n, last := range ns.seen {
		if now.Sub(last) > ns.expiry {
			dead = append(dead, n)
			delete(ns.seen, n)
		}
	}
	slices.SortFunc(dead, func(a, b Node) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Instance, b.Instance))
	})
	return dead
}

// Len returns the number of nodes tracked.
func (ns *Nodes) Len() int { return len(ns.seen) }

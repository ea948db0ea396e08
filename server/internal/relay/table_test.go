package relay

import (
	"reflect"
	"testing"
	"time"
)

var (
	nodeA  = Node{ID: "a", Instance: 1}
	nodeB  = Node{ID: "b", Instance: 2}
	nodeA2 = Node{ID: "a", Instance: 3} // a restarted under the same ID
)

func st(cid, clock uint64, state string) Entry {
	e := Entry{ClientID: cid, Clock: clock}
	if state != "" {
		e.State = []byte(state)
	}
	return e
}

// step is one call on a Table: Apply (full or not) of entries from node, or DropNode(node).
type step struct {
	node    Node
	full    bool
	drop    bool
	entries []Entry
	changed bool // what the call reports
}

func TestTable(t *testing.T) {
	tests := []struct {
		name    string
		limits  Limits
		steps   []step
		flush   []Entry // what Flush returns after the steps
		current []Entry // what Current returns after that Flush
	}{
		{
			name:    "states from two nodes are live",
			steps:   []step{{node: nodeA, entries: []Entry{st(1, 1, "x")}, changed: true}, {node: nodeB, entries: []Entry{st(2, 5, "y")}, changed: true}},
			flush:   []Entry{st(1, 1, "x"), st(2, 5, "y")},
			current: []Entry{st(1, 1, "x"), st(2, 5, "y")},
		},
		{
			name: "the latest state per client is flushed",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 1, "x")}, changed: true},
				{node: nodeA, entries: []Entry{st(1, 2, "xx")}, changed: true},
			},
			flush:   []Entry{st(1, 2, "xx")},
			current: []Entry{st(1, 2, "xx")},
		},
		{
			name: "a stale clock is ignored",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 4, "new")}, changed: true},
				{node: nodeA, entries: []Entry{st(1, 4, "same clock")}},
				{node: nodeA, entries: []Entry{st(1, 3, "old")}},
			},
			flush:   []Entry{st(1, 4, "new")},
			current: []Entry{st(1, 4, "new")},
		},
		{
			name: "a removal by its node is flushed, then forgotten",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 1, "x")}, changed: true},
				{node: nodeA, entries: []Entry{st(1, 2, "")}, changed: true},
			},
			flush: []Entry{st(1, 2, "")},
		},
		{
			name: "a removal by another node is ignored",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 1, "x")}, changed: true},
				{node: nodeB, entries: []Entry{st(1, 9, "")}},
			},
			flush:   []Entry{st(1, 1, "x")},
			current: []Entry{st(1, 1, "x")},
		},
		{
			name: "a removal of an unknown client is ignored",
			steps: []step{
				{node: nodeA, entries: []Entry{st(7, 1, "")}},
			},
		},
		{
			name: "a dead node's states are removed at their clocks",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 3, "x"), st(2, 7, "y")}, changed: true},
				{node: nodeB, entries: []Entry{st(3, 1, "z")}, changed: true},
				{node: nodeA, drop: true, changed: true},
			},
			flush:   []Entry{st(1, 3, ""), st(2, 7, ""), st(3, 1, "z")},
			current: []Entry{st(3, 1, "z")},
		},
		{
			name: "a node taken for dead comes back with its states at their clocks",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 3, "x"), st(2, 7, "y")}, changed: true},
				{node: nodeA, drop: true, changed: true},
				{node: nodeA, full: true, entries: []Entry{st(1, 3, "x"), st(2, 6, "older")}, changed: true},
			},
			flush:   []Entry{st(1, 3, "x"), st(2, 7, "")},
			current: []Entry{st(1, 3, "x")},
		},
		{
			name: "a removal at the state's clock is applied",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 3, "x")}, changed: true},
				{node: nodeA, entries: []Entry{st(1, 3, "")}, changed: true},
			},
			flush: []Entry{st(1, 3, "")},
		},
		{
			name: "dropping a node with no states changes nothing",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 3, "x")}, changed: true},
				{node: nodeB, drop: true},
			},
			flush:   []Entry{st(1, 3, "x")},
			current: []Entry{st(1, 3, "x")},
		},
		{
			name: "a client that moved keeps its state through its old node's death",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 3, "on a")}, changed: true},
				{node: nodeB, entries: []Entry{st(1, 4, "on b")}, changed: true},
				{node: nodeA, drop: true},
				{node: nodeA, entries: []Entry{st(1, 9, "")}},
			},
			flush:   []Entry{st(1, 4, "on b")},
			current: []Entry{st(1, 4, "on b")},
		},
		{
			name: "a restarted node is another node",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 3, "x")}, changed: true},
				{node: nodeA2, entries: []Entry{st(2, 1, "y")}, changed: true},
				{node: nodeA, drop: true, changed: true},
			},
			flush:   []Entry{st(1, 3, ""), st(2, 1, "y")},
			current: []Entry{st(2, 1, "y")},
		},
		{
			name: "a full state removes the node's unlisted clients",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 1, "x"), st(2, 1, "y")}, changed: true},
				{node: nodeB, entries: []Entry{st(3, 1, "z")}, changed: true},
				{node: nodeA, full: true, entries: []Entry{st(2, 1, "y")}, changed: true},
			},
			flush:   []Entry{st(1, 1, ""), st(2, 1, "y"), st(3, 1, "z")},
			current: []Entry{st(2, 1, "y"), st(3, 1, "z")},
		},
		{
			name: "a full state that repeats what is known changes nothing",
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 1, "x")}, changed: true},
				{node: nodeA, full: true, entries: []Entry{st(1, 1, "x")}},
			},
			flush:   []Entry{st(1, 1, "x")},
			current: []Entry{st(1, 1, "x")},
		},
		{
			name:   "a node's share is bounded",
			limits: Limits{MaxClientsPerNode: 2},
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 1, "x"), st(2, 1, "y"), st(3, 1, "z")}, changed: true},
				{node: nodeB, entries: []Entry{st(4, 1, "w")}, changed: true},
			},
			flush:   []Entry{st(1, 1, "x"), st(2, 1, "y"), st(4, 1, "w")},
			current: []Entry{st(1, 1, "x"), st(2, 1, "y"), st(4, 1, "w")},
		},
		{
			name:   "a removal frees a place in the share",
			limits: Limits{MaxClientsPerNode: 1},
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 1, "x")}, changed: true},
				{node: nodeA, entries: []Entry{st(1, 2, ""), st(2, 1, "y")}, changed: true},
			},
			flush:   []Entry{st(1, 2, ""), st(2, 1, "y")},
			current: []Entry{st(2, 1, "y")},
		},
		{
			name:   "the total is bounded",
			limits: Limits{MaxClients: 2},
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 1, "x")}, changed: true},
				{node: nodeB, entries: []Entry{st(2, 1, "y"), st(3, 1, "z")}, changed: true},
			},
			flush:   []Entry{st(1, 1, "x"), st(2, 1, "y")},
			current: []Entry{st(1, 1, "x"), st(2, 1, "y")},
		},
		{
			name:   "a state beyond the size limit is ignored",
			limits: Limits{MaxStateBytes: 3},
			steps: []step{
				{node: nodeA, entries: []Entry{st(1, 1, "abcd"), st(2, 1, "abc")}, changed: true},
			},
			flush:   []Entry{st(2, 1, "abc")},
			current: []Entry{st(2, 1, "abc")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := NewTable(tt.limits)
			for i, s := range tt.steps {
				var changed bool
				if s.drop {
					changed = tab.DropNode(s.node)
				} else {
					changed = tab.Apply(s.node, s.full, s.entries)
				}
				if changed != s.changed {
					t.Errorf("step %d (%+v): changed = %v; want %v", i, s, changed, s.changed)
				}
			}
			if got := tab.Flush(); !reflect.DeepEqual(got, tt.flush) {
				t.Errorf("Flush() = %v; want %v", got, tt.flush)
			}
			if got := tab.Flush(); got != nil {
				t.Errorf("second Flush() = %v; want nil", got)
			}
			if got := tab.Current(); !reflect.DeepEqual(got, tt.current) {
				t.Errorf("Current() = %v; want %v", got, tt.current)
			}
			if got := tab.Len(); got != len(tt.current) {
				t.Errorf("Len() = %d; want %d", got, len(tt.current))
			}
		})
	}
}

// TestTableBoundedUnderFlood: a node that sends ever new clients, states and removals never makes
// the table hold more than the limits allow.
func TestTableBoundedUnderFlood(t *testing.T) {
	l := Limits{MaxClients: 50, MaxClientsPerNode: 20, MaxStateBytes: 16}
	tab := NewTable(l)
	nodes := []Node{nodeA, nodeB, nodeA2, {ID: "c", Instance: 4}}
	for round := range 200 {
		for i, n := range nodes {
			var es []Entry
			for k := range 30 {
				cid := uint64(round*1000 + i*100 + k)
				es = append(es, st(cid, 1, "state"))
			}
			tab.Apply(n, round%3 == 0, es)
		}
		if tab.Len() > l.MaxClients {
			t.Fatalf("round %d: Len() = %d; want at most %d", round, tab.Len(), l.MaxClients)
		}
		for n, c := range tab.perNode {
			if c > l.MaxClientsPerNode {
				t.Fatalf("round %d: node %v holds %d states; want at most %d", round, n, c, l.MaxClientsPerNode)
			}
		}
		if round%5 == 0 {
			tab.Flush()
			if len(tab.states) > l.MaxClients {
				t.Fatalf("round %d: %d states kept after Flush; want at most %d", round, len(tab.states), l.MaxClients)
			}
		}
	}
}

func TestNodes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	c := Node{ID: "c", Instance: 5}
	tests := []struct {
		name  string
		max   int
		heard []struct {
			n  Node
			ms int
		}
		gone     []Node
		expireAt int
		wantOK   []bool
		dead     []Node
		left     int
	}{
		{
			name: "a node heard within the expiry is alive",
			max:  8,
			heard: []struct {
				n  Node
				ms int
			}{{nodeA, 0}, {nodeA, 1000}, {nodeA, 2000}},
			expireAt: 5000, wantOK: []bool{true, true, true}, left: 1,
		},
		{
			name: "a node silent for longer than the expiry is dead",
			max:  8,
			heard: []struct {
				n  Node
				ms int
			}{{nodeA, 0}, {nodeB, 0}, {nodeB, 2500}},
			expireAt: 3001, wantOK: []bool{true, true, true}, dead: []Node{nodeA}, left: 1,
		},
		{
			name: "silent for exactly the expiry is alive",
			max:  8,
			heard: []struct {
				n  Node
				ms int
			}{{nodeA, 0}},
			expireAt: 3000, wantOK: []bool{true}, left: 1,
		},
		{
			name: "an old time does not move a node's last beat back",
			max:  8,
			heard: []struct {
				n  Node
				ms int
			}{{nodeA, 2000}, {nodeA, 100}},
			expireAt: 4500, wantOK: []bool{true, true}, left: 1,
		},
		{
			name: "beyond the limit a new node is refused, a known one is not",
			max:  2,
			heard: []struct {
				n  Node
				ms int
			}{{nodeA, 0}, {nodeB, 0}, {c, 0}, {nodeA, 100}},
			expireAt: 200, wantOK: []bool{true, true, false, true}, left: 2,
		},
		{
			name: "a node that said goodbye is gone",
			max:  8,
			heard: []struct {
				n  Node
				ms int
			}{{nodeA, 0}, {nodeB, 0}},
			gone:     []Node{nodeA},
			expireAt: 100, wantOK: []bool{true, true}, left: 1,
		},
		{
			name: "all silent nodes die at once, sorted",
			max:  8,
			heard: []struct {
				n  Node
				ms int
			}{{nodeB, 0}, {nodeA2, 0}, {nodeA, 0}},
			expireAt: 10000, wantOK: []bool{true, true, true}, dead: []Node{nodeA, nodeA2, nodeB}, left: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := NewNodes(tt.max, 3*time.Second)
			for i, h := range tt.heard {
				if ok := ns.Heard(h.n, at(h.ms)); ok != tt.wantOK[i] {
					t.Errorf("Heard(%v, %dms) = %v; want %v", h.n, h.ms, ok, tt.wantOK[i])
				}
			}
			for _, n := range tt.gone {
				if !ns.Gone(n) {
					t.Errorf("Gone(%v) = false; want true", n)
				}
			}
			if got := ns.Expire(at(tt.expireAt)); !reflect.DeepEqual(got, tt.dead) {
				t.Errorf("Expire(%dms) = %v; want %v", tt.expireAt, got, tt.dead)
			}
			if got := ns.Len(); got != tt.left {
				t.Errorf("Len() = %d; want %d", got, tt.left)
			}
		})
	}
}

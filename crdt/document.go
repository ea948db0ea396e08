package crdt

import (
	"cmp"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Doc is a replica of one document: its roots, the state vector, and the
// units that wait for their dependencies. A Doc is not safe for concurrent use;
// its owner serialises every call.
type Doc struct {
	client  uint64
	cfg     Config
	own     *clientState
	clients map[uint64]*clientState
	texts   map[string]*textRoot
	maps    map[string]*mapRoot

	pending      pendingSet // units and delete ranges waiting for dependencies
	pendingBytes int        // encoded size of pending

	taken    uint64     // own clock below which TakeUpdate has returned the units
	localDel []delRange // items deleted by local edits since the last TakeUpdate

	gen     uint64    // bumped when roots are replaced (snapshot load): handles re-resolve
	version uint64    // bumped by every call that may change the state: see Version
	items   *itemSlab // shared by the document's text roots

	scratch planScratch   // reused by every Apply's plan
	decode  decodeScratch // reused by every Apply's decoding

	noPark bool // tests: every update is planned, none parked (see park)
	parked int  // how many updates were parked, which tests read
}

// itemSlab allocates items in chunks rather than one by one: typing splits
// runs all the time, and fewer, larger allocations are cheaper to make and
// to collect. A chunk lives while any of its items does.
// Items merged away go to a free list and are reused.
type itemSlab struct {
	chunk []item
	free  []*item
}

func (s *itemSlab) new() *item {
	if k := len(s.free); k > 0 {
		it := s.free[k-1]
		s.free = s.free[:k-1]
		return it
	}
	if len(s.chunk) == cap(s.chunk) {
		s.chunk = make([]item, 0, 128)
	}
	s.chunk = s.chunk[:len(s.chunk)+1]
	return &s.chunk[len(s.chunk)-1]
}

// release takes back an item that nothing refers to any more.
func (s *itemSlab) release(it *item) {
	*it = item{}
	s.free = append(s.free, it)
}

// clientState is what a document knows of one client.
type clientState struct {
	id      uint64
	next    uint64    // state vector entry: the next clock
	content []byte    // append-only UTF-8 content of the client's integrated text runs
	items   idIndex   // the client's text runs by clock
	asgs    []*assign // the client's map assignments by clock (losers flagged)
	lost    int       // how many of asgs lost
	// rich holds the client's marks and attributes by clock (richtext.go).
	rich []richUnit
}

// textRoot is a Text root: its runs in a B-tree, and the cursor cache.
type textRoot struct {
	name                string
	root                *node
	firstLeaf, lastLeaf *node
	cur                 cursor
	items               *itemSlab
	rich                *richText // marks, embeds, attributes; nil until the first
}

// cursor caches the run of the last local edit and its visible start, so that
// typing does not descend the tree. It is reset by anything that may move runs
// before it (remote integration).
type cursor struct {
	it  *item
	vis int
}

// mapRoot is a Map root: the winning assignment of each key (tombstones included).
type mapRoot struct {
	name    string
	entries map[string]*assign
}

// assign is a map assignment (docs/crdt.md section 1.5).
type assign struct {
	cs      *clientState
	clock   uint64
	root    *mapRoot
	key     string
	lamport uint64
	value   []byte // JSON text; nil for a tombstone
	lost    bool   // no longer the winner: its clock is a skip
}

// beats reports whether a wins over b: larger lamport, then client, then clock.
func (a *assign) beats(b *assign) bool {
	if a.lamport != b.lamport {
		return a.lamport > b.lamport
	}
	if a.cs.id != b.cs.id {
		return a.cs.id > b.cs.id
	}
	return a.clock > b.clock
}

// delRange is the clocks [clock, clock+n) of client.
type delRange struct {
	client, clock, n uint64
}

// NewDoc returns an empty document that edits under the given client ID, which
// must be in [1, MaxClientID] and must not be shared with another replica.
func NewDoc(client uint64, cfg Config) (*Doc, error) {
	if client == 0 || client > MaxClientID {
		return nil, fmt.Errorf("%w: %d", ErrInvalidClientID, client)
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = DefaultMaxPendingBytes
	}
	d := &Doc{
		client:  client,
		cfg:     cfg,
		clients: make(map[uint64]*clientState),
		texts:   make(map[string]*textRoot),
		maps:    make(map[string]*mapRoot),
	}
	d.own = d.clientState(client)
	d.items = &itemSlab{}
	return d, nil
}

// clientState returns the state of client c, creating it if needed.
func (d *Doc) clientState(c uint64) *clientState {
	cs := d.clients[c]
	if cs == nil {
		cs = &clientState{id: c}
		d.clients[c] = cs
	}
	return cs
}

// clock returns the state vector entry of client c.
func (d *Doc) clock(c uint64) uint64 {
	if cs := d.clients[c]; cs != nil {
		return cs.next
	}
	return 0
}

// ClientID returns the client ID the document edits under.
func (d *Doc) ClientID() uint64 { return d.client }

// Text returns a handle on the Text root named name. The root exists once
// something has been inserted into it.
func (d *Doc) Text(name string) *Text { return &Text{doc: d, name: name} }

// Map returns a handle on the Map root named name. The root exists once a key
// has been set or deleted in it.
func (d *Doc) Map(name string) *Map { return &Map{doc: d, name: name} }

// Roots returns the roots that exist, sorted by name, then kind.
func (d *Doc) Roots() []RootInfo {
	rs := make([]RootInfo, 0, len(d.texts)+len(d.maps))
	for name := range d.texts {
		rs = append(rs, RootInfo{Name: name, Kind: KindText})
	}
	for name := range d.maps {
		rs = append(rs, RootInfo{Name: name, Kind: KindMap})
	}
	slices.SortFunc(rs, func(a, b RootInfo) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
	})
	return rs
}

// StateVector returns a copy of the document's state vector: for each client,
// the next clock. Clients with clock 0 are absent.
func (d *Doc) StateVector() StateVector {
	sv := make(StateVector, len(d.clients))
	for c, cs := range d.clients {
		if cs.next > 0 {
			sv[c] = cs.next
		}
	}
	return sv
}

// Version is a counter that changes whenever a call may have changed the
// document's state (text, maps, state vector, deletions or pending units):
// two equal versions mean nothing changed in between. It costs nothing to
// read, so an owner can tell an update that brought nothing new (a
// reconnecting peer's catch-up) from one that did, or key a cache by it.
func (d *Doc) Version() uint64 { return d.version }

// PendingBytes returns the size of the units and delete ranges that wait for
// their dependencies, counted as the length of the update that holds them (the
// pending section of a snapshot); 0 when nothing waits.
//
// The exact size is computed when asked for (and kept until the pending set
// changes); Apply only computes it when cheap upper bounds exceed
// Config.MaxPendingBytes.
func (d *Doc) PendingBytes() int {
	if d.pendingBytes < 0 {
		d.pendingBytes = d.pending.measure()
	}
	return d.pendingBytes
}

// SetMaxPendingBytes sets Config.MaxPendingBytes for the updates and
// snapshots applied from now on (n <= 0: DefaultMaxPendingBytes). What waits
// already may then be past it: updates are refused only when they make it
// larger (docs/crdt.md 1.6). An update that must be taken whatever waits
// goes through IntegrateAccepted instead.
func (d *Doc) SetMaxPendingBytes(n int) {
	if n <= 0 {
		n = DefaultMaxPendingBytes
	}
	d.cfg.MaxPendingBytes = n
}

func validName(name string) error {
	if len(name) == 0 || len(name) > MaxRootNameBytes || !utf8.ValidString(name) {
		return fmt.Errorf("%w: root name %q", ErrInvalidName, name)
	}
	return nil
}

// text returns the Text root named name, or nil.
func (d *Doc) text(name string) *textRoot { return d.texts[name] }

// resolve returns the handle's root, or nil if it does not exist (yet).
func (t *Text) resolve() *textRoot {
	d := t.doc
	if t.root == nil || t.gen != d.gen {
		t.root, t.gen = d.texts[t.name], d.gen
	}
	return t.root
}

// newTextRoot creates the Text root named name.
func (d *Doc) newTextRoot(name string) *textRoot {
	l := &node{leaf: true, items: make([]*item, 0, leafMax+1)}
	t := &textRoot{name: name, root: l, firstLeaf: l, lastLeaf: l, items: d.items}
	d.texts[name] = t
	return t
}

// mapRoot returns the Map root named name, creating it if create is set.
func (d *Doc) mapRoot(name string, create bool) *mapRoot {
	m := d.maps[name]
	if m == nil && create {
		m = &mapRoot{name: name, entries: make(map[string]*assign)}
		d.maps[name] = m
	}
	return m
}

// recordDelete notes a local deletion for the next TakeUpdate.
func (d *Doc) recordDelete(c, clock, n uint64) {
	if k := len(d.localDel); k > 0 {
		last := &d.localDel[k-1]
		if last.client == c && last.clock+last.n == clock {
			last.n += n
			return
		}
		if last.client == c && clock+n == last.clock {
			last.clock, last.n = clock, last.n+n
			return
		}
	}
	d.localDel = append(d.localDel, delRange{c, clock, n})
}

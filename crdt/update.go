package crdt

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
)

// opKind is the kind of a unit range in an update (the low 3 bits of an op tag).
type opKind uint8

const (
	opText opKind = 0 // a text run
	opMap  opKind = 1 // a map assignment
	opSkip opKind = 2 // clocks that are used but carry nothing to integrate
	opMark opKind = 4 // a mark (richops.go); kind 3, an embed, decodes as an opText with embed set
	opAttr opKind = 5 // an attribute on an item (richops.go)
)

// Op tag bits (docs/crdt.md section 2.3).
const (
	tagKindMask = 0x07
	tagLeft     = 0x08 // text: has left origin
	tagRight    = 0x10 // text: has right origin
	tagDeleted  = 0x20 // text: deleted, no content
	tagTomb     = 0x08 // map: tombstone
)

// uop is one op of an update: n consecutive clocks of one client from clock.
//
// Its small fields come first, side by side, so that they share one word: an
// op that waits in the pending set is a copy of a uop (opLeaf), one per op.
type uop struct {
	kind    opKind
	deleted bool // text: all deleted, no content
	// sk and ek are a mark's anchor kinds (see embed below).
	sk, ek  RelPosKind
	clock   uint64
	n       uint64
	root    string // text and map ops
	left    ID     // text: origin of the first code point (Client 0: START)
	right   ID     // text: right origin (Client 0: END)
	content []rune // text, unless deleted
	key     string // map
	lamport uint64 // map
	// value is a map op's JSON value (nil for a tombstone), or a mark's (see
	// below). A visible text op
	// read from a document to be encoded has its content here instead, as
	// UTF-8 (content is then nil): the document holds text as UTF-8, and a
	// field of its own would make every op larger, the pending ones too.
	value []byte
	// Rich text (richops.go): an embed is a text op of one item whose JSON is
	// embed (content U+FFFC); a mark has its anchors' IDs in left and right,
	// their kinds in sk and ek, its name in key and its value in value (nil:
	// remove); an attribute has its target in left, its key in key. Anchors
	// and targets are dependencies like origins.
	embed []byte
}

// hasOrigins reports whether op names items it depends on in left and right.
func (o *uop) hasOrigins() bool { return o.kind == opText || o.kind == opMark || o.kind == opAttr }

func (o *uop) end() uint64 { return o.clock + o.n }

// block is a client's ops over consecutive clocks.
type block struct {
	client uint64
	ops    []uop
}

func (b *block) start() uint64 { return b.ops[0].clock }
func (b *block) end() uint64   { return b.ops[len(b.ops)-1].end() }

// update is a decoded (or about to be encoded) update: blocks ascending by
// client then clock, and a delete set ascending by client then clock, merged.
type update struct {
	blocks []block
	dels   []delRange
}

func (u *update) empty() bool { return len(u.blocks) == 0 && len(u.dels) == 0 }

// canMerge reports whether b continues a in one block (docs/crdt.md section 2.3:
// canonical ops are maximal).
func canMerge(client uint64, a, b *uop) bool {
	switch {
	case a.kind != b.kind:
		return false
	case a.kind == opSkip:
		return true
	case a.kind == opText:
		return a.root == b.root && b.left == (ID{client, a.end() - 1}) && a.right == b.right && a.deleted == b.deleted &&
			a.embed == nil && b.embed == nil
	}
	return false
}

// appendOp appends op to ops, merging it into the last op when it continues it.
func appendOp(client uint64, ops []uop, op uop) []uop {
	if k := len(ops); k > 0 && ops[k-1].end() == op.clock && canMerge(client, &ops[k-1], &op) {
		last := &ops[k-1]
		last.n += op.n
		if last.kind == opText && !last.deleted {
			if last.value != nil || op.value != nil {
				last.value = joinBytes(last.value, op.value)
			} else {
				last.content = joinRunes(last.content, op.content)
			}
		}
		return ops
	}
	return append(ops, op)
}

// joinRunes returns a followed by b, without copying when b directly follows a
// in memory.
func joinRunes(a, b []rune) []rune {
	if len(a) > 0 && len(b) > 0 && cap(a) >= len(a)+len(b) && &a[:len(a)+1][len(a)] == &b[0] {
		return a[:len(a)+len(b)]
	}
	c := make([]rune, 0, len(a)+len(b))
	return append(append(c, a...), b...)
}

// joinBytes returns a followed by b, without copying when b directly follows a
// in memory.
func joinBytes(a, b []byte) []byte {
	if len(a) > 0 && len(b) > 0 && cap(a) >= len(a)+len(b) && &a[:len(a)+1][len(a)] == &b[0] {
		return a[:len(a)+len(b)]
	}
	c := make([]byte, 0, len(a)+len(b))
	return append(append(c, a...), b...)
}

// normalizeDels sorts ranges by client and clock and merges those that overlap
// or touch.
func normalizeDels(ds []delRange) []delRange {
	if len(ds) == 0 {
		return nil
	}
	slices.SortFunc(ds, func(a, b delRange) int {
		return cmp.Or(cmp.Compare(a.client, b.client), cmp.Compare(a.clock, b.clock))
	})
	out := ds[:1]
	for _, r := range ds[1:] {
		last := &out[len(out)-1]
		if r.client == last.client && r.clock <= last.clock+last.n {
			last.n = max(last.n, r.clock+r.n-last.clock)
			continue
		}
		out = append(out, r)
	}
	return out
}

// rootKey names a root in the roots table.
type rootKey struct {
	kind RootKind
	name string
}

func compareRootKeys(a, b rootKey) int {
	return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name))
}

// encodeUpdate writes u in the 0x01 format, in canonical form: u's blocks
// must be ascending and separated by gaps; ops that continue each other are
// merged as they are written.
func encodeUpdate(u *update) []byte {
	clients, roots := u.tables()
	ci := func(c uint64) uint64 {
		i, _ := slices.BinarySearch(clients, c)
		return uint64(i)
	}
	ri := func(k RootKind, name string) uint64 {
		i, _ := slices.BinarySearchFunc(roots, rootKey{k, name}, compareRootKeys)
		return uint64(i)
	}

	b := make([]byte, 0, u.sizeHint())
	b = append(b, formatUpdate)
	b = appendTables(b, clients, roots)
	b = appendUv(b, uint64(len(u.blocks)))
	for i := range u.blocks {
		bl := &u.blocks[i]
		b = appendUv(b, ci(bl.client))
		b = appendUv(b, bl.start())
		// Consecutive ops that continue each other are written as one (canonical form).
		groups := 0
		for j := range bl.ops {
			if j == 0 || !canMerge(bl.client, &bl.ops[j-1], &bl.ops[j]) {
				groups++
			}
		}
		b = appendUv(b, uint64(groups))
		for j := 0; j < len(bl.ops); {
			k := j + 1
			for k < len(bl.ops) && canMerge(bl.client, &bl.ops[k-1], &bl.ops[k]) {
				k++
			}
			b = appendOpBytes(b, bl.ops[j:k], ci, ri)
			j = k
		}
	}
	return appendDeleteSet(b, u.dels, ci)
}

// sizeHint returns about the encoded size of u, rarely more: the text is
// most of a large update, and an encoding that grows as it goes would
// allocate several times its size on the way.
func (u *update) sizeHint() int {
	n := 16 + 8*len(u.dels)
	for i := range u.blocks {
		n += 8
		for j := range u.blocks[i].ops {
			op := &u.blocks[i].ops[j]
			n += 24 + len(op.content) + len(op.key) + len(op.value) // a code point takes at least a byte
		}
	}
	return max(n, 64)
}

// appendTables writes the clients and roots tables (docs/crdt.md section 2.1);
// decodeClients and decodeRoots read them.
func appendTables(b []byte, clients []uint64, roots []rootKey) []byte {
	b = appendUv(b, uint64(len(clients)))
	for _, c := range clients {
		b = appendUv(b, c)
	}
	b = appendUv(b, uint64(len(roots)))
	for _, r := range roots {
		b = append(b, byte(r.kind))
		b = appendStr(b, r.name)
	}
	return b
}

// tables returns the clients and roots that u uses, sorted.
func (u *update) tables() ([]uint64, []rootKey) {
	var clients []uint64
	var roots []rootKey
	addC := func(c uint64) {
		if k := len(clients); k == 0 || clients[k-1] != c {
			clients = append(clients, c)
		}
	}
	addR := func(r rootKey) {
		if k := len(roots); k == 0 || roots[k-1] != r {
			roots = append(roots, r)
		}
	}
	for i := range u.blocks {
		b := &u.blocks[i]
		addC(b.client)
		for j := range b.ops {
			op := &b.ops[j]
			switch op.kind {
			case opText:
				addR(rootKey{KindText, op.root})
				if op.left.Client != 0 {
					addC(op.left.Client)
				}
				if op.right.Client != 0 {
					addC(op.right.Client)
				}
			case opMap:
				addR(rootKey{KindMap, op.root})
			case opMark, opAttr:
				addR(rootKey{KindText, op.root})
				if op.left.Client != 0 {
					addC(op.left.Client)
				}
				if op.right.Client != 0 {
					addC(op.right.Client)
				}
			}
		}
	}
	for _, r := range u.dels {
		addC(r.client)
	}
	slices.Sort(clients)
	clients = slices.Compact(clients)
	slices.SortFunc(roots, compareRootKeys)
	roots = slices.Compact(roots)
	return clients, roots
}

// appendTextHead writes the head of a text or embed op: tag with the bits of the origins it has,
// the root, then those origins.
func appendTextHead(b []byte, tag byte, op *uop, ci func(uint64) uint64, ri func(RootKind, string) uint64) []byte {
	if op.left.Client != 0 {
		tag |= tagLeft
	}
	if op.right.Client != 0 {
		tag |= tagRight
	}
	b = append(b, tag)
	b = appendUv(b, ri(KindText, op.root))
	if op.left.Client != 0 {
		b = appendUv(appendUv(b, ci(op.left.Client)), op.left.Clock)
	}
	if op.right.Client != 0 {
		b = appendUv(appendUv(b, ci(op.right.Client)), op.right.Clock)
	}
	return b
}

// appendOpBytes writes ops, which continue each other, as one op.
func appendOpBytes(b []byte, ops []uop, ci func(uint64) uint64, ri func(RootKind, string) uint64) []byte {
	op := &ops[0]
	var n uint64
	for i := range ops {
		n += ops[i].n
	}
	switch {
	case op.kind == opText && op.embed != nil, op.kind == opMark, op.kind == opAttr:
		return appendRichOp(b, op, ci, ri)
	}
	switch op.kind {
	case opText:
		tag := byte(opText)
		if op.deleted {
			tag |= tagDeleted
		}
		b = appendTextHead(b, tag, op, ci, ri)
		b = appendUv(b, n)
		if !op.deleted {
			size := 0
			for i := range ops {
				size += len(ops[i].value)
				for _, c := range ops[i].content {
					size += utf8.RuneLen(c)
				}
			}
			b = appendUv(b, uint64(size))
			b = slices.Grow(b, size)
			for i := range ops {
				b = append(b, ops[i].value...)
				for _, c := range ops[i].content {
					b = utf8.AppendRune(b, c)
				}
			}
		}
	case opMap:
		tag := byte(opMap)
		if op.value == nil {
			tag |= tagTomb
		}
		b = append(b, tag)
		b = appendUv(b, ri(KindMap, op.root))
		b = appendStr(b, op.key)
		b = appendUv(b, op.lamport)
		if op.value != nil {
			b = appendUv(b, uint64(len(op.value)))
			b = append(b, op.value...)
		}
	case opSkip:
		b = append(b, byte(opSkip))
		b = appendUv(b, n)
	}
	return b
}

// appendDeleteSet writes the merged ranges ds (ascending by client and clock).
func appendDeleteSet(b []byte, ds []delRange, ci func(uint64) uint64) []byte {
	nc := 0
	for i := range ds {
		if i == 0 || ds[i].client != ds[i-1].client {
			nc++
		}
	}
	b = appendUv(b, uint64(nc))
	for i := 0; i < len(ds); {
		j := i
		for j < len(ds) && ds[j].client == ds[i].client {
			j++
		}
		b = appendUv(b, ci(ds[i].client))
		b = appendUv(b, uint64(j-i))
		var end uint64
		for _, r := range ds[i:j] {
			b = appendUv(b, r.clock-end)
			b = appendUv(b, r.n)
			end = r.clock + r.n
		}
		i = j
	}
	return b
}

// decodeUpdate decodes and checks a 0x01 update: the grammar, the tables, the
// canonical order and merging, the limits (docs/crdt.md section 2).
func decodeUpdate(b []byte) (*update, error) {
	r := reader{b: b}
	u := decodeUpdateFrom(&r, nil)
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("crdt: decode update: %w", r.err)
	}
	return u, nil
}

// decodeScratch is what a document reuses to decode the updates it applies:
// the reader, the update, its tables, its ops and their content, so that
// decoding a keystroke allocates nothing. The update it returns is valid
// until the next decode with the same scratch; what outlives an Apply is
// copied from it: integrated text into the client's content, a pending op by
// value with its content (see queue.flush and planScratch.ownContent). Root names of roots the
// document has are taken from the document rather than allocated.
type decodeScratch struct {
	r       reader
	u       update
	clients []uint64
	roots   []rootKey
	used    []bool
	ops     []uop
	content []rune
	texts   map[string]*textRoot // the document's roots, for their names
	maps    map[string]*mapRoot
	// lastRoot is the last root name read (not empty), kept from one
	// update to the next (see str).
	lastRoot rootKey
}

// What a decode scratch keeps after an Apply at most, so that one large
// update does not keep its buffers alive with the document.
const (
	keptScratchOps   = 256
	keptScratchRunes = 16 << 10
)

// decodeUpdate is decodeUpdate with d's scratch.
func (d *Doc) decodeUpdate(b []byte) (*update, error) {
	sc := &d.decode
	sc.r = reader{b: b}
	sc.texts, sc.maps = d.texts, d.maps
	u := decodeUpdateFrom(&sc.r, sc)
	sc.r.end()
	err := sc.r.err
	sc.r, sc.texts, sc.maps = reader{}, nil, nil
	if err != nil {
		return nil, fmt.Errorf("crdt: decode update: %w", err)
	}
	return u, nil
}

// release drops what the last update decoded pointed to.
func (sc *decodeScratch) release() {
	clear(sc.ops)
	sc.ops = sc.ops[:0]
	if cap(sc.ops) > keptScratchOps {
		sc.ops = nil
	}
	if cap(sc.content) > keptScratchRunes {
		sc.content = nil
	}
	clear(sc.u.blocks)
	sc.u = update{blocks: sc.u.blocks[:0]}
	if cap(sc.u.blocks) > keptScratchOps {
		sc.u.blocks = nil
	}
	clear(sc.roots)
}

// resize returns buf resliced to n elements, reallocated if it is too short.
func resize[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}

func decodeClients(r *reader, buf []uint64) []uint64 {
	n := r.count(1)
	clients := resize(buf, n)
	for i := range clients {
		c := r.uv()
		switch {
		case r.err != nil:
			return nil
		case c == 0:
			r.fail("client id 0")
		case i > 0 && c <= clients[i-1]:
			r.fail("clients not ascending")
		}
		clients[i] = c
	}
	return clients
}

func decodeRoots(r *reader, sc *decodeScratch) []rootKey {
	n := r.count(2)
	var roots []rootKey
	if sc != nil {
		roots = resize(sc.roots, n)
	} else {
		roots = make([]rootKey, n)
	}
	for i := range roots {
		k := RootKind(r.byte1())
		name := sc.str(r, k)
		switch {
		case r.err != nil:
			return nil
		case k != KindText && k != KindMap:
			r.fail("root kind %d", k)
		case name == "":
			r.fail("empty root name")
		case i > 0 && compareRootKeys(rootKey{k, name}, roots[i-1]) <= 0:
			r.fail("roots not ascending")
		}
		roots[i] = rootKey{k, name}
	}
	return roots
}

// str reads a root name of kind k: the name the last update named, the
// document's own string when it has that root (sc not nil), a new one
// otherwise. The last name is tried first, with no hashing: most updates
// name the root the previous one did, and an update that waits names a
// root that may not exist yet, whose name would be a new string for each.
func (sc *decodeScratch) str(r *reader, k RootKind) string {
	if sc == nil || r.err != nil {
		return r.str(MaxRootNameBytes)
	}
	off := r.off
	s := r.bytes()
	if r.err == nil {
		if last := sc.lastRoot; k == last.kind && string(s) == last.name {
			return last.name
		}
		switch k {
		case KindText:
			if t := sc.texts[string(s)]; t != nil {
				sc.lastRoot = rootKey{k, t.name}
				return t.name
			}
		case KindMap:
			if m := sc.maps[string(s)]; m != nil {
				sc.lastRoot = rootKey{k, m.name}
				return m.name
			}
		}
	}
	r.off, r.err = off, nil
	name := r.str(MaxRootNameBytes)
	if r.err == nil && name != "" && (k == KindText || k == KindMap) {
		sc.lastRoot = rootKey{k, name}
	}
	return name
}

// tables resolves table indexes and records which entries were used.
type tables struct {
	r         *reader
	clients   []uint64
	roots     []rootKey
	usedC     []bool
	usedR     []bool
	contentRs []rune // shared backing store for decoded content (updates)
	text      []byte // shared backing store for decoded content (snapshots): UTF-8
	lastText  []byte // the bytes of the last content read (of the input, or of text)
}

func newTables(r *reader, clients []uint64, roots []rootKey) *tables {
	return &tables{r: r, clients: clients, roots: roots, usedC: make([]bool, len(clients)), usedR: make([]bool, len(roots))}
}

func (t *tables) client() uint64 {
	i := t.r.uv()
	if t.r.err != nil {
		return 0
	}
	if i >= uint64(len(t.clients)) {
		t.r.fail("client index %d out of range", i)
		return 0
	}
	t.usedC[i] = true
	return t.clients[i]
}

func (t *tables) id() ID {
	c := t.client()
	return ID{c, t.r.uv()}
}

func (t *tables) root(kind RootKind) string {
	i := t.rootIndex(kind)
	if i < 0 {
		return ""
	}
	return t.roots[i].name
}

// rootIndex reads a root index, which must name a root of the given kind (-1 on error).
func (t *tables) rootIndex(kind RootKind) int {
	i := t.r.uv()
	if t.r.err != nil {
		return -1
	}
	if i >= uint64(len(t.roots)) {
		t.r.fail("root index %d out of range", i)
		return -1
	}
	if t.roots[i].kind != kind {
		t.r.fail("root %q is a %v, not a %v", t.roots[i].name, t.roots[i].kind, kind)
		return -1
	}
	t.usedR[i] = true
	return int(i)
}

// allUsed checks that every table entry was referenced.
func (t *tables) allUsed() {
	if t.r.err != nil {
		return
	}
	if i := slices.Index(t.usedC, false); i >= 0 {
		t.r.fail("client %d in the table is not used", t.clients[i])
	}
	if i := slices.Index(t.usedR, false); i >= 0 {
		t.r.fail("root %q in the table is not used", t.roots[i].name)
	}
}

// content reads a str of exactly n code points.
func (t *tables) content(n uint64) []rune {
	off := t.contentOff(n)
	if t.r.err != nil {
		return nil
	}
	return t.contentRs[off:len(t.contentRs):len(t.contentRs)]
}

// contentOff reads a str of exactly n code points into contentRs and returns
// its offset there.
func (t *tables) contentOff(n uint64) int {
	s := t.codePoints(n)
	if t.r.err != nil {
		return 0
	}
	start := len(t.contentRs)
	if cap(t.contentRs)-start < int(n) {
		t.contentRs = slices.Grow(t.contentRs, max(int(n), start))
	}
	for _, c := range string(s) {
		t.contentRs = append(t.contentRs, c)
	}
	return start
}

// textOff reads a str of exactly n code points, appends it to text and
// returns its offset there.
func (t *tables) textOff(n uint64) int {
	s := t.codePoints(n)
	if t.r.err != nil {
		return 0
	}
	start := len(t.text)
	t.text = append(t.text, s...)
	t.lastText = t.text[start:len(t.text):len(t.text)]
	return start
}

// codePoints reads a str that must be exactly n code points of UTF-8, and
// sets lastText to it.
func (t *tables) codePoints(n uint64) []byte {
	s := t.r.bytes()
	if t.r.err != nil {
		return nil
	}
	t.lastText = s
	if uint64(len(s)) < n || !utf8.Valid(s) || uint64(utf8.RuneCount(s)) != n {
		t.r.fail("content is not %d code points of utf-8", n)
		return nil
	}
	return s
}

// decodeUpdateFrom decodes an update from r, into sc unless it is nil.
func decodeUpdateFrom(r *reader, sc *decodeScratch) *update {
	if f := r.byte1(); r.err == nil && f != formatUpdate {
		r.fail("format byte 0x%02x, want 0x01", f)
	}
	var t *tables
	var u *update
	var ops []uop
	if sc != nil {
		sc.clients = decodeClients(r, sc.clients)
		sc.roots = decodeRoots(r, sc)
		nc, nr := len(sc.clients), len(sc.roots)
		sc.used = resize(sc.used, nc+nr)
		clear(sc.used)
		t = &tables{r: r, clients: sc.clients, roots: sc.roots, usedC: sc.used[:nc:nc], usedR: sc.used[nc:], contentRs: sc.content[:0]}
		u, ops = &sc.u, sc.ops[:0]
	} else {
		clients := decodeClients(r, nil)
		roots := decodeRoots(r, nil)
		t = newTables(r, clients, roots)
		u = &update{}
	}
	nBlocks := r.count(4)
	u.blocks = slices.Grow(u.blocks[:0], nBlocks)
	for i := 0; i < nBlocks && r.err == nil; i++ {
		c := t.client()
		start := r.uv()
		nOps := r.count(2)
		if r.err != nil {
			break
		}
		if nOps == 0 {
			r.fail("block without ops")
			break
		}
		if k := len(u.blocks); k > 0 {
			p := &u.blocks[k-1]
			if c < p.client || (c == p.client && start <= p.end()) {
				r.fail("blocks not ascending or adjacent")
				break
			}
		}
		// A block's ops go on in the array of the previous one while it has
		// room, else into a new array (the earlier blocks keep theirs).
		if cap(ops)-len(ops) < nOps {
			ops = make([]uop, 0, nOps)
		}
		k0 := len(ops)
		bl := block{client: c, ops: ops[k0 : k0 : k0+nOps]}
		clock := start
		for j := 0; j < nOps && r.err == nil; j++ {
			op := decodeOp(t, c, clock)
			if r.err != nil {
				break
			}
			if k := len(bl.ops); k > 0 && canMerge(c, &bl.ops[k-1], &op) {
				r.fail("ops %d and %d of client %d are not merged", k-1, k, c)
				break
			}
			clock = op.end()
			if clock > maxVarint {
				r.fail("clock range of client %d reaches 2^53", c)
				break
			}
			bl.ops = append(bl.ops, op)
		}
		ops = ops[:k0+len(bl.ops)]
		u.blocks = append(u.blocks, bl)
	}
	if sc != nil {
		sc.ops, sc.content = ops, t.contentRs
	}
	u.dels = decodeDeleteSet(t)
	t.allUsed()
	if r.err != nil {
		return nil
	}
	return u
}

func decodeOp(t *tables, client, clock uint64) uop {
	r := t.r
	tag := r.byte1()
	op := uop{kind: opKind(tag & tagKindMask), clock: clock}
	switch op.kind {
	case opText:
		if tag&^(tagKindMask|tagLeft|tagRight|tagDeleted) != 0 {
			r.fail("op tag 0x%02x", tag)
			return op
		}
		op.root = t.root(KindText)
		if tag&tagLeft != 0 {
			op.left = t.id()
		}
		if tag&tagRight != 0 {
			op.right = t.id()
		}
		op.n = r.uv()
		op.deleted = tag&tagDeleted != 0
		if r.err == nil && op.n == 0 {
			r.fail("text run of length 0")
		}
		if r.err == nil && !op.deleted {
			op.content = t.content(op.n)
		}
		if (op.left.Client == client && op.left.Clock >= clock) || (op.right.Client == client && op.right.Clock >= clock) {
			r.fail("origin of (%d,%d) names itself or a later clock", client, clock)
		}
	case opMap:
		if tag&^(tagKindMask|tagTomb) != 0 {
			r.fail("op tag 0x%02x", tag)
			return op
		}
		op.n = 1
		op.root = t.root(KindMap)
		op.key = r.str(MaxKeyBytes)
		op.lamport = r.uv()
		if r.err == nil && op.lamport == 0 {
			r.fail("lamport 0")
		}
		if tag&tagTomb == 0 {
			op.value = decodeValue(r)
		}
	case opEmbed, opMark, opAttr:
		decodeRichOp(t, &op, tag, client, clock)
	case opSkip:
		if tag != byte(opSkip) {
			r.fail("op tag 0x%02x", tag)
			return op
		}
		op.n = r.uv()
		if r.err == nil && op.n == 0 {
			r.fail("skip of length 0")
		}
	default:
		r.fail("op kind %d", op.kind)
	}
	return op
}

// decodeValue reads a str holding a JSON value of at most MaxValueBytes (copied).
func decodeValue(r *reader) []byte {
	v := r.bytes()
	if r.err != nil {
		return nil
	}
	if len(v) > MaxValueBytes || !utf8.Valid(v) || !json.Valid(v) {
		r.fail("invalid json value")
		return nil
	}
	return slices.Clone(v)
}

func decodeDeleteSet(t *tables) []delRange {
	r := t.r
	n := r.count(4)
	var ds []delRange
	var prevC uint64
	for i := 0; i < n && r.err == nil; i++ {
		c := t.client()
		nr := r.count(2)
		switch {
		case r.err != nil:
			return nil
		case i > 0 && c <= prevC:
			r.fail("delete set clients not ascending")
		case nr == 0:
			r.fail("delete set client without ranges")
		}
		prevC = c
		var end uint64
		for j := 0; j < nr && r.err == nil; j++ {
			gap, n := r.uv(), r.uv()
			switch {
			case r.err != nil:
			case n == 0:
				r.fail("delete range of length 0")
			case j > 0 && gap == 0:
				r.fail("adjacent delete ranges")
			case end+gap+n > maxVarint:
				r.fail("delete range reaches 2^53")
			}
			ds = append(ds, delRange{c, end + gap, n})
			end += gap + n
		}
	}
	return ds
}

package crdt

import (
	"cmp"
	"fmt"
	"slices"
)

// Snapshot flags of a run (docs/crdt.md section 2.4).
const (
	runDeleted   = 0x01
	runLeft      = 0x02
	runLeftPrev  = 0x04 // the left origin is the last item of the previous run
	runRight     = 0x08
	runRightNext = 0x10 // the right origin is the first item of the next run
)

// snapRun is a run of a snapshot, in document order.
type snapRun struct {
	client, clock, n uint64
	left, right      ID
	deleted          bool
	implied          byte // runLeftPrev and runRightNext: origins taken from the neighbours
	off, nb          int  // visible runs: byte offset and length of the content in snapshot.content
}

func (r *snapRun) last() ID { return ID{r.client, r.clock + r.n - 1} }

type snapText struct {
	root string
	runs []snapRun
	text []byte // the visible text as encoded (UTF-8), a slice of the input
}

type snapAssign struct {
	client, clock uint64
	root, key     string
	lamport       uint64
	value         []byte // nil: tombstone
}

// snapshot is a decoded snapshot.
type snapshot struct {
	sv      StateVector
	texts   []snapText
	asgs    []snapAssign
	pending *update // nil if none
	content []byte  // the visible text of every root, concatenated (UTF-8)
	claims  []claim // every run and assignment, ascending by client and clock
	// rich is version 3's embeds, marks and attributes; nil before.
	rich *snapRich
}

// claim says that a run (text ti, run ri) or an assignment (ti = -1, ri its
// index) holds the clocks [clock, clock+n) of client.
type claim struct {
	client, clock, n uint64
	ci, ti, ri       int32 // ci: the client's index in the clients table
}

// sortClaims sorts claims by client and clock in linear time: a counting sort
// by client index, then an LSD radix sort by clock within each client. It
// returns, per client index, where the client's claims start (and one more
// entry for the end).
func sortClaims(claims []claim, nClients int) []int {
	starts := make([]int, nClients+1)
	for _, c := range claims {
		starts[c.ci+1]++
	}
	for i := 1; i <= nClients; i++ {
		starts[i] += starts[i-1]
	}
	tmp := make([]claim, len(claims))
	pos := slices.Clone(starts[:nClients])
	for _, c := range claims {
		tmp[pos[c.ci]] = c
		pos[c.ci]++
	}
	for ci := 0; ci < nClients; ci++ {
		a, b := tmp[starts[ci]:starts[ci+1]], claims[starts[ci]:starts[ci+1]]
		copy(b, a)
		if slices.IsSortedFunc(b, func(x, y claim) int { return cmp.Compare(x.clock, y.clock) }) {
			continue
		}
		var maxClock uint64
		for _, c := range b {
			maxClock = max(maxClock, c.clock)
		}
		src, dst := b, a
		for shift := 0; shift < 64 && maxClock>>shift > 0; shift += 8 {
			var count [257]int
			for _, c := range src {
				count[(c.clock>>shift)&0xff+1]++
			}
			for i := 1; i < 257; i++ {
				count[i] += count[i-1]
			}
			for _, c := range src {
				d := (c.clock >> shift) & 0xff
				dst[count[d]] = c
				count[d]++
			}
			src, dst = dst, src
		}
		if &src[0] != &b[0] {
			copy(b, src)
		}
	}
	return starts
}

// mergeable reports whether b continues a in a snapshot's document order.
func mergeable(a, b *snapRun) bool {
	return a.client == b.client && a.clock+a.n == b.clock && b.left == a.last() && a.right == b.right && a.deleted == b.deleted
}

// EncodeSnapshot returns the whole state of the document as a snapshot in
// format version 2 (0x05): the text in document order (deleted content
// dropped, lengths kept), the winning map assignments, the state vector and
// what is pending. Apply still reads version 1 snapshots (0x02).
func (d *Doc) EncodeSnapshot() []byte {
	return d.AppendSnapshot(make([]byte, 0, 1024))
}

// AppendSnapshot appends the snapshot [Doc.EncodeSnapshot] returns to dst and
// returns the extended slice. A caller that wraps the snapshot in a larger
// message (a frame with a header before it) writes it in place this way,
// without a second copy of a large document.
func (d *Doc) AppendSnapshot(dst []byte) []byte {
	// Roots that exist, in table order (texts first, then maps; by name).
	var roots []rootKey
	for name := range d.texts {
		roots = append(roots, rootKey{KindText, name})
	}
	for name := range d.maps {
		roots = append(roots, rootKey{KindMap, name})
	}
	slices.SortFunc(roots, compareRootKeys)
	var clients []uint64
	for c, cs := range d.clients {
		if cs.next > 0 {
			clients = append(clients, c)
		}
	}
	slices.Sort(clients)
	ci := func(c uint64) uint64 {
		i, _ := slices.BinarySearch(clients, c)
		return uint64(i)
	}

	rich := d.hasRich()
	b := dst
	if rich {
		b = append(b, formatSnapshot3)
	} else {
		b = append(b, formatSnapshot2)
	}
	b = appendTables(b, clients, roots)
	b = appendUv(b, uint64(len(clients)))
	for i, c := range clients {
		b = appendUv(b, uint64(i))
		b = appendUv(b, d.clients[c].next)
	}
	nTexts := 0
	for nTexts < len(roots) && roots[nTexts].kind == KindText {
		nTexts++
	}
	written := nTexts
	for _, r := range roots[:nTexts] {
		if d.texts[r.name].root.tot == 0 {
			written-- // a root with marks only (docs/crdt.md section 4.6)
		}
	}
	b = appendUv(b, uint64(written))
	var runs []snapRun
	for i, r := range roots[:nTexts] {
		t := d.texts[r.name]
		if t.root.tot == 0 {
			continue
		}
		runs = t.snapRuns(runs[:0])
		b = appendUv(b, uint64(i))
		b = appendSnapRuns2(b, runs, ci, len(clients) > 1)
		b = appendContent2(b, t.pieces)
	}
	var asgs []*assign
	for _, r := range roots[nTexts:] {
		for _, a := range d.maps[r.name].entries {
			asgs = append(asgs, a)
		}
	}
	slices.SortFunc(asgs, func(a, b *assign) int {
		return cmp.Or(cmp.Compare(a.cs.id, b.cs.id), cmp.Compare(a.clock, b.clock))
	})
	b = appendUv(b, uint64(len(asgs)))
	for _, a := range asgs {
		b = appendUv(b, ci(a.cs.id))
		b = appendUv(b, a.clock)
		if a.value == nil {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		i, _ := slices.BinarySearchFunc(roots, rootKey{KindMap, a.root.name}, compareRootKeys)
		b = appendUv(b, uint64(i))
		b = appendStr(b, a.key)
		b = appendUv(b, a.lamport)
		if a.value != nil {
			b = appendUv(b, uint64(len(a.value)))
			b = append(b, a.value...)
		}
	}
	if d.pending.empty() {
		b = append(b, 0)
	} else {
		p := encodeUpdate(d.pending.toUpdate())
		b = appendUv(b, uint64(len(p)))
		b = append(b, p...)
	}
	if rich {
		b = d.appendRich(b, roots, len(clients), ci)
	}
	return b
}

// snapRuns appends the maximal runs of t in document order to runs.
func (t *textRoot) snapRuns(runs []snapRun) []snapRun {
	for l := t.firstLeaf; l != nil; l = l.next {
		for _, it := range l.items {
			r := snapRun{client: it.cs.id, clock: it.clock, n: uint64(it.n), left: it.left, right: it.right, deleted: it.deleted}
			if k := len(runs); k > 0 && mergeable(&runs[k-1], &r) {
				runs[k-1].n += r.n
				continue
			}
			runs = append(runs, r)
		}
	}
	return runs
}

// pieces yields the visible text of t in document order, a run at a time
// (an iter.Seq of UTF-8 pieces).
func (t *textRoot) pieces(yield func([]byte) bool) {
	for l := t.firstLeaf; l != nil; l = l.next {
		for _, it := range l.items {
			if !it.deleted && !yield(it.text()) {
				return
			}
		}
	}
}

// setTextOffsets gives each visible run of runs its content: they follow
// each other in text, the UTF-8 text just read, from offset off in the
// snapshot's content.
func setTextOffsets(runs []snapRun, text []byte, off int) {
	n := 0
	for i := range runs {
		if !runs[i].deleted {
			n += int(runs[i].n)
		}
	}
	ascii := len(text) == n // valid UTF-8: as many bytes as code points
	k := 0
	for i := range runs {
		run := &runs[i]
		if run.deleted {
			continue
		}
		run.nb = int(run.n)
		if !ascii {
			run.nb = utf8Off(text[k:], int(run.n))
		}
		run.off = off + k
		k += run.nb
	}
}

// decodeSnapshot decodes and checks a snapshot of version 1 (0x02) or 2
// (0x05) (docs/crdt.md section 2.4).
func decodeSnapshot(b []byte) (*snapshot, error) {
	r := &reader{b: b}
	s := decodeSnapshotFrom(r)
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("crdt: decode snapshot: %w", r.err)
	}
	return s, nil
}

func decodeSnapshotFrom(r *reader) *snapshot {
	f := r.byte1()
	if r.err == nil && f != formatSnapshot && f != formatSnapshot2 && f != formatSnapshot3 {
		r.fail("format byte 0x%02x, want 0x02, 0x05 or 0x06", f)
	}
	clients := decodeClients(r, nil)
	roots := decodeRoots(r, nil)
	t := newTables(r, clients, roots)
	s := &snapshot{}
	n := r.count(2)
	s.sv = make(StateVector, n)
	var prevC uint64
	for i := 0; i < n && r.err == nil; i++ {
		c, k := t.client(), r.uv()
		switch {
		case r.err != nil:
		case i > 0 && c <= prevC:
			r.fail("state vector not ascending")
		case k == 0:
			r.fail("state vector clock 0")
		}
		s.sv[c], prevC = k, c
	}
	nTexts := r.count(3)
	s.texts = make([]snapText, 0, nTexts)
	lastRi := -1
	for i := 0; i < nTexts && r.err == nil; i++ {
		ri := t.rootIndex(KindText)
		if r.err != nil {
			break
		}
		if ri <= lastRi {
			r.fail("texts not ascending")
			break
		}
		lastRi = ri
		var runs []snapRun
		if f == formatSnapshot {
			runs = decodeSnapRuns(t)
		} else {
			runs = decodeSnapRuns2(t)
		}
		if r.err != nil {
			break
		}
		s.claims = slices.Grow(s.claims, len(runs))
		for j := range runs {
			run := &runs[j]
			if run.clock+run.n > s.sv[run.client] {
				r.fail("run (%d,%d) beyond the state vector", run.client, run.clock)
				break
			}
			ci, _ := slices.BinarySearch(clients, run.client)
			s.claims = append(s.claims, claim{run.client, run.clock, run.n, int32(ci), int32(len(s.texts)), int32(j)})
		}
		s.texts = append(s.texts, snapText{root: roots[ri].name, runs: runs, text: t.lastText})
	}
	nAsg := r.count(5)
	s.asgs = make([]snapAssign, 0, nAsg)
	type rk struct{ root, key string }
	seen := make(map[rk]bool, nAsg)
	for i := 0; i < nAsg && r.err == nil; i++ {
		a := snapAssign{client: t.client(), clock: r.uv()}
		tag := r.byte1()
		a.root = t.root(KindMap)
		a.key = r.str(MaxKeyBytes)
		a.lamport = r.uv()
		if r.err == nil && tag&1 == 0 {
			a.value = decodeValue(r)
		}
		switch {
		case r.err != nil:
		case tag > 1:
			r.fail("assignment tag 0x%02x", tag)
		case a.lamport == 0:
			r.fail("lamport 0")
		case a.clock >= s.sv[a.client]:
			r.fail("assignment (%d,%d) beyond the state vector", a.client, a.clock)
		case i > 0 && cmp.Or(cmp.Compare(a.client, s.asgs[i-1].client), cmp.Compare(a.clock, s.asgs[i-1].clock)) <= 0:
			r.fail("assignments not ascending")
		case seen[rk{a.root, a.key}]:
			r.fail("two assignments of key %q", a.key)
		}
		seen[rk{a.root, a.key}] = true
		ci, _ := slices.BinarySearch(clients, a.client)
		s.claims = append(s.claims, claim{a.client, a.clock, 1, int32(ci), -1, int32(i)})
		s.asgs = append(s.asgs, a)
	}
	if p := r.bytes(); r.err == nil && len(p) > 0 {
		pr := reader{b: p}
		s.pending = decodeUpdateFrom(&pr, nil)
		pr.end()
		if pr.err != nil {
			r.fail("pending: %v", pr.err)
		}
	}
	if f == formatSnapshot3 {
		s.rich = decodeRich(t, s)
	}
	t.allUsed()
	if r.err != nil {
		return nil
	}
	s.content = t.text
	// No clock claimed twice; origins name text items of the same root.
	starts := sortClaims(s.claims, len(clients))
	for i := 1; i < len(s.claims); i++ {
		if a, b := &s.claims[i-1], &s.claims[i]; a.client == b.client && b.clock < a.clock+a.n {
			r.fail("clock (%d,%d) claimed twice", b.client, b.clock)
			return nil
		}
	}
	for ti := range s.texts {
		for _, run := range s.texts[ti].runs {
			for k, o := range [2]ID{run.left, run.right} {
				if o.Client == 0 || run.implied&[2]byte{runLeftPrev, runRightNext}[k] != 0 {
					continue // none, or a neighbour of the same text
				}
				ci, _ := slices.BinarySearch(clients, o.Client)
				cl := s.claims[starts[ci]:starts[ci+1]]
				lo, hi := 0, len(cl) // find the last claim starting at or before o.Clock
				for lo < hi {
					m := int(uint(lo+hi) >> 1)
					if cl[m].clock <= o.Clock {
						lo = m + 1
					} else {
						hi = m
					}
				}
				if lo == 0 || cl[lo-1].clock+cl[lo-1].n <= o.Clock || cl[lo-1].ti != int32(ti) {
					r.fail("origin (%d,%d) is not a text item of %q", o.Client, o.Clock, s.texts[ti].root)
					return nil
				}
			}
		}
	}
	if s.rich != nil && !s.checkRich(r, clients, starts) {
		return nil
	}
	return s
}

// readRunClients reads the client column of runs: pairs of a client and a count of runs, no two
// neighbouring pairs of one client. A failure is left in t's reader.
func (t *tables) readRunClients(runs []snapRun) {
	r := t.r
	for i := 0; i < len(runs) && r.err == nil; {
		c := t.client()
		k := r.uv()
		switch {
		case r.err != nil:
		case k == 0 || k > uint64(len(runs)-i):
			r.fail("run client count %d", k)
		case i > 0 && runs[i-1].client == c:
			r.fail("run clients not merged")
		}
		for j := 0; j < int(k) && r.err == nil; j++ {
			runs[i+j].client = c
		}
		i += int(k)
	}
}

// decodeSnapRuns reads the columns of one text (after its ri).
func decodeSnapRuns(t *tables) []snapRun {
	r := t.r
	// A run takes at least three bytes: its flags, clock delta and length
	// (a deleted run with implied origins has nothing else).
	n := r.count(3)
	if r.err != nil {
		return nil
	}
	if n == 0 {
		r.fail("text without runs")
		return nil
	}
	runs := make([]snapRun, n)
	flags := make([]byte, n)
	for i := range runs {
		f := r.byte1()
		switch {
		case f&^0x1f != 0:
			r.fail("run flags 0x%02x", f)
		case f&runLeftPrev != 0 && (f&runLeft == 0 || i == 0):
			r.fail("run flag bit 2 without bit 1 or a previous run")
		case f&runRightNext != 0 && (f&runRight == 0 || i == n-1):
			r.fail("run flag bit 4 without bit 3 or a next run")
		}
		flags[i] = f
		runs[i].deleted = f&runDeleted != 0
		runs[i].implied = f & (runLeftPrev | runRightNext)
	}
	t.readRunClients(runs)
	deltas := make([]int64, n)
	for i := range deltas {
		deltas[i] = r.sv()
	}
	var expected uint64
	nVisible := uint64(0)
	for i := range runs {
		run := &runs[i]
		run.n = r.uv()
		c := int64(expected) + deltas[i]
		switch {
		case r.err != nil:
			return nil
		case run.n == 0:
			r.fail("run of length 0")
		case c < 0 || uint64(c)+run.n > maxVarint:
			r.fail("run clock out of range")
		}
		run.clock = uint64(c)
		expected = run.clock + run.n
		if !run.deleted {
			nVisible += run.n
		}
	}
	for i := range runs {
		if flags[i]&runLeft != 0 {
			if flags[i]&runLeftPrev != 0 {
				runs[i].left = runs[i-1].last()
			} else {
				runs[i].left = t.id()
				if i > 0 && runs[i].left == runs[i-1].last() {
					r.fail("left origin of run %d should use bit 2", i)
				}
			}
		}
	}
	for i := range runs {
		if flags[i]&runRight != 0 {
			if flags[i]&runRightNext != 0 {
				runs[i].right = ID{runs[i+1].client, runs[i+1].clock}
			} else {
				runs[i].right = t.id()
				if i+1 < n && runs[i].right == (ID{runs[i+1].client, runs[i+1].clock}) {
					r.fail("right origin of run %d should use bit 4", i)
				}
			}
		}
	}
	for i := range runs {
		run := &runs[i]
		if (run.left.Client == run.client && run.left.Clock >= run.clock) || (run.right.Client == run.client && run.right.Clock >= run.clock) {
			r.fail("origin of run %d names itself or a later clock", i)
		}
		if i > 0 && mergeable(&runs[i-1], run) {
			r.fail("runs %d and %d are not merged", i-1, i)
		}
	}
	off := t.textOff(nVisible)
	if r.err != nil {
		return nil
	}
	setTextOffsets(runs, t.lastText, off)
	return runs
}

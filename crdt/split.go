package crdt

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrUnsplittable reports that SplitUpdate cannot cut an update into parts of the size asked:
// the maximum is below MinSplitBytes, or one unit that cannot be cut is larger on its own.
var ErrUnsplittable = errors.New("crdt: update cannot be split to that size")

// MinSplitBytes is the smallest size SplitUpdate accepts as its maximum: below it even one
// delete range of a large client ID might not fit in an update of its own.
const MinSplitBytes = 64

// SplitUpdate cuts update into updates of at most max encoded bytes each. Applying them in
// order to any replica gives the same document as applying update (docs/crdt.md section 2.6):
// an update that holds more than a server accepts in one message can be sent as several.
//
// An update of at most max bytes is returned as is, as the only part, without being decoded.
// A larger one is decoded (an error wrapping ErrMalformedUpdate if it does not) and its units
// are laid out in order, each block's ops then the delete ranges, filling each part as far as
// max allows: a text run that does not fit is cut between code points, its first part
// finishing the current update and the rest starting the next, where it is a run whose left
// origin is the last code point of the part before. Every part is a canonical update. Both
// twins cut at the same places and produce the same bytes.
//
// It returns an error wrapping ErrUnsplittable when max is below MinSplitBytes, or when one unit
// that cannot be cut (a map assignment, or a single code point with its origins and root name)
// does not fit in max bytes on its own.
func SplitUpdate(update []byte, max int) ([][]byte, error) {
	if max < MinSplitBytes {
		return nil, fmt.Errorf("%w: maximum of %d bytes is below %d", ErrUnsplittable, max, MinSplitBytes)
	}
	if len(update) <= max {
		return [][]byte{update}, nil
	}
	u, err := decodeUpdate(update)
	if err != nil {
		return nil, err
	}
	s := splitter{max: max}
	s.reset()
	for i := range u.blocks {
		bl := &u.blocks[i]
		for j := range bl.ops {
			if err := s.addOp(bl.client, bl.ops[j]); err != nil {
				return nil, err
			}
		}
	}
	for _, r := range u.dels {
		if err := s.addDel(r); err != nil {
			return nil, err
		}
	}
	if err := s.flush(); err != nil {
		return nil, err
	}
	return s.parts, nil
}

// splitter builds the parts of SplitUpdate one at a time. It keeps the exact encoded size of the
// part being built as counters (section 2.3's grammar term by term), so that adding a unit costs
// O(1) and cutting a run O(code points cut). The one approximation: a client or root index is
// counted as wide as the largest index of its table, which is exact up to 128 entries (one byte)
// and an upper bound beyond.
type splitter struct {
	max   int
	parts [][]byte

	cur     update // the part being built
	clients map[uint64]struct{}
	roots   map[rootKey]struct{}
	fixed   int    // bytes that depend on neither a count nor an index width
	refsC   int    // client indexes written
	refsR   int    // root indexes written
	ops     int    // ops of the last block (its count is not yet in fixed)
	ranges  int    // ranges of the last delete-set client (likewise)
	delCs   int    // clients of the delete set
	delEnd  uint64 // end of the last delete range
}

// growth is what adding one unit adds to the part.
type growth struct {
	clients   [3]uint64 // clients new to the table
	nClients  int
	root      bool // the op's root is new to the table
	block     bool // the op starts a block
	delClient bool // the range starts a delete-set client
	op        bool // an op (else a delete range)
	fixed     int
	refsC     int
	refsR     int
}

func (s *splitter) reset() {
	s.cur = update{}
	s.clients = map[uint64]struct{}{}
	s.roots = map[rootKey]struct{}{}
	s.fixed, s.refsC, s.refsR, s.ops, s.ranges, s.delCs, s.delEnd = 0, 0, 0, 0, 0, 0, 0
}

func (s *splitter) empty() bool { return s.cur.empty() }

// addClient notes that the unit names client c (0: none).
func (s *splitter) addClient(g *growth, c uint64) {
	if c == 0 {
		return
	}
	if _, ok := s.clients[c]; ok {
		return
	}
	for _, x := range g.clients[:g.nClients] {
		if x == c {
			return
		}
	}
	g.clients[g.nClients] = c
	g.nClients++
	g.fixed += uvLen(c)
}

// indexWidth is the bytes counted for each index into a table of n entries.
func indexWidth(n int) int {
	if n == 0 {
		return 0
	}
	return uvLen(uint64(n - 1))
}

// size returns the encoded size of the part with g added.
func (s *splitter) size(g *growth) int {
	nc := len(s.clients) + g.nClients
	nr := len(s.roots)
	if g.root {
		nr++
	}
	nb := len(s.cur.blocks)
	ops := s.ops
	closed := 0 // the count of a block or delete client that g closes
	if g.block {
		nb++
		if ops > 0 {
			closed = uvLen(uint64(ops))
		}
		ops = 1
	} else if g.op {
		ops++
	}
	nd := s.delCs
	ranges := s.ranges
	if g.delClient {
		nd++
		if ranges > 0 {
			closed = uvLen(uint64(ranges))
		}
		ranges = 1
	} else if !g.op {
		ranges++
	}
	n := 1 + uvLen(uint64(nc)) + uvLen(uint64(nr)) + uvLen(uint64(nb)) + uvLen(uint64(nd))
	if ops > 0 {
		n += uvLen(uint64(ops))
	}
	if ranges > 0 {
		n += uvLen(uint64(ranges))
	}
	n += s.fixed + closed + g.fixed
	n += (s.refsC + g.refsC) * indexWidth(nc)
	n += (s.refsR + g.refsR) * indexWidth(nr)
	return n
}

// commit records g in the counters (the unit itself is added by the caller).
func (s *splitter) commit(g *growth) {
	for _, c := range g.clients[:g.nClients] {
		s.clients[c] = struct{}{}
	}
	if g.block {
		if s.ops > 0 {
			s.fixed += uvLen(uint64(s.ops))
		}
		s.ops = 1
	} else if g.op {
		s.ops++
	}
	if g.delClient {
		if s.ranges > 0 {
			s.fixed += uvLen(uint64(s.ranges))
		}
		s.delCs++
		s.ranges = 1
	} else if !g.op {
		s.ranges++
	}
	s.fixed += g.fixed
	s.refsC += g.refsC
	s.refsR += g.refsR
}

// opGrowth returns what op of client adds to the part, leaving out, for a text run, its length
// and content (which depend on where it is cut).
func (s *splitter) opGrowth(client uint64, op *uop) (growth, rootKey) {
	g := growth{op: true, fixed: 1} // the tag
	if k := len(s.cur.blocks); k == 0 || s.cur.blocks[k-1].client != client || s.cur.blocks[k-1].end() != op.clock {
		g.block = true
		g.refsC++
		g.fixed += uvLen(op.clock)
		s.addClient(&g, client)
	}
	var rk rootKey
	switch op.kind {
	case opText:
		rk = rootKey{KindText, op.root}
		g.refsR++
		if op.left.Client != 0 {
			s.addClient(&g, op.left.Client)
			g.refsC++
			g.fixed += uvLen(op.left.Clock)
		}
		if op.right.Client != 0 {
			s.addClient(&g, op.right.Client)
			g.refsC++
			g.fixed += uvLen(op.right.Clock)
		}
	case opMap:
		rk = rootKey{KindMap, op.root}
		g.refsR++
		g.fixed += uvLen(uint64(len(op.key))) + len(op.key) + uvLen(op.lamport)
		if op.value != nil {
			g.fixed += uvLen(uint64(len(op.value))) + len(op.value)
		}
	case opSkip:
		g.fixed += uvLen(op.n)
	case opMark, opAttr:
		rk = rootKey{KindText, op.root}
		g.refsR++
	}
	switch {
	case op.kind == opText && op.embed != nil: // the origins are counted
		g.fixed += uvLen(uint64(len(op.embed))) + len(op.embed)
	case op.kind == opMark || op.kind == opAttr:
		size := richOpSize(op, func(c uint64) {
			s.addClient(&g, c)
			g.refsC++
		})
		g.fixed += size - 1 // the tag is counted
	}
	if op.kind != opSkip {
		if _, ok := s.roots[rk]; !ok {
			g.root = true
			g.fixed += 1 + uvLen(uint64(len(rk.name))) + len(rk.name)
		}
	}
	return g, rk
}

// appendOp adds op, whose growth is g, to the part.
func (s *splitter) appendOp(client uint64, op uop, g *growth, rk rootKey) {
	s.commit(g)
	if g.root {
		s.roots[rk] = struct{}{}
	}
	if g.block {
		s.cur.blocks = append(s.cur.blocks, block{client: client})
	}
	bl := &s.cur.blocks[len(s.cur.blocks)-1]
	bl.ops = append(bl.ops, op)
}

// textBytes returns the UTF-8 length of a run's content.
func textBytes(content []rune) int {
	n := 0
	for _, c := range content {
		n += utf8.RuneLen(c)
	}
	return n
}

// addOp adds op of client to the parts, cutting it if it is a text run with content that does
// not fit.
func (s *splitter) addOp(client uint64, op uop) error {
	contentBytes := -1 // computed once per op, kept up to date as the run is cut
	for {
		g, rk := s.opGrowth(client, &op)
		if op.kind == opText && op.embed == nil {
			g.fixed += uvLen(op.n)
			if !op.deleted {
				if contentBytes < 0 {
					contentBytes = textBytes(op.content)
				}
				g.fixed += uvLen(uint64(contentBytes)) + contentBytes
			}
		}
		if s.size(&g) <= s.max {
			s.appendOp(client, op, &g, rk)
			return nil
		}
		if op.kind == opText && !op.deleted && op.embed == nil {
			// The largest prefix of k code points that fits.
			g, rk = s.opGrowth(client, &op)
			budget := s.max - s.size(&g)
			k, nb := 0, 0
			for _, c := range op.content {
				next := nb + utf8.RuneLen(c)
				if uvLen(uint64(k+1))+uvLen(uint64(next))+next > budget {
					break
				}
				k, nb = k+1, next
			}
			if k > 0 {
				head := op
				head.n, head.content = uint64(k), op.content[:k:k]
				g.fixed += uvLen(uint64(k)) + uvLen(uint64(nb)) + nb
				s.appendOp(client, head, &g, rk)
				op.left = ID{client, op.clock + uint64(k) - 1}
				op.clock += uint64(k)
				op.n -= uint64(k)
				op.content = op.content[k:]
				contentBytes -= nb
			}
		}
		if s.empty() {
			return fmt.Errorf("%w: op of client %d at clock %d needs more than %d bytes", ErrUnsplittable, client, op.clock, s.max)
		}
		if err := s.flush(); err != nil {
			return err
		}
	}
}

// addDel adds a delete range to the parts.
func (s *splitter) addDel(r delRange) error {
	for {
		g := growth{}
		k := len(s.cur.dels)
		gap := r.clock - s.delEnd
		if k == 0 || s.cur.dels[k-1].client != r.client {
			g.delClient = true
			g.refsC++
			s.addClient(&g, r.client)
			gap = r.clock
		}
		g.fixed += uvLen(gap) + uvLen(r.n)
		if s.size(&g) <= s.max {
			s.commit(&g)
			s.cur.dels = append(s.cur.dels, r)
			s.delEnd = r.clock + r.n
			return nil
		}
		if s.empty() {
			return fmt.Errorf("%w: delete range of client %d needs more than %d bytes", ErrUnsplittable, r.client, s.max)
		}
		if err := s.flush(); err != nil {
			return err
		}
	}
}

// flush encodes the part being built, if any, and starts a new one.
func (s *splitter) flush() error {
	if s.empty() {
		return nil
	}
	b := encodeUpdate(&s.cur)
	if len(b) > s.max {
		// The counters are exact or an upper bound: this is a bug, reported rather than sent.
		return fmt.Errorf("crdt: split: part of %d bytes exceeds %d", len(b), s.max)
	}
	s.parts = append(s.parts, b)
	s.reset()
	return nil
}

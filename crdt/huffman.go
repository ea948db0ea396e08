package crdt

import (
	"iter"
	"slices"
	"unicode/utf8"
)

// The content column of a version 2 snapshot (docs/crdt.md section 2.4.1) is
// either the visible text as UTF-8 or, when shorter, its code points coded
// with a canonical Huffman code built from their counts. The code is part of
// the format: its construction is fully specified, so that both twins write
// the same bytes and a decoder can refuse a code that is not the one the
// counts give (every snapshot has exactly one encoding).

const (
	contentRaw     = 0 // str: UTF-8
	contentHuffman = 1 // a canonical Huffman code over code points

	maxCodeBits    = 15      // the longest code a content code may use
	maxCodeSymbols = 1 << 15 // more distinct code points cannot fit in maxCodeBits
)

// codeLengths returns the code length of each symbol for the counts freq (at
// least two, each at least 1; symbols in ascending code point order, which
// breaks ties): Huffman's construction with two queues, and while a length
// exceeds maxCodeBits, every count halved (rounding up) and the code built
// again. It needs len(freq) <= maxCodeSymbols.
func codeLengths(freq []uint64) []uint8 {
	n := len(freq)
	w := slices.Clone(freq)
	order := make([]int32, n)
	weight := make([]uint64, 2*n-1)
	parent := make([]int32, 2*n-1)
	depth := make([]uint8, 2*n-1)
	lens := make([]uint8, n)
	for {
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortStableFunc(order, func(a, b int32) int {
			switch {
			case w[a] < w[b]:
				return -1
			case w[a] > w[b]:
				return 1
			}
			return int(a - b)
		})
		// Nodes 0..n-1 are the leaves in sorted order, n.. the merged nodes in
		// the order they are made (the second queue).
		for i, s := range order {
			weight[i] = w[s]
		}
		leaf, inner := 0, n
		take := func(next int) int {
			if leaf < n && (inner >= next || weight[leaf] <= weight[inner]) {
				leaf++
				return leaf - 1
			}
			inner++
			return inner - 1
		}
		for next := n; next < 2*n-1; next++ {
			a := take(next)
			b := take(next)
			weight[next] = weight[a] + weight[b]
			parent[a], parent[b] = int32(next), int32(next)
		}
		depth[2*n-2] = 0
		longest := uint8(0)
		for i := 2*n - 3; i >= 0; i-- {
			depth[i] = depth[parent[i]] + 1
			if i < n {
				lens[order[i]] = depth[i]
				longest = max(longest, depth[i])
			}
		}
		if longest <= maxCodeBits {
			return lens
		}
		for i := range w {
			w[i] = (w[i] + 1) >> 1
		}
	}
}

// canonicalCodes returns the code of each symbol for its length: symbols
// taken by length, then code point, each code the previous plus one, shifted
// left when the length grows (as in DEFLATE).
func canonicalCodes(lens []uint8) []uint32 {
	order := make([]int, len(lens))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(lens[a]) - int(lens[b]) })
	codes := make([]uint32, len(lens))
	code, prev := uint32(0), uint8(0)
	for k, s := range order {
		if k > 0 {
			code++
		}
		code <<= lens[s] - prev
		prev = lens[s]
		codes[s] = code
	}
	return codes
}

// appendContent2 writes the content column of a version 2 snapshot: the
// visible text, given as UTF-8 pieces of whole code points, raw or
// Huffman-coded, whichever is shorter (raw on a tie). It reads the pieces a
// few times over rather than join them: a large text is never copied.
func appendContent2(b []byte, text iter.Seq[[]byte]) []byte {
	nUTF8 := 0
	for p := range text {
		nUTF8 += len(p)
	}
	rawBytes := uvLen(uint64(nUTF8)) + nUTF8
	if h := huffmanCode(text); h != nil {
		if size := h.size(); size < rawBytes {
			return h.append(append(b, contentHuffman), text)
		}
	}
	b = append(b, contentRaw)
	b = appendUv(b, uint64(nUTF8))
	b = slices.Grow(b, nUTF8)
	for p := range text {
		b = append(b, p...)
	}
	return b
}

// onePiece returns the text made of the single piece p.
func onePiece(p []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) { yield(p) }
}

// contentCode is a Huffman code for one content column.
type contentCode struct {
	syms  []rune // ascending
	lens  []uint8
	codes []uint32
	index map[rune]int32 // symbol of a code point of 128 and above
	ascii [128]int32     // symbol of an ASCII code point
	bits  uint64         // the length of the coded text
}

// huffmanCode returns the code for the text (UTF-8 pieces of whole code
// points), or nil if it has fewer than two or more than maxCodeSymbols
// distinct code points.
func huffmanCode(text iter.Seq[[]byte]) *contentCode {
	counts := make(map[rune]uint64)
	var ascii [128]uint64
	for p := range text {
		for i := 0; i < len(p); {
			if c := p[i]; c < utf8.RuneSelf {
				ascii[c]++
				i++
				continue
			}
			c, w := utf8.DecodeRune(p[i:])
			counts[c]++
			i += w
		}
	}
	h := &contentCode{index: make(map[rune]int32)}
	for c, k := range ascii {
		if k > 0 {
			h.syms = append(h.syms, rune(c))
		}
	}
	var others []rune
	for c := range counts {
		others = append(others, c)
	}
	slices.Sort(others)
	h.syms = append(h.syms, others...)
	if len(h.syms) < 2 || len(h.syms) > maxCodeSymbols {
		return nil
	}
	freq := make([]uint64, len(h.syms))
	for i, c := range h.syms {
		if c < 128 {
			freq[i] = ascii[c]
		} else {
			freq[i] = counts[c]
		}
		if c < 128 {
			h.ascii[c] = int32(i)
		} else {
			h.index[c] = int32(i)
		}
	}
	h.lens = codeLengths(freq)
	h.codes = canonicalCodes(h.lens)
	for i, k := range freq {
		h.bits += k * uint64(h.lens[i])
	}
	return h
}

// size returns the length of the coded column after its mode byte.
func (h *contentCode) size() int {
	n := uvLen(uint64(len(h.syms))) + len(h.syms)
	prev := rune(-1)
	for _, c := range h.syms {
		n += uvLen(uint64(c - prev - 1))
		prev = c
	}
	nBytes := (h.bits + 7) / 8
	return n + uvLen(nBytes) + int(nBytes)
}

// append writes the code table and the coded text (UTF-8 pieces).
func (h *contentCode) append(b []byte, text iter.Seq[[]byte]) []byte {
	b = appendUv(b, uint64(len(h.syms)))
	prev := rune(-1)
	for i, c := range h.syms {
		b = appendUv(b, uint64(c-prev-1))
		b = append(b, h.lens[i])
		prev = c
	}
	nBytes := int((h.bits + 7) / 8)
	b = appendUv(b, uint64(nBytes))
	b = slices.Grow(b, nBytes)
	var acc uint64
	var nAcc uint
	for p := range text {
		for i := 0; i < len(p); {
			var s int32
			if c := p[i]; c < utf8.RuneSelf {
				s = h.ascii[c]
				i++
			} else {
				c, w := utf8.DecodeRune(p[i:])
				s = h.index[c]
				i += w
			}
			acc = acc<<h.lens[s] | uint64(h.codes[s])
			nAcc += uint(h.lens[s])
			for nAcc >= 8 {
				nAcc -= 8
				b = append(b, byte(acc>>nAcc))
			}
		}
	}
	if nAcc > 0 {
		b = append(b, byte(acc<<(8-nAcc)))
	}
	return b
}

// readContent2 reads the content column of a version 2 snapshot, which must
// hold exactly n code points, into t.text (UTF-8) and returns its offset
// there. It also sets t.lastText to the text read.
func (t *tables) readContent2(n uint64) int {
	r := t.r
	switch mode := r.byte1(); {
	case r.err != nil:
		return 0
	case mode == contentRaw:
		off := t.textOff(n)
		if r.err == nil {
			if h := huffmanCode(onePiece(t.lastText)); h != nil && h.size() < uvLen(uint64(len(t.lastText)))+len(t.lastText) {
				r.fail("raw content that a code would make shorter")
			}
		}
		return off
	case mode != contentHuffman:
		r.fail("content mode %d", mode)
		return 0
	}
	nSym := r.count(2)
	if r.err == nil && (nSym < 2 || nSym > maxCodeSymbols) {
		r.fail("content code of %d symbols", nSym)
	}
	if r.err != nil {
		return 0
	}
	tableStart := r.off
	syms := make([]rune, nSym)
	lens := make([]uint8, nSym)
	prev := int64(-1)
	var kraft uint64 // the sum of 2^(maxCodeBits - len): 2^maxCodeBits for a complete code
	longest := uint8(0)
	for i := range syms {
		c := prev + 1 + int64(r.uv())
		l := r.byte1()
		switch {
		case r.err != nil:
			return 0
		case c > utf8.MaxRune || (c >= 0xd800 && c <= 0xdfff):
			r.fail("content code point %d", c)
			return 0
		case l == 0 || l > maxCodeBits:
			r.fail("content code length %d", l)
			return 0
		}
		syms[i], lens[i], prev = rune(c), l, c
		kraft += 1 << (maxCodeBits - l)
		longest = max(longest, l)
	}
	if kraft != 1<<maxCodeBits {
		r.fail("content code is not complete")
		return 0
	}
	tableBytes := r.off - tableStart
	code := r.bytes()
	if r.err != nil {
		return 0
	}
	// Each symbol takes at least one bit.
	if n > uint64(len(code))*8 {
		r.fail("content of %d code points in %d bytes", n, len(code))
		return 0
	}
	codes := canonicalCodes(lens)
	table := make([]uint32, 1<<longest) // symbol << 4 | length, by the next longest bits
	for s, l := range lens {
		lo := codes[s] << (longest - l)
		for k := lo; k < lo+1<<(longest-l); k++ {
			table[k] = uint32(s)<<4 | uint32(l)
		}
	}
	start := len(t.text)
	if cap(t.text)-start < int(n) {
		t.text = slices.Grow(t.text, max(int(n), start))
	}
	out := t.text
	freq := make([]uint64, nSym)
	var acc uint64
	var nAcc uint
	pos := 0
	used := uint64(0)
	for range n {
		for nAcc < uint(longest) {
			acc <<= 8
			if pos < len(code) {
				acc |= uint64(code[pos])
			}
			pos++
			nAcc += 8
		}
		e := table[(acc>>(nAcc-uint(longest)))&(1<<longest-1)]
		s, l := e>>4, uint(e&15)
		nAcc -= l
		used += uint64(l)
		if c := syms[s]; c < utf8.RuneSelf {
			out = append(out, byte(c))
		} else {
			out = utf8.AppendRune(out, c)
		}
		freq[s]++
	}
	nUTF8 := len(out) - start
	switch {
	case (used+7)/8 != uint64(len(code)):
		r.fail("content code of %d bits in %d bytes", used, len(code))
		return 0
	case used%8 != 0 && code[len(code)-1]&(1<<(8-used%8)-1) != 0:
		r.fail("content code padding is not zero")
		return 0
	}
	if slices.Contains(freq, 0) || !slices.Equal(codeLengths(freq), lens) {
		r.fail("content code is not the one its counts give")
		return 0
	}
	if uvLen(uint64(nSym))+tableBytes+uvLen(uint64(len(code)))+len(code) >= uvLen(uint64(nUTF8))+nUTF8 {
		r.fail("content code no shorter than the text")
		return 0
	}
	t.text = out
	t.lastText = out[start:len(out):len(out)]
	return start
}

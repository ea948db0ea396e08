package crdt

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Limits of the varint encoding (docs/crdt.md section 2).
const (
	maxVarint    = 1<<53 - 1 // the largest value a uv may hold
	maxUvarBytes = 8         // a uv is at most 8 bytes long
)

// appendUv appends v as an unsigned LEB128 varint.
func appendUv(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// appendSv appends v zigzag-encoded as a uv.
func appendSv(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64(v<<1)^uint64(v>>63))
}

// appendStr appends s as a uv byte length and its bytes.
func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// uvLen returns the encoded length of v as a uv.
func uvLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// reader decodes the primitives of the encoding. The first error is sticky:
// later reads return zero values, and err says what went wrong first.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", ErrMalformedUpdate, fmt.Sprintf(format, args...), r.off)
	}
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) byte1() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// uv reads an unsigned varint: at most 8 bytes, minimal, below 2^53.
func (r *reader) uv() uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < maxUvarBytes; i++ {
		if r.off >= len(r.b) {
			r.fail("truncated varint")
			return 0
		}
		c := r.b[r.off]
		r.off++
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				r.fail("non-minimal varint")
				return 0
			}
			if v > maxVarint {
				r.fail("varint out of range")
				return 0
			}
			return v
		}
	}
	r.fail("varint too long")
	return 0
}

// sv reads a zigzag-encoded signed varint.
func (r *reader) sv() int64 {
	u := r.uv()
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a uv count of items that take at least minBytes bytes each, and
// checks it against the bytes that remain.
func (r *reader) count(minBytes int) int {
	n := r.uv()
	if r.err != nil {
		return 0
	}
	if n > uint64(r.remaining()/minBytes) {
		r.fail("count %d exceeds the remaining bytes", n)
		return 0
	}
	return int(n)
}

// bytes reads a uv length and that many bytes (not copied).
func (r *reader) bytes() []byte {
	n := r.uv()
	if r.err != nil {
		return nil
	}
	if n > uint64(r.remaining()) {
		r.fail("length %d exceeds the remaining bytes", n)
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// str reads a uv length and that many bytes of valid UTF-8 of at most max bytes.
func (r *reader) str(max int) string {
	s := r.bytes()
	if r.err != nil {
		return ""
	}
	if len(s) > max {
		r.fail("string of %d bytes exceeds %d", len(s), max)
		return ""
	}
	if !utf8.Valid(s) {
		r.fail("invalid utf-8")
		return ""
	}
	return string(s)
}

// end checks that every byte was read.
func (r *reader) end() {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
}

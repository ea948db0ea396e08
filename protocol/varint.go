package protocol

import "encoding/binary"

// MaxUvarint is the largest integer the protocol carries, 2^53-1: the largest integer that a
// JavaScript Number holds exactly, so that the JavaScript client never rounds a client ID, a
// sequence number or a length.
const MaxUvarint = 1<<53 - 1

// MaxUvarintLen is the length of the longest varint a decoder accepts: 53 bits at 7 bits a byte.
const MaxUvarintLen = 8

// AppendUvarint appends the varint encoding of v to dst and returns the extended slice.
//
// The encoding is unsigned LEB128, byte for byte what [binary.AppendUvarint] writes: 7 bits a
// byte, least significant group first, the high bit set on every byte but the last. v must not
// exceed [MaxUvarint]: a larger value is written all the same, and every decoder refuses it.
func AppendUvarint(dst []byte, v uint64) []byte {
	return binary.AppendUvarint(dst, v)
}

// UvarintLen returns the number of bytes [AppendUvarint] writes for v.
func UvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// Uvarint decodes the varint at the start of b and returns its value and the number of bytes it
// took. It is stricter than [binary.Uvarint], so that every value has exactly one encoding that
// both Go and JavaScript read alike. It returns
//   - [ErrTruncated] if b ends before the last byte of the varint;
//   - [ErrVarintOverflow] if the value exceeds [MaxUvarint] or the encoding runs past
//     [MaxUvarintLen] bytes;
//   - [ErrOverlongVarint] if the encoding is not minimal (a last byte of 0x00 after the first).
//
// The errors are the bare sentinels (no allocation): callers add their own context.
func Uvarint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < MaxUvarintLen; i++ {
		if i == len(b) {
			return 0, 0, ErrTruncated
		}
		c := b[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, 0, ErrOverlongVarint
			}
			if v > MaxUvarint {
				return 0, 0, ErrVarintOverflow
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, ErrVarintOverflow
}

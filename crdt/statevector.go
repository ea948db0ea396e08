package crdt

import (
	"fmt"
	"slices"
)

// Format bytes: the first byte of every encoded value.
const (
	formatUpdate      = 0x01
	formatSnapshot    = 0x02
	formatStateVector = 0x03
	formatRelPos      = 0x04
	formatSnapshot2   = 0x05 // a snapshot in format version 2
)

// sortedClients returns the clients of sv with a non-zero clock, ascending.
func (sv StateVector) sortedClients() []uint64 {
	cs := make([]uint64, 0, len(sv))
	for c, k := range sv {
		if k > 0 {
			cs = append(cs, c)
		}
	}
	slices.Sort(cs)
	return cs
}

// EncodeStateVector encodes sv in the 0x03 format: clients ascending, those
// with clock 0 omitted. Entries that are not valid (client 0 or above
// MaxClientID, clock above MaxClientID) are omitted as well.
func EncodeStateVector(sv StateVector) []byte {
	cs := sv.sortedClients()
	cs = slices.DeleteFunc(cs, func(c uint64) bool { return c > MaxClientID || sv[c] > maxVarint })
	b := make([]byte, 0, 2+len(cs)*8)
	b = append(b, formatStateVector)
	b = appendUv(b, uint64(len(cs)))
	for _, c := range cs {
		b = appendUv(b, c)
		b = appendUv(b, sv[c])
	}
	return b
}

// DecodeStateVector decodes a 0x03 state vector. Errors wrap ErrMalformedUpdate.
func DecodeStateVector(b []byte) (StateVector, error) {
	r := reader{b: b}
	if f := r.byte1(); r.err == nil && f != formatStateVector {
		return nil, fmt.Errorf("%w: format byte 0x%02x, want 0x03", ErrMalformedUpdate, f)
	}
	n := r.count(2)
	sv := make(StateVector, n)
	var prev uint64
	for i := 0; i < n && r.err == nil; i++ {
		c, k := r.uv(), r.uv()
		switch {
		case r.err != nil:
		case c == 0:
			r.fail("client id 0")
		case i > 0 && c <= prev:
			r.fail("clients not ascending")
		case k == 0:
			r.fail("clock 0 for client %d", c)
		}
		sv[c], prev = k, c
	}
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("crdt: decode state vector: %w", r.err)
	}
	return sv, nil
}

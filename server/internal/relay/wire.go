package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// The messages between nodes, on core NATS subjects (never stored):
//
//	<prefix>.awhb        beat, bye         every node, every Heartbeat
//	<prefix>.aw.<key>    changes, full,    the nodes with the document open
//	                     query
//
// <key> is the document ID in unpadded base64url, as in storage/jetstream (an ID may contain
// '.', NATS's token separator). Every message is
//
//	byte     version (1)
//	byte     kind
//	uvarint  length of the node ID, then its bytes (at most maxNodeIDBytes)
//	8 bytes  the node's instance, big-endian
//
// and changes and full go on with
//
//	uvarint  number of entries
//	entries  uvarint client ID, uvarint clock, uvarint length of the state, then its bytes
//	         (length 0: a removal)
//
// Varints are LEB128 (encoding/binary's Uvarint), as everywhere in tandem.
const wireVersion = 1

// kind is what a message between nodes says.
type kind byte

const (
	kindBeat    kind = 1 // the node is alive
	kindBye     kind = 2 // the node is leaving: drop its states now
	kindChanges kind = 3 // the node's awareness changes for a document
	kindFull    kind = 4 // every state the node holds for a document
	kindQuery   kind = 5 // the node opened a document: the others send it their full states
)

// maxNodeIDBytes bounds a node ID, on the wire and in Config.
const maxNodeIDBytes = 128

// errMalformed is returned for a message that cannot be decoded.
var errMalformed = errors.New("relay: malformed message")

// message is one decoded message between nodes.
type message struct {
	kind    kind
	from    Node
	entries []Entry
}

// encode returns the wire form of m.
func encode(m message) []byte {
	size := 2 + binary.MaxVarintLen64 + len(m.from.ID) + 8 + binary.MaxVarintLen64
	for _, e := range m.entries {
		size += 3*binary.MaxVarintLen64 + len(e.State)
	}
	b := make([]byte, 0, size)
	b = append(b, wireVersion, byte(m.kind))
	b = binary.AppendUvarint(b, uint64(len(m.from.ID)))
	b = append(b, m.from.ID...)
	b = binary.BigEndian.AppendUint64(b, m.from.Instance)
	if m.kind == kindChanges || m.kind == kindFull {
		b = binary.AppendUvarint(b, uint64(len(m.entries)))
		for _, e := range m.entries {
			b = binary.AppendUvarint(b, e.ClientID)
			b = binary.AppendUvarint(b, e.Clock)
			b = binary.AppendUvarint(b, uint64(len(e.State)))
			b = append(b, e.State...)
		}
	}
	return b
}

// decode parses a message.
func decode(b []byte) (message, error) {
	var m message
	if len(b) < 2 {
		return m, fmt.Errorf("%w: %d bytes", errMalformed, len(b))
	}
	if b[0] != wireVersion {
		return m, fmt.Errorf("%w: version %d", errMalformed, b[0])
	}
	m.kind = kind(b[1])
	if m.kind < kindBeat || m.kind > kindQuery {
		return m, fmt.Errorf("%w: kind %d", errMalformed, b[1])
	}
	r := reader{b: b[2:]}
	n := r.uvarint()
	if n > maxNodeIDBytes || r.err != nil {
		return m, fmt.Errorf("%w: node id length", errMalformed)
	}
	m.from.ID = string(r.bytes(int(n)))
	m.from.Instance = r.uint64()
	if m.kind == kindChanges || m.kind == kindFull {
		count := r.uvarint()
		// Each entry takes at least three bytes: a count beyond that is a lie.
		if count > uint64(len(r.b))/3 {
			return m, fmt.Errorf("%w: %d entries in %d bytes", errMalformed, count, len(r.b))
		}
		m.entries = make([]Entry, 0, count)
		for range count {
			var e Entry
			e.ClientID = r.uvarint()
			e.Clock = r.uvarint()
			size := r.uvarint()
			if size > uint64(len(r.b)) {
				return m, fmt.Errorf("%w: state of %d bytes", errMalformed, size)
			}
			if size > 0 {
				// A copy: a kept state must not pin the whole message.
				e.State = bytes.Clone(r.bytes(int(size)))
			}
			m.entries = append(m.entries, e)
		}
	}
	if r.err != nil {
		return m, r.err
	}
	if len(r.b) != 0 {
		return m, fmt.Errorf("%w: %d trailing bytes", errMalformed, len(r.b))
	}
	return m, nil
}

// reader reads the fields of a message; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint", errMalformed)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("%w: short", errMalformed)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) uint64() uint64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

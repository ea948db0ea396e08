package protocol

// Version is the protocol version this package speaks, the first field of every hello.
const Version = 1

// Type is a message's type, the first byte of every frame.
type Type byte

// The message types. docs/protocol.md gives each one's layout, direction and meaning.
const (
	TypeHello     Type = 0x01 // client -> server, first: version, client ID, state vector, flags
	TypeSync      Type = 0x02 // server -> client, the answer to hello: what the client lacks
	TypeUpdate    Type = 0x03 // both ways: a CRDT update
	TypeAck       Type = 0x04 // server -> client: how many of the client's updates are durable
	TypeAwareness Type = 0x05 // both ways: ephemeral per-client state (cursors, names)
	TypeError     Type = 0x06 // server -> client, before a close: a close code and a message
	TypeBroadcast Type = 0x07 // both ways: an application message relayed to the other editors
	TypePing      Type = 0x08 // both ways: an application-level liveness check
	TypePong      Type = 0x09 // both ways: the answer to ping
	TypeAuth      Type = 0x0A // client -> server: a new token for the open connection
)

// String returns the type's name, such as "hello", or "type(0x0b)" for an unknown type.
func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeSync:
		return "sync"
	case TypeUpdate:
		return "update"
	case TypeAck:
		return "ack"
	case TypeAwareness:
		return "awareness"
	case TypeError:
		return "error"
	case TypeBroadcast:
		return "broadcast"
	case TypePing:
		return "ping"
	case TypePong:
		return "pong"
	case TypeAuth:
		return "auth"
	}
	const hex = "0123456789abcdef"
	return "type(0x" + string([]byte{hex[t>>4], hex[t&0xf]}) + ")"
}

// Message is the payload of a frame: one of *[Hello], *[Sync], *[Update], *[Ack], *[Awareness],
// *[PeerAwareness], *[Error], *[Broadcast], *[PeerBroadcast], *[Ping], *[Pong] and *[Auth]. The set is
// closed: only this package's types implement it.
type Message interface {
	// Type returns the message's type byte.
	Type() Type
	// payloadSize returns the length of the payload's encoding.
	payloadSize() int
	// appendPayload appends the payload's encoding to dst.
	appendPayload(dst []byte) []byte
}

// FlagReadOnly is the hello flag by which a client says it will not send updates. The server
// grants read-only access to a token with the read role whatever the flag says; the flag lets a
// writer open a read-only view.
const FlagReadOnly uint64 = 1 << 0

// Hello is the client's first message on a channel.
type Hello struct {
	// Version is the protocol version the client speaks: [Version].
	Version uint64
	// ClientID is the client's CRDT client ID, in [1, 2^53).
	ClientID uint64
	// StateVector is the client's state vector (docs/crdt.md), so that the server answers with
	// only what the client lacks. A client with an empty document sends an empty state vector.
	StateVector []byte
	// Flags is a set of bits: [FlagReadOnly]; the others are reserved and must be 0.
	Flags uint64
}

// ReadOnly reports whether the hello sets [FlagReadOnly].
func (m *Hello) ReadOnly() bool { return m.Flags&FlagReadOnly != 0 }

// Sync is the server's answer to hello.
type Sync struct {
	// Update holds what the client lacks, given the state vector of its hello: CRDT update or
	// snapshot bytes.
	Update []byte
	// StateVector is the server's state vector, from which the client computes the update the
	// server lacks.
	StateVector []byte
}

// Update carries a CRDT update, in either direction.
type Update struct {
	// Data is the update's bytes (docs/crdt.md).
	Data []byte
}

// Ack tells a client how many of its updates are durably stored.
type Ack struct {
	// Seq counts the update messages received on this connection and channel that are now
	// durable: the first update after hello is 1. Acks are cumulative and never go backwards.
	Seq uint64
}

// Awareness is a client's own awareness state, such as its user name, colour and cursor.
type Awareness struct {
	// Clock increases with every change of the client's state, so that receivers keep the latest.
	Clock uint64
	// State is the state's bytes (JSON, opaque to the protocol); empty clears the client's presence.
	State []byte
}

// AwarenessEntry is one client's awareness state as the server relays it.
type AwarenessEntry struct {
	// ClientID is the client the state belongs to, stamped by the server from the sender's hello.
	ClientID uint64
	// Clock is the clock the client sent with the state.
	Clock uint64
	// State is the state's bytes; empty means the client left.
	State []byte
}

// PeerAwareness carries other clients' awareness states from the server.
type PeerAwareness struct {
	Entries []AwarenessEntry
}

// Broadcast is an application message that a client asks the server to relay to the document's
// other editors. It is never stored.
type Broadcast struct {
	Payload []byte
}

// PeerBroadcast is a broadcast as the server relays it, stamped with its sender.
type PeerBroadcast struct {
	// ClientID is the sender's client ID.
	ClientID uint64
	Payload  []byte
}

// Ping asks the peer for a [Pong] with the same nonce.
type Ping struct {
	Nonce uint64
}

// Pong answers a [Ping], echoing its nonce.
type Pong struct {
	Nonce uint64
}

// Auth hands the server a new token for the open connection, so that a client refreshes its
// access before the token it connected with expires, without reconnecting. The server checks it as
// it checks the token of an upgrade, and also that it names the connection's subject and document;
// it adopts the new token's role and expiry, or closes with 4401.
type Auth struct {
	// Token is the new token, as `tandem token` prints it.
	Token string
}

// Type returns [TypeHello].
func (*Hello) Type() Type { return TypeHello }

// Type returns [TypeSync].
func (*Sync) Type() Type { return TypeSync }

// Type returns [TypeUpdate].
func (*Update) Type() Type { return TypeUpdate }

// Type returns [TypeAck].
func (*Ack) Type() Type { return TypeAck }

// Type returns [TypeAwareness].
func (*Awareness) Type() Type { return TypeAwareness }

// Type returns [TypeAwareness].
func (*PeerAwareness) Type() Type { return TypeAwareness }

// Type returns [TypeError].
func (*Error) Type() Type { return TypeError }

// Type returns [TypeBroadcast].
func (*Broadcast) Type() Type { return TypeBroadcast }

// Type returns [TypeBroadcast].
func (*PeerBroadcast) Type() Type { return TypeBroadcast }

// Type returns [TypePing].
func (*Ping) Type() Type { return TypePing }

// Type returns [TypePong].
func (*Pong) Type() Type { return TypePong }

// Type returns [TypeAuth].
func (*Auth) Type() Type { return TypeAuth }

// bytesLen is the encoded length of a length-prefixed byte string.
func bytesLen(n int) int { return UvarintLen(uint64(n)) + n }

func appendBytes(dst, b []byte) []byte {
	dst = AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func (m *Hello) payloadSize() int {
	return UvarintLen(m.Version) + UvarintLen(m.ClientID) + bytesLen(len(m.StateVector)) + UvarintLen(m.Flags)
}

func (m *Hello) appendPayload(dst []byte) []byte {
	dst = AppendUvarint(dst, m.Version)
	dst = AppendUvarint(dst, m.ClientID)
	dst = appendBytes(dst, m.StateVector)
	return AppendUvarint(dst, m.Flags)
}

func (m *Sync) payloadSize() int { return bytesLen(len(m.Update)) + bytesLen(len(m.StateVector)) }

func (m *Sync) appendPayload(dst []byte) []byte {
	dst = appendBytes(dst, m.Update)
	return appendBytes(dst, m.StateVector)
}

func (m *Update) payloadSize() int { return bytesLen(len(m.Data)) }

func (m *Update) appendPayload(dst []byte) []byte { return appendBytes(dst, m.Data) }

func (m *Ack) payloadSize() int { return UvarintLen(m.Seq) }

func (m *Ack) appendPayload(dst []byte) []byte { return AppendUvarint(dst, m.Seq) }

func (m *Awareness) payloadSize() int { return UvarintLen(m.Clock) + bytesLen(len(m.State)) }

func (m *Awareness) appendPayload(dst []byte) []byte {
	dst = AppendUvarint(dst, m.Clock)
	return appendBytes(dst, m.State)
}

func (m *PeerAwareness) payloadSize() int {
	n := UvarintLen(uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		n += UvarintLen(e.ClientID) + UvarintLen(e.Clock) + bytesLen(len(e.State))
	}
	return n
}

func (m *PeerAwareness) appendPayload(dst []byte) []byte {
	dst = AppendUvarint(dst, uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		dst = AppendUvarint(dst, e.ClientID)
		dst = AppendUvarint(dst, e.Clock)
		dst = appendBytes(dst, e.State)
	}
	return dst
}

func (m *Error) payloadSize() int { return UvarintLen(uint64(m.Code)) + bytesLen(len(m.Message)) }

func (m *Error) appendPayload(dst []byte) []byte {
	dst = AppendUvarint(dst, uint64(m.Code))
	return appendString(dst, m.Message)
}

func (m *Broadcast) payloadSize() int { return bytesLen(len(m.Payload)) }

func (m *Broadcast) appendPayload(dst []byte) []byte { return appendBytes(dst, m.Payload) }

func (m *PeerBroadcast) payloadSize() int { return UvarintLen(m.ClientID) + bytesLen(len(m.Payload)) }

func (m *PeerBroadcast) appendPayload(dst []byte) []byte {
	dst = AppendUvarint(dst, m.ClientID)
	return appendBytes(dst, m.Payload)
}

func (m *Ping) payloadSize() int { return UvarintLen(m.Nonce) }

func (m *Ping) appendPayload(dst []byte) []byte { return AppendUvarint(dst, m.Nonce) }

func (m *Pong) payloadSize() int { return UvarintLen(m.Nonce) }

func (m *Pong) appendPayload(dst []byte) []byte { return AppendUvarint(dst, m.Nonce) }

func (m *Auth) payloadSize() int { return bytesLen(len(m.Token)) }

func (m *Auth) appendPayload(dst []byte) []byte { return appendString(dst, m.Token) }

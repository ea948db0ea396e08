package protocol

import (
	"fmt"
	"unicode/utf8"
)

// Direction says which side sent a frame. Awareness and broadcast messages are laid out
// differently in the two directions, and each direction allows its own set of types.
type Direction uint8

// The two directions.
const (
	// FromClient: a frame a client sends and the server decodes: hello, update, awareness
	// ([Awareness]), broadcast ([Broadcast]), ping, pong and auth.
	FromClient Direction = 1
	// FromServer: a frame the server sends and a client decodes: sync, update, ack, awareness
	// ([PeerAwareness]), error, broadcast ([PeerBroadcast]), ping and pong.
	FromServer Direction = 2
)

// String returns "client" or "server".
func (d Direction) String() string {
	switch d {
	case FromClient:
		return "client"
	case FromServer:
		return "server"
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// allows reports whether a frame of type t may travel in direction d.
func (d Direction) allows(t Type) bool {
	switch t {
	case TypeUpdate, TypeAwareness, TypeBroadcast, TypePing, TypePong:
		return d == FromClient || d == FromServer
	case TypeHello, TypeAuth:
		return d == FromClient
	case TypeSync, TypeAck, TypeError:
		return d == FromServer
	}
	return false
}

// Frame is one message with the channel it travels on.
type Frame struct {
	// Channel names the document within the connection; on /v1/docs/{id}/ws it is always 0.
	Channel uint64
	// Message is the payload: one of this package's message types.
	Message Message
}

// FrameSize returns the length of the frame [AppendFrame] writes for m on channel.
func FrameSize(channel uint64, m Message) int {
	return 1 + UvarintLen(channel) + m.payloadSize()
}

// AppendFrame appends the frame holding m on channel to dst and returns the extended slice.
//
// It does not validate m: every integer must be at most [MaxUvarint], client IDs at least 1,
// strings valid UTF-8, a hello's version [Version]. A frame built from invalid values is refused
// by the peer's decoder, as any malformed frame is.
func AppendFrame(dst []byte, channel uint64, m Message) []byte {
	dst = append(dst, byte(m.Type()))
	dst = AppendUvarint(dst, channel)
	return m.appendPayload(dst)
}

// EncodeFrame returns the frame holding m on channel, in a slice allocated at its exact size:
// one allocation however large the payload, which suits an update encoded once and sent to every
// connection of a document.
func EncodeFrame(channel uint64, m Message) []byte {
	return AppendFrame(make([]byte, 0, FrameSize(channel, m)), channel, m)
}

// EncodeSyncFrame returns the frame [EncodeFrame] returns for a [Sync] on channel whose update is
// what appendUpdate appends to the slice it is given, and whose state vector is stateVector. The
// update is written in place, after room left for the header, and the header is written before it
// once its length is known: a large update (a whole document's snapshot) is never copied, and the
// frame costs one buffer instead of two. The returned slice may begin a few bytes into its buffer.
func EncodeSyncFrame(channel uint64, appendUpdate func(dst []byte) []byte, stateVector []byte) []byte {
	// room: the type, the channel and the longest length of the update.
	room := 1 + UvarintLen(channel) + MaxUvarintLen
	b := appendUpdate(make([]byte, room, room+1024))
	n := len(b) - room
	start := room - 1 - UvarintLen(channel) - UvarintLen(uint64(n))
	head := AppendUvarint(append(b[start:start], byte(TypeSync)), channel)
	AppendUvarint(head, uint64(n))
	return appendBytes(b, stateVector)[start:]
}

// DecodeFrame decodes one frame sent from the given direction.
//
// The message's []byte fields are slices of b, not copies (see the package documentation): b must
// not be modified while the message is in use. An error wraps one of the package's sentinel errors,
// and [CloseCodeFor] maps it to the close code the server answers with. A hello with a version
// other than [Version] yields [ErrUnsupportedVersion] without the rest of it being read.
func DecodeFrame(b []byte, from Direction) (Frame, error) {
	if len(b) == 0 {
		return Frame{}, fmt.Errorf("%w: empty frame", ErrTruncated)
	}
	t := Type(b[0])
	if t < TypeHello || t > TypeAuth {
		return Frame{}, fmt.Errorf("%w: 0x%02x", ErrUnknownType, b[0])
	}
	if !from.allows(t) {
		return Frame{}, fmt.Errorf("%w: %s from %s", ErrUnexpectedType, t, from)
	}
	r := reader{b: b, off: 1, t: t}
	ch := r.uvarint("channel")
	var m Message
	switch t {
	case TypeHello:
		m = r.hello()
	case TypeSync:
		m = &Sync{Update: r.bytes("update"), StateVector: r.bytes("state vector")}
	case TypeUpdate:
		m = &Update{Data: r.bytes("data")}
	case TypeAck:
		m = &Ack{Seq: r.uvarint("seq")}
	case TypeAwareness:
		if from == FromClient {
			m = &Awareness{Clock: r.uvarint("clock"), State: r.bytes("state")}
		} else {
			m = r.peerAwareness()
		}
	case TypeError:
		m = r.error()
	case TypeBroadcast:
		if from == FromClient {
			m = &Broadcast{Payload: r.bytes("payload")}
		} else {
			m = &PeerBroadcast{ClientID: r.clientID("client id"), Payload: r.bytes("payload")}
		}
	case TypePing:
		m = &Ping{Nonce: r.uvarint("nonce")}
	case TypePong:
		m = &Pong{Nonce: r.uvarint("nonce")}
	case TypeAuth:
		m = &Auth{Token: r.string("token")}
	}
	if r.err == nil && r.off != len(b) {
		r.err = fmt.Errorf("%w: %d after %s", ErrTrailingBytes, len(b)-r.off, t)
	}
	if r.err != nil {
		return Frame{}, r.err
	}
	return Frame{Channel: ch, Message: m}, nil
}

// reader decodes fields from b in order. Its first error sticks: every later read returns a zero
// value, so a decoder reads all its fields and checks err once. Fields are read left to right and
// each is validated as soon as it is read, so that the first error in the bytes is the one reported
// (the JavaScript twin reports the same one).
type reader struct {
	b   []byte
	off int
	t   Type // the message type, for error messages
	err error
}

func (r *reader) fail(sentinel error, field, format string, args ...any) {
	r.err = fmt.Errorf("%w: %s %s"+format, append([]any{sentinel, r.t, field}, args...)...)
}

func (r *reader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n, err := Uvarint(r.b[r.off:])
	if err != nil {
		r.fail(err, field, " at byte %d", r.off)
		return 0
	}
	r.off += n
	return v
}

// clientID reads a client ID, which must not be 0 (the varint already bounds it by 2^53-1).
func (r *reader) clientID(field string) uint64 {
	id := r.uvarint(field)
	if r.err == nil && id == 0 {
		r.fail(ErrInvalidClientID, field, " 0")
	}
	return id
}

// bytes reads a length-prefixed byte string as a slice of the input, its capacity cut to its
// length; empty reads as nil.
func (r *reader) bytes(field string) []byte {
	if r.err != nil {
		return nil
	}
	n, k, err := Uvarint(r.b[r.off:])
	if err != nil {
		r.fail(err, field, " length at byte %d", r.off)
		return nil
	}
	r.off += k
	if left := uint64(len(r.b) - r.off); n > left {
		r.fail(ErrTruncated, field, ": length %d, %d bytes left", n, left)
		return nil
	}
	if n == 0 {
		return nil
	}
	end := r.off + int(n)
	s := r.b[r.off:end:end]
	r.off = end
	return s
}

// string reads a length-prefixed UTF-8 string, copied out of the input.
func (r *reader) string(field string) string {
	b := r.bytes(field)
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		r.fail(ErrInvalidUTF8, field, "")
		return ""
	}
	return string(b)
}

func (r *reader) hello() *Hello {
	m := &Hello{Version: r.uvarint("version")}
	switch {
	case r.err != nil:
		return m
	case m.Version == 0:
		r.fail(ErrInvalidVersion, "version", " 0")
		return m
	case m.Version != Version:
		r.fail(ErrUnsupportedVersion, "version", " %d (this peer speaks %d)", m.Version, Version)
		return m
	}
	m.ClientID = r.clientID("client id")
	m.StateVector = r.bytes("state vector")
	m.Flags = r.uvarint("flags")
	if r.err == nil && m.Flags&^FlagReadOnly != 0 {
		r.fail(ErrReservedFlags, "flags", " %#x", m.Flags)
	}
	return m
}

// minAwarenessEntryBytes is the shortest encoding of an awareness entry: a one-byte client ID, a
// one-byte clock and an empty state's one-byte length.
const minAwarenessEntryBytes = 3

func (r *reader) peerAwareness() *PeerAwareness {
	m := &PeerAwareness{}
	n := r.uvarint("count")
	if r.err != nil || n == 0 {
		return m
	}
	if left := uint64(len(r.b) - r.off); n > left/minAwarenessEntryBytes {
		r.fail(ErrTruncated, "count", " %d, %d bytes left", n, left)
		return m
	}
	m.Entries = make([]AwarenessEntry, n)
	for i := range m.Entries {
		e := &m.Entries[i]
		e.ClientID = r.clientID("client id")
		e.Clock = r.uvarint("clock")
		e.State = r.bytes("state")
		if r.err != nil {
			break
		}
	}
	return m
}

func (r *reader) error() *Error {
	m := &Error{}
	code := r.uvarint("code")
	if r.err != nil {
		return m
	}
	if code > 4999 || !CloseCode(code).valid() {
		r.fail(ErrInvalidCloseCode, "code", " %d", code)
		return m
	}
	m.Code = CloseCode(code)
	m.Message = r.string("message")
	return m
}

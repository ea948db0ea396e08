// Package protocol is tandem's wire format: the messages that travel between an editor and the
// server over one WebSocket, their byte encoding, the close codes that end a connection, and the
// protocol version.
//
// The specification is docs/protocol.md; this package and client-js/src/protocol.js implement it,
// and both check themselves against the golden frames in testdata/protocol/frames.json, so a byte
// that differs between the two is a bug.
//
// # What it owns, what it imports
//
// protocol imports nothing of tandem's. CRDT updates, state vectors and awareness states travel as
// opaque bytes: their format is docs/crdt.md, and the crdt package decodes them. protocol knows
// nothing about sockets, documents or logging either; the server reads a WebSocket message, hands
// its bytes to [DecodeFrame], and writes what [AppendFrame] produced.
//
// # Frames
//
// Every WebSocket binary message holds one frame: a type byte, a channel (a varint naming the
// document within the connection; 0 on /v1/docs/{id}/ws), then the payload of that type. The two
// directions share type bytes but not always layouts: the server stamps awareness and broadcast
// messages with their sender's client ID. So a decoder is told who sent the frame
// ([FromClient] or [FromServer]), and the Go types differ: a client sends [Awareness] and
// [Broadcast], a server sends [PeerAwareness] and [PeerBroadcast].
//
// Decoding is strict so that every message has exactly one encoding: varints are minimal and at
// most 2^53-1 ([MaxUvarint], so that JavaScript holds them exactly), strings are valid UTF-8, a
// declared length or count is checked against the bytes that remain before anything is allocated,
// and trailing bytes are an error. Decoding hostile bytes returns an error wrapping one of the
// sentinel errors (ErrTruncated, ErrUnknownType...) and never panics; FuzzDecodeFrame checks it.
//
// # Aliasing
//
// Decoded []byte fields (updates, state vectors, awareness states, broadcast payloads) are slices
// of the input, not copies: an update of a megabyte is not copied on its way to the CRDT. The
// caller must therefore not modify or reuse the input buffer while it holds the decoded message.
// Each such slice has its capacity cut to its length, so appending to it never overwrites the
// bytes that follow it. A field of length zero decodes to nil. Strings ([Error].Message) are copies.
//
// # Concurrency
//
// The package holds no state. Every function may be called from any goroutine; a message value is
// as safe to share as the byte slices it points to.
//
// # Errors and close codes
//
// [CloseCode] lists the codes a connection closes with and says which are terminal (a client must
// not reconnect by itself). [Error] is a refusal with a close code: the server returns it from deep
// inside, sends it as the error message, and closes with its code; [CloseCodeFor] maps any error
// of this package to its code, so the server's table of errors to codes starts here.
package protocol

// Package wsframe reads and writes the frames of the server's side of a WebSocket connection
// (RFC 6455, and RFC 7692's permessage-deflate on the reading side), after a handshake done
// elsewhere (gorilla/websocket's Upgrader, in server/ws.go).
//
// # Why its own frame layer
//
// A general WebSocket library keeps a read buffer per connection for the connection's whole life
// and reads through it with a goroutine parked in a blocking read. The server holds thousands of
// connections that are idle most of the time, so it reads differently: a Reader holds no buffer
// while it waits (it borrows one from a BufferPool while bytes are coming and gives it back when
// it has returned them all), reads a frame's 2 to 14 header bytes first, and reads a payload into
// a slice of its exact size, refused from the header alone when the message it belongs to would
// pass the size limit. Writing is left to the caller, who appends headers (AppendHeader) in front
// of payloads and writes many frames with one writev.
//
// # What it owns, what it imports
//
// The frame format, its validation and the close codes of RFC 6455 violations. It imports
// nothing of ours; server is its only user.
//
// # What the Reader enforces
//
// Client frames masked; reserved bits clear (RSV1 on a message's first frame only when
// permessage-deflate was negotiated); known opcodes; control frames final and at most 125 bytes;
// continuation frames only inside a fragmented message, and no new message inside one; close
// payloads empty or a valid code with a UTF-8 reason; messages at most Config.MaxMessageBytes,
// counted on the wire and, for compressed messages, once inflated; with Config.CheckUTF8, text
// messages valid UTF-8, checked fragment by fragment. A violation is an *Error that carries the
// close code to send (1002, 1007 or 1009); after one, the stream cannot be read further.
//
// # Concurrency
//
// A Reader is used by one goroutine at a time; successive calls may come from different
// goroutines if the caller orders them (the server's poller runs one reader goroutine per
// connection at a time). A BufferPool is safe for concurrent use.
package wsframe

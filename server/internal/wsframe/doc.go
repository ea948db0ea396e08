// Package wsframe reads and writes the frames of the server's side of a WebSocket connection
// (RFC 6455, and RFC 7692's permessage-deflate on the reading side), after a handshake done
// elsewhere (gorilla/websocket's Upgrader, in server/internal/transport).
//
// # Why its own frame layer
//
// A general WebSocket library keeps a read buffer per connection for the connection's whole life
// and reads through it with a goroutine parked in a blocking read. The server holds thousands of
// connections that are idle most of the time, so it reads differently: a Reader holds no buffer
// while it waits (it borrows one from a BufferPool while bytes are coming and gives it back when
// it has returned them all), and reads a frame's 2 to 14 header bytes first; a message the header
// shows would pass the size limit is refused from the header alone. A payload that has arrived
// whole (or is small) is read into a slice of its exact size. Any other message (a large payload
// still coming, fragments, a compressed message) is put together in 16 KiB chunks taken as its
// bytes arrive, never for the length a header announces, from a Budget that every Reader of the
// server shares: the memory that clients can pin by leaving messages unfinished is bounded
// server-wide, and a frame that stalls is dropped after Config.StallTimeout. Writing is left to
// the caller, who appends headers (AppendHeader) in front of payloads and writes many frames with
// one writev.
//
// # What it owns, what it imports
//
// The frame format, its validation and the close codes of RFC 6455 violations. It imports
// nothing of ours; its users are the server's transport (server/internal/transport), which reads
// and writes frames with it, and the server, which makes the shared Budget.
//
// # What the Reader enforces
//
// Client frames masked; reserved bits clear (RSV1 on a message's first frame only when
// permessage-deflate was negotiated); known opcodes; payload lengths in their minimal encoding;
// control frames final and at most 125 bytes; continuation frames only inside a fragmented
// message, and no new message inside one; close payloads empty or a valid code with a UTF-8
// reason; messages at most Config.MaxMessageBytes, counted on the wire and, for compressed
// messages, once inflated; with Config.CheckUTF8, text messages valid UTF-8, checked fragment by
// fragment; with Config.RefuseText, no text message at all, refused at its first frame. Beyond
// the RFC: a message's chunks within Config.Budget, and no frame or fragmented message left
// without a byte for Config.StallTimeout. A violation is an *Error that carries the close code to
// send (1002, 1003, 1007, 1008, 1009 or 1013); after one, the stream cannot be read further.
//
// # Concurrency
//
// A Reader is used by one goroutine at a time; successive calls may come from different
// goroutines if the caller orders them (the server's poller runs one reader goroutine per
// connection at a time). A BufferPool and a Budget are safe for concurrent use.
package wsframe

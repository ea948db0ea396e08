// Package transport is the server's WebSocket transport: from the handshake to the dropped
// socket, everything about a connection that is not the document's business.
//
// # What it owns, what it imports
//
// The handshake (gorilla/websocket's Upgrader, whose connection is dropped right after it), the
// bare sockets (sockConn: a descriptor, not Go's net.TCPConn, sock_linux.go), the epoll poller
// that reads idle sockets without a goroutine each (poll_linux.go), frame reading (wsframe's
// Reader) and writing (frameWriter, writev on the descriptor: write_linux.go), each connection's
// send queue bounded in messages and bytes, slow-consumer detection (queue full, write stalled,
// no pong), the keepalive scanner (pings, the pong and presence waits: keepalive.go), the close
// handshake (error message, close frame, waiting for the peer's, draining), and returning memory
// after a burst (memory.go). It imports protocol (close codes, the error message before a close)
// and server/internal/wsframe; nothing of ours imports it but server (internal/layout enforces
// both).
//
// # The seam
//
// The document side knows a connection only through a handful of methods of Conn, in the
// manner of gorilla's chat example (a send channel per client) and centrifuge's Transport (write,
// close with a code): Send a frame (or Hold frames and Flush them in one system call), Close with
// a *protocol.Error, Closing, Context (done once closing), SetPresence. The transport calls back
// one Handler per Hub: Message for each message the peer sends, ReadEnded once the reader is over,
// Refused when the server's own close with an error code has gone out, Ended last. An Observer
// is told what to count and warn of. A Conn is a value inside the session that owns it (one
// allocation per connection; the server finds its session from the *Conn), and its fields are
// this package's alone: the document's actor cannot reach them.
//
// # A connection's life
//
//	Hub.Upgrade ──► Hub.Init ──► Hub.Add ──(hub shutting down: close 1001 sent, socket dropped)──► gone
//	                                │
//	                                ▼ Conn.Start
//	  ┌───────────────────────────── open ──────────────────────────────┐
//	  │ reader: armed on the poller (pollIdle) ⇄ reading (pollReading), │
//	  │         or a goroutine of its own (TLS, net.Pipe, no epoll)     │
//	  │ writer: idle ⇄ writing (Send on the caller's goroutine, or      │
//	  │         drain while frames are queued)                          │
//	  └───────────────────────────────┬─────────────────────────────────┘
//	                                   │ a close cause, the first one counts (setClose):
//	                                   │  Close(e) by the server; slow consumer (queue full,
//	                                   │  write stalled, no pong: 1013); the frame layer's refusal;
//	                                   │  the peer's close frame; a broken socket
//	                                   ▼
//	                               closing ── Context done; Send refused; messages read are dropped
//	                                   │
//	                                   ▼ finish (on the writer)
//	        queued frames (none for a slow consumer, a broken socket or a peer's close; the frame
//	        begun is finished) ─► error message (unless 1000/1001 or quiet) ─► close frame, all
//	        within CloseTimeout ─► wait for the peer's close frame (the reader ends) or CloseGrace
//	                                   │
//	                                   ▼
//	                               dropped ── socket closed; an armed polled connection's end
//	                                   │      is taken over by the writer (dropped)
//	                                   ▼ endRead: Handler.ReadEnded
//	                             reader ended
//	                                   │ ended: the writers have returned; off the hub's table
//	                                   ▼ Handler.Ended
//	                                 ended
//
// # Concurrency
//
//   - Per connection, at most one reader runs at a time: a goroutine of its own, or one the poller
//     starts per burst of bytes; one-shot arming hands the role from one to the next, so messages
//     reach the Handler in order. Handler.Message and ReadEnded run on the reader.
//   - At most one writer writes to a socket at a time: Send writes on the caller's goroutine when
//     nothing is being written (and the socket is a bare descriptor), else a drain goroutine
//     takes the queue, each pass in one writev. Send, Hold, Flush, Close and Closing may be called
//     from any goroutine and never block; Context and SetPresence belong to the reader.
//   - Locks: Hub.mu (the table, closing), Conn.mu (the queue and the close cause), poller.mu (its
//     table and epoll instance). None is held while another is taken, nor while calling the
//     Handler or the Observer.
//   - Goroutines and their owners: the drain goroutines (Conn.wg, waited by the connection's end),
//     connections (Hub.wg, waited by Shutdown), the poller's goroutine and its readers
//     (poller.close, called by Shutdown once the connections have ended), the keepalive scanner
//     (stopKeepalive, called by Shutdown).
//
// # Invariants
//
//   - A frame is written whole or not begun: a slow consumer's close follows the end of the frame
//     being written, never a frame cut short; frames never interleave on the socket.
//   - Send never blocks; a frame past the queue's bounds closes the connection with 1013 instead.
//   - Every close frame carries a code; only the first close cause counts.
//   - An idle connection holds no goroutine, no read buffer and no timer: the keepalive scanner
//     pings it and checks its silence.
//
// docs/server.md ("Connections") is the operator's view of the same; docs/protocol.md gives the
// close codes.
package transport

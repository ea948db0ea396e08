// Package client is a Go client for the tandem protocol: a program (a bot, a script, a load
// generator, a test) opens one document on a tandem server, edits it through a local CRDT replica,
// and sees the other editors' changes and presence.
//
//	c, err := client.Dial(ctx, "ws://127.0.0.1:8080", "notes", client.Options{})
//	...
//	err = c.Edit(func(d *crdt.Doc) error { return d.Text("body").Insert(0, "hello") })
//	err = c.WaitSaved(ctx) // the server has stored the edit durably
//	c.Close()
//
// # Session
//
// Dial connects to /v1/docs/{id}/ws, sends hello with the replica's state vector, applies the sync
// answer, and sends the server what it lacks. Edit changes the replica and sends the update at
// once; incoming updates are applied as they arrive. The server acknowledges updates only once they
// are durable (docs/protocol.md): WaitSaved returns when every local change made before the call is
// acknowledged, and Saved reports the client's own clock that the server has stored.
//
// With Options.Reconnect, a lost connection is reopened with full-jitter exponential backoff
// (Options.MinBackoff to Options.MaxBackoff), and the resync by state vector re-sends every local
// change the server has not acknowledged, so nothing is lost while offline or in a server crash.
// The resync carries this client's own changes only, never other clients' (their authors re-send
// what a crashed server lost). A close with a terminal
// code ([protocol.CloseCode.Terminal]: unauthorized, forbidden, deleted...) ends the Conn instead:
// reconnecting would be refused again.
//
// A client ID must never outlive its clocks (docs/crdt.md, section 1.1): every Dial makes a new
// replica, so leave Options.ClientID zero (a random ID) unless the ID is new to the document; Dial
// refuses, with ErrClientIDUsed, one under which the server holds units this replica never issued.
//
// # Errors
//
// A close by the server surfaces as a *CloseError carrying the protocol close code and the
// server's message (from the error frame that precedes the close, or the close frame's reason).
// Test it with errors.As, or errors.Is against ErrClosed for a Conn closed by Close.
//
// # Concurrency
//
// Every method of Conn may be called from any goroutine. One reader goroutine per Conn decodes the
// server's frames and applies updates; writes go out from the calling goroutine under a lock, in
// the order the edits were made. The callbacks in Options run on the reader goroutine: they must
// not block for long, and must not call Edit, Read or Close (they may record, count and signal).
//
// # Imports
//
// client imports crdt and protocol, never server or storage: it is a peer on the wire, like the
// JavaScript provider.
package client

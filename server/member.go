package server

// Closing reports whether c is closing, for the document's ledger (room.Member), which holds no
// more frames for a connection that will never be sent them.
func (c *conn) Closing() bool { return c.closing() }

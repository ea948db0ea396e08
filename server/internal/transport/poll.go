package transport

// A connection's reader states on the server's poller (Conn.pollState, poll_linux.go). A
// connection that is not on a poller (its reader is a goroutine of its own) stays in pollOff.
const (
	pollOff     int32 = iota // not on the poller: the reader is a goroutine of its own, or not started
	pollIdle                 // armed on the poller; no reader runs
	pollReading              // a reader goroutine runs
	pollDone                 // the reader has ended; whoever set this ends the connection
)

// readBufferBytes is the size of the buffers readers borrow while bytes are coming: a burst of
// small messages is read with one system call, a large message is read straight into its own
// slice, and the pool, which keeps a buffer for every reader that ran at once, stays small.
const readBufferBytes = 1 << 10

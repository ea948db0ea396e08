// Package rawws is a WebSocket client for conformance tests: it does the opening handshake by hand
// and reads and writes frames byte by byte, so that a test can send what a well-behaved client
// never would (reserved bits, reserved opcodes, fragmented control frames, lying length headers,
// a frame cut into pieces with pauses between them) and observe exactly what the server answers.
//
// It follows RFC 6455 only as far as a test needs: frames written by Conn are masked (the test
// chooses everything else), frames read from the server are returned as they arrive, with no
// reassembly, no automatic pong and no validation beyond what is needed to parse them. Reading a
// frame whose declared length exceeds the limit given to SetReadLimit is an error, so that a
// broken server cannot make a test allocate without bound.
//
// A Conn is used by one goroutine at a time.
package rawws

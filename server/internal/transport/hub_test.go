package transport

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// TestAddWhileShuttingDown checks that a hub that has begun to shut down refuses a connection
// the way the server always has: the peer gets a close frame 1001 with a reason, then the end of
// the stream, and the connection never enters the table.
func TestAddWhileShuttingDown(t *testing.T) {
	h := New(testConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx, protocol.Errorf(protocol.CloseGoingAway, "server shutting down")); err != nil {
		t.Fatal(err)
	}
	srv, cli := net.Pipe()
	defer cli.Close()
	c := new(Conn)
	h.Init(c, srv, false)
	type frame struct {
		op  byte
		p   []byte
		err error
	}
	got := make(chan frame, 1)
	go func() {
		op, p, err := readServerFrame(cli)
		got <- frame{op, p, err}
	}()
	if h.Add(c) {
		t.Fatal("Add during shutdown = true; want false")
	}
	f := <-got
	if f.err != nil {
		t.Fatalf("reading the close frame: %v", f.err)
	}
	code, reason, err := wsframe.ParseClose(f.p)
	if f.op != 0x88 || err != nil || code != uint16(protocol.CloseGoingAway) || reason != "server shutting down" {
		t.Errorf("frame %#x, close %d %q (%v); want 0x88, close 1001 %q", f.op, code, reason, err, "server shutting down")
	}
	if _, _, err := readServerFrame(cli); err == nil {
		t.Error("the socket is still open after the refusal; want it dropped")
	}
	if n := h.Len(); n != 0 {
		t.Errorf("Len() = %d after a refused Add; want 0", n)
	}
}

// clientFrame returns a final client frame of opcode op (masked with a zero key, so that the
// payload stays as it is).
func clientFrame(op byte, p []byte) []byte {
	return append([]byte{0x80 | op, 0x80 | byte(len(p)), 0, 0, 0, 0}, p...)
}

// TestConnSeam drives one connection through the seam the document side uses: messages reach
// the handler in order, a ping is answered by the transport alone, a frame sent reaches the peer,
// and the peer's close frame is answered, then the handler learns of the end.
func TestConnSeam(t *testing.T) {
	cfg := testConfig()
	th := newTestHandler()
	cfg.Handler = th
	h := newTestHub(t, cfg)
	srv, cli := net.Pipe()
	defer cli.Close()
	c := new(Conn)
	h.Init(c, srv, false)
	if !h.Add(c) {
		t.Fatal("Add refused")
	}
	c.Start() // a pipe cannot be polled: the reader is a goroutine of its own
	type frame struct {
		op byte
		p  []byte
	}
	frames := make(chan frame, 8)
	go func() {
		defer close(frames)
		for {
			op, p, err := readServerFrame(cli)
			if err != nil {
				return
			}
			frames <- frame{op, p}
		}
	}()
	for _, f := range [][]byte{clientFrame(2, []byte("one")), clientFrame(2, []byte("two")), clientFrame(9, []byte("hi"))} {
		if _, err := cli.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if f := <-frames; f.op != 0x8a || string(f.p) != "hi" {
		t.Fatalf("answer to a ping: %#x %q; want a pong 0x8a %q", f.op, f.p, "hi")
	}
	if !c.Send(Frame{Data: []byte("update")}) {
		t.Fatal("Send refused on an open connection")
	}
	if f := <-frames; f.op != 0x82 || string(f.p) != "update" {
		t.Fatalf("frame sent: %#x %q; want 0x82 %q", f.op, f.p, "update")
	}
	if _, err := cli.Write(clientFrame(8, []byte{0x03, 0xe8})); err != nil { // close 1000
		t.Fatal(err)
	}
	if f := <-frames; f.op != 0x88 {
		t.Fatalf("answer to the peer's close: %#x; want a close frame", f.op)
	}
	<-th.ended
	if !c.Closing() || c.Send(Frame{Data: []byte("late")}) {
		t.Error("the connection accepts frames after its end")
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	if len(th.messages) != 2 || string(th.messages[0]) != "one" || string(th.messages[1]) != "two" {
		t.Errorf("messages handled: %q; want [one two]", th.messages)
	}
	if len(th.refused) != 0 {
		t.Errorf("Refused called %d times for a close the peer started; want 0", len(th.refused))
	}
}

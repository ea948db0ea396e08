package server

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/rawws"
)

// connGoroutines counts the goroutines that work for a connection: readers (polled or not) and
// writers.
func connGoroutines() int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "transport.(*poller).read(") || strings.Contains(g, "transport.(*Conn).serve(") || strings.Contains(g, "transport.(*Conn).drain(") {
			n++
		}
	}
	return n
}

// rawJoin dials document docID with a raw client, sends a hello and reads the sync.
func rawJoin(t *testing.T, ts *testServer, docID string, clientID uint64) *rawws.Conn {
	t.Helper()
	c := ts.rawDial(t, docID, "", clientID, nil)
	readMessage(t, c, protocol.TypeSync)
	return c
}

// readMessage reads frames until a binary one and checks its message type.
func readMessage(t *testing.T, c *rawws.Conn, want protocol.Type) protocol.Message {
	t.Helper()
	for {
		f, err := c.ReadFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("read: %v; want %s", err, want)
		}
		if f.Opcode != rawws.OpBinary {
			continue
		}
		m, err := protocol.DecodeFrame(f.Payload, protocol.FromServer)
		if err != nil {
			t.Fatal(err)
		}
		if m.Message.Type() != want {
			t.Fatalf("got %s; want %s", m.Message.Type(), want)
		}
		return m.Message
	}
}

// TestIdleConnectionHasNoReader checks that 200 idle connections hold no reader goroutine (nor a
// writer): a few goroutines per server at most, not one per connection. And that they still read.
func TestIdleConnectionHasNoReader(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	// The raw clients run no goroutines: what the count gains is the server's.
	base := rawJoin(t, ts, "idle", 999) // the document's actor and the poller start here
	waitFor(t, 5*time.Second, "the first connection idle", func() bool { return connGoroutines() == 0 })
	before := runtime.NumGoroutine()
	const n = 200
	cs := make([]*rawws.Conn, n)
	for i := range cs {
		cs[i] = rawJoin(t, ts, "idle", uint64(1000+i))
	}
	waitFor(t, 5*time.Second, "idle connections without reader goroutines", func() bool { return connGoroutines() <= 3 })
	waitFor(t, 5*time.Second, "a few goroutines for 200 idle connections", func() bool { return runtime.NumGoroutine()-before <= 5 })
	_ = base
	if got := openConns(ts.Server); got != n+1 {
		t.Fatalf("%d connections open; want %d", got, n+1)
	}
	// Every one still reads: a protocol ping from each is answered.
	for i, c := range cs {
		ping := protocol.EncodeFrame(0, &protocol.Ping{Nonce: uint64(i + 1)})
		if err := c.WriteFrame(rawws.Frame{Fin: true, Opcode: rawws.OpBinary, Payload: ping}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cs {
		if p := readMessage(t, c, protocol.TypePong).(*protocol.Pong); p.Nonce != uint64(i+1) {
			t.Fatalf("connection %d: pong %d; want %d", i, p.Nonce, i+1)
		}
	}
	waitFor(t, 5*time.Second, "no reader goroutines after the pings", func() bool { return connGoroutines() <= 3 })
}

// TestPolledReadsInOrder checks that a polled connection reads every message once and in order,
// however its bytes are cut: many messages in one write, frames cut across writes with pauses
// (the reader waits for the rest of a frame), WebSocket pings among them, fragmented messages.
func TestPolledReadsInOrder(t *testing.T) {
	cfg := testConfig(t)
	cfg.AwarenessPerSecond = 1e6
	cfg.AwarenessBurst = 1e6
	ts := startServer(t, cfg, nil)
	c := rawJoin(t, ts, "order", 7)
	var stream []byte
	const n = 300
	for i := 1; i <= n; i++ {
		p := protocol.EncodeFrame(0, &protocol.Ping{Nonce: uint64(i)})
		switch i % 7 {
		case 0: // in two fragments
			stream = rawws.AppendFrame(stream, rawws.Frame{Opcode: rawws.OpBinary, Payload: p[:2]})
			stream = rawws.AppendFrame(stream, rawws.Frame{Fin: true, Opcode: rawws.OpContinuation, Payload: p[2:]})
		case 3: // a WebSocket ping before it
			stream = rawws.AppendFrame(stream, rawws.Frame{Fin: true, Opcode: rawws.OpPing, Payload: []byte{byte(i)}})
			fallthrough
		default:
			stream = rawws.AppendFrame(stream, rawws.Frame{Fin: true, Opcode: rawws.OpBinary, Payload: p})
		}
	}
	// Pieces of odd sizes, some with a pause, so that frames are cut everywhere.
	go func() {
		sizes := []int{1, 5, 2, 300, 17, 1000, 3, 64}
		for off, k := 0, 0; off < len(stream); k++ {
			end := min(off+sizes[k%len(sizes)], len(stream))
			if err := c.Write(stream[off:end]); err != nil {
				return
			}
			if k%5 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
			off = end
		}
	}()
	next, pongs := uint64(1), 0
	for next <= n {
		f, err := c.ReadFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d pongs: %v", next-1, err)
		}
		if f.Opcode == rawws.OpPong {
			pongs++
			continue
		}
		m, err := protocol.DecodeFrame(f.Payload, protocol.FromServer)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := m.Message.(*protocol.Pong)
		if !ok {
			continue
		}
		if p.Nonce != next {
			t.Fatalf("pong %d; want %d (a message lost or out of order)", p.Nonce, next)
		}
		next++
	}
	waitFor(t, 5*time.Second, "every WebSocket ping answered", func() bool {
		if pongs == n/7+1 {
			return true
		}
		if f, err := c.ReadFrame(50 * time.Millisecond); err == nil && f.Opcode == rawws.OpPong {
			pongs++
		}
		return false
	})
}

// TestPolledSilentPeer checks the pong wait without a read waiting on the socket: a peer that
// answers no ping is dropped once PongWait passes; one that answers stays.
func TestPolledSilentPeer(t *testing.T) {
	cfg := testConfig(t)
	cfg.PongWait = time.Second // the pong has a tenth of it to come back: room for a loaded machine
	ts := startServer(t, cfg, nil)
	start := time.Now()
	_ = rawJoin(t, ts, "silent", 1) // never answers a ping
	talker := rawJoin(t, ts, "silent", 2)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			f, err := talker.ReadFrame(time.Second)
			if err != nil {
				continue
			}
			if f.Opcode == rawws.OpPing {
				_ = talker.WriteFrame(rawws.Frame{Fin: true, Opcode: rawws.OpPong, Payload: f.Payload})
			}
		}
	}()
	waitFor(t, 5*time.Second, "the silent peer dropped", func() bool { return openConns(ts.Server) == 1 })
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("silent peer dropped after %v; want about the pong wait (1s)", d)
	}
	time.Sleep(3 * cfg.PongWait)
	if got := openConns(ts.Server); got != 1 {
		t.Errorf("%d connections after 3 pong waits; want 1 (the one answering pings)", got)
	}
}

// TestPolledShutdown checks that Shutdown closes idle polled connections with 1001 and leaves no
// goroutine behind, the poller's included.
func TestPolledShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	ts := startServer(t, testConfig(t), nil)
	var cs []*rawws.Conn
	for i := range 5 {
		cs = append(cs, rawJoin(t, ts, "bye", uint64(10+i)))
	}
	waitFor(t, 5*time.Second, "no reader goroutines", func() bool { return connGoroutines() == 0 })
	ts.shutdown(t)
	for i, c := range cs {
		o := c.ReadUntilClose(5 * time.Second)
		if !o.Closed || o.Code != uint16(protocol.CloseGoingAway) {
			t.Errorf("connection %d: %+v; want close 1001", i, o)
		}
	}
	if err := <-ts.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	ts.done <- nil // for the cleanup, which waits for it too
	checkGoroutines(t, before)
	// close waits for run's deferred close(p.done), so the goroutine may still be returning for a
	// moment after Shutdown: it must be gone soon after, not at once.
	waitFor(t, 5*time.Second, "the poller's goroutine to end after Shutdown", func() bool {
		return !bytes.Contains(stacks(), []byte("transport.(*poller).run("))
	})
}

func stacks() []byte {
	buf := make([]byte, 4<<20)
	return buf[:runtime.Stack(buf, true)]
}

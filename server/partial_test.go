package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/rawws"
)

// bareDial opens a raw WebSocket connection to document doc of ts (no hello sent).
func (ts *testServer) bareDial(t *testing.T, doc string) *rawws.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := rawws.Dial(ctx, strings.TrimPrefix(ts.base, "http://"), "/v1/docs/"+doc+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// unfinished returns the first n bytes of a masked binary frame that announces size bytes of
// payload: the header and n minus its length of payload.
func unfinished(size, n int) []byte {
	return rawws.AppendFrame(nil, rawws.Frame{Fin: true, Opcode: rawws.OpBinary, Payload: make([]byte, size)})[:n]
}

// expectClosedWith reads until the connection closes and checks that an error message and a close
// frame, both with code, came first (the connection's earlier frames, pings, are skipped).
func expectClosedWith(t *testing.T, c *rawws.Conn, code protocol.CloseCode, within time.Duration) {
	t.Helper()
	o := c.ReadUntilClose(within)
	var msg *protocol.Error
	for _, f := range o.Frames {
		if fm, err := protocol.DecodeFrame(f.Payload, protocol.FromServer); err == nil {
			if e, ok := fm.Message.(*protocol.Error); ok {
				msg = e
			}
		}
	}
	if !o.Closed || !o.HasCode || o.Code != uint16(code) || msg == nil || msg.Code != code {
		t.Fatalf("closed %v with code %d (error message %v, err %v); want an error message and a close frame %d", o.Closed, o.Code, msg, o.Err, code)
	}
}

// TestPartialMessageBudget is the unfinished-frames attack of issue 12: many connections each
// send all but the end of a large frame. The server holds, over all of them, at most
// MaxPartialMessageBytes, accounted chunk by chunk as bytes arrive (not the lengths the headers
// announce); the connection whose bytes do not fit is closed with 1013 and counted; the memory
// comes back when the connections go.
func TestPartialMessageBudget(t *testing.T) {
	const (
		chunk    = 16 << 10
		budget   = 64 * chunk // 1 MiB
		frame    = 1 << 20    // what each header announces
		sent     = 100 << 10  // what each connection sends of it: 7 chunks
		perConn  = 7 * chunk
		fit      = budget / perConn // 9 connections
		attempts = fit + 3
	)
	cfg := testConfig(t)
	cfg.MaxPartialMessageBytes = budget
	cfg.PongWait = time.Minute // neither keepalive nor the stall timeout interferes
	cfg.FrameStallTimeout = time.Minute
	ts := startServer(t, cfg, nil)
	if got := ts.partial.Limit(); got != budget {
		t.Fatalf("budget %d; want %d", got, budget)
	}

	var held []*rawws.Conn
	refused := 0
	for i := 0; i < attempts; i++ {
		c := ts.bareDial(t, "partial")
		send(t, c, unfinished(frame, 14+sent))
		if len(held) < fit {
			want := int64(len(held)+1) * perConn
			waitFor(t, 10*time.Second, "the connection's chunks to be accounted", func() bool { return ts.partial.Used() == want })
			held = append(held, c)
			continue
		}
		// No room for this one: it is refused with 1013, and its chunks go back.
		expectClosedWith(t, c, protocol.CloseTryAgainLater, 10*time.Second)
		refused++
		if got, want := ts.metrics.refusals.Value(reasonPartialBudget), uint64(refused); got != want {
			t.Errorf("tandem_refusals_total{reason=%q} = %d; want %d", reasonPartialBudget, got, want)
		}
	}
	waitFor(t, 10*time.Second, "the refused connections' chunks to come back", func() bool { return ts.partial.Used() == fit*perConn })
	if got := ts.partial.Used(); got > budget {
		t.Errorf("accounted %d bytes; want at most the budget, %d", got, budget)
	}
	var metrics strings.Builder
	if _, err := ts.metrics.reg.WriteTo(&metrics); err != nil {
		t.Fatal(err)
	}
	// The exposition writes values as floats ("1.032192e+06"): compare the number.
	if got := exposedValue(metrics.String(), "tandem_partial_message_bytes"); got != float64(fit*perConn) {
		t.Errorf("/metrics: tandem_partial_message_bytes %v; want %d", got, fit*perConn)
	}

	// The holders go away: everything comes back, and the server serves on.
	for _, c := range held {
		c.Close()
	}
	waitFor(t, 10*time.Second, "the budget to empty", func() bool { return ts.partial.Used() == 0 })
	c := ts.bareDial(t, "partial")
	send(t, c, rawws.AppendFrame(nil, rawws.Frame{Fin: true, Opcode: rawws.OpPing, Payload: []byte("still here")}))
	expectFrame(t, c, rawws.OpPong, []byte("still here"), 5*time.Second)
}

// TestFrameStall checks that a frame begun and left unfinished is dropped after FrameStallTimeout
// (with an error message and close 1008, counted), well before the pong wait, that its chunks go
// back, and that a connection idle between messages is not touched.
func TestFrameStall(t *testing.T) {
	cfg := testConfig(t)
	cfg.PongWait = time.Minute
	cfg.FrameStallTimeout = 50 * time.Millisecond
	ts := startServer(t, cfg, nil)

	idle := ts.bareDial(t, "stall")
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"inside a header", unfinished(1<<20, 5)},
		{"inside a small payload", unfinished(100, 50)},
		{"inside a large payload", unfinished(1<<20, 40<<10)},
		{"between fragments", rawws.AppendFrame(nil, rawws.Frame{Opcode: rawws.OpBinary, Payload: []byte{byte(protocol.TypePing)}})},
	}
	for i, tt := range tests {
		c := ts.bareDial(t, "stall")
		send(t, c, tt.bytes)
		expectClosedWith(t, c, protocol.CloseCode(1008), 10*time.Second)
		if got := ts.metrics.refusals.Value(reasonFrameStalled); got != uint64(i+1) {
			t.Errorf("%s: tandem_refusals_total{reason=%q} = %d; want %d", tt.name, reasonFrameStalled, got, i+1)
		}
	}
	waitFor(t, 10*time.Second, "the budget to empty", func() bool { return ts.partial.Used() == 0 })
	// Longer than the stall timeout has passed (each case above waited for it): the idle
	// connection, between messages, is still served.
	send(t, idle, rawws.AppendFrame(nil, rawws.Frame{Fin: true, Opcode: rawws.OpPing, Payload: []byte("idle")}))
	expectFrame(t, idle, rawws.OpPong, []byte("idle"), 5*time.Second)
}

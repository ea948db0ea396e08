package server

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// TestSlowConsumerResumes is the slow-reader case of issue 12: a client that stops reading, and
// reads again once the server has given up on it, finds whole frames, then the error message and
// the close frame with 1013, whichever way the server noticed: the socket taking no byte for the
// write timeout (large updates filling the kernel's buffers), or no pong for the pong wait (small
// updates that never fill them). Before, the first cut the stream inside a frame and the second
// dropped the connection without a close frame.
func TestSlowConsumerResumes(t *testing.T) {
	tests := []struct {
		name   string
		cause  string
		update int // bytes of each update
		cfg    func(*Config)
	}{
		{"write stalled", slowWriteStalled, 8 << 10, func(c *Config) {
			c.WriteTimeout = 200 * time.Millisecond
			c.PongWait = time.Minute
			c.SendBufferBytes = 16 << 10
			c.SendQueueBytes = 64 << 20 // the queue never fills: the time without progress decides
			c.SendQueueMessages = 1 << 20
		}},
		{"no pong", slowNoPong, 20, func(c *Config) {
			c.PongWait = 300 * time.Millisecond
			c.WriteTimeout = time.Minute
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.CloseTimeout = time.Minute // ample time to read again
			tt.cfg(&cfg)
			ts := startServer(t, cfg, nil)
			const doc = "slow"
			slow, err := wstest.NewEditor(903)
			if err != nil {
				t.Fatal(err)
			}
			if err := slow.Join(context.Background(), ts.base, doc, wstest.DialOptions{}); err != nil {
				t.Fatal(err)
			}
			defer slow.WS.Close()
			writer := ts.editor(t, doc, 901)

			// The slow client reads nothing from here on; the writer sends updates (and reads
			// its acks and the pings) until the server gives up on the slow one.
			chunk := string(bytes.Repeat([]byte("x"), tt.update))
			sent := 0
			for ts.metrics.slowConsumers.Value(tt.cause) == 0 {
				if sent < 4000 {
					if err := writer.Insert("body", 0, chunk); err != nil {
						t.Fatal(err)
					}
					sent++
				}
				if err := writer.Pump(10*time.Second, func() bool { return writer.Acked == writer.Sent }); err != nil {
					t.Fatal(err)
				}
			}
			// Reading again, it gets whole frames (a frame cut short fails the read), then the
			// error message and the close frame.
			cl, err := slow.ExpectClose(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if cl.Code != int(protocol.CloseTryAgainLater) || cl.Message == nil || cl.Message.Code != protocol.CloseTryAgainLater {
				t.Fatalf("slow consumer closed with %v %q (message %v); want error message and close 1013", cl.Code, cl.Text, cl.Message)
			}
			t.Logf("closed after %d updates of %d bytes: %q", sent, tt.update, cl.Message.Message)
			// The writer was not affected.
			if err := writer.Insert("body", 0, "after"); err != nil {
				t.Fatal(err)
			}
			if err := writer.WaitAcked(10 * time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkSlowConsumerParked measures what a client that stops reading has parked in the kernel's
// buffers (the server's send buffer and its own receive buffer) when the server gives up on it:
// a writer sends 8 KiB updates until the slow client is closed (its send queue, 4 MiB by default,
// fills), and the slow client, reading again, counts the bytes it finds. It reports them as
// parked-bytes, with the updates it took (updates).
//
//	go test -run '^$' -bench SlowConsumerParked -benchtime 3x ./server/
func BenchmarkSlowConsumerParked(b *testing.B) {
	for range b.N {
		s, err := New(Config{DataPath: b.TempDir() + "/p.db", StorageNoSync: true, PongWait: time.Minute, SecurityConfig: SecurityConfig{UpdatesPerSecond: 1e6, UpdateBurst: 1e6}})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		slow, _ := wstest.NewEditor(903)
		writer, _ := wstest.NewEditor(901)
		for _, e := range []*wstest.Editor{slow, writer} {
			if err := e.Join(context.Background(), srv.URL, "parked", wstest.DialOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		chunk := string(bytes.Repeat([]byte("x"), 8<<10))
		sent := 0
		for ; s.metrics.slowConsumers.Value(slowQueueFull)+s.metrics.slowConsumers.Value(slowWriteStalled) == 0; sent++ {
			if sent == 5000 {
				b.Fatalf("no slow consumer after %d updates", sent)
			}
			if err := writer.Insert("body", 0, chunk); err != nil {
				b.Fatal(err)
			}
			if err := writer.Pump(10*time.Second, func() bool { return writer.Acked == writer.Sent }); err != nil {
				b.Fatal(err)
			}
		}
		nc := slow.WS.UnderlyingConn()
		_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, _ := io.Copy(io.Discard, nc)
		b.ReportMetric(float64(n), "parked-bytes")
		b.ReportMetric(float64(sent), "updates")
		_ = writer.Close()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.Shutdown(ctx)
		cancel()
	}
}

package transport

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandemhq/tandem/protocol"
)

// TestKeepaliveScanVisitsEveryConnection checks a pass over the connection table while
// connections come and go under it, between chunks and within them: every connection that is in
// the table from the start of the pass to its end is visited, and the table stays consistent
// (each connection at its slot).
func TestKeepaliveScanVisitsEveryConnection(t *testing.T) {
	for _, n := range []int{0, 1, keepaliveChunk - 1, keepaliveChunk, keepaliveChunk + 1, 1000} {
		for seed := range uint64(5) {
			t.Run(fmt.Sprintf("n=%d/seed=%d", n, seed), func(t *testing.T) {
				cfg := testConfig()
				cfg.PongWait = time.Hour
				s := newTestHub(t, cfg)
				add := func() *Conn {
					c := new(Conn)
					s.Init(c, nil, false)
					if !s.Add(c) {
						t.Fatal("Add refused")
					}
					return c
				}
				initial := make([]*Conn, n)
				for i := range initial {
					initial[i] = add()
				}
				rng := rand.New(rand.NewPCG(seed, 1))
				visited := make(map[*Conn]int)
				removed := make(map[*Conn]bool)
				visit := func(c *Conn, _ time.Time) {
					visited[c]++
					if rng.IntN(3) == 0 {
						s.mu.Lock()
						if len(s.conns) > 0 {
							v := s.conns[rng.IntN(len(s.conns))]
							s.removeConn(v)
							removed[v] = true
						}
						s.mu.Unlock()
					}
					if rng.IntN(4) == 0 {
						add()
					}
				}
				batch := s.keepaliveScan(nil, visit)
				if len(batch) != 0 {
					t.Errorf("keepaliveScan returned a batch of %d; want empty", len(batch))
				}
				for i, c := range initial {
					if !removed[c] && visited[c] == 0 {
						t.Errorf("connection %d (of %d, %d removed during the pass) not visited", i, n, len(removed))
					}
				}
				s.mu.Lock()
				defer s.mu.Unlock()
				for i, c := range s.conns {
					if int(c.slot) != i || removed[c] {
						t.Fatalf("table slot %d holds a connection with slot %d (removed %v)", i, c.slot, removed[c])
					}
				}
				for c := range removed {
					if c.slot != -1 {
						t.Errorf("removed connection has slot %d; want -1", c.slot)
					}
				}
			})
		}
	}
}

// TestKeepaliveStopsAtShutdown checks that the scanner belongs to its hub: it starts with the
// first connection and is gone after Shutdown.
func TestKeepaliveStopsAtShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(testConfig())
		h.mu.Lock()
		k := h.keepalive
		h.mu.Unlock()
		if k != nil {
			t.Fatal("keepalive scanner runs before any connection")
		}
		srv, cli := net.Pipe()
		c := new(Conn)
		th := h.handler.(*testHandler)
		h.Init(c, srv, false)
		if !h.Add(c) {
			t.Fatal("Add refused")
		}
		c.Start() // a pipe cannot be polled: the reader is a goroutine of its own
		go func() {
			// Read until the close frame of Shutdown, then answer it.
			for {
				op, _, err := readServerFrame(cli)
				if err != nil {
					return
				}
				if op == 0x88 {
					_, _ = cli.Write([]byte{0x88, 0x80, 0, 0, 0, 0})
				}
			}
		}()
		h.mu.Lock()
		k = h.keepalive
		h.mu.Unlock()
		if k == nil {
			t.Fatal("no keepalive scanner after the first connection")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx, protocol.Errorf(protocol.CloseGoingAway, "server shutting down")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-k.done:
		default:
			t.Error("keepalive scanner still runs after Shutdown")
		}
		<-th.ended
		_ = cli.Close()
		// synctest.Test fails if a goroutine of the bubble is left running.
	})
}

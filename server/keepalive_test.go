package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

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
				s := newActorTestServer(t, Config{PongWait: time.Hour}, newMemStore())
				t.Cleanup(s.stopKeepalive)
				add := func() *conn {
					c := newConn(s, nil, "scan", anonymous)
					if !s.addConn(c) {
						t.Fatal("addConn refused")
					}
					return c
				}
				initial := make([]*conn, n)
				for i := range initial {
					initial[i] = add()
				}
				rng := rand.New(rand.NewPCG(seed, 1))
				visited := make(map[*conn]int)
				removed := make(map[*conn]bool)
				visit := func(c *conn, _ time.Time) {
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

// TestKeepalivePingsOnFakeTime checks the keepalive's timing on fake time: a peer that answers
// is pinged every 9/10 of the pong wait (within half a pass) and stays; once it stops answering,
// it is dropped between the pong wait and 1.1 pong waits after it was last heard.
func TestKeepalivePingsOnFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const pongWait = 10 * time.Second
		s := newActorTestServer(t, Config{PongWait: pongWait}, newMemStore())
		ws := pipeConn(t, s, "pings")
		start := time.Now()
		var answer atomic.Bool
		answer.Store(true)
		var mu sync.Mutex
		var pings, pongs []time.Duration // fake times since start
		ws.SetPingHandler(func(data string) error {
			mu.Lock()
			defer mu.Unlock()
			pings = append(pings, time.Since(start))
			if !answer.Load() {
				return nil
			}
			pongs = append(pongs, time.Since(start))
			return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		ended := make(chan time.Duration, 1)
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					ended <- time.Since(start)
					return
				}
			}
		}()

		time.Sleep(95 * time.Second)
		synctest.Wait()
		if got := openConns(s); got != 1 {
			t.Fatalf("after 95 s: %d connections; want 1 (the peer answers pings)", got)
		}
		mu.Lock()
		defer mu.Unlock()
		period := pongWait * 9 / 10
		tolerance := pongWait / 20 // half a pass
		if len(pings) != 10 {
			t.Errorf("after 95 s: %d pings at %v; want 10, one every %v", len(pings), pings, period)
		}
		last := time.Duration(0)
		for i, p := range pings {
			if gap := p - last; gap < period-tolerance || gap > period+tolerance {
				t.Errorf("ping %d at %v, %v after the one before; want %v (±%v)", i, p, gap, period, tolerance)
			}
			last = p
		}

		answer.Store(false)
		heard := pongs[len(pongs)-1]
		mu.Unlock()
		var end time.Duration
		select {
		case end = <-ended:
		case <-time.After(5 * pongWait):
			t.Fatal("the silent peer was not dropped")
		}
		if silent := end - heard; silent < pongWait || silent > pongWait*11/10 {
			t.Errorf("dropped %v after the last pong; want between %v and %v", silent, pongWait, pongWait*11/10)
		}
		mu.Lock()
		synctest.Wait()
		if got := openConns(s); got != 0 {
			t.Errorf("%d connections after the drop; want 0", got)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		_ = ws.Close()
	})
}

// TestKeepaliveStopsAtShutdown checks that the scanner belongs to its server: it starts with the
// first connection and is gone after Shutdown.
func TestKeepaliveStopsAtShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newActorTestServer(t, Config{}, newMemStore())
		s.mu.Lock()
		k := s.keepalive
		s.mu.Unlock()
		if k != nil {
			t.Fatal("keepalive scanner runs before any connection")
		}
		ws := pipeConn(t, s, "stop")
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return // the close frame of Shutdown
				}
			}
		}()
		s.mu.Lock()
		k = s.keepalive
		s.mu.Unlock()
		if k == nil {
			t.Fatal("no keepalive scanner after the first connection")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-k.done:
		default:
			t.Error("keepalive scanner still runs after Shutdown")
		}
		_ = ws.Close()
		// synctest.Test fails if a goroutine of the bubble is left running.
	})
}

// TestPresenceExpiryOnFakeTime checks the presence wait on fake time: a peer that shows a
// presence and then falls silent (its network died: it answers no ping) leaves the other editors'
// screens within the presence wait and a pass, far sooner than the pong wait; a peer with a
// presence that answers its pings stays.
func TestPresenceExpiryOnFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const pongWait, presenceWait = 30 * time.Second, 6 * time.Second
		s := newActorTestServer(t, Config{PongWait: pongWait, PresenceWait: presenceWait}, newMemStore())
		ghost := pipeConn(t, s, "presence")
		watcher := pipeConn(t, s, "presence")
		send := func(ws *websocket.Conn, m protocol.Message) {
			if err := ws.WriteMessage(websocket.BinaryMessage, protocol.EncodeFrame(0, m)); err != nil {
				t.Fatal(err)
			}
		}
		// The ghost reads what it is sent (so that the server's writes do not block on the pipe)
		// but answers no ping: what a peer whose network died looks like from the server.
		ghost.SetPingHandler(func(string) error { return nil })
		go func() {
			for {
				if _, _, err := ghost.ReadMessage(); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		left := make(chan time.Duration, 1)
		go func() {
			for {
				_, b, err := watcher.ReadMessage()
				if err != nil {
					return
				}
				f, err := protocol.DecodeFrame(b, protocol.FromServer)
				if err != nil {
					continue
				}
				if pa, ok := f.Message.(*protocol.PeerAwareness); ok {
					for _, e := range pa.Entries {
						if e.ClientID == 5 && len(e.State) == 0 {
							left <- time.Since(start)
						}
					}
				}
			}
		}()
		send(ghost, &protocol.Hello{Version: protocol.Version, ClientID: 5})
		send(watcher, &protocol.Hello{Version: protocol.Version, ClientID: 6})
		send(watcher, &protocol.Awareness{Clock: 1, State: []byte(`{"cursor":2}`)})
		send(ghost, &protocol.Awareness{Clock: 1, State: []byte(`{"cursor":1}`)})
		synctest.Wait()

		select {
		case d := <-left:
			if d < presenceWait || d > presenceWait+presenceWait/6+time.Second {
				t.Errorf("the ghost's presence left after %v; want between %v and %v", d, presenceWait, presenceWait+presenceWait/6+time.Second)
			}
		case <-time.After(pongWait):
			t.Fatalf("the ghost's presence did not leave within the pong wait %v", pongWait)
		}
		// The watcher, whose pings gorilla answers, stays with its presence.
		time.Sleep(10 * presenceWait)
		synctest.Wait()
		if got := openConns(s); got != 1 {
			t.Errorf("after %v: %d connections; want 1 (the watcher answers its pings)", 10*presenceWait, got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		_ = ghost.Close()
		_ = watcher.Close()
	})
}

package server

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/protocol"
)

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

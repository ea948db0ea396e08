package server

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/transport"
)

// hijacker is a ResponseWriter over one end of a net.Pipe, so that the production upgrader can
// upgrade a connection inside a synctest bubble (real sockets cannot be used there).
type hijacker struct {
	conn net.Conn
	h    http.Header
}

func (w *hijacker) Header() http.Header         { return w.h }
func (w *hijacker) Write(b []byte) (int, error) { return w.conn.Write(b) }
func (w *hijacker) WriteHeader(int)             {}
func (w *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}

// pipeConn opens a WebSocket over net.Pipe between a client (returned) and the server's
// connection machinery (upgrade, frame reader, writer, pings) on document docID. The
// server side is registered like a real connection, so Shutdown closes it.
func pipeConn(t *testing.T, s *Server, docID string) *websocket.Conn {
	t.Helper()
	srvEnd, cliEnd := net.Pipe()
	upgraded := make(chan error, 1)
	go func() {
		req, err := http.ReadRequest(bufio.NewReader(srvEnd))
		if err != nil {
			upgraded <- err
			return
		}
		nc, deflate, err := s.hub.Upgrade(&hijacker{conn: srvEnd, h: http.Header{}}, req)
		if err != nil {
			upgraded <- err
			return
		}
		c := s.newSession(nc, deflate, docID, anonymous)
		if !s.hub.Add(&c.t) {
			upgraded <- errors.New("server shutting down")
			return
		}
		s.metrics.connections.Inc()
		upgraded <- nil
		c.t.Start() // a pipe cannot be polled: the reader is a goroutine of its own
	}()
	u, _ := url.Parse("ws://tandem.test/v1/docs/" + docID + "/ws")
	ws, _, err := websocket.NewClient(cliEnd, u, http.Header{}, 1024, 1024)
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-upgraded; err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	return ws
}

func openConns(s *Server) int { return s.hub.Len() }

// TestPingTimeoutOnFakeTime checks the keepalive on fake time: a client that never reads (and so
// never answers a ping) is closed with 1013 once the pong wait passes, and dropped once its close
// frame has waited CloseTimeout for it; a client that reads is kept, for as long as it reads.
func TestPingTimeoutOnFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newActorTestServer(t, Config{PongWait: 30 * time.Second}, newMemStore())
		mute := pipeConn(t, s, "keepalive")
		talker := pipeConn(t, s, "keepalive")
		hello := protocol.EncodeFrame(0, &protocol.Hello{Version: protocol.Version, ClientID: 5})
		if err := talker.WriteMessage(websocket.BinaryMessage, hello); err != nil {
			t.Fatal(err)
		}
		// The talker reads everything: its sync, and the pings, which gorilla answers.
		readErr := make(chan error, 1)
		go func() {
			for {
				if _, _, err := talker.ReadMessage(); err != nil {
					readErr <- err
					return
				}
			}
		}()
		synctest.Wait()
		if got := openConns(s); got != 2 {
			t.Fatalf("%d connections; want 2", got)
		}

		time.Sleep(29 * time.Second)
		synctest.Wait()
		if got := openConns(s); got != 2 {
			t.Fatalf("after 29 s: %d connections; want 2 (the pong wait is 30 s)", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := s.metrics.slowConsumers.Value(slowNoPong); got != 1 {
			t.Fatalf("after 31 s: %d connections closed for no pong; want 1 (the silent one)", got)
		}
		// The ping written to it at 27 s waits, for WriteTimeout, for a reader that never comes
		// (a net.Pipe holds nothing), then its close frame for CloseTimeout; then it is dropped.
		time.Sleep(s.cfg.WriteTimeout + s.cfg.CloseTimeout + transport.CloseGrace)
		synctest.Wait()
		if got := openConns(s); got != 1 {
			t.Fatalf("after 31 s and the write and close timeouts: %d connections; want 1 (the silent one dropped)", got)
		}
		// The reading client stays, pong after pong.
		time.Sleep(5 * 30 * time.Second)
		synctest.Wait()
		if got := openConns(s); got != 1 {
			t.Fatalf("after 181 s: %d connections; want 1", got)
		}

		// Shutdown closes the survivor with 1001.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		err := <-readErr
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != int(protocol.CloseGoingAway) {
			t.Errorf("talker read %v; want close 1001", err)
		}
		_ = mute.Close()
		_ = talker.Close()
	})
}

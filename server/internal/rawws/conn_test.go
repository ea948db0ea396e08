package rawws

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// echoServer is a plain gorilla echo endpoint: the helper is checked against a known-good peer.
func echoServer(t *testing.T) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, b); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func dial(t *testing.T, addr string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, addr, "/", nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestEcho(t *testing.T) {
	addr := echoServer(t)
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		c := dial(t, addr)
		payload := bytes.Repeat([]byte{0xab}, n)
		if err := c.WriteChopped(AppendFrame(nil, Frame{Fin: true, Opcode: OpBinary, Payload: payload}), 997, 0); err != nil {
			t.Fatal(err)
		}
		f, err := c.ReadFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("n=%d: ReadFrame: %v", n, err)
		}
		if f.Opcode != OpBinary || !f.Fin || !bytes.Equal(f.Payload, payload) {
			t.Errorf("n=%d: got %v; want a binary frame of %d bytes", n, f, n)
		}
	}
}

func TestPingAndBadFrames(t *testing.T) {
	addr := echoServer(t)
	c := dial(t, addr)
	if err := c.WriteFrame(Frame{Fin: true, Opcode: OpPing, Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	f, err := c.ReadFrame(5 * time.Second)
	if err != nil || f.Opcode != OpPong || string(f.Payload) != "hi" {
		t.Fatalf("after ping: got %v, %v; want pong \"hi\"", f, err)
	}
	if err := c.WriteFrame(Frame{Fin: true, RSV: 4, Opcode: OpBinary, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	o := c.ReadUntilClose(5 * time.Second)
	if !o.Closed || o.Code != 1002 {
		t.Errorf("after RSV1: got %+v; want close 1002", o)
	}
}

func TestHandshakeRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusForbidden)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := Dial(ctx, strings.TrimPrefix(srv.URL, "http://"), "/", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Dial = %v, %v; want ErrHandshake with a 403", resp, err)
	}
}

func TestAcceptKey(t *testing.T) {
	// The example of RFC 6455 section 1.3.
	if got, want := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("AcceptKey = %q; want %q", got, want)
	}
}

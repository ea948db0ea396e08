package wsclient

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/client"
)

func TestParseWSFrame(t *testing.T) {
	long := bytes.Repeat([]byte{'a'}, 300)
	huge := make([]byte, 70000)
	tests := []struct {
		name     string
		in       []byte
		wantOp   byte
		wantFin  bool
		wantLen  int // payload length; -1: incomplete
		wantNeed int
		wantErr  bool
	}{
		{name: "small binary", in: []byte{0x82, 3, 'a', 'b', 'c', 'x'}, wantOp: 2, wantFin: true, wantLen: 3},
		{name: "16-bit length", in: append([]byte{0x82, 126, 0x01, 0x2c}, long...), wantOp: 2, wantFin: true, wantLen: 300},
		{name: "64-bit length", in: append([]byte{0x02, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70}, huge...), wantOp: 2, wantLen: 70000},
		{name: "incomplete header", in: []byte{0x82}, wantLen: -1},
		{name: "incomplete 16-bit length", in: []byte{0x82, 126, 1}, wantLen: -1},
		{name: "incomplete payload", in: []byte{0x82, 126, 0x01, 0x2c, 'a'}, wantLen: -1, wantNeed: 304},
		{name: "ping", in: []byte{0x89, 0}, wantOp: 9, wantFin: true, wantLen: 0},
		{name: "masked", in: []byte{0x82, 0x81, 0, 0, 0, 0, 'a'}, wantErr: true},
		{name: "reserved bits", in: []byte{0xc2, 0}, wantErr: true},
		{name: "long control", in: append([]byte{0x89, 126, 0, 200}, long[:200]...), wantErr: true},
		{name: "fragmented control", in: []byte{0x09, 0}, wantErr: true},
		{name: "too large", in: []byte{0x82, 127, 0x7f, 0, 0, 0, 0, 0, 0, 0}, wantErr: true},
	}
	for _, tt := range tests {
		f, n, need, err := parseWSFrame(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: parseWSFrame error %v; want error %t", tt.name, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if tt.wantLen < 0 {
			if n != 0 || need != tt.wantNeed {
				t.Errorf("%s: parseWSFrame n, need = %d, %d; want 0, %d", tt.name, n, need, tt.wantNeed)
			}
			continue
		}
		if f.op != tt.wantOp || f.fin != tt.wantFin || len(f.payload) != tt.wantLen || n != len(tt.in)-max(0, len(tt.in)-n) || n < tt.wantLen {
			t.Errorf("%s: parseWSFrame = op %d fin %t len %d n %d; want op %d fin %t len %d", tt.name, f.op, f.fin, len(f.payload), n, tt.wantOp, tt.wantFin, tt.wantLen)
		}
	}
}

// FuzzParseWSFrame: the frame parser never panics and never claims more bytes than it was given.
func FuzzParseWSFrame(f *testing.F) {
	f.Add([]byte{0x82, 3, 'a', 'b', 'c'})
	f.Add([]byte{0x82, 126, 0x01, 0x2c})
	f.Add([]byte{0x02, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, _, err := parseWSFrame(b)
		if err == nil && (n > len(b) || len(fr.payload) > n) {
			t.Fatalf("parseWSFrame(%x) = n %d, payload %d; more than the %d bytes given", b, n, len(fr.payload), len(b))
		}
	})
}

func TestWSFrameHeaderRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 100000} {
		p := bytes.Repeat([]byte{0x5a}, n)
		key := [4]byte{1, 2, 3, 4}
		b := AppendFrame(nil, OpBinary, p, key)
		if len(b) != wsHeaderLen(n)+n {
			t.Fatalf("AppendFrame(%d bytes) is %d long; want %d", n, len(b), wsHeaderLen(n)+n)
		}
		// Unmask as a server does, then parse the frame as a server's (unmasked) frame.
		hl := wsHeaderLen(n)
		un := append([]byte{b[0], b[1] &^ 0x80}, b[2:hl-4]...)
		body := append([]byte(nil), b[hl:]...)
		maskBytes(body, key)
		f, m, _, err := parseWSFrame(append(un, body...))
		if err != nil || m != len(un)+n || !f.fin || f.op != OpBinary || !bytes.Equal(f.payload, p) {
			t.Errorf("%d bytes: frame does not round-trip: n %d, fin %t, op %d, err %v", n, m, f.fin, f.op, err)
		}
	}
}

// TestWSConnAgainstGorilla talks to a gorilla server: messages both ways (built and plain), a
// fragmented message, a ping answered by a pong, and a close code.
func TestWSConnAgainstGorilla(t *testing.T) {
	pong := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{WriteBufferSize: 64} // small: large messages go out in fragments
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.SetPongHandler(func(s string) error { pong <- s; return nil })
		for i := 0; i < 2; i++ { // echo two messages
			_, m, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(websocket.BinaryMessage, m); err != nil {
				return
			}
		}
		_ = ws.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte("frag"), 100))
		_ = ws.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second))
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte("after ping"))
		go func() { _, _, _ = ws.ReadMessage() }() // reads the pong (and the handler reports it)
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4429, "slow down"), time.Now().Add(time.Second))
		time.Sleep(100 * time.Millisecond)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/x?y=1")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if err := c.WriteMessage([]byte("hello")); err != nil {
		t.Fatalf("WriteMessage: %v", err)
	}
	big := bytes.Repeat([]byte("b"), 70000)
	if err := c.WriteBuilt(func(b []byte) []byte { return append(b, big...) }); err != nil {
		t.Fatalf("WriteBuilt: %v", err)
	}
	for _, want := range [][]byte{[]byte("hello"), big, bytes.Repeat([]byte("frag"), 100), []byte("after ping")} {
		got, err := c.ReadMessage()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadMessage = %d bytes, %v; want %d bytes", len(got), err, len(want))
		}
	}
	_, err = c.ReadMessage()
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != 4429 || ce.Message != "slow down" {
		t.Errorf("ReadMessage after close = %v; want close 4429 slow down", err)
	}
	select {
	case s := <-pong:
		if s != "p1" {
			t.Errorf("pong = %q; want p1", s)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("no pong")
	}
}

func TestWSDialRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
	var he *client.HandshakeError
	if !errors.As(err, &he) || he.Status != 503 {
		t.Errorf("Dial to a refusing server = %v; want a handshake error with status 503", err)
	}
}

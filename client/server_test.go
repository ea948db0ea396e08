package client_test

// Tests against the real server (server.New on 127.0.0.1), beside the steerable fake server of
// the package's internal tests.

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server"
)

// liveServer is a server.Server serving on a fixed 127.0.0.1 address, so that it can be stopped
// and started again on the same address and data file.
type liveServer struct {
	t      *testing.T
	data   string
	addr   string
	srv    *server.Server
	done   chan error
	cancel context.CancelFunc
}

func startServer(t *testing.T, data, addr string) *liveServer {
	t.Helper()
	s, err := server.New(server.Config{DataPath: data, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	var l net.Listener
	for i := 0; ; i++ { // the address may linger for a moment after a restart
		l, err = net.Listen("tcp", addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ls := &liveServer{t: t, data: data, addr: l.Addr().String(), srv: s, done: make(chan error, 1), cancel: cancel}
	go func() { ls.done <- s.Serve(ctx, l) }()
	t.Cleanup(ls.stop)
	return ls
}

func (ls *liveServer) url() string { return "ws://" + ls.addr }

// stop shuts the server down gracefully (clients get 1001) and waits for Serve to return.
func (ls *liveServer) stop() {
	if ls.cancel == nil {
		return
	}
	ls.cancel()
	ls.cancel = nil
	select {
	case err := <-ls.done:
		if err != nil {
			ls.t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		ls.t.Errorf("Serve did not return within 10 s of its context's end")
	}
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, url, doc string, opts client.Options) *client.Conn {
	t.Helper()
	c, err := client.Dial(ctxFor(t), url, doc, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", doc, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestServerConvergence(t *testing.T) {
	ls := startServer(t, filepath.Join(t.TempDir(), "t.db"), "127.0.0.1:0")
	var cs []*client.Conn
	for i := 0; i < 3; i++ {
		cs = append(cs, open(t, ls.url(), "conv", client.Options{}))
	}
	for round := 0; round < 20; round++ {
		for i, c := range cs {
			err := c.Edit(func(d *crdt.Doc) error {
				txt := d.Text("body")
				return txt.Insert(txt.Len()/2, string(rune('a'+i)))
			})
			if err != nil {
				t.Fatalf("Edit: %v", err)
			}
		}
	}
	for _, c := range cs {
		if err := c.WaitSaved(ctxFor(t)); err != nil {
			t.Fatalf("WaitSaved: %v", err)
		}
	}
	client.WaitFor(t, "three replicas to converge", func() bool {
		a := cs[0].Text("body")
		return len(a) == 60 && cs[1].Text("body") == a && cs[2].Text("body") == a
	})
	late := open(t, ls.url(), "conv", client.Options{})
	if got, want := late.Text("body"), cs[0].Text("body"); got != want {
		t.Errorf("late joiner = %q; want %q", got, want)
	}
}

// A server restart (graceful: 1001) is survived by a reconnecting client: edits made while the
// server is down are sent after the reconnect and saved, and the restarted server has them all.
func TestServerRestartReconnect(t *testing.T) {
	data := filepath.Join(t.TempDir(), "t.db")
	ls := startServer(t, data, "127.0.0.1:0")
	addr := ls.addr
	status := make(chan client.Status, 16)
	c := open(t, ls.url(), "restart", client.Options{
		Reconnect: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		OnStatus: func(s client.Status, err error) {
			if s == client.StatusDisconnected {
				var ce *client.CloseError
				if !errors.As(err, &ce) || ce.Code != protocol.CloseGoingAway {
					t.Errorf("disconnected with %v; want close 1001", err)
				}
			}
			status <- s
		},
	})
	if err := c.Edit(func(d *crdt.Doc) error { return d.Text("body").Insert(0, "before ") }); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitSaved(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	ls.stop()
	if s := <-status; s != client.StatusDisconnected {
		t.Fatalf("status %v; want disconnected", s)
	}
	if err := c.Edit(func(d *crdt.Doc) error { return d.Text("body").Insert(7, "offline") }); err != nil {
		t.Fatalf("Edit while the server is down: %v", err)
	}
	startServer(t, data, addr)
	select {
	case s := <-status:
		if s != client.StatusConnected {
			t.Fatalf("status %v; want connected", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnect within 10 s")
	}
	if err := c.WaitSaved(ctxFor(t)); err != nil {
		t.Fatalf("WaitSaved after reconnect: %v", err)
	}
	fresh := open(t, "ws://"+addr, "restart", client.Options{})
	if got, want := fresh.Text("body"), "before offline"; got != want {
		t.Errorf("restarted server holds %q; want %q", got, want)
	}
}

// A read-only connection receives the document but cannot edit it.
func TestServerReadOnly(t *testing.T) {
	ls := startServer(t, filepath.Join(t.TempDir(), "t.db"), "127.0.0.1:0")
	w := open(t, ls.url(), "ro", client.Options{})
	ro := open(t, ls.url(), "ro", client.Options{ReadOnly: true})
	if err := w.Edit(func(d *crdt.Doc) error { return d.Text("body").Insert(0, "shared") }); err != nil {
		t.Fatal(err)
	}
	client.WaitFor(t, "the read-only client to receive the edit", func() bool { return ro.Text("body") == "shared" })
	called := false
	if err := ro.Edit(func(d *crdt.Doc) error { called = true; return nil }); !errors.Is(err, client.ErrReadOnly) || called {
		t.Errorf("read-only Edit = %v (function called: %t); want ErrReadOnly without calling it", err, called)
	}
	select {
	case <-ro.Done():
		t.Errorf("the read-only connection ended: %v", ro.Err())
	default:
	}
}

func TestServerAwareness(t *testing.T) {
	ls := startServer(t, filepath.Join(t.TempDir(), "t.db"), "127.0.0.1:0")
	a := open(t, ls.url(), "aw", client.Options{})
	b := open(t, ls.url(), "aw", client.Options{})
	if err := a.SetAwareness([]byte(`{"name":"a"}`)); err != nil {
		t.Fatal(err)
	}
	client.WaitFor(t, "b to see a's presence", func() bool { return string(b.Peers()[a.ClientID()].State) == `{"name":"a"}` })
	a.Close()
	client.WaitFor(t, "a's presence to go when a leaves", func() bool { _, ok := b.Peers()[a.ClientID()]; return !ok })
}

// An edit of 3 MiB, three times the server's default message limit, goes out as several update
// messages: it is stored whole and acknowledged, and other clients get it. Sent as one message,
// the server refuses it with 1009.
func TestServerLargeEdit(t *testing.T) {
	ls := startServer(t, filepath.Join(t.TempDir(), "t.db"), "127.0.0.1:0")
	line := "2024-05-01T12:00:00Z INFO pasted log line — ünïcödé 中文 😀\n"
	text := strings.Repeat(line, 3<<20/len(line)+1)
	insert := func(d *crdt.Doc) error { return d.Text("log").Insert(0, text) }

	b := open(t, ls.url(), "big", client.Options{})
	a := open(t, ls.url(), "big", client.Options{})
	start := time.Now()
	if err := a.Edit(insert); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitSaved(ctxFor(t)); err != nil {
		t.Fatalf("WaitSaved: %v", err)
	}
	t.Logf("%d bytes of text inserted, sent and acknowledged in %v", len(text), time.Since(start))
	if got, want := a.Saved(), a.Clock(); got != want {
		t.Errorf("Saved() = %d; want Clock() %d", got, want)
	}
	client.WaitFor(t, "the connected client to receive the edit", func() bool { return b.Text("log") == text })
	late := open(t, ls.url(), "big", client.Options{})
	if got := late.Text("log"); got != text {
		t.Errorf("late joiner holds %d bytes; want the %d inserted", len(got), len(text))
	}

	whole := open(t, ls.url(), "big-whole", client.Options{MaxSendBytes: -1})
	// The write itself may fail: the server closes as soon as it reads the frame's header.
	_ = whole.Edit(insert)
	select {
	case <-whole.Done():
	case <-ctxFor(t).Done():
		t.Fatal("a 3 MiB update sent whole: the connection did not end")
	}
	var ce *client.CloseError
	if err := whole.Err(); !errors.As(err, &ce) || ce.Code != protocol.CloseMessageTooBig {
		t.Errorf("a 3 MiB update sent whole ended the connection with %v; want close 1009", err)
	}
}

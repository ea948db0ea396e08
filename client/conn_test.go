package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, url string, opts Options) *Conn {
	t.Helper()
	c, err := Dial(testCtx(t), url, "doc-1", opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func insert(root string, pos int, s string) func(*crdt.Doc) error {
	return func(d *crdt.Doc) error { return d.Text(root).Insert(pos, s) }
}

// waitFor polls cond until it holds or the test's time runs out. Used only where the condition
// is another process's state that sends no signal (a remote replica's text).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEditConvergesAndSaves(t *testing.T) {
	fs := newFakeServer(t)
	a := dial(t, fs.URL(), Options{})
	b := dial(t, fs.URL(), Options{})
	if err := a.Edit(insert("body", 0, "hello")); err != nil {
		t.Fatalf("Edit: %v", err)
	}
	if err := a.WaitSaved(testCtx(t)); err != nil {
		t.Fatalf("WaitSaved: %v", err)
	}
	if got, want := a.Saved(), a.Clock(); got != want || want != 5 {
		t.Errorf("Saved() = %d, Clock() = %d; want both 5", got, want)
	}
	waitFor(t, "b to see a's edit", func() bool { return b.Text("body") == "hello" })
	if err := b.Edit(insert("body", 5, " world")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to see b's edit", func() bool { return a.Text("body") == "hello world" })
	if got, want := fs.text("body"), "hello world"; got != want {
		t.Errorf("server text = %q; want %q", got, want)
	}
	// A late joiner gets the whole document in its sync.
	c := dial(t, fs.URL(), Options{})
	if got, want := c.Text("body"), "hello world"; got != want {
		t.Errorf("late joiner text = %q; want %q", got, want)
	}
	if c.LastSync().Bytes == 0 {
		t.Errorf("late joiner LastSync().Bytes = 0; want the document")
	}
}

func TestWaitSavedWaitsForAck(t *testing.T) {
	fs := newFakeServer(t)
	a := dial(t, fs.URL(), Options{})
	fs.setHoldAck(true)
	if err := a.Edit(insert("body", 0, "x")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := a.WaitSaved(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSaved with acks held = %v; want a deadline error", err)
	}
	if !a.Unsaved() {
		t.Errorf("Unsaved() = false before the ack; want true")
	}
	fs.setHoldAck(false)
	if err := a.WaitSaved(testCtx(t)); err != nil {
		t.Fatalf("WaitSaved after the ack: %v", err)
	}
	if a.Unsaved() {
		t.Errorf("Unsaved() = true after the ack; want false")
	}
}

func TestCloseCodesAreTyped(t *testing.T) {
	tests := []struct {
		code     protocol.CloseCode
		terminal bool
	}{
		{protocol.CloseForbidden, true},
		{protocol.CloseDocumentDeleted, true},
		{protocol.CloseTryAgainLater, false},
		{protocol.CloseInvalidUpdate, false},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			fs := newFakeServer(t)
			c := dial(t, fs.URL(), Options{})
			fs.closeAll(tt.code, "because")
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed after the server's close")
			}
			var ce *CloseError
			if err := c.Err(); !errors.As(err, &ce) {
				t.Fatalf("Err() = %v; want a *CloseError", err)
			}
			if ce.Code != tt.code || ce.Message != "because" || ce.Terminal() != tt.terminal {
				t.Errorf("Err() = %+v (terminal %t); want code %d, message %q, terminal %t", ce, ce.Terminal(), tt.code, "because", tt.terminal)
			}
			if err := c.Edit(insert("body", 0, "x")); !errors.As(err, &ce) {
				t.Errorf("Edit after close = %v; want the close error", err)
			}
		})
	}
}

func TestTerminalCodeStopsReconnect(t *testing.T) {
	fs := newFakeServer(t)
	var mu sync.Mutex
	var statuses []Status
	c := dial(t, fs.URL(), Options{Reconnect: true, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		OnStatus: func(s Status, err error) { mu.Lock(); statuses = append(statuses, s); mu.Unlock() }})
	fs.closeAll(protocol.CloseUnauthorized, "token expired")
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a terminal close did not end a reconnecting Conn")
	}
	var ce *CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != protocol.CloseUnauthorized {
		t.Errorf("Err() = %v; want close 4401", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 1 || statuses[0] != StatusDisconnected {
		t.Errorf("statuses = %v; want [disconnected]", statuses)
	}
}

// A server that crashes loses what it had not acknowledged; the client's resync on reconnect
// sends it again, and only then is it saved.
func TestReconnectResendsUnacknowledged(t *testing.T) {
	fs := newFakeServer(t)
	reconnected := make(chan struct{}, 10)
	a := dial(t, fs.URL(), Options{Reconnect: true, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		OnStatus: func(s Status, err error) {
			if s == StatusConnected {
				reconnected <- struct{}{}
			}
		}})
	if err := a.Edit(insert("body", 0, "saved ")); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitSaved(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	fs.setHoldAck(true)
	if err := a.Edit(insert("body", 6, "lost?")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to apply the edit", func() bool { return fs.text("body") == "saved lost?" })
	fs.crash()
	fs.setHoldAck(false)
	select {
	case <-reconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnect after the crash")
	}
	if err := a.WaitSaved(testCtx(t)); err != nil {
		t.Fatalf("WaitSaved after reconnect: %v", err)
	}
	if got, want := fs.text("body"), "saved lost?"; got != want {
		t.Errorf("server text after crash and resync = %q; want %q", got, want)
	}
	if got, want := a.Saved(), uint64(11); got != want {
		t.Errorf("Saved() = %d; want %d", got, want)
	}
}

// Edits made while the connection is down are kept and sent on reconnect.
func TestOfflineEditsSentOnReconnect(t *testing.T) {
	fs := newFakeServer(t)
	disconnected := make(chan struct{}, 10)
	reconnected := make(chan struct{}, 10)
	a := dial(t, fs.URL(), Options{Reconnect: true, MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		OnStatus: func(s Status, err error) {
			if s == StatusConnected {
				reconnected <- struct{}{}
			} else {
				disconnected <- struct{}{}
			}
		}})
	fs.dropAll()
	<-disconnected
	if err := a.Edit(insert("body", 0, "offline")); err != nil {
		t.Fatalf("Edit while disconnected: %v", err)
	}
	select {
	case <-reconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnect")
	}
	if err := a.WaitSaved(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := fs.text("body"), "offline"; got != want {
		t.Errorf("server text = %q; want %q", got, want)
	}
}

func TestAwarenessAndBroadcast(t *testing.T) {
	fs := newFakeServer(t)
	got := make(chan []byte, 10)
	gotAw := make(chan protocol.AwarenessEntry, 10)
	a := dial(t, fs.URL(), Options{})
	b := dial(t, fs.URL(), Options{
		OnBroadcast: func(from uint64, p []byte) {
			if from == a.ClientID() {
				got <- append([]byte(nil), p...)
			}
		},
		OnAwareness: func(es []protocol.AwarenessEntry) {
			for _, e := range es {
				gotAw <- protocol.AwarenessEntry{ClientID: e.ClientID, Clock: e.Clock, State: append([]byte(nil), e.State...)}
			}
		},
	})
	if err := a.Broadcast([]byte("typing")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if string(p) != "typing" {
			t.Errorf("broadcast payload = %q; want %q", p, "typing")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("broadcast not relayed")
	}
	if err := a.SetAwareness([]byte(`{"name":"a"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-gotAw:
		if e.ClientID != a.ClientID() || e.Clock != 1 || string(e.State) != `{"name":"a"}` {
			t.Errorf("awareness entry = %+v; want client %d, clock 1, state {\"name\":\"a\"}", e, a.ClientID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("awareness not relayed")
	}
	if p, ok := b.Peers()[a.ClientID()]; !ok || string(p.State) != `{"name":"a"}` {
		t.Errorf("b.Peers()[a] = %+v, %t; want a's state", p, ok)
	}
	if err := a.SetAwareness(nil); err != nil {
		t.Fatal(err)
	}
	<-gotAw
	if _, ok := b.Peers()[a.ClientID()]; ok {
		t.Errorf("b.Peers() still holds a after a cleared its state")
	}
}

func TestObserveDoesNotApply(t *testing.T) {
	fs := newFakeServer(t)
	seen := make(chan struct{}, 10)
	obs := dial(t, fs.URL(), Options{Observe: true, OnUpdate: func([]byte) { seen <- struct{}{} }})
	a := dial(t, fs.URL(), Options{})
	if err := a.Edit(insert("body", 0, "abc")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-seen:
	case <-time.After(5 * time.Second):
		t.Fatal("observer saw no update")
	}
	if got := obs.Text("body"); got != "" {
		t.Errorf("observer text = %q; want \"\" (observers do not apply)", got)
	}
	if err := obs.Edit(insert("body", 0, "o")); err != nil {
		t.Fatalf("observer Edit: %v", err)
	}
	waitFor(t, "the server to merge", func() bool { return len(fs.text("body")) == 4 })
}

func TestCloseIsIdempotent(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs.URL(), Options{Reconnect: true})
	for i := 0; i < 2; i++ {
		if err := c.Close(); err != nil {
			t.Fatalf("Close #%d = %v; want nil", i+1, err)
		}
	}
	if err := c.Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("Err() after Close = %v; want ErrClosed", err)
	}
	if err := c.Edit(insert("body", 0, "x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Edit after Close = %v; want ErrClosed", err)
	}
	waitFor(t, "the server to see the socket go", func() bool { return fs.connCount() == 0 })
}

func TestHandshakeRefusal(t *testing.T) {
	tests := []struct {
		status   int
		terminal bool
	}{
		{http.StatusUnauthorized, true},
		{http.StatusForbidden, true},
		{http.StatusBadRequest, true},
		{http.StatusTooManyRequests, false},
		{http.StatusServiceUnavailable, false},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"no"}`, tt.status)
		}))
		_, err := Dial(testCtx(t), srv.URL, "d", Options{})
		srv.Close()
		var he *HandshakeError
		if !errors.As(err, &he) || he.Status != tt.status || he.Terminal() != tt.terminal {
			t.Errorf("status %d: Dial = %v; want a HandshakeError with terminal %t", tt.status, err, tt.terminal)
		}
	}
}

func TestDocURL(t *testing.T) {
	tests := []struct {
		base, id, token, want string
		wantErr               bool
	}{
		{base: "ws://127.0.0.1:8080", id: "notes", want: "ws://127.0.0.1:8080/v1/docs/notes/ws"},
		{base: "http://127.0.0.1:8080/", id: "team:a-1", want: "ws://127.0.0.1:8080/v1/docs/team:a-1/ws"},
		{base: "https://example.com/tandem", id: "d", token: "t k", want: "wss://example.com/tandem/v1/docs/d/ws?token=t+k"},
		{base: "ftp://x", id: "d", wantErr: true},
		{base: "ws://", id: "d", wantErr: true},
		{base: "ws://x", id: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := docURL(tt.base, tt.id, tt.token)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("docURL(%q, %q, %q) = %q, %v; want %q (error %t)", tt.base, tt.id, tt.token, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidURL) {
			t.Errorf("docURL(%q, %q) error %v does not wrap ErrInvalidURL", tt.base, tt.id, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	const min, max = 500 * time.Millisecond, 20 * time.Second
	top := func(n int64) int64 { return n - 1 } // the top of the window
	zero := func(int64) int64 { return 0 }      // its bottom
	tests := []struct {
		name     string
		attempt  int
		min, max time.Duration
		rnd      func(int64) int64
		want     time.Duration
	}{
		{"first, bottom", 0, min, max, zero, min},
		{"first, top", 0, min, max, top, 2 * min},
		{"second, top", 1, min, max, top, 3 * min},
		{"fourth, top", 3, min, max, top, 9 * min},
		{"capped", 10, min, max, top, max},
		{"capped far out", 100, min, max, top, max},
		{"late, bottom", 100, min, max, zero, min},
		// Zero bounds mean 500 ms and 20 s: the window still grows past the minimum.
		{"zero bounds, bottom", 0, 0, 0, zero, defaultMinBackoff},
		{"zero bounds, first, top", 0, 0, 0, top, 2 * defaultMinBackoff},
		{"zero bounds, capped", 100, 0, 0, top, defaultMaxBackoff},
		{"zero max, first, top", 0, time.Second, 0, top, 2 * time.Second},
		{"zero max, capped", 100, time.Second, 0, top, defaultMaxBackoff},
		{"zero min, capped", 100, 0, 5 * time.Second, top, 5 * time.Second},
		// A maximum below the minimum (or a minimum above the default maximum) is the minimum.
		{"max below min", 3, 2 * time.Second, time.Second, top, 2 * time.Second},
		{"min above default max", 3, time.Minute, 0, top, time.Minute},
	}
	for _, tt := range tests {
		if got := backoff(tt.attempt, tt.min, tt.max, tt.rnd); got != tt.want {
			t.Errorf("%s: backoff(%d, %v, %v) = %v; want %v", tt.name, tt.attempt, tt.min, tt.max, got, tt.want)
		}
	}
	// Full jitter: across many draws the first retry spreads over its whole window.
	lo, hi := time.Hour, time.Duration(0)
	for i := 0; i < 1000; i++ {
		d := backoff(0, min, max, nil)
		lo, hi = minDur(lo, d), maxDur(hi, d)
	}
	if lo < min || hi > 2*min || hi-lo < min/2 {
		t.Errorf("backoff(0) over 1000 draws spans [%v, %v]; want a spread within [%v, %v]", lo, hi, min, 2*min)
	}
}

func minDur(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func TestCloseErrorMessage(t *testing.T) {
	e := &CloseError{Code: protocol.CloseForbidden, Message: "read-only"}
	if got, want := e.Error(), "client: closed by server: 4403 forbidden: read-only"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if !strings.HasPrefix((&CloseError{Code: 1013}).Error(), "client: closed by server: 1013") {
		t.Errorf("Error() without message = %q", (&CloseError{Code: 1013}).Error())
	}
}

// bigText returns about n bytes of text with multi-byte code points.
func bigText(n int) string {
	line := "ligne n° 42 — ünïcödé 中文 😀 and plain ascii to fill the line\n"
	return strings.Repeat(line, n/len(line)+1)
}

// TestLargeEditSplit: an edit larger than MaxSendBytes goes out as several update messages, none
// over the limit, and counts as saved only once the server has acknowledged the last one.
func TestLargeEditSplit(t *testing.T) {
	const limit = 4096
	fs := newFakeServer(t)
	a := dial(t, fs.URL(), Options{MaxSendBytes: limit})
	b := dial(t, fs.URL(), Options{})
	fs.setHoldAck(true)
	text := bigText(40 << 10)
	if err := a.Edit(insert("body", 0, text)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to hold the whole text", func() bool { return fs.text("body") == text })
	sizes := fs.received()
	if len(sizes) < 10 {
		t.Fatalf("%d update messages for %d bytes of text; want at least 10 with a %d-byte limit", len(sizes), len(text), limit)
	}
	for i, n := range sizes {
		if n > limit {
			t.Errorf("update message %d of %d: %d bytes; want at most %d", i, len(sizes), n, limit)
		}
	}
	fs.ackHeld(len(sizes) - 1)
	// The ack of all but the last part changes nothing. To know that a has read it, b announces
	// itself: the server relays that to a after the ack, on the same socket.
	if err := b.SetAwareness([]byte(`{"b":1}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to see b's presence", func() bool { _, ok := a.Peers()[b.ClientID()]; return ok })
	if !a.Unsaved() || a.Saved() != 0 {
		t.Errorf("after %d of %d acks: Unsaved() = %v, Saved() = %d; want true, 0", len(sizes)-1, len(sizes), a.Unsaved(), a.Saved())
	}
	fs.ackHeld(1)
	if err := a.WaitSaved(testCtx(t)); err != nil {
		t.Fatalf("WaitSaved after the last ack: %v", err)
	}
	if got, want := a.Saved(), a.Clock(); got != want {
		t.Errorf("Saved() = %d; want Clock() %d", got, want)
	}
}

// TestLargeCatchUpSplit: the catch-up update sent after a reconnect is split too.
func TestLargeCatchUpSplit(t *testing.T) {
	const limit = 4096
	fs := newFakeServer(t)
	a := dial(t, fs.URL(), Options{MaxSendBytes: limit, Reconnect: true, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	fs.setHoldAck(true)
	text := bigText(30 << 10)
	if err := a.Edit(insert("body", 0, text)); err != nil {
		t.Fatal(err)
	}
	if err := a.Edit(func(d *crdt.Doc) error { return d.Text("body").Delete(100, 5000) }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to receive the edits", func() bool { return len(fs.received()) > 2 })
	before := len(fs.received())
	fs.crash() // forgets everything: the catch-up must carry it all again
	fs.setHoldAck(false)
	if err := a.WaitSaved(testCtx(t)); err != nil {
		t.Fatalf("WaitSaved: %v", err)
	}
	want := a.Text("body")
	if got := fs.text("body"); got != want {
		t.Errorf("server text after the catch-up: %d bytes; want the client's %d", len(got), len(want))
	}
	sizes := fs.received()[before:]
	if len(sizes) < 5 {
		t.Errorf("catch-up in %d messages; want several", len(sizes))
	}
	for i, n := range sizes {
		if n > limit {
			t.Errorf("catch-up message %d: %d bytes; want at most %d", i, n, limit)
		}
	}
}

// TestUnsplittableSentWhole: a unit larger than the limit on its own (a map value) is sent whole
// rather than not at all: a server with a larger limit takes it.
func TestUnsplittableSentWhole(t *testing.T) {
	fs := newFakeServer(t)
	a := dial(t, fs.URL(), Options{MaxSendBytes: 1024})
	value := []byte(`"` + strings.Repeat("v", 3000) + `"`)
	if err := a.Edit(func(d *crdt.Doc) error { return d.Map("m").Set("k", value) }); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitSaved(testCtx(t)); err != nil {
		t.Fatalf("WaitSaved: %v", err)
	}
	if sizes := fs.received(); len(sizes) != 1 || sizes[0] < len(value) {
		t.Errorf("update messages %v; want one holding the value", sizes)
	}
}

// TestClientIDOutlivesItsClocks: a new replica (each Dial makes one) given the client ID of an
// earlier one whose units the server holds cannot know which clocks that replica issued (a server
// crash may have lost some that other replicas hold), so it must not edit under it: Dial refuses.
// Reconnecting the same replica is unaffected (TestReconnectResendsUnacknowledged).
func TestClientIDOutlivesItsClocks(t *testing.T) {
	fs := newFakeServer(t)
	first := dial(t, fs.URL(), Options{ClientID: 4242})
	if err := first.Edit(insert("body", 0, "earlier")); err != nil {
		t.Fatal(err)
	}
	if err := first.WaitSaved(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	first.Close()
	c, err := Dial(testCtx(t), fs.URL(), "doc-1", Options{ClientID: 4242})
	if !errors.Is(err, ErrClientIDUsed) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Dial with the client ID of an earlier replica = %v; want ErrClientIDUsed", err)
	}
	// A fresh ID is fine.
	other := dial(t, fs.URL(), Options{ClientID: 4243})
	var text string
	other.Read(func(d *crdt.Doc) { text = d.Text("body").String() })
	if text != "earlier" {
		t.Errorf("text %q; want earlier", text)
	}
}

// After a reconnect the client announces its awareness state again with a new clock: the server
// removed the state at the clock after the last one when the old connection went, and receivers
// drop a state whose clock is below one they have seen.
func TestAwarenessReannouncedWithNewClock(t *testing.T) {
	fs := newFakeServer(t)
	a := dial(t, fs.URL(), Options{Reconnect: true, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err := a.SetAwareness([]byte(`{"name":"a"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to receive the state", func() bool { return len(fs.awareness()) == 1 })
	fs.dropAll()
	waitFor(t, "the state announced again", func() bool { return len(fs.awareness()) == 2 })
	got := fs.awareness()
	if got[1].Clock <= got[0].Clock || string(got[1].State) != `{"name":"a"}` {
		t.Errorf("announced again as %+v after %+v; want the same state with a higher clock", got[1], got[0])
	}
}

package server

// Identity rules (DESIGN.md, "Identity and crashes"; auth_bindings.go): who owns a client ID is
// decided before anything under it is seen, and nothing that a crash could lose is shown to
// whoever could not re-send it.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// metaGate wraps a store and holds every PutDocMetaAsync's done callback while its gate is shut.
type metaGate struct {
	docStore
	*gate      // its mu guards fail too
	fail  bool // fail every metadata write
}

func (g *metaGate) PutDocMetaAsync(docID, key string, value []byte, done func(error)) {
	g.mu.Lock()
	fail := g.fail
	g.mu.Unlock()
	if fail {
		done(errors.New("metaGate: failing"))
		return
	}
	g.docStore.PutDocMetaAsync(docID, key, value, func(err error) {
		g.pass(func() { done(err) })
	})
}

// TestHelloBindsDurably: a writable hello is answered only once its client ID's binding is stored,
// so nothing reveals the ID (presence, broadcasts, units) while a crash could still undo the
// binding; a read-only hello stores nothing and is answered at once.
func TestHelloBindsDurably(t *testing.T) {
	var g *metaGate
	ts := startServer(t, secConfig(t, nil), func(inner docStore) docStore {
		g = &metaGate{docStore: inner, gate: newGate()}
		return g
	})
	writer := mint(t, "alice", "*", auth.RoleWrite, time.Hour)
	c, _, err := wstest.Dial(context.Background(), ts.base, "bind", wstest.DialOptions{Header: bearer(writer)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello(701, nil, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.holdCh:
	case <-time.After(5 * time.Second):
		t.Fatalf("the writable hello stored no binding")
	}
	if m, err := c.Read(200 * time.Millisecond); !wstest.IsTimeout(err) {
		t.Fatalf("answer to a hello whose binding is not stored: %v, %v; want none yet", m, err)
	}
	g.release()
	if m, err := c.Read(5 * time.Second); err != nil {
		t.Fatalf("no sync once the binding is stored: %v", err)
	} else if _, ok := m.(*protocol.Sync); !ok {
		t.Fatalf("first message %T; want sync", m)
	}

	// A read-only hello (the flag, or a read token) binds only while connected: no store, no wait.
	g.shut()
	reader := mint(t, "bob", "*", auth.RoleRead, time.Hour)
	r := ts.joinAs(t, "bind", 702, reader)
	if len(g.holdCh) != 0 {
		t.Errorf("a read-only hello stored a binding")
	}
	_ = r.Close()
	g.release()
}

// TestHelloBindingStoreFails: a hello whose binding cannot be stored is refused with 1011 (not
// terminal), and the next hello stores the binding again before it is answered.
func TestHelloBindingStoreFails(t *testing.T) {
	var g *metaGate
	ts := startServer(t, secConfig(t, nil), func(inner docStore) docStore {
		g = &metaGate{docStore: inner, gate: newGate(), fail: true}
		return g
	})
	tok := mint(t, "alice", "*", auth.RoleWrite, time.Hour)
	c, _, err := wstest.Dial(context.Background(), ts.base, "bind-fail", wstest.DialOptions{Header: bearer(tok)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello(711, nil, 0); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, c, protocol.CloseInternalError, "a hello whose binding is not stored")
	g.mu.Lock()
	g.fail = false // the gate is still shut
	g.mu.Unlock()
	c, _, err = wstest.Dial(context.Background(), ts.base, "bind-fail", wstest.DialOptions{Header: bearer(tok)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello(711, nil, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.holdCh:
	case <-time.After(5 * time.Second):
		t.Fatalf("the second hello did not store the binding")
	}
	g.release()
	if m, err := c.Read(5 * time.Second); err != nil {
		t.Fatalf("no sync once the binding is stored: %v", err)
	} else if _, ok := m.(*protocol.Sync); !ok {
		t.Fatalf("first message %T; want sync", m)
	}
}

// TestSquatDepartedWriterID: an editor joins, writes nothing and goes offline; a co-editor who
// learned its client ID (from its presence) cannot write under it or join with it, and the owner's
// offline edits are accepted when it comes back.
func TestSquatDepartedWriterID(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	alice := ts.joinAs(t, "squat", 801, mint(t, "alice", "*", auth.RoleWrite, time.Hour))
	bob := ts.joinAs(t, "squat", 802, mint(t, "bob", "*", auth.RoleWrite, time.Hour))
	if err := alice.Send(&protocol.Awareness{Clock: 1, State: []byte(`{"user":"alice"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := bob.Pump(5*time.Second, func() bool { return bob.Awareness[801] != nil }); err != nil {
		t.Fatalf("bob never saw alice's presence: %v", err)
	}
	_ = alice.Close()
	if err := bob.Pump(5*time.Second, func() bool { return bob.Awareness[801] == nil }); err != nil {
		t.Fatalf("bob never saw alice leave: %v", err)
	}
	if err := alice.Doc.Text("body").Insert(0, "offline by alice"); err != nil { // made while offline
		t.Fatal(err)
	}
	// Bob, learning 801 from her presence, writes one unit under it.
	if err := bob.Send(&protocol.Update{Data: craftUpdate(801, 0, "X")}); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, bob.Client, protocol.CloseForbidden, "bob writes under alice's departed 801")
	// Nor may he say hello with it.
	c, _, err := wstest.Dial(context.Background(), ts.base, "squat", wstest.DialOptions{Header: bearer(mint(t, "bob", "*", auth.RoleWrite, time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello(801, nil, 0); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, c, protocol.CloseForbidden, "bob's hello as alice's departed 801")

	// Alice comes back with her offline edit: accepted.
	if err := alice.Join(context.Background(), ts.base, "squat", wstest.DialOptions{Header: bearer(mint(t, "alice", "*", auth.RoleWrite, time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if err := alice.WaitAcked(5 * time.Second); err != nil {
		t.Fatalf("alice's offline edit after bob's attempt: %v", err)
	}
	if got := ts.docText(t, "squat"); got != "offline by alice" {
		t.Errorf("server text %q; want alice's offline edit alone", got)
	}
}

// TestHelloIDEnforced: the new units of an update are under the hello's client ID, an ID bound to
// the same subject, or an ID the document has never seen (another tab's, whose changes the
// offline store holds). An unbound ID that already has units (written while the server ran open)
// belongs to whoever says hello with it, not to a connection that said hello with another.
func TestHelloIDEnforced(t *testing.T) {
	cfg := secConfig(t, nil)
	open := cfg
	open.AuthSecret = nil
	ts := startServer(t, open, nil)
	legacy := ts.editor(t, "hello-id", 901)
	if err := legacy.Insert("body", 0, "legacy"); err != nil {
		t.Fatal(err)
	}
	if err := legacy.WaitAcked(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = legacy.Close()
	ts.shutdown(t)

	ts = startServer(t, cfg, nil)
	bobTok := mint(t, "bob", "*", auth.RoleWrite, time.Hour)
	bob := ts.joinAs(t, "hello-id", 902, bobTok)
	// Units under a never-seen ID (another tab's) are accepted and bound to bob.
	if err := bob.Send(&protocol.Update{Data: craftUpdate(903, 0, "tab")}); err != nil {
		t.Fatal(err)
	}
	bob.Sent++
	if err := bob.WaitAcked(5 * time.Second); err != nil {
		t.Fatalf("units under a never-seen ID: %v", err)
	}
	// Units continuing the legacy 901 from a connection whose hello said 902: refused.
	if err := bob.Send(&protocol.Update{Data: craftUpdate(901, 6, "!")}); err != nil {
		t.Fatal(err)
	}
	cl := expectRefusal(t, bob.Client, protocol.CloseForbidden, "bob continues legacy 901 after a hello with 902")
	if !strings.Contains(cl.Message.Message, "not this connection's") {
		t.Errorf("refusal %q; want it to name the hello", cl.Message.Message)
	}
	// Carol says hello with 901: it is hers now, and she may continue it.
	carol := ts.joinAs(t, "hello-id", 901, mint(t, "carol", "*", auth.RoleWrite, time.Hour))
	if err := carol.Insert("body", 6, "!"); err != nil {
		t.Fatal(err)
	}
	if err := carol.WaitAcked(5 * time.Second); err != nil {
		t.Fatalf("carol continues 901 after her hello with it: %v", err)
	}
	if got := ts.docText(t, "hello-id"); !strings.Contains(got, "legacy!") || !strings.Contains(got, "tab") {
		t.Errorf("server text %q; want legacy! and tab", got)
	}
}

// TestRelayAfterDurable: with bindings on, an update reaches another subject's connection only
// once durable, and a connection of its author's subject at once; a joiner and an HTTP reader see
// it only once durable. Without bindings, the server's own units (HTTP edits) are held the same
// way, and clients' units are not.
func TestRelayAfterDurable(t *testing.T) {
	t.Run("bindings on", func(t *testing.T) {
		var g *gateStore
		ts := startServer(t, secConfig(t, nil), func(inner docStore) docStore { g = newGateStore(inner); return g })
		aliceTok := mint(t, "alice", "*", auth.RoleWrite, time.Hour)
		alice := ts.joinAs(t, "gate", 1001, aliceTok)
		tab := ts.joinAs(t, "gate", 1002, aliceTok)
		bob := ts.joinAs(t, "gate", 1003, mint(t, "bob", "*", auth.RoleWrite, time.Hour))
		if err := alice.Insert("body", 0, "hi"); err != nil {
			t.Fatal(err)
		}
		<-g.holdCh
		if err := tab.Pump(5*time.Second, func() bool { return tab.Text("body") == "hi" }); err != nil {
			t.Fatalf("alice's other tab did not get her update before it was durable: %v", err)
		}
		if err := bob.Pump(200*time.Millisecond, func() bool { return bob.Text("body") != "" }); err == nil {
			t.Fatalf("bob got alice's update before it was durable")
		}
		joined := make(chan string, 1)
		go func() {
			e, err := wstest.NewEditor(1004)
			if err != nil {
				joined <- err.Error()
				return
			}
			if err := e.Join(context.Background(), ts.base, "gate", wstest.DialOptions{Header: bearer(mint(t, "carol", "*", auth.RoleWrite, time.Hour))}); err != nil {
				joined <- err.Error()
				return
			}
			joined <- e.Text("body")
			_ = e.Close()
		}()
		read := make(chan string, 1)
		go func() { read <- ts.docText(t, "gate") }()
		select {
		case got := <-joined:
			t.Fatalf("a joiner was answered (%q) before the update was durable", got)
		case got := <-read:
			t.Fatalf("an HTTP read was answered (%q) before the update was durable", got)
		case <-time.After(200 * time.Millisecond):
		}
		g.release()
		if err := bob.Pump(5*time.Second, func() bool { return bob.Text("body") == "hi" }); err != nil {
			t.Fatalf("bob did not get the update once durable: %v", err)
		}
		if got := <-joined; got != "hi" {
			t.Errorf("joiner's text %q; want hi", got)
		}
		if got := <-read; got != "hi" {
			t.Errorf("HTTP read %q; want hi", got)
		}
	})
	t.Run("open", func(t *testing.T) {
		var g *gateStore
		ts := startServer(t, testConfig(t), func(inner docStore) docStore { g = newGateStore(inner); return g })
		a := ts.editor(t, "gate", 1101)
		b := ts.editor(t, "gate", 1102)
		if err := a.Insert("body", 0, "ws"); err != nil {
			t.Fatal(err)
		}
		<-g.holdCh
		if err := b.Pump(5*time.Second, func() bool { return b.Text("body") == "ws" }); err != nil {
			t.Fatalf("without bindings, a client's update waits for durability: %v", err)
		}
		edit := make(chan int, 1)
		go func() {
			status, _ := httpDo(t, "POST", ts.base+"/v1/docs/gate/edits", "", []byte(`{"root":"body","edits":[{"index":0,"insert":"srv "}]}`))
			edit <- status
		}()
		<-g.holdCh
		if err := b.Pump(200*time.Millisecond, func() bool { return strings.Contains(b.Text("body"), "srv") }); err == nil {
			t.Fatalf("the server's own edit was relayed before it was durable")
		}
		joined := make(chan string, 1)
		go func() {
			e, err := wstest.NewEditor(1103)
			if err != nil {
				joined <- err.Error()
				return
			}
			if err := e.Join(context.Background(), ts.base, "gate", wstest.DialOptions{}); err != nil {
				joined <- err.Error()
				return
			}
			joined <- e.Text("body")
			_ = e.Close()
		}()
		select {
		case got := <-joined:
			t.Fatalf("a joiner was answered (%q) while the server's own edit was not durable", got)
		case <-time.After(200 * time.Millisecond):
		}
		g.release()
		if got := <-joined; got != "srv ws" {
			t.Errorf("joiner's text %q; want srv ws", got)
		}
		if status := <-edit; status != 200 {
			t.Fatalf("POST edits: %d", status)
		}
		if err := b.Pump(5*time.Second, func() bool { return b.Text("body") == "srv ws" }); err != nil {
			t.Fatalf("the server's edit once durable: %v (text %q)", err, b.Text("body"))
		}
	})
}

// BenchmarkRelayBetweenSubjects measures what relay after durable costs: the time from one
// editor's update to its arrival at an editor of another subject, one update at a time, over
// loopback, with storage syncing to disk (fsync). With bindings off ("open") the update is relayed
// when applied; with bindings on ("auth") once its commit is durable.
func BenchmarkRelayBetweenSubjects(b *testing.B) {
	for _, withAuth := range []bool{false, true} {
		name := "open"
		if withAuth {
			name = "auth"
		}
		b.Run(name, func(b *testing.B) {
			cfg := secConfig(b, nil)
			cfg.StorageNoSync = false
			if !withAuth {
				cfg.AuthSecret = nil
			}
			ts := startServer(b, cfg, nil)
			join := func(id uint64, subject string) *wstest.Editor {
				e, err := wstest.NewEditor(id)
				if err != nil {
					b.Fatal(err)
				}
				var hdr wstest.DialOptions
				if withAuth {
					hdr.Header = bearer(mint(b, subject, "*", auth.RoleWrite, time.Hour))
				}
				if err := e.Join(context.Background(), ts.base, "relay-bench", hdr); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = e.Close() })
				return e
			}
			alice, bob := join(1201, "alice"), join(1202, "bob")
			b.ResetTimer()
			for i := range b.N {
				if err := alice.Insert("body", i, "x"); err != nil {
					b.Fatal(err)
				}
				if err := bob.Pump(10*time.Second, func() bool { return bob.Doc.Text("body").Len() == i+1 }); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_ = alice.WaitAcked(10 * time.Second)
		})
	}
}

// TestHeldFramesBounded: frames held for durability count against the connection's send queue
// limit, so that a storage stall cannot grow them without bound: past SendQueueMessages, the
// connection is closed as a slow consumer (1013, not terminal).
func TestHeldFramesBounded(t *testing.T) {
	var g *gateStore
	cfg := secConfig(t, nil)
	cfg.SendQueueMessages = 8
	ts := startServer(t, cfg, func(inner docStore) docStore { g = newGateStore(inner); return g })
	alice := ts.joinAs(t, "held", 1301, mint(t, "alice", "*", auth.RoleWrite, time.Hour))
	bob := ts.joinAs(t, "held", 1302, mint(t, "bob", "*", auth.RoleWrite, time.Hour))
	for i := range 12 {
		if err := alice.Insert("body", i, "x"); err != nil {
			t.Fatal(err)
		}
	}
	expectClose := func() {
		cl, err := bob.ExpectClose(5 * time.Second)
		if err != nil {
			t.Fatalf("bob: %v; want a close with 1013", err)
		}
		if cl.Code != int(protocol.CloseTryAgainLater) {
			t.Fatalf("bob closed with %d %q; want 1013", cl.Code, cl.Text)
		}
	}
	expectClose()
	g.release()
	if err := alice.WaitAcked(5 * time.Second); err != nil {
		t.Fatalf("alice, whose updates were held from bob: %v", err)
	}
}

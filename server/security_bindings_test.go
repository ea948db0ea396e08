package server

// The security tests of what a connection may speak for: T-SEC-04 (client IDs bound to subjects) and
// T-SEC-05 (awareness spoofing) (helpers in security_helpers_test.go).

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// craftMixed returns an update with a text run by client a at clock aStart and one by client b at
// bStart (a < b), in root "body", without origins.
func craftMixed(a, aStart uint64, aText string, b, bStart uint64, bText string) []byte {
	u := []byte{0x01, 2}
	u = protocol.AppendUvarint(u, a)
	u = protocol.AppendUvarint(u, b)
	u = append(u, 1, 1, 4)
	u = append(u, "body"...)
	u = append(u, 2) // two blocks
	for i, blk := range []struct {
		start uint64
		text  string
	}{{aStart, aText}, {bStart, bText}} {
		u = append(u, byte(i))
		u = protocol.AppendUvarint(u, blk.start)
		u = append(u, 1, 0, 0)
		u = protocol.AppendUvarint(u, uint64(len([]rune(blk.text))))
		u = protocol.AppendUvarint(u, uint64(len(blk.text)))
		u = append(u, blk.text...)
	}
	return append(u, 0)
}

// T-SEC-04.
func TestForgedClientID(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	const doc = "forge"
	const aliceID, bobID = 61, 62
	aliceTok := mint(t, "alice", doc, auth.RoleWrite, time.Hour)
	bobTok := mint(t, "bob", doc, auth.RoleWrite, time.Hour)
	alice := ts.joinAs(t, doc, aliceID, aliceTok)
	if err := alice.Insert("body", 0, "alice's words"); err != nil {
		t.Fatal(err)
	}
	if err := alice.WaitAcked(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := ts.serverSV(t, doc)
	if want[aliceID] != 13 {
		t.Fatalf("server state vector %v; want alice at 13", want)
	}

	// bob's replica, then a replica of his under alice's ID that continues her clock.
	bob := ts.joinAs(t, doc, bobID, bobTok)
	forger, err := crdt.NewDoc(aliceID, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forger.Apply(bob.Doc.EncodeUpdate(nil)); err != nil {
		t.Fatal(err)
	}
	if err := forger.Text("body").Insert(0, "bob pretends to be alice: "); err != nil {
		t.Fatal(err)
	}
	forgedContinuation := forger.TakeUpdate()

	tests := []struct {
		name string
		data []byte
		code protocol.CloseCode
	}{
		{"continues alice's clock", forgedContinuation, protocol.CloseForbidden},
		{"overlaps alice's last clock", craftUpdate(aliceID, 12, "EVIL"), protocol.CloseForbidden},
		{"a gap in alice's clock", craftUpdate(aliceID, 1000, "EVIL"), protocol.CloseForbidden},
		{"alice's clock at 2^53-2", craftUpdate(aliceID, crdt.MaxClientID-1, "E"), protocol.CloseForbidden},
		{"bob's clock reaching 2^53", craftUpdate(bobID, crdt.MaxClientID, "E"), protocol.CloseInvalidUpdate},
		{"mixed with bob's own units", craftMixed(aliceID, 13, "E", bobID, 0, "ok"), protocol.CloseForbidden},
		{"trailing byte", append(craftUpdate(bobID, 0, "ok"), 0), protocol.CloseInvalidUpdate},
	}
	for i, tt := range tests {
		c := bob.Client
		if i > 0 {
			e := ts.joinAs(t, doc, bobID, bobTok)
			c = e.Client
		}
		if err := c.Send(&protocol.Update{Data: tt.data}); err != nil {
			t.Fatal(err)
		}
		cl := expectRefusal(t, c, tt.code, tt.name)
		t.Logf("%s: %d %q", tt.name, cl.Code, cl.Message.Message)
	}

	// Units the document already has may be relayed by anyone: they are duplicates, and the first
	// content integrated wins, so bytes that claim other content for alice's known clocks change
	// nothing, and are neither stored nor broadcast.
	relay := ts.joinAs(t, doc, bobID, bobTok)
	seq := ts.lastSeq(t, doc)
	if err := relay.Send(&protocol.Update{Data: craftUpdate(aliceID, 0, "EVIL")}); err != nil {
		t.Fatal(err)
	}
	relay.Sent++
	if err := relay.WaitAcked(5 * time.Second); err != nil {
		t.Fatalf("relaying alice's known clocks: %v", err)
	}
	if got := ts.lastSeq(t, doc); got != seq {
		t.Errorf("log ends at %d after a duplicate; want %d (not stored)", got, seq)
	}
	if err := alice.Pump(200*time.Millisecond, func() bool { return false }); err == nil || !strings.Contains(err.Error(), "not met") {
		t.Errorf("alice after the duplicate: %v; want nothing received", err)
	}
	_ = relay.Close()

	// bob may not take alice's ID at hello, while she is connected or after she left.
	for _, phase := range []string{"alice connected", "alice gone"} {
		if phase == "alice gone" {
			_ = alice.Close()
			waitFor(t, 5*time.Second, "alice's leave", func() bool { return ts.metrics.connections.Value() <= 1 })
		}
		c, _, err := wstest.Dial(context.Background(), ts.base, doc, wstest.DialOptions{Header: bearer(bobTok)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello(aliceID, nil, 0); err != nil {
			t.Fatal(err)
		}
		expectRefusal(t, c, protocol.CloseForbidden, "bob's hello as alice, "+phase)
		_ = c.WS.Close()
	}
	// After a restart the binding still holds (it is stored with the document).
	ts.shutdown(t)
	cfg := secConfig(t, nil)
	cfg.DataPath = ts.path
	ts2 := startServer(t, cfg, nil)
	c, _, err := wstest.Dial(context.Background(), ts2.base, doc, wstest.DialOptions{Header: bearer(bobTok)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello(aliceID, nil, 0); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, c, protocol.CloseForbidden, "bob's hello as alice after a restart")

	// alice's document and state vector are as she left them, at the server and at a new editor.
	if got := ts2.serverSV(t, doc); !maps.Equal(got, want) {
		t.Errorf("server state vector = %v; want %v (no entry or clock from the forgeries)", got, want)
	}
	if got := ts2.docText(t, doc); got != "alice's words" {
		t.Errorf("server text = %q; want %q", got, "alice's words")
	}
	alice2 := ts2.joinAs(t, doc, aliceID, aliceTok)
	if got := alice2.Text("body"); got != "alice's words" {
		t.Errorf("alice's new replica = %q; want %q", got, "alice's words")
	}
	// ... and she can go on writing under her own ID.
	if err := alice2.Insert("body", 0, "more of "); err != nil {
		t.Fatal(err)
	}
	if err := alice2.WaitAcked(5 * time.Second); err != nil {
		t.Errorf("alice writing after the forgeries: %v", err)
	}
	// bob's units under his own ID, even with a gap, never enter the state vector until their
	// dependencies come (they wait, bounded by MaxPendingBytes: TestPendingBomb).
	bob2 := ts2.joinAs(t, doc, bobID, bobTok)
	if err := bob2.Send(&protocol.Update{Data: craftUpdate(bobID, crdt.MaxClientID-2, "x")}); err != nil {
		t.Fatal(err)
	}
	bob2.Sent++
	if err := bob2.Insert("body", 0, "bob: "); err != nil {
		t.Fatal(err)
	}
	if err := bob2.Pump(5*time.Second, func() bool { return bob2.Acked == bob2.Sent }); err != nil {
		t.Fatal(err)
	}
	if got := ts2.serverSV(t, doc); got[bobID] != 5 {
		t.Errorf("server state vector = %v; want bob at 5 (his gapped unit waits, not counted)", got)
	}
}

// T-SEC-05.
func TestAwarenessSpoofing(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	const doc = "aware"
	join := func(sub string, id uint64) *wstest.Editor {
		return ts.joinAs(t, doc, id, mint(t, sub, doc, auth.RoleWrite, time.Hour))
	}
	x := join("x", 71)
	y := join("y", 72)
	z := join("z", 73)
	setState := func(e *wstest.Editor, clock uint64, state string) {
		t.Helper()
		if err := e.Send(&protocol.Awareness{Clock: clock, State: []byte(state)}); err != nil {
			t.Fatal(err)
		}
	}
	setState(y, 1, `{"cursor":"y"}`)
	if err := z.Pump(0, func() bool { return string(z.Awareness[72]) == `{"cursor":"y"}` }); err != nil {
		t.Fatal(err)
	}
	// X sets its own state with a huge clock: it is stamped with X's ID, nobody else's.
	setState(x, 1<<40, `{"cursor":"x","clientID":72}`)
	if err := z.Pump(0, func() bool { return z.Awareness[71] != nil }); err != nil {
		t.Fatal(err)
	}
	if got := string(z.Awareness[72]); got != `{"cursor":"y"}` {
		t.Errorf("Y's state at Z after X's message = %q; want Y's own", got)
	}

	// Frames laid out as the server's awareness (entries with client IDs), sent by a client: one
	// entry for Y with a higher clock, one clearing Y, and 1000 entries. A client's awareness has
	// no client ID field, so each is malformed from a client (4400) and changes nothing.
	entries := func(n int, state string) []byte {
		b := []byte{byte(protocol.TypeAwareness), 0}
		b = protocol.AppendUvarint(b, uint64(n))
		for i := range n {
			b = protocol.AppendUvarint(b, uint64(72+i))
			b = protocol.AppendUvarint(b, 1<<30)
			b = protocol.AppendUvarint(b, uint64(len(state)))
			b = append(b, state...)
		}
		return b
	}
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"set Y", entries(1, `{"cursor":"spoofed"}`)},
		{"clear Y", entries(1, "")},
		{"1000 entries", entries(1000, `{"c":1}`)},
	} {
		spoof := join("x", 74)
		if err := spoof.SendRaw(websocket.BinaryMessage, tt.data); err != nil {
			t.Fatal(err)
		}
		cl, err := spoof.ExpectClose(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		t.Logf("%s: closed with %d %q", tt.name, cl.Code, cl.Text)
		if cl.Code < 4000 && cl.Code != int(protocol.CloseMessageTooBig) {
			t.Errorf("%s: closed with %d; want a refusal code", tt.name, cl.Code)
		}
	}
	// X clears its own state: only X disappears.
	setState(x, 1<<40+1, "")
	if err := z.Pump(0, func() bool { return z.Awareness[71] == nil }); err != nil {
		t.Fatal(err)
	}
	setState(x, 1<<40+2, `{"cursor":"x again"}`)
	if err := z.Pump(0, func() bool { return z.Awareness[71] != nil }); err != nil {
		t.Fatal(err)
	}
	// X leaves: only X is removed.
	_ = x.Close()
	if err := z.Pump(0, func() bool { return z.Awareness[71] == nil }); err != nil {
		t.Fatal(err)
	}
	if err := y.Pump(0, func() bool { return y.Awareness[71] == nil }); err != nil {
		t.Fatal(err)
	}
	// Y's cursor is intact at every peer, and a newcomer gets it.
	w := join("w", 75)
	if err := w.Pump(0, func() bool { return w.Awareness[72] != nil }); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]*wstest.Editor{"Z": z, "W": w} {
		if got := string(e.Awareness[72]); got != `{"cursor":"y"}` {
			t.Errorf("Y's state at %s = %q; want Y's own", name, got)
		}
		for id := range e.Awareness {
			if id != 72 && id != 73 && id != 75 {
				t.Errorf("awareness at %s holds client %d; want only the connected clients' own", name, id)
			}
		}
	}
	// A state larger than the limit is refused.
	big := join("y", 76)
	setState(big, 1, `{"name":"`+strings.Repeat("a", ts.cfg.MaxAwarenessBytes)+`"}`)
	expectRefusal(t, big.Client, protocol.CloseMessageTooBig, "awareness over the limit")
	if ts.cfg.MaxAwarenessBytes != 4<<10 {
		t.Errorf("MaxAwarenessBytes = %d; want the 4 KiB default", ts.cfg.MaxAwarenessBytes)
	}
}

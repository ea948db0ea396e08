package server

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
)

// memMeta is an in-memory document metadata store: document ID -> key -> value.
type memMeta map[string]map[string][]byte

func (m memMeta) PutDocMetaAsync(docID, key string, value []byte, done func(error)) {
	if m[docID] == nil {
		m[docID] = make(map[string][]byte)
	}
	m[docID][key] = append([]byte(nil), value...)
	if done != nil {
		done(nil)
	}
}

func ranges(rs ...crdt.ClockRange) crdt.UpdateInfo { return crdt.UpdateInfo{Ranges: rs} }

func isCode(err error, code protocol.CloseCode) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == code
}

func TestClientBindings(t *testing.T) {
	b := newClientBindings(false)
	sv := crdt.StateVector{}

	// alice writes with client 1: it becomes hers.
	fresh, err := b.check("alice", 0, ranges(crdt.ClockRange{Client: 1, Start: 0, End: 5}), sv)
	if err != nil || !slices.Equal(fresh, []uint64{1}) {
		t.Fatalf("alice's first update: check = %v, %v; want [1], nil", fresh, err)
	}
	if !b.bind("alice", fresh) {
		t.Fatalf("bind = false; want true")
	}
	sv[1] = 5
	// bob may not write under client 1, neither new units nor in an update that mixes in his own.
	for _, info := range []crdt.UpdateInfo{
		ranges(crdt.ClockRange{Client: 1, Start: 5, End: 6}),
		ranges(crdt.ClockRange{Client: 1, Start: 3, End: 9}),                                               // overlaps the known units
		ranges(crdt.ClockRange{Client: 1, Start: 100, End: 101}),                                           // a clock gap
		ranges(crdt.ClockRange{Client: 1, Start: crdt.MaxClientID - 1, End: crdt.MaxClientID}),             // the last clock
		ranges(crdt.ClockRange{Client: 1, Start: 5, End: 6}, crdt.ClockRange{Client: 2, Start: 0, End: 1}), // mixed
		ranges(crdt.ClockRange{Client: 2, Start: 0, End: 1}, crdt.ClockRange{Client: 1, Start: 5, End: 6}),
	} {
		if fresh, err := b.check("bob", 0, info, sv); !isCode(err, protocol.CloseForbidden) || fresh != nil {
			t.Errorf("bob writes %+v under alice's client: check = %v, %v; want nil, 4403", info.Ranges, fresh, err)
		}
	}
	// Units the document has already are duplicates anyone may relay.
	if fresh, err := b.check("bob", 0, ranges(crdt.ClockRange{Client: 1, Start: 0, End: 5}), sv); err != nil || len(fresh) != 0 {
		t.Errorf("bob relays alice's known units: check = %v, %v; want none, nil", fresh, err)
	}
	// alice continues; nothing new to bind.
	if fresh, err := b.check("alice", 0, ranges(crdt.ClockRange{Client: 1, Start: 5, End: 8}), sv); err != nil || len(fresh) != 0 {
		t.Errorf("alice continues: check = %v, %v; want none, nil", fresh, err)
	}
	// A refused check binds nothing: client 2 is still free.
	if _, ok := b.owner(2); ok {
		t.Errorf("client 2 is bound after a refused update")
	}

	// Hello: bob may not join as client 1; he may as client 2, which is then his while he stays.
	if err := joinLive(b, "bob", 1); !isCode(err, protocol.CloseForbidden) {
		t.Errorf("bob joins as client 1: join = %v; want 4403", err)
	}
	if err := joinLive(b, "bob", 2); err != nil {
		t.Fatalf("bob joins as client 2: %v", err)
	}
	if err := joinLive(b, "carol", 2); !isCode(err, protocol.CloseForbidden) {
		t.Errorf("carol joins as bob's connected client 2: join = %v; want 4403", err)
	}
	if _, err := b.check("carol", 0, ranges(crdt.ClockRange{Client: 2, Start: 0, End: 1}), sv); !isCode(err, protocol.CloseForbidden) {
		t.Errorf("carol writes under bob's connected client 2: check = %v; want 4403", err)
	}
	if err := joinLive(b, "bob", 2); err != nil { // a second tab with the same ID
		t.Fatalf("bob joins again as client 2: %v", err)
	}
	b.leave(2)
	if err := joinLive(b, "carol", 2); err == nil {
		t.Errorf("carol joins as client 2 while bob still has a connection: join = nil; want 4403")
	}
	b.leave(2)
	if err := joinLive(b, "carol", 2); err != nil {
		t.Errorf("carol joins as client 2 after bob left without writing: join = %v; want nil", err)
	}
	b.leave(2)
	b.leave(2) // an extra leave does nothing

	// The server's own client ID belongs to no token subject.
	b.bindServer(99)
	if _, err := b.check("alice", 0, ranges(crdt.ClockRange{Client: 99, Start: 0, End: 1}), sv); !isCode(err, protocol.CloseForbidden) {
		t.Errorf("alice writes under the server's client: check = %v; want 4403", err)
	}
	if err := joinLive(b, "alice", 99); !isCode(err, protocol.CloseForbidden) {
		t.Errorf("alice joins as the server's client: join = %v; want 4403", err)
	}
}

func TestClientBindingsLiveThenStored(t *testing.T) {
	b := newClientBindings(false)
	if err := joinLive(b, "alice", 7); err != nil {
		t.Fatal(err)
	}
	fresh, err := b.check("alice", 0, ranges(crdt.ClockRange{Client: 7, Start: 0, End: 1}), crdt.StateVector{})
	if err != nil || !slices.Equal(fresh, []uint64{7}) {
		t.Fatalf("alice's first write under her live client: check = %v, %v; want [7], nil", fresh, err)
	}
	b.bind("alice", fresh)
	b.leave(7)
	if err := joinLive(b, "bob", 7); !isCode(err, protocol.CloseForbidden) {
		t.Errorf("bob joins as client 7 after alice wrote with it and left: join = %v; want 4403", err)
	}
}

func TestClientBindingsOpen(t *testing.T) {
	b := newClientBindings(true)
	b.bind("anonymous", []uint64{1})
	if err := joinLive(b, "x", 1); err != nil {
		t.Errorf("open: join = %v; want nil", err)
	}
	if fresh, err := b.check("y", 0, ranges(crdt.ClockRange{Client: 1, Start: 0, End: 3}), nil); err != nil || fresh != nil {
		t.Errorf("open: check = %v, %v; want nil, nil", fresh, err)
	}
	stored := (&clientBindings{bound: map[uint64]string{1: "a"}}).encode()
	got, err := loadClientBindings(map[string][]byte{clientBindingsKey: stored}, true)
	if err != nil || len(got.bound) != 0 {
		t.Errorf("open: load = %v, %v; want empty", got.bound, err)
	}
}

func TestClientBindingsPersist(t *testing.T) {
	st := memMeta{}
	b, err := loadClientBindings(st["doc"], false)
	if err != nil || len(b.bound) != 0 {
		t.Fatalf("load of a new document = %v, %v; want empty", b, err)
	}
	b.bind("alice", []uint64{3, 1, crdt.MaxClientID})
	b.bind("bob", []uint64{2})
	b.bindServer(1 << 40)
	b.persist(st, "doc", nil)
	got, err := loadClientBindings(st["doc"], false)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.bound, b.bound) {
		t.Errorf("reloaded bindings = %v; want %v", got.bound, b.bound)
	}
	if other, _ := loadClientBindings(st["other"], false); len(other.bound) != 0 {
		t.Errorf("another document has bindings %v; want none", other.bound)
	}
	if _, err := loadClientBindings(map[string][]byte{clientBindingsKey: {9}}, false); !errors.Is(err, errBindingsCorrupt) {
		t.Errorf("load of corrupt bindings = %v; want errBindingsCorrupt", err)
	}
}

func TestDecodeClientBindingsRefuses(t *testing.T) {
	good := (&clientBindings{bound: map[uint64]string{1: "a", 2: "bb"}}).encode()
	if m, err := decodeClientBindings(good); err != nil || len(m) != 2 {
		t.Fatalf("decode(good) = %v, %v", m, err)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"version", []byte{2, 0}},
		{"no count", []byte{1}},
		{"count too large", []byte{1, 100, 1, 0}},
		{"count overflow", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"client zero", []byte{1, 1, 0, 0}},
		{"not ascending", []byte{1, 2, 5, 0, 5, 0}},
		{"descending", []byte{1, 2, 5, 0, 4, 0}},
		{"subject past end", []byte{1, 1, 5, 9, 'a'}},
		{"client too large", append([]byte{1, 1}, append(appendUvarint(nil, crdt.MaxClientID+1), 0)...)},
		{"overlong count", []byte{1, 0x80, 0x00}},
		{"overlong client", []byte{1, 1, 0x85, 0x00, 0}},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"truncated", good[:len(good)-1]},
	}
	for _, tt := range tests {
		if m, err := decodeClientBindings(tt.data); !errors.Is(err, errBindingsCorrupt) {
			t.Errorf("%s: decode(% x) = %v, %v; want errBindingsCorrupt", tt.name, tt.data, m, err)
		}
	}
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func FuzzDecodeClientBindings(f *testing.F) {
	f.Add((&clientBindings{bound: map[uint64]string{1: "alice", 1 << 50: "bob", 77: ""}}).encode())
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 2, 5, 0, 5, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeClientBindings(data)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes: one encoding per value.
		if got := (&clientBindings{bound: m}).encode(); string(got) != string(data) {
			t.Fatalf("encode(decode(% x)) = % x", data, got)
		}
	})
}

// joinLive joins clientID with a read-only hello, which binds it only while connected.
func joinLive(b *clientBindings, subject string, clientID uint64) error {
	_, err := b.join(subject, clientID, false)
	return err
}

func TestClientBindingsWritableHello(t *testing.T) {
	b := newClientBindings(false)
	sv := crdt.StateVector{5: 3}
	// A writable hello binds for good, and says the stored bindings changed (once).
	if changed, err := b.join("alice", 7, true); err != nil || !changed {
		t.Fatalf("alice's writable hello as 7: join = %v, %v; want true, nil", changed, err)
	}
	b.leave(7)
	if changed, err := b.join("alice", 7, true); err != nil || changed {
		t.Fatalf("alice's second hello as 7: join = %v, %v; want false, nil", changed, err)
	}
	b.leave(7)
	// Alice is gone and never wrote: her ID is still hers (finding: squatting without a crash).
	if _, err := b.join("bob", 7, true); !isCode(err, protocol.CloseForbidden) {
		t.Errorf("bob's hello as alice's departed 7: join = %v; want 4403", err)
	}
	if _, err := b.check("bob", 8, ranges(crdt.ClockRange{Client: 7, Start: 0, End: 1}), sv); !isCode(err, protocol.CloseForbidden) {
		t.Errorf("bob writes under alice's departed 7: check = %v; want 4403", err)
	}
	if got := b.encode(); !bytes.Contains(got, []byte("alice")) {
		t.Errorf("encoded bindings %x lack alice's", got)
	}

	// New units under another ID than the hello's.
	tests := []struct {
		name   string
		hello  uint64
		client uint64
		want   protocol.CloseCode // 0: accepted
	}{
		{"the hello's own", 8, 8, 0},
		{"an ID bound to the same subject", 8, 7, 0},
		{"an ID never seen (another tab's, never connected)", 8, 9, 0},
		{"an unbound ID with units, not the hello's", 8, 5, protocol.CloseForbidden},
		{"an unbound ID with units, over HTTP (no hello)", 0, 5, 0},
		{"an unbound ID with units, the hello's", 5, 5, 0},
	}
	for _, tt := range tests {
		subject := "alice"
		_, err := b.check(subject, tt.hello, ranges(crdt.ClockRange{Client: tt.client, Start: sv[tt.client], End: sv[tt.client] + 1}), sv)
		if tt.want == 0 && err != nil || tt.want != 0 && !isCode(err, tt.want) {
			t.Errorf("%s: check = %v; want code %d", tt.name, err, tt.want)
		}
	}
	// A connected reader's ID is not anyone else's to write under.
	if err := joinLive(b, "carol", 11); err != nil {
		t.Fatal(err)
	}
	if _, err := b.check("alice", 8, ranges(crdt.ClockRange{Client: 11, Start: 0, End: 1}), sv); !isCode(err, protocol.CloseForbidden) {
		t.Errorf("alice writes under carol's connected reader 11: check = %v; want 4403", err)
	}
}

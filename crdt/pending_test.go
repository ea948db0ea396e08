package crdt_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
)

// typedUpdates returns n one-character updates typed at the end of a text,
// each the TakeUpdate after its insertion: every update depends on the one
// before it.
func typedUpdates(tb testing.TB, n int) [][]byte {
	tb.Helper()
	src, err := crdt.NewDoc(1, crdt.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	txt := src.Text("body")
	us := make([][]byte, n)
	for i := range us {
		if err := txt.Insert(i, "x"); err != nil {
			tb.Fatal(err)
		}
		us[i] = src.TakeUpdate()
	}
	return us
}

// BenchmarkApplyPending applies n one-character updates in reverse order, so
// that all but the last wait in the pending buffer, then the first one, which
// drains it. An Apply should cost about the size of its update, whatever the
// size of the pending buffer, with a bound far away (64 MiB) or one the
// buffer ends just below (tight): the pending size is kept exact as ops come
// and go, so that nearing the bound costs nothing more.
func BenchmarkApplyPending(b *testing.B) {
	for _, bc := range []struct {
		n     int
		tight bool
	}{{1_000, false}, {10_000, false}, {1_000, true}, {10_000, true}} {
		n := bc.n
		name := fmt.Sprintf("n=%d", n)
		if bc.tight {
			name += "/tight"
		}
		b.Run(name, func(b *testing.B) {
			us := typedUpdates(b, n+1)
			limit := 64 << 20
			if bc.tight {
				probe, err := crdt.NewDoc(2, crdt.Config{})
				if err != nil {
					b.Fatal(err)
				}
				for i := n; i >= 1; i-- {
					if _, err := probe.Apply(us[i]); err != nil {
						b.Fatal(err)
					}
				}
				limit = probe.PendingBytes() + 64
			}
			var pendingNs, drainNs int64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				d, err := crdt.NewDoc(2, crdt.Config{MaxPendingBytes: limit})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := b.Elapsed()
				for i := n; i >= 1; i-- {
					if _, err := d.Apply(us[i]); err != nil {
						b.Fatal(err)
					}
				}
				mid := b.Elapsed()
				if _, err := d.Apply(us[0]); err != nil {
					b.Fatal(err)
				}
				pendingNs += int64(mid - start)
				drainNs += int64(b.Elapsed() - mid)
				if d.PendingBytes() != 0 {
					b.Fatalf("%d bytes still pending", d.PendingBytes())
				}
			}
			b.ReportMetric(float64(pendingNs)/float64(b.N)/float64(n), "ns/pending-apply")
			b.ReportMetric(float64(drainNs)/float64(b.N), "ns/drain")
		})
	}
}

// TestRefusedOverflowLeavesPendingAsItWas fills the pending buffer of a
// document up to its bound, then applies updates that would overflow it,
// appended after the pending ops or filling the gaps between them: each is
// refused and the document stays byte for byte as it was; the buffer then
// drains as if nothing had been refused.
func TestRefusedOverflowLeavesPendingAsItWas(t *testing.T) {
	const n = 2_000
	src, err := crdt.NewDoc(1, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	txt := src.Text("body")
	us := make([][]byte, n+1)
	for i := range us {
		if err := txt.Insert(i, "x"); err != nil {
			t.Fatal(err)
		}
		us[i] = src.TakeUpdate()
	}
	// waiting: every other update from the third on, in reverse (gaps between them).
	var waiting [][]byte
	for i := n; i >= 2; i -= 2 {
		waiting = append(waiting, us[i])
	}
	probe, err := crdt.NewDoc(2, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range waiting {
		if _, err := probe.Apply(u); err != nil {
			t.Fatal(err)
		}
	}
	limit := probe.PendingBytes() + 16
	if err := txt.Insert(n+1, strings.Repeat("y", limit)); err != nil {
		t.Fatal(err)
	}
	after := src.TakeUpdate()
	refused := []struct {
		name   string
		update []byte
	}{
		{"after the pending ops", after},
		{"filling the gaps", src.EncodeUpdate(crdt.StateVector{1: 1})},
	}

	newDoc := func() *crdt.Doc {
		d, err := crdt.NewDoc(2, crdt.Config{MaxPendingBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range waiting {
			if _, err := d.Apply(u); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	d, want := newDoc(), newDoc()
	wantSnap, wantPending, wantVersion := want.EncodeSnapshot(), want.PendingBytes(), want.Version()
	for _, tc := range refused {
		if _, err := d.Apply(tc.update); !errors.Is(err, crdt.ErrPendingOverflow) {
			t.Fatalf("%s: Apply error = %v; want ErrPendingOverflow", tc.name, err)
		}
		if got := d.EncodeSnapshot(); !bytes.Equal(got, wantSnap) {
			t.Errorf("%s: the snapshot changed: %d bytes, want %d", tc.name, len(got), len(wantSnap))
		}
		if got := d.PendingBytes(); got != wantPending {
			t.Errorf("%s: PendingBytes() = %d; want %d", tc.name, got, wantPending)
		}
		if got, want := d.StateVector(), want.StateVector(); !maps.Equal(got, want) {
			t.Errorf("%s: state vector %v; want %v", tc.name, got, want)
		}
		if got := d.Version(); got != wantVersion {
			t.Errorf("%s: Version() = %d; want %d", tc.name, got, wantVersion)
		}
		if err := crdt.CheckInvariants(d); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// The missing updates drain the buffer alike.
	for _, x := range []*crdt.Doc{d, want} {
		for i := 1; i < n; i += 2 {
			if _, err := x.Apply(us[i]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := x.Apply(us[0]); err != nil {
			t.Fatal(err)
		}
		if err := crdt.CheckInvariants(x); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := d.Text("body").String(), want.Text("body").String(); got != want || len(got) != n+1 {
		t.Errorf("after the drain: text of %d code points; want %d (the same as a document that refused nothing)", len(got), n+1)
	}
	if got, want := d.EncodeSnapshot(), want.EncodeSnapshot(); !bytes.Equal(got, want) {
		t.Error("after the drain: snapshots differ")
	}
	if got := d.PendingBytes(); got != 0 {
		t.Errorf("after the drain: PendingBytes() = %d; want 0", got)
	}
}

// TestPendingOverflowDecisionIsExact applies the updates of several writers
// in a random order to a document with a small pending bound, and checks every
// decision against the exact size: an update is refused exactly when the
// pending buffer after it, computed by a copy of the document without a
// bound, would exceed the bound. With 200 writers, the clients table of the
// pending update passes 128 entries (two-byte indices).
func TestPendingOverflowDecisionIsExact(t *testing.T) {
	widest := 0
	for seed := range int64(6) {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		writers, limit := uint64(3), 600+rng.IntN(1600)
		if seed%2 == 1 {
			writers, limit = 200, 3000+rng.IntN(2500)
		}
		var srcs []*crdt.Doc
		for c := range writers {
			d, err := crdt.NewDoc(c+1, crdt.Config{})
			if err != nil {
				t.Fatal(err)
			}
			srcs = append(srcs, d)
		}
		// Every writer starts from the first one's text, which comes last: until
		// then, whatever depends on it waits.
		if err := srcs[0].Text("body").Insert(0, "base"); err != nil {
			t.Fatal(err)
		}
		first := srcs[0].TakeUpdate()
		for _, s := range srcs[1:] {
			if _, err := s.Apply(first); err != nil {
				t.Fatal(err)
			}
		}
		var us [][]byte
		for range 400 {
			s := srcs[rng.IntN(len(srcs))]
			txt := s.Text("body")
			n := txt.Len()
			switch k := rng.IntN(10); {
			case k < 7 || n == 0:
				if err := txt.Insert(rng.IntN(n+1), strings.Repeat("ab", 1+rng.IntN(3))); err != nil {
					t.Fatal(err)
				}
			case k < 9:
				pos := rng.IntN(n)
				if err := txt.Delete(pos, 1+rng.IntN(min(3, n-pos))); err != nil {
					t.Fatal(err)
				}
			default:
				if err := s.Map("meta").Set("k", []byte(`1`)); err != nil {
					t.Fatal(err)
				}
			}
			if u := s.TakeUpdate(); u != nil {
				us = append(us, u)
				// Writers see each other now and then, so origins cross clients.
				if o := srcs[rng.IntN(len(srcs))]; o != s && rng.IntN(2) == 0 {
					if _, err := o.Apply(s.EncodeUpdate(o.StateVector())); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		rng.Shuffle(len(us), func(i, j int) { us[i], us[j] = us[j], us[i] })
		us = append(us, first)
		d, err := crdt.NewDoc(9, crdt.Config{MaxPendingBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		refused, table := 0, 0
		for i, u := range us {
			before := d.EncodeSnapshot()
			ref, err := crdt.NewDoc(9, crdt.Config{MaxPendingBytes: 1 << 30})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ref.Apply(before); err != nil {
				t.Fatal(err)
			}
			if _, err := ref.Apply(u); err != nil {
				t.Fatal(err)
			}
			wantRefused := ref.PendingBytes() > limit
			_, err = d.Apply(u)
			if gotRefused := errors.Is(err, crdt.ErrPendingOverflow); gotRefused != wantRefused || (err != nil && !gotRefused) {
				t.Fatalf("seed %d, update %d: Apply error = %v; want refused = %v (%d bytes would wait, the limit is %d)",
					seed, i, err, wantRefused, ref.PendingBytes(), limit)
			}
			if wantRefused {
				refused++
				if got := d.EncodeSnapshot(); !bytes.Equal(got, before) {
					t.Fatalf("seed %d, update %d: a refused update changed the document", seed, i)
				}
			}
			if err := crdt.CheckInvariants(d); err != nil {
				t.Fatalf("seed %d, update %d: %v", seed, i, err)
			}
			table = max(table, crdt.PendingTableLen(d))
		}
		t.Logf("seed %d: %d of %d refused, limit %d, tables up to %d entries", seed, refused, len(us), limit, table)
		widest = max(widest, table)
		if refused == 0 {
			t.Errorf("seed %d: no update was refused (limit %d): the test does not exercise the bound", seed, limit)
		}
	}
	if widest <= 128 {
		t.Errorf("the pending tables never passed 128 entries (%d): the test does not exercise wider indices", widest)
	}
}

// TestPendingSizeKeptExact is a property test of the pending size that Apply
// keeps up to date as ops come and go: writers type (ops that merge in the
// encoding), delete, set map keys and write to two roots; their updates, and
// catch-up updates that overlap them, reach a document in a random order, so
// that ops wait, merge with their neighbours, are trimmed, split the gaps
// between others and drain. After every Apply the kept size must be the
// length of the pending set's encoding (CheckPending) and PendingBytes must
// report it. Writers are many in odd seeds, so that the clients table passes
// 128 entries.
func TestPendingSizeKeptExact(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 12))
		writers := 2 + rng.IntN(4)
		if seed%2 == 1 {
			writers = 150
		}
		srcs := make([]*crdt.Doc, writers)
		for i := range srcs {
			d, err := crdt.NewDoc(uint64(i+1)*uint64(1+rng.IntN(1<<20)), crdt.Config{})
			if err != nil {
				t.Fatal(err)
			}
			srcs[i] = d
		}
		var us [][]byte
		for range 400 {
			s := srcs[rng.IntN(len(srcs))]
			txt := s.Text([]string{"body", "title"}[rng.IntN(2)])
			n := txt.Len()
			switch k := rng.IntN(12); {
			case k < 8 || n == 0:
				pos := n // typing at the end: runs that continue each other
				if rng.IntN(3) == 0 {
					pos = rng.IntN(n + 1)
				}
				if err := txt.Insert(pos, strings.Repeat("é", 1+rng.IntN(3))); err != nil {
					t.Fatal(err)
				}
			case k < 10:
				pos := rng.IntN(n)
				if err := txt.Delete(pos, 1+rng.IntN(min(4, n-pos))); err != nil {
					t.Fatal(err)
				}
			default:
				if err := s.Map("meta").Set(fmt.Sprint("k", rng.IntN(3)), []byte(`"v"`)); err != nil {
					t.Fatal(err)
				}
			}
			if u := s.TakeUpdate(); u != nil {
				us = append(us, u)
			}
			if rng.IntN(8) == 0 {
				// A catch-up update from a random point: it overlaps the
				// updates before it, and its ops get trimmed.
				sv := s.StateVector()
				for c, k := range sv {
					sv[c] = uint64(rng.IntN(int(k) + 1))
				}
				us = append(us, s.EncodeUpdate(sv))
			}
			if o := srcs[rng.IntN(len(srcs))]; o != s && rng.IntN(3) == 0 {
				if _, err := o.Apply(s.EncodeUpdate(o.StateVector())); err != nil {
					t.Fatal(err)
				}
			}
		}
		rng.Shuffle(len(us), func(i, j int) { us[i], us[j] = us[j], us[i] })
		d, err := crdt.NewDoc(1<<40, crdt.Config{MaxPendingBytes: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		peak := 0
		for i, u := range us {
			if _, err := d.Apply(u); err != nil {
				t.Fatalf("seed %d, update %d: %v", seed, i, err)
			}
			if err := crdt.CheckPending(d); err != nil {
				t.Fatalf("seed %d, update %d: %v\n\trepeat: go test ./crdt -run '^TestPendingSizeKeptExact$'", seed, i, err)
			}
			peak = max(peak, d.PendingBytes())
		}
		// Whatever still waits has missing dependencies no update holds (a
		// catch-up may come after all); the final size is checked like the rest.
		t.Logf("seed %d: %d writers, %d updates, pending up to %d bytes, %d at the end", seed, writers, len(us), peak, d.PendingBytes())
	}
}

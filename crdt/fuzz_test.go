package crdt_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// scenarioHex returns the hex values that the scenario files print (updates,
// snapshots, state vectors, relative positions) with their format byte, to
// seed the fuzzers.
func scenarioHex(tb testing.TB, format byte) [][]byte {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(scenarioDir, "*.txt"))
	var out [][]byte
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(string(src), "\n") {
			for _, tok := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ':' }) {
				if len(tok) < 2 || len(tok)%2 != 0 {
					continue
				}
				b, err := hex.DecodeString(tok)
				if err == nil && b[0] == format {
					out = append(out, b)
				}
			}
		}
	}
	return out
}

// forgedWaiting is a forged update: client 9, clock 8, a run of root run
// whose left origin (9,7) is unknown to fuzzDoc's document, where it waits.
// originElsewhere brings clocks 3-7 of client 9 in root t, which wait for
// 0-2: the forged run then names a pending unit of another root (testdata
// origins.txt), and the document's snapshot must still reload.
// FuzzApplyUpdate starts from a document where it waits (fuzzDocForged).
const (
	forgedWaiting   = "01010901010372756e010008010800000701016200"
	originElsewhere = "01010901010174010003011000000005056c6174657200"
)

// fuzzDoc returns a document with text, deletions, map keys and pending units.
func fuzzDoc(tb testing.TB) *crdt.Doc {
	a, b := fresh(1), fresh(2)
	a.Text("t").Insert(0, "hello wörld 😀")
	a.Text("t").Delete(2, 3)
	a.Map("m").Set("k", []byte(`{"v":1}`))
	b.Apply(a.TakeUpdate())
	b.Text("t").Insert(3, "xyz")
	b.Text("u").Insert(0, "other")
	b.Map("m").Delete("k")
	u1 := b.TakeUpdate()
	b.Text("t").Insert(0, "later")
	u2 := b.TakeUpdate()
	if _, err := a.Apply(u2); err != nil { // waits for u1
		tb.Fatal(err)
	}
	_ = u1
	return a
}

// fuzzDocForged returns fuzzDoc's document with forgedWaiting applied.
func fuzzDocForged(tb testing.TB) *crdt.Doc {
	d := fuzzDoc(tb)
	forged, _ := hex.DecodeString(forgedWaiting)
	if _, err := d.Apply(forged); err != nil {
		tb.Fatal(err)
	}
	return d
}

// FuzzApplyUpdate feeds arbitrary bytes to a document with state: no panic;
// Integrate refuses and accepts as Apply does, with the same result; a refusal is a sentinel error and leaves the snapshot unchanged; an
// accepted input leaves a document whose invariants hold and whose snapshot
// reloads to the same bytes.
func FuzzApplyUpdate(f *testing.F) {
	for _, b := range scenarioHex(f, 0x01) {
		f.Add(b)
	}
	for _, b := range scenarioHex(f, 0x05) {
		f.Add(b)
	}
	for _, fx := range readV1Fixtures(f) {
		f.Add(fx.v1)
	}
	origin, _ := hex.DecodeString(originElsewhere)
	f.Add(origin)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := fuzzDocForged(t)
		before := d.EncodeSnapshot()
		info, ierr := crdt.InspectUpdate(data)
		_, err := d.Apply(data)
		quiet := fuzzDocForged(t)
		qerr := quiet.Integrate(data)
		if (qerr == nil) != (err == nil) || (err != nil && qerr.Error() != err.Error()) {
			t.Fatalf("Integrate: error %v; Apply: %v", qerr, err)
		}
		if got, want := quiet.EncodeSnapshot(), d.EncodeSnapshot(); !bytes.Equal(got, want) || quiet.Version() != d.Version() {
			t.Fatalf("Integrate left snapshot %x version %d; Apply %x version %d", got, quiet.Version(), want, d.Version())
		}
		if err != nil {
			if !errors.Is(err, crdt.ErrMalformedUpdate) && !errors.Is(err, crdt.ErrPendingOverflow) {
				t.Fatalf("Apply: error %v is not a sentinel", err)
			}
			if !strings.HasPrefix(err.Error(), "crdt: ") {
				t.Fatalf("Apply: error %q lacks the crdt: prefix", err)
			}
			if after := d.EncodeSnapshot(); !bytes.Equal(after, before) {
				t.Fatalf("Apply refused the input (%v) but the document changed", err)
			}
			return
		}
		if ierr != nil {
			t.Fatalf("Apply accepted what InspectUpdate refused: %v", ierr)
		}
		if info.Format != data[0] {
			t.Fatalf("InspectUpdate: format %d, want %d", info.Format, data[0])
		}
		if err := crdt.CheckInvariants(d); err != nil {
			t.Fatal(err)
		}
		e := reloaded(t, d)
		for _, r := range d.Roots() {
			if r.Kind == crdt.KindText && e.Text(r.Name).String() != d.Text(r.Name).String() {
				t.Fatalf("text %q differs after reload", r.Name)
			}
		}
	})
}

// reloaded loads d's snapshot into a new document, and fails the test unless that loads and
// encodes its snapshot to the same bytes.
func reloaded(t *testing.T, d *crdt.Doc) *crdt.Doc {
	t.Helper()
	snap := d.EncodeSnapshot()
	e := fresh(3)
	if _, err := e.Apply(snap); err != nil {
		t.Fatalf("reloading the snapshot: %v", err)
	}
	if got := e.EncodeSnapshot(); !bytes.Equal(got, snap) {
		t.Fatal("the reloaded snapshot encodes differently")
	}
	return e
}

// FuzzDecodeStateVector: no panic; what decodes re-encodes to the same bytes
// (the format is canonical).
func FuzzDecodeStateVector(f *testing.F) {
	for _, b := range scenarioHex(f, 0x03) {
		f.Add(b)
	}
	f.Add([]byte{3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		sv, err := crdt.DecodeStateVector(data)
		if err != nil {
			if !errors.Is(err, crdt.ErrMalformedUpdate) {
				t.Fatalf("error %v is not ErrMalformedUpdate", err)
			}
			return
		}
		if got := crdt.EncodeStateVector(sv); !bytes.Equal(got, data) {
			t.Fatalf("re-encoded %x, decoded from %x", got, data)
		}
	})
}

// FuzzDecodeRelPos: no panic; what decodes re-encodes to the same bytes and
// resolves without panic.
func FuzzDecodeRelPos(f *testing.F) {
	for _, b := range scenarioHex(f, 0x04) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rp, err := crdt.DecodeRelPos(data)
		if err != nil {
			if !errors.Is(err, crdt.ErrMalformedUpdate) {
				t.Fatalf("error %v is not ErrMalformedUpdate", err)
			}
			return
		}
		if got := rp.Encode(); !bytes.Equal(got, data) {
			t.Fatalf("re-encoded %x, decoded from %x", got, data)
		}
		d := fuzzDoc(t)
		if _, err := d.Resolve(rp); err != nil && !errors.Is(err, crdt.ErrUnknownPosition) {
			t.Fatalf("Resolve: %v", err)
		}
	})
}

// FuzzMergeOrder runs random edits (the input drives a seeded run) on
// replicas, then delivers the updates to two new replicas in two orders:
// their snapshots are identical.
func FuzzMergeOrder(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint16(40))
	f.Add(uint64(7), uint8(5), uint16(200))
	f.Add(uint64(42), uint8(2), uint16(100))
	f.Fuzz(func(t *testing.T, seed uint64, replicas uint8, steps uint16) {
		opts := crdttest.SimOptions{Replicas: 2 + int(replicas%4), Steps: 1 + int(steps%300), Shuffle: true, DeliverRate: 0.3}
		s := crdttest.NewSim(seed, opts)
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		x, y := fresh(1<<52), fresh(1<<52)
		for _, u := range s.Log {
			if _, err := x.Apply(u); err != nil {
				t.Fatal(err)
			}
		}
		for i := len(s.Log) - 1; i >= 0; i-- {
			if _, err := y.Apply(s.Log[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := crdttest.Compare(append(s.Docs, x, y)...); err != nil {
			t.Fatal(err)
		}
	})
}

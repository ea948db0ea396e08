package crdt_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// TestParkedAsPlanned delivers updates out of order to two replicas, one
// that parks the updates whose ops only wait (Doc.park) and one that plans
// every update, and checks after every update that they answer alike: the
// same error or none, the same changes, version, pending totals (bounds,
// bytes held, size cached) and, every few updates, the same encoded
// pending set. Budgets of pending bytes and memory that refuse some of the
// updates, or make the pending size be kept as a slack bound, are among the
// cases, so that parking is tried where it must give way to the plan.
func TestParkedAsPlanned(t *testing.T) {
	type set struct {
		name string
		log  [][]byte
	}
	sets := []set{{"two-writers", twoWriterUpdates(3, 1500)}}
	// Two writers' keystrokes, every other pair of them in one update of
	// both clients; random runs of several replicas, two with rich text.
	pairs, err := pairedKeystrokes(t, 300)
	if err != nil {
		t.Fatal(err)
	}
	sets = append(sets, set{"paired keystrokes", pairs})
	for seed := range uint64(4) {
		s := crdttest.NewSim(seed, crdttest.SimOptions{Replicas: 2 + int(seed%3), Steps: 200, DeliverRate: 0.3, Rich: seed%2 == 1})
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		sets = append(sets, set{fmt.Sprintf("sim-%d", seed), s.Log})
	}
	for _, s := range sets {
		rng := rand.New(rand.NewPCG(9, 9))
		drive := make([]byte, 64)
		for i := range drive {
			drive[i] = byte(rng.UintN(256))
		}
		os := orders(s.log, 5)
		os["duplicated"] = arrival(s.log, drive)
		parked := 0
		for _, order := range []string{"reverse", "shuffled", "duplicated"} {
			us := os[order]
			peakBytes, peakMemory, err := pendingPeaks(us)
			if err != nil {
				t.Fatal(err)
			}
			cfgs := []struct {
				name   string
				cfg    crdt.Config
				refuse bool // whether the budget must refuse some update
			}{
				{"default budgets", crdt.Config{}, false},
				{"bytes at twice the peak", crdt.Config{MaxPendingBytes: 2 * peakBytes}, false},
				{"bytes at half the peak", crdt.Config{MaxPendingBytes: max(peakBytes/2, 1)}, true},
				{"memory at half the peak", crdt.Config{MaxPendingMemory: max(peakMemory/2, 1)}, true},
			}
			for _, c := range cfgs {
				name := fmt.Sprintf("%s %s, %s", s.name, order, c.name)
				p, refused, err := compareParked(asSteps(us), c.cfg)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if c.refuse && refused == 0 {
					t.Errorf("%s: no update refused: the case does not exercise refusals", name)
				}
				parked += p
			}
		}
		if parked == 0 {
			t.Errorf("%s: no update parked", s.name)
		}
	}
}

// parkStep is what compareParked does to both replicas in turn: apply
// update, or else type text at the start of their text "body".
type parkStep struct {
	update []byte
	typed  string
}

// asSteps returns the steps that apply us in turn.
func asSteps(us [][]byte) []parkStep {
	steps := make([]parkStep, len(us))
	for i, u := range us {
		steps[i].update = u
	}
	return steps
}

// TestParkedBesideOwnPending parks an update of another client (units, or
// a delete range) in a replica that holds pending units of its own client
// ID (received from a replica that had the same ID, such as an earlier run
// of its own) which its local edits have since made known: the plan drops
// those, so parking must give way to it.
func TestParkedBesideOwnPending(t *testing.T) {
	const id = 1 << 52
	w, other := fresh(id), fresh(7)
	var own [][]byte
	for i := range 3 {
		if err := w.Text("body").Insert(i, "w"); err != nil {
			t.Fatal(err)
		}
		own = append(own, w.TakeUpdate())
	}
	var others [][]byte
	for i := range 3 {
		if err := other.Text("body").Insert(i, "o"); err != nil {
			t.Fatal(err)
		}
		others = append(others, other.TakeUpdate())
	}
	if err := other.Text("body").Delete(2, 1); err != nil {
		t.Fatal(err)
	}
	deleted := other.TakeUpdate() // a delete range only
	for _, last := range [][]byte{others[1], deleted} {
		steps := []parkStep{
			{update: own[2]},    // waits: clocks 0 and 1 are missing
			{update: others[2]}, // another client's unit that waits (planned: its first)
			{typed: "abc"},      // local edits at clocks 0 to 2, past own[2]
			{update: last},      // would park, but the plan drops own[2] first
			{update: own[1]},
			{update: others[1]},
			{update: others[0]},
			{update: deleted},
		}
		if _, _, err := compareParked(steps, crdt.Config{}); err != nil {
			t.Fatal(err)
		}
	}
}

// compareParked takes steps on a replica that parks updates and on one that
// plans them all, both of configuration cfg, comparing them after each
// (see TestParkedAsPlanned). It returns how many updates the first parked
// and how many both refused.
func compareParked(steps []parkStep, cfg crdt.Config) (parked, refused int, err error) {
	a, err := crdt.NewDoc(1<<52, cfg)
	if err != nil {
		return 0, 0, err
	}
	b, err := crdt.NewDoc(1<<52, cfg)
	if err != nil {
		return 0, 0, err
	}
	crdt.SetParking(b, false)
	apply := func(d *crdt.Doc, s parkStep) ([]crdt.Change, error) {
		if s.update != nil {
			return d.Apply(s.update)
		}
		return nil, d.Text("body").Insert(0, s.typed)
	}
	for i, s := range steps {
		ca, ea := apply(a, s)
		cb, eb := apply(b, s)
		switch {
		case (ea == nil) != (eb == nil) || ea != nil && ea.Error() != eb.Error():
			return 0, 0, fmt.Errorf("update %d: parking: %v; planning: %v", i, ea, eb)
		case ea != nil:
			refused++
		}
		if !reflect.DeepEqual(ca, cb) {
			return 0, 0, fmt.Errorf("update %d: parking changes %+v; planning %+v", i, ca, cb)
		}
		if va, vb := a.Version(), b.Version(); va != vb {
			return 0, 0, fmt.Errorf("update %d: parking version %d; planning %d", i, va, vb)
		}
		if ta, tb := crdt.PendingTotals(a), crdt.PendingTotals(b); ta != tb {
			return 0, 0, fmt.Errorf("update %d: parking %s; planning %s", i, ta, tb)
		}
		if i%16 != 0 && i != len(steps)-1 {
			continue // the encodings and checks cost O(n)
		}
		if pa, pb := crdt.PendingUpdate(a), crdt.PendingUpdate(b); !bytes.Equal(pa, pb) {
			return 0, 0, fmt.Errorf("update %d: the pending sets encode differently", i)
		}
		if err := crdt.CheckPending(a); err != nil {
			return 0, 0, fmt.Errorf("update %d: parking: %w", i, err)
		}
	}
	if sa, sb := a.EncodeSnapshot(), b.EncodeSnapshot(); !bytes.Equal(sa, sb) {
		return 0, 0, fmt.Errorf("the snapshots differ")
	}
	if crdt.Parked(b) != 0 {
		return 0, 0, fmt.Errorf("the replica that plans every update parked %d", crdt.Parked(b))
	}
	return crdt.Parked(a), refused, crdt.CheckInvariants(a)
}

// pairedKeystrokes returns the keystrokes of two writers, each typing n
// characters (the second after a first update of four, so that their
// clocks differ): for even i, the i-th of each as it was typed; for odd i,
// both in one update (of two clients), as a replica that got them passes
// them on.
func pairedKeystrokes(tb testing.TB, n int) ([][]byte, error) {
	a := keystrokes(tb, 3, n)
	w := fresh(4)
	if err := w.Text("body").Insert(0, "four"); err != nil {
		return nil, err
	}
	out := [][]byte{w.TakeUpdate()}
	b := make([][]byte, n)
	for i := range b {
		if err := w.Text("body").Insert(4+i, "k"); err != nil {
			return nil, err
		}
		b[i] = w.TakeUpdate()
	}
	r := fresh(1 << 52)
	if _, err := r.Apply(out[0]); err != nil {
		return nil, err
	}
	for i := range n {
		sv := r.StateVector()
		for _, u := range [][]byte{a[i], b[i]} {
			if _, err := r.Apply(u); err != nil {
				return nil, err
			}
		}
		if i%2 == 0 {
			out = append(out, a[i], b[i])
		} else {
			out = append(out, r.EncodeUpdate(sv))
		}
	}
	return out, nil
}

// pendingPeaks returns the largest pending size and bytes held that a new
// replica reaches when given updates in order.
func pendingPeaks(updates [][]byte) (size, held int, err error) {
	d := fresh(1 << 52)
	for i, u := range updates {
		if _, err := d.Apply(u); err != nil {
			return 0, 0, fmt.Errorf("update %d: %w", i, err)
		}
		size, held = max(size, d.PendingBytes()), max(held, d.PendingMemory())
	}
	return size, held, nil
}

// TestParkedNearTheLimit parks updates while the pending size is kept
// exactly or as a slack bound, near MaxPendingBytes: long pastes of one
// writer and keystrokes of another wait, the pastes are integrated, and
// more keystrokes come, under budgets from a fraction of the peak size to
// above it. The plan keeps or drops the exact size and the slack bound as
// the ops come and go; parking must give way to it whenever it keeps
// either.
func TestParkedNearTheLimit(t *testing.T) {
	// writes returns n updates of one writer of client c, the i-th
	// inserting text(i) at its start, or at its end when atEnd.
	writes := func(c uint64, n int, atEnd bool, text func(i int) string) [][]byte {
		w := fresh(c)
		out := make([][]byte, n)
		for i := range out {
			pos := 0
			if atEnd {
				pos = w.Text("body").Len()
			}
			if err := w.Text("body").Insert(pos, text(i)); err != nil {
				t.Fatal(err)
			}
			out[i] = w.TakeUpdate()
		}
		return out
	}
	paste := func(i int) string {
		if i == 0 {
			return "x"
		}
		return strings.Repeat("paste ", 10)
	}
	first, second := writes(3, 11, false, paste), writes(5, 11, false, paste)
	keys := writes(4, 41, true, func(int) string { return "k" })
	var onePaster, twoPasters [][]byte
	// The keystrokes are what waits once the pastes are integrated (the
	// size is then kept as a slack bound).
	onePaster = append(onePaster, first[1:]...) // wait for the first
	onePaster = append(onePaster, keys[1:21]...)
	onePaster = append(onePaster, first[0]) // integrates the pastes
	onePaster = append(onePaster, keys[21:]...)
	onePaster = append(onePaster, keys[0])
	// Pastes of a second writer wait too (the size is then kept exactly).
	twoPasters = append(twoPasters, first[1:]...)
	twoPasters = append(twoPasters, second[1:6]...)
	twoPasters = append(twoPasters, keys[1:21]...)
	twoPasters = append(twoPasters, first[0])
	twoPasters = append(twoPasters, second[6:]...)
	twoPasters = append(twoPasters, keys[21:]...)
	twoPasters = append(twoPasters, second[0], keys[0])
	// Deletes of the keystrokes wait with them, each an update of its own.
	deleter := fresh(6)
	for _, k := range keys {
		if _, err := deleter.Apply(k); err != nil {
			t.Fatal(err)
		}
	}
	var deletes [][]byte
	for i := range 20 {
		if err := deleter.Text("body").Delete(i, 1); err != nil { // every other one: ranges apart
			t.Fatal(err)
		}
		deletes = append(deletes, deleter.TakeUpdate())
	}
	// In twoPasters, the deletes come too, once the first writer's pastes
	// are integrated, while the second writer's wait (the size kept
	// exactly).
	twoPasters = slices.Insert(twoPasters, len(first)+5+20, deletes...)
	var withDeletes [][]byte
	withDeletes = append(withDeletes, first[1:]...)
	withDeletes = append(withDeletes, keys[1:]...)
	withDeletes = append(withDeletes, deletes...)
	withDeletes = append(withDeletes, first[0], keys[0])
	for _, us := range [][][]byte{onePaster, twoPasters, withDeletes} {
		peak, _, err := pendingPeaks(us)
		if err != nil {
			t.Fatal(err)
		}
		for limit := peak / 8; limit <= 2*peak; limit += max(peak/256, 1) {
			if _, _, err := compareParked(asSteps(us), crdt.Config{MaxPendingBytes: limit}); err != nil {
				t.Fatalf("%d updates, limit %d (peak %d): %v", len(us), limit, peak, err)
			}
		}
	}
}

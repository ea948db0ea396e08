package crdt_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
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
			parked := 0
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
			if parked == 0 {
				t.Errorf("%s %s: no update parked", s.name, order)
			}
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

// TestParkedBesideOwnPending parks an update of another client in a
// replica that holds pending units of its own client ID (received from a
// replica that had the same ID, such as an earlier run of its own) which
// its local edits have since made known: the plan drops those, so parking
// must give way to it.
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
	steps := []parkStep{
		{update: own[2]},    // waits: clocks 0 and 1 are missing
		{update: others[2]}, // another client's unit that waits (planned: its first)
		{typed: "abc"},      // local edits at clocks 0 to 2, past own[2]
		{update: others[1]}, // would park, but the plan drops own[2] first
		{update: own[1]},
		{update: others[0]},
	}
	if _, _, err := compareParked(steps, crdt.Config{}); err != nil {
		t.Fatal(err)
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

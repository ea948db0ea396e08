package crdt_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// arrival returns the updates of log in the order that drive gives: a
// permutation (Fisher-Yates, drawing from drive's bytes in turn), with the
// updates whose byte has its high bit set delivered a second time later.
func arrival(log [][]byte, drive []byte) [][]byte {
	if len(drive) == 0 {
		drive = []byte{0}
	}
	k := 0
	next := func() byte { b := drive[k%len(drive)]; k++; return b }
	out := append([][]byte(nil), log...)
	for i := len(out) - 1; i > 0; i-- {
		j := (int(next()) | int(next())<<8) % (i + 1)
		out[i], out[j] = out[j], out[i]
	}
	for i := range len(out) {
		if b := next(); b&0x80 != 0 {
			at := i + int(b&0x7f)%(len(out)-i)
			out = append(out[:at+1], out[at:]...)
			out[at] = out[i]
		}
	}
	return out
}

// applyChecked applies updates to a new replica in order, checking the
// pending set's invariants after each (after every 64th of a long list: the
// check costs O(n)).
func applyChecked(updates [][]byte) (*crdt.Doc, error) {
	return applyCheckedWith(updates, crdt.Config{})
}

// applyCheckedWith is applyChecked with a replica of configuration cfg.
func applyCheckedWith(updates [][]byte, cfg crdt.Config) (*crdt.Doc, error) {
	d, err := crdt.NewDoc(1<<52, cfg)
	if err != nil {
		return nil, err
	}
	every := 1
	if len(updates) > 400 {
		every = 64
	}
	for i, u := range updates {
		if _, err := d.Apply(u); err != nil {
			return nil, fmt.Errorf("update %d: %w", i, err)
		}
		if i%every != 0 && i != len(updates)-1 {
			continue
		}
		if err := crdt.CheckPending(d); err != nil {
			return nil, fmt.Errorf("after update %d: %w", i, err)
		}
	}
	return d, crdt.CheckInvariants(d)
}

// FuzzPendingOrder runs random edits (the input drives a seeded run), then
// delivers the updates to a new replica in the order the input gives
// (duplicates included) and to another in order: their texts, state vectors
// and snapshots are identical, and the pending set's invariants hold after
// every update. A third replica gets the fuzzed order with a pending budget
// of twice the largest pending size that order reaches, so that it keeps
// its pending size as a slack bound or exactly rather than by the cheap
// upper bound alone (see TestPendingSlackBound), and ends the same.
func FuzzPendingOrder(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint16(60), []byte{0})
	f.Add(uint64(2), uint8(2), uint16(120), []byte{0xff, 0x01, 0x80, 0x33})
	f.Add(uint64(9), uint8(5), uint16(250), []byte("reverse-ish order with some duplicates"))
	f.Fuzz(func(t *testing.T, seed uint64, replicas uint8, steps uint16, drive []byte) {
		opts := crdttest.SimOptions{Replicas: 2 + int(replicas%4), Steps: 1 + int(steps%300), DeliverRate: 0.3}
		s := crdttest.NewSim(seed, opts)
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		x, err := applyChecked(s.Log)
		if err != nil {
			t.Fatalf("in order: %v", err)
		}
		order := arrival(s.Log, drive)
		y, err := applyChecked(order)
		if err != nil {
			t.Fatalf("in the fuzzed order: %v", err)
		}
		if err := crdttest.Compare(x, y); err != nil {
			t.Fatal(err)
		}
		peak, err := peakPending(order)
		if err != nil {
			t.Fatal(err)
		}
		z, err := applyCheckedWith(order, crdt.Config{MaxPendingBytes: max(2*peak, 1)})
		if err != nil {
			t.Fatalf("in the fuzzed order, with a budget of %d bytes: %v", 2*peak, err)
		}
		if err := crdttest.Compare(x, z); err != nil {
			t.Fatalf("with a budget of %d bytes: %v", 2*peak, err)
		}
	})
}

// peakPending returns the largest pending size that a new replica reaches
// when given updates in order.
func peakPending(updates [][]byte) (int, error) {
	d := fresh(1 << 52)
	peak := 0
	for i, u := range updates {
		if _, err := d.Apply(u); err != nil {
			return 0, fmt.Errorf("update %d: %w", i, err)
		}
		peak = max(peak, d.PendingBytes())
	}
	return peak, nil
}

// TestPendingArrivalOrders delivers the updates of seeded random runs, and of
// a generated two-writer session, in reverse, shuffled, and shuffled with
// duplicates, and compares the replicas with one that got them in order.
func TestPendingArrivalOrders(t *testing.T) {
	forSeeds(t, func(seed uint64) error {
		opts := crdttest.SimOptions{Replicas: 2 + int(seed%4), Steps: 200, DeliverRate: 0.3}
		s := crdttest.NewSim(seed, opts)
		if err := s.Run(); err != nil {
			return err
		}
		return checkOrders(s.Log, seed)
	})
	t.Run("two-writers", func(t *testing.T) {
		if err := checkOrders(twoWriterUpdates(7, 3000), 7); err != nil {
			t.Fatal(err)
		}
	})
}

// checkOrders applies log in order, reversed, shuffled, and shuffled with
// duplicates (seeded), and compares the replicas.
func checkOrders(log [][]byte, seed uint64) error {
	in, err := applyChecked(log)
	if err != nil {
		return fmt.Errorf("in order: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, 4))
	drive := make([]byte, 64)
	for i := range drive {
		drive[i] = byte(rng.UintN(256))
	}
	os := orders(log, seed)
	os["duplicated"] = arrival(log, drive)
	for _, name := range []string{"reverse", "shuffled", "duplicated"} {
		d, err := applyChecked(os[name])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := crdttest.Compare(in, d); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// TestPendingSlackBound delivers updates out of order to documents whose
// pending budget lies between the pending set's exact size and its cheap
// upper bound, so that they keep their pending size as a slack bound,
// measured now and then (and as the exact size when it comes near the
// budget): the bound stays above the size after every update (CheckPending),
// nothing is refused, and the replicas end as one that got the updates in
// order.
func TestPendingSlackBound(t *testing.T) {
	sets := []struct {
		name string
		log  [][]byte
	}{
		{"two-writers", twoWriterUpdates(5, 2000)},
	}
	for _, seed := range []uint64{1, 2, 3} {
		s := crdttest.NewSim(seed, crdttest.SimOptions{Replicas: 3 + int(seed%3), Steps: 300, DeliverRate: 0.3})
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		sets = append(sets, struct {
			name string
			log  [][]byte
		}{fmt.Sprintf("sim-%d", seed), s.Log})
	}
	for _, set := range sets {
		in, err := applyChecked(set.log)
		if err != nil {
			t.Fatalf("%s, in order: %v", set.name, err)
		}
		for name, us := range orders(set.log, 11) {
			if name == "inorder" {
				continue
			}
			peakBytes, err := peakPending(us)
			if err != nil {
				t.Fatal(err)
			}
			d, err := crdt.NewDoc(1<<52, crdt.Config{MaxPendingBytes: 2 * peakBytes})
			if err != nil {
				t.Fatal(err)
			}
			kept := map[string]int{}
			for i, u := range us {
				if _, err := d.Apply(u); err != nil {
					t.Fatalf("%s %s, update %d: %v", set.name, name, i, err)
				}
				kept[crdt.PendingSizeKept(d)]++
				if i%8 != 0 && i != len(us)-1 {
					continue // the check costs O(n)
				}
				if err := crdt.CheckPending(d); err != nil {
					t.Fatalf("%s %s, after update %d: %v", set.name, name, i, err)
				}
			}
			if kept["slack"] == 0 {
				t.Errorf("%s %s: the pending size was never kept as a slack bound (%v, peak %d bytes): the test does not exercise it", set.name, name, kept, peakBytes)
			}
			if err := crdttest.Compare(in, d); err != nil {
				t.Errorf("%s %s: %v", set.name, name, err)
			}
		}
	}
}

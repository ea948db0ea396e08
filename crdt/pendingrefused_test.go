package crdt_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// pendingState is what a document shows of its pending set.
type pendingState struct {
	memory, size int
	update       []byte
	snapshot     []byte
	version      uint64
}

func pendingStateOf(d *crdt.Doc) pendingState {
	return pendingState{memory: d.PendingMemory(), size: d.PendingBytes(), update: d.PendingUpdate(),
		snapshot: d.EncodeSnapshot(), version: d.Version()}
}

func (s pendingState) diff(o pendingState) error {
	switch {
	case s.memory != o.memory:
		return fmt.Errorf("PendingMemory %d; want %d", s.memory, o.memory)
	case s.size != o.size:
		return fmt.Errorf("PendingBytes %d; want %d", s.size, o.size)
	case !bytes.Equal(s.update, o.update):
		return fmt.Errorf("PendingUpdate differs: %d bytes; want %d", len(s.update), len(o.update))
	case !bytes.Equal(s.snapshot, o.snapshot):
		return fmt.Errorf("snapshot differs: %d bytes; want %d", len(s.snapshot), len(o.snapshot))
	case s.version != o.version:
		return fmt.Errorf("Version %d; want %d", s.version, o.version)
	}
	return nil
}

// TestRefusedUpdateLeavesPendingSet applies the updates of seeded runs in a
// shuffled order to a document whose pending budget (in encoded bytes, or in
// memory) refuses some of them, once they have changed its pending trees in
// the plan. After a refusal the pending set, its memory figure, its size and
// its encoding are exactly what they were; and a second document with the
// same budget that is given only the accepted updates stays identical to it
// after every update, so that nothing a refused plan left behind shows later.
func TestRefusedUpdateLeavesPendingSet(t *testing.T) {
	budgets := []struct {
		name string
		cfg  func(peakBytes, peakMemory int) crdt.Config
	}{
		{"bytes", func(b, _ int) crdt.Config { return crdt.Config{MaxPendingBytes: b / 2} }},
		{"memory", func(_, m int) crdt.Config { return crdt.Config{MaxPendingMemory: m / 2} }},
	}
	for _, bg := range budgets {
		t.Run(bg.name, func(t *testing.T) {
			forSeeds(t, func(seed uint64) error {
				s := crdttest.NewSim(seed, crdttest.SimOptions{Replicas: 2 + int(seed%3), Steps: 200, DeliverRate: 0.3})
				if err := s.Run(); err != nil {
					return err
				}
				us := append([][]byte(nil), s.Log...)
				rng := rand.New(rand.NewPCG(seed, 21))
				rng.Shuffle(len(us), func(i, j int) { us[i], us[j] = us[j], us[i] })

				peak := fresh(1 << 52)
				peakBytes, peakMemory := 0, 0
				for _, u := range us {
					if _, err := peak.Apply(u); err != nil {
						return err
					}
					peakBytes, peakMemory = max(peakBytes, peak.PendingBytes()), max(peakMemory, peak.PendingMemory())
				}
				cfg := bg.cfg(peakBytes, peakMemory)
				d, err := crdt.NewDoc(1<<52, cfg)
				if err != nil {
					return err
				}
				ref, err := crdt.NewDoc(1<<52, cfg)
				if err != nil {
					return err
				}
				refused := 0
				for i, u := range us {
					before := pendingStateOf(d)
					if _, err := d.Apply(u); err != nil {
						if !errors.Is(err, crdt.ErrPendingOverflow) {
							return fmt.Errorf("update %d: %w", i, err)
						}
						refused++
						if err := pendingStateOf(d).diff(before); err != nil {
							return fmt.Errorf("update %d, refused: %w", i, err)
						}
					} else if _, err := ref.Apply(u); err != nil {
						return fmt.Errorf("update %d, accepted, refused by the document given the accepted ones only: %w", i, err)
					}
					if err := pendingStateOf(d).diff(pendingStateOf(ref)); err != nil {
						return fmt.Errorf("after update %d, against the document given the accepted ones only: %w", i, err)
					}
					if err := crdt.CheckPending(d); err != nil {
						return fmt.Errorf("after update %d: %w", i, err)
					}
				}
				if refused == 0 {
					return fmt.Errorf("no update was refused (peak %d bytes, %d in memory): the test does not exercise refusals", peakBytes, peakMemory)
				}
				return crdt.CheckInvariants(d)
			})
		})
	}
}

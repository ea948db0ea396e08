package crdt_test

import (
	"testing"

	"github.com/tandemhq/tandem/crdttest"
)

// TestRichConvergence runs random sessions of text, embed, mark and
// attribute edits with shuffled, duplicated and lost deliveries: every Apply
// reports changes that turn the old spans into the new ones, and the
// replicas end with the same spans and the same snapshot bytes.
func TestRichConvergence(t *testing.T) {
	cases := []struct {
		name string
		opts crdttest.SimOptions
	}{
		{"fifo", crdttest.SimOptions{Rich: true, Replicas: 3, ReconnectRate: 0.02}},
		{"shuffled", crdttest.SimOptions{Rich: true, Replicas: 4, Shuffle: true, Duplicate: true, ReconnectRate: 0.03}},
		{"lossy", crdttest.SimOptions{Rich: true, Replicas: 3, Shuffle: true, DropRate: 0.2, ReconnectRate: 0.05, FlushRate: 0.02}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forSeeds(t, func(seed uint64) error {
				s, err := runSim(seed, c.opts)
				if err != nil {
					return err
				}
				// A snapshot loads into a replica equal to its source.
				d := fresh(99)
				if err := apply(d, s.Docs[0].EncodeSnapshot()); err != nil {
					return err
				}
				return crdttest.Compare(s.Docs[0], d)
			})
		})
	}
}

package crdt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPendingDelTree drives a pending delete-range tree through plans of
// random adds (merged with the ranges they overlap or touch), removals of
// the first range and of a random one, each plan kept or rolled back, and
// compares it after every plan with a sorted list of the ranges: the same
// ranges, a well-formed tree whose computed sums are right, its encoded
// share that of the ranges, and the bytes its nodes hold as the plans
// counted them.
func TestPendingDelTree(t *testing.T) {
	for _, tc := range []treeCase{
		{"few", 1, 300, 60, 0},
		{"splits", 2, 400, 5000, 0},
		{"deep", 3, 150, 200000, 0},
		{"merging", 4, 400, 800, 0},
		{"ascending", 5, 300, 0, 3},
		{"descending", 6, 300, 1 << 20, -3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x delTx
			treeDriver[*delNode, delRange]{
				log:  &x,
				held: func() int { return x.held },
				sums: func(root *delNode) { root.encoded() },
				// model: ascending, neither overlapping nor touching
				change: func(rng *rand.Rand, root *delNode, model []delRange, put func() uint64) (*delNode, []delRange, error) {
					switch k := rng.IntN(10); {
					case k < 7 || len(model) == 0:
						n := 1 + rng.Uint64N(3)
						r := delRange{clock: put(), n: n}
						root = x.add(root, r)
						model = addRange(model, r)
					case k < 8:
						f, ok := root.first()
						if !ok || f != (delRange{clock: model[0].clock, n: model[0].n}) {
							return root, model, fmt.Errorf("first = %+v, %v; want %+v", f, ok, model[0])
						}
						root = x.remove(root, f.clock)
						model = model[1:]
					default:
						i := rng.IntN(len(model))
						root = x.remove(root, model[i].clock)
						model = slices.Delete(model, i, i+1)
					}
					return root, model, nil
				},
				check: checkDels,
			}.run(t, tc)
		})
	}
}

// addRange returns model with the clocks of r added, merged with the ranges
// it overlaps or touches.
func addRange(model []delRange, r delRange) []delRange {
	s, e := r.clock, r.clock+r.n
	var out []delRange
	for _, m := range model {
		if m.clock+m.n < s || m.clock > e {
			out = append(out, m)
			continue
		}
		s, e = min(s, m.clock), max(e, m.clock+m.n)
	}
	out = append(out, delRange{clock: s, n: e - s})
	slices.SortFunc(out, func(a, b delRange) int { return cmpU(a.clock, b.clock) })
	return out
}

// checkDels checks that t holds the ranges of model, is well formed, encodes
// as they do, and that its nodes hold held bytes.
func checkDels(t *delNode, model []delRange, held int) error {
	got := t.appendTo(0, nil)
	if !slices.Equal(got, model) {
		return fmt.Errorf("tree holds %v; want %v", got, model)
	}
	nodes, err := checkDelTree(t)
	if err != nil {
		return err
	}
	if nodes != held {
		return fmt.Errorf("nodes hold %d bytes; the plans counted %d", nodes, held)
	}
	want := 0
	if len(model) > 0 {
		want = 1 + uvLen(uint64(len(model)))
		end := uint64(0)
		for _, r := range model {
			want += uvLen(r.clock-end) + uvLen(r.n)
			end = r.clock + r.n
		}
	}
	if e := t.encoded(); e != want {
		return fmt.Errorf("tree encodes in %d bytes; its ranges in %d", e, want)
	}
	return nil
}

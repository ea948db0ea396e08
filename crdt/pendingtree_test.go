package crdt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPendingOpTree drives a pending op tree through plans of random puts
// (overlapping ones refused), takes from the front and cuts, each plan kept
// or rolled back, and compares it after every plan with a sorted list of the
// ops: the same ops, a well-formed tree whose computed sums are right, and
// the bytes its nodes hold as the plans counted them.
func TestPendingOpTree(t *testing.T) {
	const client = 7
	for _, tc := range []struct {
		name  string
		seed  uint64
		plans int
		span  uint64 // clocks the ops are put among
		// step, when not 0, makes the puts come in order: each op's clock
		// is the last one's plus step (ascending) or minus it (descending,
		// from span down), as a writer's keystrokes arrive in order or
		// reversed, which fill nodes at one end.
		step int64
	}{
		{"few", 1, 300, 40, 0},
		{"splits", 2, 400, 2000, 0},
		{"deep", 3, 150, 60000, 0},
		{"mostly taken", 4, 600, 500, 0},
		{"ascending", 5, 300, 0, 3},
		{"descending", 6, 300, 1 << 20, -3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 0))
			var x opTx
			var root *opNode
			var model []uop // ascending, not overlapping
			held := 0
			next := tc.span
			for plan := range tc.plans {
				x.begin(uint64(plan + 1))
				was, wasRoot := slices.Clone(model), root
				if root != nil && rng.IntN(2) == 0 {
					root.share(client) // sums computed, to be kept right or dropped
				}
				ops := 1 + rng.IntN(200)
				if rng.IntN(2) == 0 {
					ops = 1 + rng.IntN(3) // a keystroke's plan, which leaves most nodes on its path unlogged
				}
				for range ops {
					switch k := rng.IntN(10); {
					case k < 8 || len(model) == 0:
						n := 1 + rng.Uint64N(3)
						clock := next
						if tc.step == 0 {
							clock = rng.Uint64N(tc.span)
						} else {
							next = uint64(int64(next) + tc.step)
						}
						op := uop{kind: opText, clock: clock, n: n, content: []rune("abcdefg")[:n]}
						var l *opLeaf
						root, l = x.insertFree(root, &op, 0, ^uint64(0))
						i, _ := slices.BinarySearchFunc(model, op.clock, func(o uop, c uint64) int { return cmpU(o.clock, c) })
						free := (i == 0 || model[i-1].end() <= op.clock) && (i == len(model) || op.end() <= model[i].clock)
						if (l != nil) != free {
							t.Fatalf("plan %d: put %d+%d = %v; want %v (free)", plan, op.clock, op.n, l != nil, free)
						}
						if free {
							model = slices.Insert(model, i, op)
						}
					case k < 9:
						root = x.withoutFirst(root)
						model = model[1:]
					default:
						i := rng.IntN(min(len(model), 40) + 1)
						cut := ^uint64(0)
						if i < len(model) {
							cut = model[i].clock
						}
						root = x.from(root, cut)
						model = model[i:]
					}
				}
				if root != nil && rng.IntN(2) == 0 {
					root.share(client) // as a plan's tally does, before it is kept or refused
				}
				if rng.IntN(3) == 0 {
					x.rollback()
					model, root = was, wasRoot
				} else {
					held += x.held
					x.commit()
				}
				if err := checkTree(client, root, model, held); err != nil {
					t.Fatalf("plan %d: %v", plan, err)
				}
			}
		})
	}
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkTree checks that t holds the ops of model, is well formed, and that
// its nodes hold held bytes.
func checkTree(client uint64, t *opNode, model []uop, held int) error {
	got := t.appendTo(nil)
	if len(got) != len(model) {
		return fmt.Errorf("tree of %d ops; want %d", len(got), len(model))
	}
	for i := range got {
		if got[i].clock != model[i].clock || got[i].n != model[i].n || string(got[i].content) != string(model[i].content) {
			return fmt.Errorf("op %d is %d+%d %q; want %d+%d %q", i, got[i].clock, got[i].n, string(got[i].content), model[i].clock, model[i].n, string(model[i].content))
		}
	}
	if err := checkOpTree(client, t); err != nil {
		return err
	}
	n := 0
	var sum func(t *opNode)
	sum = func(t *opNode) {
		n += t.held()
		for _, e := range t.ents {
			if !t.leaf {
				sum(e.kid)
			}
		}
	}
	if t != nil {
		sum(t)
	}
	if n != held {
		return fmt.Errorf("nodes hold %d bytes; the plans counted %d", n, held)
	}
	if t == nil {
		return nil
	}
	if s, want := *t.sums(client), t.nodeSum(client); s != want {
		return fmt.Errorf("root sums to %+v; its entries to %+v", s, want)
	}
	return nil
}

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
	for _, tc := range []treeCase{
		{"few", 1, 300, 40, 0},
		{"splits", 2, 400, 2000, 0},
		{"deep", 3, 150, 60000, 0},
		{"mostly taken", 4, 600, 500, 0},
		{"ascending", 5, 300, 0, 3},
		{"descending", 6, 300, 1 << 20, -3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x opTx
			treeDriver[*opNode, uop]{
				log:  &x,
				held: func() int { return x.held },
				sums: func(root *opNode) { root.share(client) },
				// model: ascending, not overlapping
				change: func(rng *rand.Rand, root *opNode, model []uop, put func() uint64) (*opNode, []uop, error) {
					switch k := rng.IntN(10); {
					case k < 8 || len(model) == 0:
						n := 1 + rng.Uint64N(3)
						op := uop{kind: opText, clock: put(), n: n, content: []rune("abcdefg")[:n]}
						var l *opLeaf
						root, l = x.insertFree(root, &op, 0, ^uint64(0))
						i, _ := slices.BinarySearchFunc(model, op.clock, func(o uop, c uint64) int { return cmpU(o.clock, c) })
						free := (i == 0 || model[i-1].end() <= op.clock) && (i == len(model) || op.end() <= model[i].clock)
						if (l != nil) != free {
							return root, model, fmt.Errorf("put %d+%d = %v; want %v (free)", op.clock, op.n, l != nil, free)
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
					return root, model, nil
				},
				check: func(root *opNode, model []uop, held int) error { return checkTree(client, root, model, held) },
			}.run(t, tc)
		})
	}
}

// treeCase is a randomised run of one of the pending set's B+ trees.
type treeCase struct {
	name  string
	seed  uint64
	plans int
	span  uint64 // clocks the puts go among
	// step, when not 0, makes the puts come in order: each clock the last
	// one's plus step (ascending) or minus it (descending, from span down),
	// as a writer's keystrokes arrive in order or reversed, which fill nodes
	// at one end.
	step int64
}

// planLog is what a tree's undo log (opTx, delTx) offers a plan.
type planLog interface {
	begin(gen uint64)
	rollback()
	commit()
}

// treeDriver drives a tree of nodes T through plans of random changes,
// beside a sorted list of its elements M (the model).
type treeDriver[T comparable, M any] struct {
	log  planLog
	held func() int // what the plan so far changed in the bytes held
	sums func(root T)
	// change makes one random change to the tree and the model; put gives
	// the clock of an element put.
	change func(rng *rand.Rand, root T, model []M, put func() uint64) (T, []M, error)
	check  func(root T, model []M, held int) error
}

// run runs tc: each plan makes a few changes (a keystroke's plan, which
// leaves most nodes on its path unlogged) or many, with the tree's sums
// computed at random before and after them (to be kept right or dropped, as
// a plan's tally computes them before it is kept or refused), and is rolled
// back one time in three; the tree is checked after every plan.
func (d treeDriver[T, M]) run(t *testing.T, tc treeCase) {
	t.Helper()
	rng := rand.New(rand.NewPCG(tc.seed, 0))
	var root, none T
	var model []M
	held := 0
	next := tc.span
	put := func() uint64 {
		if tc.step == 0 {
			return rng.Uint64N(tc.span)
		}
		c := next
		next = uint64(int64(next) + tc.step)
		return c
	}
	for plan := range tc.plans {
		d.log.begin(uint64(plan + 1))
		was, wasRoot := slices.Clone(model), root
		if root != none && rng.IntN(2) == 0 {
			d.sums(root)
		}
		n := 1 + rng.IntN(200)
		if rng.IntN(2) == 0 {
			n = 1 + rng.IntN(3)
		}
		for range n {
			var err error
			if root, model, err = d.change(rng, root, model, put); err != nil {
				t.Fatalf("plan %d: %v", plan, err)
			}
		}
		if root != none && rng.IntN(2) == 0 {
			d.sums(root)
		}
		if rng.IntN(3) == 0 {
			d.log.rollback()
			model, root = was, wasRoot
		} else {
			held += d.held()
			d.log.commit()
		}
		if err := d.check(root, model, held); err != nil {
			t.Fatalf("plan %d: %v", plan, err)
		}
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

package crdt_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// traceUpdates replays a concurrent trace on one replica per agent and
// returns the update of every transaction in trace order (a causal order),
// and the text they merge into.
func traceUpdates(tr *crdttest.Trace) ([][]byte, error) {
	n := tr.NumAgents
	docs := make([]*crdt.Doc, n)
	have := make([][]int, n) // have[a][x]: how many of agent x's transactions replica a holds
	for a := range docs {
		docs[a] = fresh(uint64(a + 1))
		have[a] = make([]int, n)
	}
	byAgent := make([][][]byte, n)
	versions := make([][]int, len(tr.Txns))
	out := make([][]byte, 0, len(tr.Txns))
	for i, txn := range tr.Txns {
		a := txn.Agent
		v := make([]int, n)
		for _, p := range txn.Parents {
			for x, k := range versions[p] {
				v[x] = max(v[x], k)
			}
		}
		for x := range v {
			for ; have[a][x] < v[x]; have[a][x]++ {
				if _, err := docs[a].Apply(byAgent[x][have[a][x]]); err != nil {
					return nil, fmt.Errorf("txn %d: %w", i, err)
				}
			}
		}
		txt := docs[a].Text("body")
		for _, p := range txn.Patches {
			if p.Del > 0 {
				if err := txt.Delete(p.Pos, p.Del); err != nil {
					return nil, fmt.Errorf("txn %d: %w", i, err)
				}
			}
			if p.Ins != "" {
				if err := txt.Insert(p.Pos, p.Ins); err != nil {
					return nil, fmt.Errorf("txn %d: %w", i, err)
				}
			}
		}
		u := docs[a].TakeUpdate()
		if u == nil {
			u = []byte{1, 0, 0, 0, 0}
		}
		byAgent[a] = append(byAgent[a], u)
		out = append(out, u)
		have[a][a]++
		v[a]++
		versions[i] = v
	}
	return out, nil
}

// twoWriterUpdates generates a concurrent editing session of two writers
// (seeded): events single-character inserts and deletes, each writer's own
// update per event, the writers exchanging what they wrote every few dozen
// events so that their edits interleave and depend on each other. It
// returns the updates in the order they were made (a causal order).
func twoWriterUpdates(seed uint64, events int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	w := [2]*crdt.Doc{fresh(1), fresh(2)}
	sent := [2]int{}  // how many of the other's updates each writer holds
	var mine [2][]int // per writer, the indices in out of its own updates
	out := make([][]byte, 0, events)
	for len(out) < events {
		i := rng.IntN(2)
		if rng.IntN(40) == 0 {
			// Catch up with the other writer.
			o := 1 - i
			for ; sent[i] < len(mine[o]); sent[i]++ {
				if _, err := w[i].Apply(out[mine[o][sent[i]]]); err != nil {
					panic(err)
				}
			}
		}
		txt := w[i].Text("body")
		n := txt.Len()
		if n > 0 && rng.IntN(4) == 0 {
			if err := txt.Delete(rng.IntN(n), 1); err != nil {
				panic(err)
			}
		} else {
			pos := n
			if rng.IntN(8) == 0 {
				pos = rng.IntN(n + 1)
			}
			if err := txt.Insert(pos, string(rune('a'+rng.IntN(26)))); err != nil {
				panic(err)
			}
		}
		mine[i] = append(mine[i], len(out))
		out = append(out, w[i].TakeUpdate())
	}
	return out
}

// orders returns the arrival orders the merge benchmarks and tests use:
// in order, reversed, and shuffled (seeded).
func orders(updates [][]byte, seed uint64) map[string][][]byte {
	rev := make([][]byte, len(updates))
	for i, u := range updates {
		rev[len(updates)-1-i] = u
	}
	shuf := append([][]byte(nil), updates...)
	rand.New(rand.NewPCG(seed, 3)).Shuffle(len(shuf), func(i, j int) { shuf[i], shuf[j] = shuf[j], shuf[i] })
	return map[string][][]byte{"inorder": updates, "reverse": rev, "shuffled": shuf}
}

// mergeAll applies updates to a new replica, in the order given.
func mergeAll(tb testing.TB, updates [][]byte) *crdt.Doc {
	d := fresh(1 << 40)
	for i, u := range updates {
		if err := d.Integrate(u); err != nil {
			tb.Fatalf("update %d: %v", i, err)
		}
	}
	return d
}

// mergeOrderSets returns the update sets of the merge-order benchmarks, made
// when asked for: the concurrent traces when present, and the generated
// two-writer session.
func mergeOrderSets(b *testing.B) (names []string, sets []func() [][]byte) {
	for _, f := range crdttest.TraceFiles("concurrent_traces") {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json.gz"))
		sets = append(sets, func() [][]byte {
			tr, err := crdttest.LoadTrace(f)
			if err != nil {
				b.Fatal(err)
			}
			us, err := traceUpdates(tr)
			if err != nil {
				b.Fatal(err)
			}
			return us
		})
	}
	names = append(names, "two-writers-500k")
	sets = append(sets, func() [][]byte { return twoWriterUpdates(1, 500_000) })
	return names, sets
}

// BenchmarkMergeOrder applies the per-transaction updates of concurrent
// sessions to a new replica in order, reversed and shuffled: out of order,
// units wait in the pending set until what they depend on arrives. Besides
// wall time it reports the process's CPU time per merge (cpu-ns/op, garbage
// collection included), which a loaded machine disturbs less.
func BenchmarkMergeOrder(b *testing.B) {
	names, sets := mergeOrderSets(b)
	for k, name := range names {
		b.Run(name, func(b *testing.B) {
			us := sets[k]()
			os := orders(us, 1)
			want := mergeAll(b, us).EncodeSnapshot()
			for _, o := range []string{"inorder", "reverse", "shuffled"} {
				b.Run(o, func(b *testing.B) {
					b.ReportMetric(float64(len(os[o])), "updates")
					var d *crdt.Doc
					cpu := cpuTime()
					for b.Loop() {
						d = mergeAll(b, os[o])
					}
					b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
					if got := d.EncodeSnapshot(); string(got) != string(want) {
						b.Fatalf("%s: the merged snapshot differs from the one merged in order", o)
					}
				})
			}
		})
	}
}

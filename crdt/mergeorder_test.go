package crdt_test

import (
	"encoding/binary"
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
// in order, reversed, and shuffled (seeded). Each order's updates are
// copies laid out one after the other in the order they arrive, as a
// receiver's buffers are: the updates as made lie in memory in order, so
// that applying the same slices reversed or shuffled would read them out of
// their order in memory, a cache miss per update that the in-order merge
// does not pay and a receiver would not either.
func orders(updates [][]byte, seed uint64) map[string][][]byte {
	rev := make([][]byte, len(updates))
	for i, u := range updates {
		rev[len(updates)-1-i] = u
	}
	shuf := append([][]byte(nil), updates...)
	rand.New(rand.NewPCG(seed, 3)).Shuffle(len(shuf), func(i, j int) { shuf[i], shuf[j] = shuf[j], shuf[i] })
	return map[string][][]byte{"inorder": laidOut(updates), "reverse": laidOut(rev), "shuffled": laidOut(shuf)}
}

// laidOut returns copies of us in one buffer, in their order.
func laidOut(us [][]byte) [][]byte {
	n := 0
	for _, u := range us {
		n += len(u)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(us))
	for i, u := range us {
		buf = append(buf, u...)
		out[i] = buf[len(buf)-len(u) : len(buf) : len(buf)]
	}
	return out
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
					var d *crdt.Doc
					cpu := cpuTime()
					for b.Loop() {
						d = mergeAll(b, os[o])
					}
					b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
					b.ReportMetric(float64(len(os[o])), "updates")
					if got := d.EncodeSnapshot(); string(got) != string(want) {
						b.Fatalf("%s: the merged snapshot differs from the one merged in order", o)
					}
				})
			}
		})
	}
}

// keystrokes returns n one-character updates typed by a writer, in order.
func keystrokes(tb testing.TB, client uint64, n int) [][]byte {
	w := fresh(client)
	out := make([][]byte, n)
	for i := range out {
		if err := w.Text("body").Insert(i, "k"); err != nil {
			tb.Fatal(err)
		}
		out[i] = w.TakeUpdate()
	}
	return out
}

// benchApplyBeside measures the keystrokes of a writer applied to d, whose
// pending set holds what the caller put there, which they do not touch.
func benchApplyBeside(b *testing.B, d *crdt.Doc) {
	client := uint64(3)
	ks := keystrokes(b, client, 4096)
	i := 0
	for b.Loop() {
		if i == len(ks) {
			b.StopTimer()
			// Another writer, typing at the start of the text.
			client++
			ks = keystrokes(b, client, 4096)
			b.StartTimer()
			i = 0
		}
		if err := d.Integrate(ks[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(d.PendingMemory()), "pending-held-bytes")
	b.ReportMetric(float64(d.PendingBytes()), "pending-encoded-bytes")
}

// BenchmarkApplyBesidePendingDeletes applies keystrokes to a document that
// holds 1,000,000 pending delete ranges of a client it lacks.
func BenchmarkApplyBesidePendingDeletes(b *testing.B) {
	const ranges = 1_000_000
	src := fresh(7)
	txt := src.Text("body")
	if err := txt.Insert(0, strings.Repeat("d", 2*ranges)); err != nil {
		b.Fatal(err)
	}
	for i := range ranges {
		if err := txt.Delete(i, 1); err != nil {
			b.Fatal(err)
		}
	}
	dels := src.EncodeUpdate(crdt.StateVector{7: 2 * ranges}) // the delete set only
	d := bigPendingDoc(b)
	if err := d.Integrate(dels); err != nil {
		b.Fatal(err)
	}
	benchApplyBeside(b, d)
}

// BenchmarkApplyBesidePendingClients applies keystrokes to a document that
// holds 120,000 pending units, each of a client ID of its own, all waiting
// for a unit that never comes.
func BenchmarkApplyBesidePendingClients(b *testing.B) {
	d := bigPendingDoc(b)
	if err := d.Integrate(floodUpdate(9, 1<<40, 120_000)); err != nil {
		b.Fatal(err)
	}
	benchApplyBeside(b, d)
}

// floodUpdate returns an update of n one-character text units, each of a
// client ID of its own (from first on) and inserted after the unit (missing,
// 0), which it does not hold (docs/crdt.md, section 2.3).
func floodUpdate(missing, first uint64, n int) []byte {
	u := []byte{0x01}
	u = binary.AppendUvarint(u, uint64(n+1))
	u = binary.AppendUvarint(u, missing) // client index 0 (missing < first)
	for i := range n {
		u = binary.AppendUvarint(u, first+uint64(i))
	}
	u = append(u, 1, 1, 4) // one root: text "body"
	u = append(u, "body"...)
	u = binary.AppendUvarint(u, uint64(n))
	for i := range n {
		u = binary.AppendUvarint(u, uint64(i+1)) // client index
		u = append(u, 0, 1)                      // start clock 0, one op
		u = append(u, 1<<3, 0, 0, 0)             // text run with a left origin, root 0, origin (client 0, clock 0)
		u = append(u, 1, 1, 'y')                 // one code point, one byte
	}
	return append(u, 0) // no delete set
}

// bigPendingDoc returns a new replica whose pending buffer may hold 1 GiB.
func bigPendingDoc(tb testing.TB) *crdt.Doc {
	d, err := crdt.NewDoc(1, crdt.Config{MaxPendingBytes: 1 << 30})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

package crdt_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// TestSequentialTraces replays every sequential trace as local edits and
// checks the text against endContent, then checks that the document's update
// and snapshot rebuild it.
func TestSequentialTraces(t *testing.T) {
	for _, f := range testTraceFiles(t, "sequential_traces") {
		tr, err := crdttest.LoadTrace(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(tr.Name, func(t *testing.T) {
			d := replay(t, tr)
			if got := d.Text("body").String(); got != tr.EndContent {
				t.Fatalf("replay: text of %d bytes differs from endContent (%d bytes)", len(got), len(tr.EndContent))
			}
			if err := crdt.CheckInvariants(d); err != nil {
				t.Fatal(err)
			}
			for _, b := range [][]byte{d.EncodeUpdate(nil), d.EncodeSnapshot()} {
				e := fresh(2)
				if _, err := e.Apply(b); err != nil {
					t.Fatal(err)
				}
				if err := crdt.CheckInvariants(e); err != nil {
					t.Fatal(err)
				}
				if got := e.Text("body").String(); got != tr.EndContent {
					t.Fatalf("rebuilt from format 0x%02x: text differs from endContent", b[0])
				}
			}
		})
	}
}

// TestConcurrentTraces replays the concurrent traces under every assignment
// of client IDs to the trace's agents (both orders for two agents, all six
// for three): each agent is a replica; before each transaction its replica
// merges exactly the transactions that the trace names as ancestors (an
// agent's transactions are sequential, so a version is a count of
// transactions per agent), then it makes the transaction's edits locally.
// Every replica, and a new one that receives every update, must end with
// endContent whatever the IDs: the traces hold no concurrent insertions at
// one place, so no client ID may decide anything (docs/crdt.md 1.3).
func TestConcurrentTraces(t *testing.T) {
	for _, f := range testTraceFiles(t, "concurrent_traces") {
		tr, err := crdttest.LoadTrace(f)
		if err != nil {
			t.Fatal(err)
		}
		permutations(tr.NumAgents, func(p []int) {
			ids := make([]uint64, len(p))
			for a, k := range p {
				ids[a] = uint64(k + 1)
			}
			t.Run(fmt.Sprintf("%s/ids=%v", tr.Name, ids), func(t *testing.T) {
				if err := replayConcurrent(tr, ids); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// replayConcurrent replays a concurrent trace with agent a editing under
// client ID ids[a] (see TestConcurrentTraces).
func replayConcurrent(tr *crdttest.Trace, ids []uint64) error {
	n := tr.NumAgents
	docs := make([]*crdt.Doc, n)
	have := make([][]int, n) // have[a][x]: how many of agent x's transactions replica a holds
	for a := range docs {
		docs[a] = fresh(ids[a])
		have[a] = make([]int, n)
	}
	updates := make([][][]byte, n)          // per agent, the update of each of its transactions
	versions := make([][]int, len(tr.Txns)) // per transaction, its version
	for i, txn := range tr.Txns {
		a := txn.Agent
		v := make([]int, n)
		for _, p := range txn.Parents {
			if p < 0 || p >= i {
				return fmt.Errorf("txn %d: parent %d is not an earlier transaction", i, p)
			}
			for x, k := range versions[p] {
				v[x] = max(v[x], k)
			}
		}
		if have[a][a] != v[a] {
			return fmt.Errorf("txn %d: agent %d's own previous transaction is not an ancestor", i, a)
		}
		for x := range v {
			if have[a][x] > v[x] {
				return fmt.Errorf("txn %d: agent %d holds transactions of %d beyond the parents", i, a, x)
			}
			for ; have[a][x] < v[x]; have[a][x]++ {
				u := updates[x][have[a][x]]
				var err error
				if i%64 == 0 { // the check of changes costs O(text): sample it
					err = crdttest.CheckApply(docs[a], u)
				} else {
					_, err = docs[a].Apply(u)
				}
				if err != nil {
					return fmt.Errorf("txn %d: %w", i, err)
				}
			}
		}
		txt := docs[a].Text("body")
		for _, p := range txn.Patches {
			if p.Del > 0 {
				if err := txt.Delete(p.Pos, p.Del); err != nil {
					return fmt.Errorf("txn %d: %w", i, err)
				}
			}
			if p.Ins != "" {
				if err := txt.Insert(p.Pos, p.Ins); err != nil {
					return fmt.Errorf("txn %d: %w", i, err)
				}
			}
		}
		u := docs[a].TakeUpdate()
		if u == nil {
			u = []byte{1, 0, 0, 0, 0}
		}
		updates[a] = append(updates[a], u)
		have[a][a]++
		v[a]++
		versions[i] = v
	}
	// A last replica receives every transaction in trace order (a causal
	// order), as a server would; then every agent's replica receives what it
	// lacks.
	final := fresh(uint64(n + 1)) // the IDs are 1 to n
	next := make([]int, n)
	for _, txn := range tr.Txns {
		a := txn.Agent
		if _, err := final.Apply(updates[a][next[a]]); err != nil {
			return err
		}
		next[a]++
	}
	if got := final.Text("body").String(); got != tr.EndContent {
		return fmt.Errorf("merged text (%d bytes) differs from endContent (%d bytes)", len(got), len(tr.EndContent))
	}
	if p := final.PendingBytes(); p != 0 {
		return fmt.Errorf("%d bytes pending", p)
	}
	for a, d := range docs {
		if _, err := d.Apply(final.EncodeUpdate(d.StateVector())); err != nil {
			return fmt.Errorf("agent %d: %w", a, err)
		}
		if got := d.Text("body").String(); got != tr.EndContent {
			return fmt.Errorf("agent %d's text (%d bytes) differs from endContent (%d bytes)", a, len(got), len(tr.EndContent))
		}
	}
	return nil
}

// testTraceFiles returns the trace files of dir (crdttest.TraceFiles) for a test to replay: the
// smallest alone in -short mode. It skips the test when the traces are not found.
func testTraceFiles(t *testing.T, dir string) []string {
	t.Helper()
	files := crdttest.TraceFiles(dir)
	if len(files) == 0 {
		t.Skip("editing traces not found: set TANDEM_TRACES or put them in ../shared/traces")
	}
	if !testing.Short() {
		return files
	}
	best, size := files[0], int64(-1)
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && (size < 0 || st.Size() < size) {
			best, size = f, st.Size()
		}
	}
	return []string{best}
}

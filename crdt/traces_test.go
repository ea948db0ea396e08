package crdt_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// TestSequentialTraces replays every sequential trace as local edits and
// checks the text against endContent, then checks that the document's update
// and snapshot rebuild it.
func TestSequentialTraces(t *testing.T) {
	files := crdttest.TraceFiles("sequential_traces")
	if len(files) == 0 {
		t.Skip("editing traces not found: set TANDEM_TRACES or put them in ../shared/traces")
	}
	if testing.Short() {
		files = smallest(files)
	}
	for _, f := range files {
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

// TestConcurrentTraces replays the concurrent traces: each agent is a
// replica; before each transaction its replica receives exactly the
// transactions of the other agents that the trace names as ancestors
// (agents' transactions are sequential, so a version is a count of
// transactions per agent), then it makes the transaction's edits locally.
// Finally a new replica receives every update and must hold endContent.
func TestConcurrentTraces(t *testing.T) {
	files := crdttest.TraceFiles("concurrent_traces")
	if len(files) == 0 {
		t.Skip("editing traces not found: set TANDEM_TRACES or put them in ../shared/traces")
	}
	if testing.Short() {
		files = smallest(files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			tr, err := crdttest.LoadTrace(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := replayConcurrent(tr); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func replayConcurrent(tr *crdttest.Trace) error {
	n := tr.NumAgents
	docs := make([]*crdt.Doc, n)
	have := make([][]int, n) // have[a][x]: how many of agent x's transactions replica a holds
	for a := range docs {
		docs[a] = fresh(uint64(a + 1))
		have[a] = make([]int, n)
	}
	updates := make([][][]byte, n)          // per agent, the update of each of its transactions
	versions := make([][]int, len(tr.Txns)) // per transaction, its version
	for i, txn := range tr.Txns {
		a := txn.Agent
		v := make([]int, n)
		for _, p := range txn.Parents {
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
	// order), as a server would.
	final := fresh(uint64(n + 1))
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
	return nil
}

// smallest returns the smallest of files, for -short runs.
func smallest(files []string) []string {
	best, size := files[0], int64(-1)
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && (size < 0 || st.Size() < size) {
			best, size = f, st.Size()
		}
	}
	return []string{best}
}

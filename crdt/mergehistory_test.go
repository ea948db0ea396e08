package crdt_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestMergeHistoryTakesBlocksInOrder applies the full update of a typing
// session (one block of thousands of ops: the cursor jumps often) to an empty
// document, to one that already holds a prefix of it and to one whose pending
// set holds a later part of it: the result is the session's state byte for byte, and the
// whole history is taken from the update in order (no pending tree node or op
// copy per op): it allocates less than once per edit (through the pending
// tree, about ten times per edit).
func TestMergeHistoryTakesBlocksInOrder(t *testing.T) {
	session := func(client uint64, n int) [][]byte {
		rng := rand.New(rand.NewPCG(client, uint64(n)))
		d := fresh(client)
		txt := d.Text("body")
		var us [][]byte
		for range n {
			switch l := txt.Len(); {
			case l > 0 && rng.IntN(4) == 0:
				pos := rng.IntN(l)
				if err := txt.Delete(pos, min(1+rng.IntN(3), l-pos)); err != nil {
					t.Fatal(err)
				}
			default:
				if err := txt.Insert(rng.IntN(l+1), string(rune('a'+rng.IntN(26)))); err != nil {
					t.Fatal(err)
				}
			}
			us = append(us, d.TakeUpdate())
		}
		return append(us, d.EncodeUpdate(nil))
	}
	small, big := session(1, 300), session(1, 3000)
	full := big[len(big)-1]
	ref := fresh(9)
	for _, u := range big[:len(big)-1] {
		if _, err := ref.Apply(u); err != nil {
			t.Fatal(err)
		}
	}
	want := ref.EncodeSnapshot()
	tests := []struct {
		name   string
		before [][]byte // applied first
	}{
		{name: "empty"},
		{name: "prefix", before: big[:1000]},
		{name: "overlapping pending", before: big[2000:2100]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := fresh(9)
			for _, u := range tc.before {
				if _, err := d.Apply(u); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := d.Apply(full); err != nil {
				t.Fatal(err)
			}
			if got := d.EncodeSnapshot(); !bytes.Equal(got, want) {
				t.Errorf("snapshot after the merge differs from the session's (%d and %d bytes)", len(got), len(want))
			}
		})
	}
	allocs := func(full []byte) float64 {
		return testing.AllocsPerRun(5, func() {
			d := fresh(9)
			if _, err := d.Apply(full); err != nil {
				t.Fatal(err)
			}
		})
	}
	a, b := allocs(small[len(small)-1]), allocs(full)
	t.Logf("allocations merging 300 edits: %.0f, 3000 edits: %.0f", a, b)
	if b >= 3000 {
		t.Errorf("merging 3000 edits allocates %.0f times: the history goes op by op through the pending tree", b)
	}
}

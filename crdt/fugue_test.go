package crdt_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
)

// permutations calls f with every permutation of 0..n-1.
func permutations(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var rec func(k int)
	rec = func(k int) {
		if k == n {
			f(p)
			return
		}
		for i := k; i < n; i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

// TestFugueNoInterleave (T-CRDT-08): 2 to 5 clients each type a run of 4 to
// 16 characters at the same place concurrently, forward, backward or both,
// with or without deleted items at that place (local insertions go before
// them); in every delivery order, each run stays contiguous and every replica
// ends with the same text.
func TestFugueNoInterleave(t *testing.T) {
	for clients := 2; clients <= 5; clients++ {
		for _, mode := range []string{"forward", "backward", "mixed", "forward-tombstones", "mixed-tombstones"} {
			t.Run(fmt.Sprintf("%d-%s", clients, mode), func(t *testing.T) {
				// With tombstones, "xyz" is deleted between the brackets, and
				// odd clients type before they learn it.
				base := fresh(1000)
				tombstones := strings.HasSuffix(mode, "-tombstones")
				mode = strings.TrimSuffix(mode, "-tombstones")
				var start, deletion []byte
				if tombstones {
					base.Text("t").Insert(0, "<xyz>")
					start = base.TakeUpdate()
					base.Text("t").Delete(1, 3)
					deletion = base.TakeUpdate()
				} else {
					base.Text("t").Insert(0, "<>")
					start = base.TakeUpdate()
				}
				var updates [][]byte
				var runs []string
				for c := 0; c < clients; c++ {
					d := fresh(uint64(7*c + 3)) // IDs not in typing order
					if _, err := d.Apply(start); err != nil {
						t.Fatal(err)
					}
					if tombstones && c%2 == 0 {
						if _, err := d.Apply(deletion); err != nil {
							t.Fatal(err)
						}
					}
					n := 4 + 3*c // 4 to 16 characters
					typed := ""
					for k := 0; k < n; k++ {
						ch := string(rune('a' + c))
						if k%3 == 0 {
							ch = strings.ToUpper(ch)
						}
						backward := mode == "backward" || (mode == "mixed" && c%2 == 1)
						if backward {
							d.Text("t").Insert(1, ch)
							typed = ch + typed
						} else {
							d.Text("t").Insert(1+k, ch)
							typed += ch
						}
					}
					runs = append(runs, typed)
					updates = append(updates, d.TakeUpdate())
				}
				var want string
				permutations(clients, func(p []int) {
					d := fresh(999)
					if _, err := d.Apply(start); err != nil {
						t.Fatal(err)
					}
					if tombstones {
						if _, err := d.Apply(deletion); err != nil {
							t.Fatal(err)
						}
					}
					for _, i := range p {
						if _, err := d.Apply(updates[i]); err != nil {
							t.Fatal(err)
						}
					}
					got := d.Text("t").String()
					if want == "" {
						want = got
					}
					if got != want {
						t.Fatalf("order %v: %q; another order gave %q", p, got, want)
					}
					for _, r := range runs {
						if !strings.Contains(got, r) {
							t.Fatalf("order %v: run %q interleaved in %q", p, r, got)
						}
					}
				})
			})
		}
	}
}

// TestSiblingOrder checks the tie-break directly: concurrent runs with the
// same origins are ordered by client ID, smaller first.
func TestSiblingOrder(t *testing.T) {
	tests := []struct {
		clients []uint64
		want    string
	}{
		{[]uint64{2, 1}, "BA"},
		{[]uint64{1, 2}, "AB"},
		{[]uint64{crdt.MaxClientID, 1 << 52, 5}, "CBA"},
	}
	for _, tt := range tests {
		var us [][]byte
		for i, c := range tt.clients {
			d := fresh(c)
			d.Text("t").Insert(0, string(rune('A'+i)))
			us = append(us, d.TakeUpdate())
		}
		d := fresh(crdt.MaxClientID - 1)
		for _, u := range us {
			d.Apply(u)
		}
		if got := d.Text("t").String(); got != tt.want {
			t.Errorf("clients %v: got %q, want %q", tt.clients, got, tt.want)
		}
	}
}

package jetstream

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tandemhq/tandem/storage/backend"
)

// step is one call on a Follower and what it must answer. The log in these tables is the subject
// sequence 3, 5, 8, 9, 12, 15 (other documents' entries fill the stream in between).
type step struct {
	deliver  *Delivery       // Deliver(*deliver)
	repaired []backend.Entry // else Repaired(repaired), unless tick
	tick     bool            // else Tick()
	apply    []uint64        // the sequences handed out to apply
	repair   *[2]uint64      // the read asked for, if any
	last     uint64          // the cursor afterwards
}

func d(seq, prev uint64) *Delivery {
	return &Delivery{Seq: seq, Prev: prev, Data: []byte(fmt.Sprint(seq))}
}

func es(seqs ...uint64) []backend.Entry {
	var out []backend.Entry
	for _, s := range seqs {
		out = append(out, backend.Entry{Seq: s, Data: []byte(fmt.Sprint(s))})
	}
	return out
}

func r(from, to uint64) *[2]uint64 { return &[2]uint64{from, to} }

func TestFollower(t *testing.T) {
	tests := []struct {
		name  string
		start uint64
		max   int
		steps []step
	}{
		{"in order", 0, 0, []step{
			{deliver: d(3, 0), apply: []uint64{3}, last: 3},
			{deliver: d(5, 3), apply: []uint64{5}, last: 5},
			{deliver: d(8, 5), apply: []uint64{8}, last: 8},
		}},
		{"duplicates are dropped", 0, 0, []step{
			{deliver: d(3, 0), apply: []uint64{3}, last: 3},
			{deliver: d(3, 0), last: 3},
			{deliver: d(5, 3), apply: []uint64{5}, last: 5},
			{deliver: d(3, 0), last: 5},
		}},
		{"a start from a snapshot position", 8, 0, []step{
			{deliver: d(5, 3), last: 8},
			{deliver: d(9, 8), apply: []uint64{9}, last: 9},
		}},
		{"a predecessor below the cursor is no gap", 10, 0, []step{
			// The cursor came from a compaction at 10, which is not an entry of this log.
			{deliver: d(12, 9), apply: []uint64{12}, last: 12},
		}},
		{"a gap is held and read", 3, 0, []step{
			{deliver: d(8, 5), repair: r(4, 8), last: 3},
			{repaired: es(5), apply: []uint64{5, 8}, last: 8},
		}},
		{"a read that reaches past the held delivery", 3, 0, []step{
			{deliver: d(8, 5), repair: r(4, 8), last: 3},
			{repaired: es(5, 8, 9), apply: []uint64{5, 8, 9}, last: 9},
			{deliver: d(9, 8), last: 9},
			{deliver: d(12, 9), apply: []uint64{12}, last: 12},
		}},
		{"a short read never moves the cursor past what it applied", 3, 0, []step{
			{deliver: d(12, 9), repair: r(4, 12), last: 3},
			// A lagging server knew only 5: apply it, keep 12 held, ask again from 6.
			{repaired: es(5), apply: []uint64{5}, repair: r(6, 12), last: 5},
			// Nothing new arrived: the held 12 must not be applied (its predecessor 9 is missing).
			{repaired: nil, repair: r(6, 12), last: 5},
			{tick: true, repair: r(6, 12), last: 5},
			{deliver: d(15, 12), repair: r(6, 15), last: 5},
			{repaired: es(8, 9), apply: []uint64{8, 9, 12, 15}, last: 15},
			{tick: true, last: 15},
		}},
		{"deliveries out of order", 0, 0, []step{
			{deliver: d(5, 3), repair: r(1, 5), last: 0},
			{deliver: d(8, 5), repair: r(1, 8), last: 0},
			{deliver: d(3, 0), apply: []uint64{3, 5, 8}, last: 8},
		}},
		{"several gaps", 0, 0, []step{
			{deliver: d(3, 0), apply: []uint64{3}, last: 3},
			{deliver: d(8, 5), repair: r(4, 8), last: 3},
			{deliver: d(15, 12), repair: r(4, 15), last: 3},
			{repaired: es(5), apply: []uint64{5, 8}, repair: r(9, 15), last: 8},
			{deliver: d(9, 8), apply: []uint64{9}, repair: r(10, 15), last: 9},
			{deliver: d(12, 9), apply: []uint64{12, 15}, last: 15},
		}},
		{"held deliveries are bounded", 0, 2, []step{
			{deliver: d(5, 3), repair: r(1, 5), last: 0},
			{deliver: d(8, 5), repair: r(1, 8), last: 0},
			{deliver: d(9, 8), repair: r(1, 9), last: 0}, // dropped: the newest beyond the bound, read with the gap
			{repaired: es(3), apply: []uint64{3, 5, 8}, repair: r(9, 9), last: 8},
			{deliver: d(12, 9), repair: r(9, 12), last: 8},
			{repaired: es(9, 12), apply: []uint64{9, 12}, last: 12},
		}},
		{"a repaired read with entries already applied", 5, 0, []step{
			{repaired: es(3, 5, 8), apply: []uint64{8}, last: 8},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFollower(tc.start, tc.max, nil)
			for i, st := range tc.steps {
				var got Steps
				var call string
				switch {
				case st.deliver != nil:
					got, call = f.Deliver(*st.deliver), fmt.Sprintf("Deliver(%d, prev %d)", st.deliver.Seq, st.deliver.Prev)
				case st.tick:
					got, call = f.Tick(), "Tick()"
				default:
					got, call = f.Repaired(st.repaired), fmt.Sprintf("Repaired(%v)", seqs(st.repaired))
				}
				if g := seqs(got.Apply); !slices.Equal(g, st.apply) {
					t.Errorf("step %d: %s applies %v; want %v", i, call, g, st.apply)
				}
				for _, e := range got.Apply {
					if string(e.Data) != fmt.Sprint(e.Seq) {
						t.Errorf("step %d: %s applies entry %d with data %q", i, call, e.Seq, e.Data)
					}
				}
				var gotRepair *[2]uint64
				if got.Repair {
					gotRepair = r(got.RepairFrom, got.RepairTo)
				}
				if (gotRepair == nil) != (st.repair == nil) || (gotRepair != nil && *gotRepair != *st.repair) {
					t.Errorf("step %d: %s asks for read %v; want %v", i, call, deref(gotRepair), deref(st.repair))
				}
				if f.Last() != st.last {
					t.Errorf("step %d: %s leaves the cursor at %d; want %d", i, call, f.Last(), st.last)
				}
			}
		})
	}
}

// TestFollowerHeldBudget: followers sharing a budget hold deliveries only while it has room;
// what they drop is read with the gap, and the bytes come back as held deliveries are applied,
// passed by a read, reset or closed.
func TestFollowerHeldBudget(t *testing.T) {
	b := NewHeldBudget(3)
	f, g := NewFollower(0, 0, b), NewFollower(0, 0, b)
	d := func(seq, prev uint64) Delivery { return Delivery{Seq: seq, Prev: prev, Data: []byte(fmt.Sprint(seq))} }
	used := func(want int64, when string) {
		t.Helper()
		if got := b.Used(); got != want {
			t.Fatalf("%s: %d bytes held; want %d", when, got, want)
		}
	}
	f.Deliver(d(5, 3))
	f.Deliver(d(12, 9))
	used(3, "f holds 5 and 12")
	if s := g.Deliver(d(8, 5)); !s.Repair || s.RepairFrom != 1 || s.RepairTo != 8 {
		t.Fatalf("g drops 8 for want of room: asks for %+v; want a read of [1, 8]", s)
	}
	used(3, "g held nothing")
	if g.Held() != 0 {
		t.Fatalf("g holds %d deliveries; want 0", g.Held())
	}
	if s := g.Repaired(es(3, 5, 8)); g.Last() != 8 || s.Repair || !slices.Equal(seqs(s.Apply), []uint64{3, 5, 8}) {
		t.Fatalf("g's read applies %v (repair %v), cursor %d; want 3, 5, 8 and done", seqs(s.Apply), s.Repair, g.Last())
	}
	if s := f.Repaired(es(3)); !slices.Equal(seqs(s.Apply), []uint64{3, 5}) || !s.Repair || s.RepairFrom != 6 || s.RepairTo != 12 {
		t.Fatalf("f's short read: applies %v, asks for %+v; want 3, 5 and a read of [6, 12]", seqs(s.Apply), s)
	}
	used(2, "5 applied")
	if s := g.Deliver(d(9, 8)); !slices.Equal(seqs(s.Apply), []uint64{9}) {
		t.Fatalf("g applies %v; want 9", seqs(s.Apply))
	}
	g.Deliver(d(20, 15))
	used(2, "g drops 20: no room")
	f.Close()
	used(0, "f closed")
	g.Deliver(d(20, 15))
	used(2, "g holds 20")
	g.Reset(30)
	used(0, "g reset")
}

func seqs(es []backend.Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func deref(p *[2]uint64) any {
	if p == nil {
		return "none"
	}
	return *p
}

// TestFollowerNeverSkips drives a follower with every delivery order of a small log, each
// delivery possibly lost, and reads that may fall short: whatever happens, the entries it hands
// out are exactly the log's, in order, without a gap, and it ends up with all of them once the
// reads succeed.
func TestFollowerNeverSkips(t *testing.T) {
	log := es(3, 5, 8, 9, 12)
	prev := map[uint64]uint64{3: 0, 5: 3, 8: 5, 9: 8, 12: 9}
	perms := permutations([]int{0, 1, 2, 3, 4})
	for _, p := range perms {
		for lost := range 1 << len(log) {
			for _, shortBy := range []int{0, 1, 2} {
				f := NewFollower(0, 0, nil)
				var applied []uint64
				check := func(s Steps) Steps {
					applied = append(applied, seqs(s.Apply)...)
					return s
				}
				readLog := func(from, to uint64, short int) []backend.Entry {
					var out []backend.Entry
					for _, e := range log {
						if e.Seq >= from && (to == 0 || e.Seq <= to) {
							out = append(out, e)
						}
					}
					return out[:max(0, len(out)-short)]
				}
				for _, i := range p {
					if lost&(1<<i) != 0 {
						continue
					}
					s := check(f.Deliver(Delivery{Seq: log[i].Seq, Prev: prev[log[i].Seq], Data: log[i].Data}))
					if s.Repair {
						check(f.Repaired(readLog(s.RepairFrom, s.RepairTo, shortBy)))
					}
				}
				// The owner's periodic catch-up, whose reads eventually succeed.
				check(f.Repaired(readLog(f.Last()+1, 0, 0)))
				want := seqs(log)
				if !slices.Equal(applied, want) {
					t.Fatalf("order %v, lost mask %b, reads short by %d: applied %v; want %v", p, lost, shortBy, applied, want)
				}
			}
		}
	}
}

func permutations(xs []int) [][]int {
	if len(xs) <= 1 {
		return [][]int{slices.Clone(xs)}
	}
	var out [][]int
	for i := range xs {
		rest := append(slices.Clone(xs[:i]), xs[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]int{xs[i]}, p...))
		}
	}
	return out
}

package crdt_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestIntegrateMatchesApply delivers the same updates, shuffled so that some
// wait in the pending buffer, to one document through Apply and to another
// through Integrate: after each, both have the same snapshot, version and
// pending size, and refuse the same inputs.
func TestIntegrateMatchesApply(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var us [][]byte
		// Twelve authors: a plan may hold more queues than it scans.
		for c := range uint64(12) {
			d := fresh(c + 1)
			txt := d.Text("body")
			for range 20 {
				switch n := txt.Len(); {
				case n > 0 && rng.IntN(3) == 0:
					pos := rng.IntN(n)
					if err := txt.Delete(pos, min(1+rng.IntN(3), n-pos)); err != nil {
						t.Fatal(err)
					}
				default:
					if err := txt.Insert(rng.IntN(n+1), string(rune('a'+rng.IntN(26)))); err != nil {
						t.Fatal(err)
					}
				}
				if rng.IntN(4) == 0 {
					if err := d.Map("meta").Set("k", []byte(`1`)); err != nil {
						t.Fatal(err)
					}
				}
				us = append(us, d.TakeUpdate())
			}
		}
		// In the order of their making, the updates never wait.
		ref := fresh(9)
		for _, u := range us {
			if _, err := ref.Apply(u); err != nil {
				t.Fatal(err)
			}
		}
		rng.Shuffle(len(us), func(i, j int) { us[i], us[j] = us[j], us[i] })
		us = append(us, []byte{0x01, 0xff}, nil, us[0])
		a, b := fresh(9), fresh(9)
		for i, u := range us {
			_, errA := a.Apply(u)
			errB := b.Integrate(u)
			if (errA == nil) != (errB == nil) || (errA != nil && errA.Error() != errB.Error()) {
				t.Fatalf("seed %d update %d: Integrate error = %v; want %v", seed, i, errB, errA)
			}
			if got, want := b.Version(), a.Version(); got != want {
				t.Fatalf("seed %d update %d: Integrate version = %d; want %d", seed, i, got, want)
			}
			if got, want := b.PendingBytes(), a.PendingBytes(); got != want {
				t.Fatalf("seed %d update %d: Integrate pending bytes = %d; want %d", seed, i, got, want)
			}
			if got, want := b.EncodeSnapshot(), a.EncodeSnapshot(); !bytes.Equal(got, want) {
				t.Fatalf("seed %d update %d: Integrate snapshot = %x; want %x", seed, i, got, want)
			}
		}
		if got, want := b.Text("body").String(), ref.Text("body").String(); got != want {
			t.Fatalf("seed %d: shuffled text = %q; want %q", seed, got, want)
		}
		if got := b.PendingBytes(); got != 0 {
			t.Fatalf("seed %d: %d bytes pending at the end; want 0", seed, got)
		}
	}
}

package crdt_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

var (
	flagScenarioOut = flag.String("scenario-out", "", "write the run of a failing seed as a scenario file into this directory")
	flagSeed        = flag.Uint64("seed", 0, "run the random tests with this seed only")
	flagSeeds       = flag.Int("seeds", 0, "how many seeds the random tests run (default 8 with -short, 40 otherwise; env TANDEM_SEEDS)")
)

// seeds returns the seeds of a random test: -seed, else 1..N with N from
// -seeds, TANDEM_SEEDS, or the default (a fixed short list in -short).
func seeds(t *testing.T) []uint64 {
	if *flagSeed != 0 {
		return []uint64{*flagSeed}
	}
	n := 40
	if testing.Short() {
		n = 8
	}
	if v, err := strconv.Atoi(os.Getenv("TANDEM_SEEDS")); err == nil && v > 0 {
		n = v
	}
	if *flagSeeds > 0 {
		n = *flagSeeds
	}
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	return s
}

// forSeeds runs f for every seed and reports a failing seed with the command
// that repeats it (and, with -scenario-out, writes the failing run as a
// scenario file: failing seeds become golden vectors).
func forSeeds(t *testing.T, f func(seed uint64) error) {
	t.Helper()
	failed := 0
	for _, seed := range seeds(t) {
		if err := f(seed); err != nil {
			t.Errorf("seed %d: %v\nrepeat: go test ./crdt -run '^%s$' -seed=%d -v [-scenario-out=../testdata/crdt/scenarios]", seed, err, t.Name(), seed)
			if failed++; failed >= 3 {
				t.Fatal("stopping after 3 failing seeds")
			}
		}
	}
}

// runSim runs a random run and compares its replicas.
func runSim(seed uint64, opts crdttest.SimOptions) (*crdttest.Sim, error) {
	s := crdttest.NewSim(seed, opts)
	err := s.Run()
	if err == nil {
		err = crdttest.Compare(s.Docs...)
	}
	if err != nil && *flagScenarioOut != "" {
		opts.Script = true
		s2 := crdttest.NewSim(seed, opts)
		s2.Run()
		name := filepath.Join(*flagScenarioOut, fmt.Sprintf("sim-seed-%d.txt", seed))
		title := fmt.Sprintf("random run, seed %d, options %+v; failed with: %v", seed, opts, strings.ReplaceAll(err.Error(), "\n", " "))
		if werr := os.WriteFile(name, []byte(s2.Scenario(title)), 0o644); werr != nil {
			err = fmt.Errorf("%w (and writing %s: %v)", err, name, werr)
		}
	}
	return s, err
}

// TestRandomConvergence (T-CRDT-01): 5 replicas edit at random; messages are
// delivered FIFO per sender at random times, with reconnects that resync by
// state vector and occasional flushes. All replicas converge.
func TestRandomConvergence(t *testing.T) {
	forSeeds(t, func(seed uint64) error {
		_, err := runSim(seed, crdttest.SimOptions{ReconnectRate: 0.02, FlushRate: 0.01, Check: crdt.CheckInvariants})
		return err
	})
}

// TestShuffledDelivery (T-CRDT-02): as 01, but messages arrive in any order,
// so updates often come before what they depend on and wait in pending.
func TestShuffledDelivery(t *testing.T) {
	sawPending := false
	forSeeds(t, func(seed uint64) error {
		s, err := runSim(seed, crdttest.SimOptions{Shuffle: true, FlushRate: 0.01, Check: crdt.CheckInvariants, TrackPending: true})
		sawPending = sawPending || s.MaxPending > 0
		return err
	})
	if !sawPending {
		t.Error("no run ever had pending units: the test does not exercise out-of-order delivery")
	}
}

// TestDuplicateDelivery (T-CRDT-03): every message delivered 1 to 3 times,
// plus re-sends of everything delivered so far. The result is byte-identical
// to the run with single delivery and the same seed.
func TestDuplicateDelivery(t *testing.T) {
	forSeeds(t, func(seed uint64) error {
		opts := crdttest.SimOptions{Shuffle: true, ReconnectRate: 0.01}
		once, err := runSim(seed, opts)
		if err != nil {
			return fmt.Errorf("single delivery: %w", err)
		}
		opts.Duplicate = true
		dup, err := runSim(seed, opts)
		if err != nil {
			return fmt.Errorf("duplicated delivery: %w", err)
		}
		for i := range once.Docs {
			if !bytes.Equal(once.Docs[i].EncodeSnapshot(), dup.Docs[i].EncodeSnapshot()) {
				return fmt.Errorf("replica %d: snapshot with duplicates differs from the single-delivery run", i)
			}
		}
		return nil
	})
}

// TestDropThenRetry (T-CRDT-04): 10% of messages are lost; reconnects and
// the final sync recover them by state vector.
func TestDropThenRetry(t *testing.T) {
	forSeeds(t, func(seed uint64) error {
		_, err := runSim(seed, crdttest.SimOptions{Shuffle: true, DropRate: 0.1, ReconnectRate: 0.02, Check: crdt.CheckInvariants})
		return err
	})
}

func apply(d *crdt.Doc, bs ...[]byte) error {
	for _, b := range bs {
		if err := crdttest.CheckApply(d, b); err != nil {
			return err
		}
	}
	return nil
}

func fresh(client uint64) *crdt.Doc {
	d, err := crdt.NewDoc(client, crdt.Config{})
	if err != nil {
		panic(err)
	}
	return d
}

// TestTransferPaths (T-CRDT-05): the final state reaches a new replica by
// every path, with the same result: (a) one update of everything, and an
// incremental update since an earlier state vector; (b) a snapshot loaded into
// an empty document; (c) a snapshot merged into a document that holds an older
// state; (d) a storage round trip: a server that applied the log, its snapshot
// at some point, then the log entries after it.
func TestTransferPaths(t *testing.T) {
	forSeeds(t, func(seed uint64) error {
		s, err := runSim(seed, crdttest.SimOptions{Shuffle: true, ReconnectRate: 0.02})
		if err != nil {
			return err
		}
		final := s.Docs[0]
		all := final.EncodeUpdate(nil)
		snap := final.EncodeSnapshot()
		// (a) everything in one update
		a := fresh(1 << 52)
		if err := apply(a, all); err != nil {
			return fmt.Errorf("(a) full update: %w", err)
		}
		if err := crdttest.Compare(final, a); err != nil {
			return fmt.Errorf("(a) full update: %w", err)
		}
		// (b) snapshot into an empty document
		b := fresh(1 << 52)
		if err := apply(b, snap); err != nil {
			return fmt.Errorf("(b) snapshot load: %w", err)
		}
		if err := crdttest.Compare(final, b); err != nil {
			return fmt.Errorf("(b) snapshot load: %w", err)
		}
		for k, m := range s.Marks[:min(len(s.Marks), 3)] {
			// (a) incremental: an older state plus what it lacks
			old := fresh(1 << 52)
			if err := apply(old, m.Snapshot); err != nil {
				return fmt.Errorf("mark %d: load: %w", k, err)
			}
			if err := apply(old, final.EncodeUpdate(old.StateVector())); err != nil {
				return fmt.Errorf("mark %d: incremental update: %w", k, err)
			}
			if err := crdttest.Compare(final, old); err != nil {
				return fmt.Errorf("(a) mark %d, incremental update: %w", k, err)
			}
			// (c) the final snapshot merged into an older state
			old = fresh(1 << 52)
			if err := apply(old, m.Snapshot); err != nil {
				return fmt.Errorf("mark %d: load: %w", k, err)
			}
			if err := apply(old, snap); err != nil {
				return fmt.Errorf("(c) mark %d: merge snapshot: %w", k, err)
			}
			if err := crdttest.Compare(final, old); err != nil {
				return fmt.Errorf("(c) mark %d, snapshot merged: %w", k, err)
			}
		}
		// (d) storage round trip
		server := fresh(1 << 52)
		cut := len(s.Log) / 2
		if err := apply(server, s.Log[:cut]...); err != nil {
			return fmt.Errorf("(d) server: %w", err)
		}
		stored := server.EncodeSnapshot()
		if err := apply(server, s.Log[cut:]...); err != nil {
			return fmt.Errorf("(d) server: %w", err)
		}
		reloaded := fresh(1<<52 + 1)
		if err := apply(reloaded, stored); err != nil {
			return fmt.Errorf("(d) reload: %w", err)
		}
		if err := apply(reloaded, s.Log[cut:]...); err != nil {
			return fmt.Errorf("(d) reload: %w", err)
		}
		if err := crdttest.Compare(final, server, reloaded); err != nil {
			return fmt.Errorf("(d) storage round trip: %w", err)
		}
		return nil
	})
}

// TestEncodeDecodeRoundTrip (T-CRDT-06): for every state a run reaches,
// decoding and re-encoding gives the same bytes: snapshots, updates, state
// vectors and relative positions.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	forSeeds(t, func(seed uint64) error {
		s, err := runSim(seed, crdttest.SimOptions{Shuffle: true})
		if err != nil {
			return err
		}
		snaps := [][]byte{s.Docs[0].EncodeSnapshot()}
		for _, m := range s.Marks {
			snaps = append(snaps, m.Snapshot)
		}
		for k, snap := range snaps {
			d := fresh(1 << 52)
			if err := apply(d, snap); err != nil {
				return fmt.Errorf("snapshot %d: %w", k, err)
			}
			if got := d.EncodeSnapshot(); !bytes.Equal(got, snap) {
				return fmt.Errorf("snapshot %d: re-encoded differently", k)
			}
			u := d.EncodeUpdate(nil)
			e := fresh(1 << 52)
			if err := apply(e, u); err != nil {
				return fmt.Errorf("update %d: %w", k, err)
			}
			if got := e.EncodeUpdate(nil); !bytes.Equal(got, u) {
				return fmt.Errorf("update %d: re-encoded differently", k)
			}
			sv := crdt.EncodeStateVector(d.StateVector())
			back, err := crdt.DecodeStateVector(sv)
			if err != nil {
				return fmt.Errorf("state vector %d: %w", k, err)
			}
			if got := crdt.EncodeStateVector(back); !bytes.Equal(got, sv) {
				return fmt.Errorf("state vector %d: re-encoded differently", k)
			}
			for _, r := range d.Roots() {
				if r.Kind != crdt.KindText {
					continue
				}
				txt := d.Text(r.Name)
				for pos := 0; pos <= txt.Len(); pos += 1 + txt.Len()/7 {
					for _, assoc := range []int{-1, 0} {
						rp, err := txt.RelPos(pos, assoc)
						if err != nil {
							return err
						}
						b := rp.Encode()
						back, err := crdt.DecodeRelPos(b)
						if err != nil {
							return fmt.Errorf("relpos %v: %w", rp, err)
						}
						if back != rp || !bytes.Equal(back.Encode(), b) {
							return fmt.Errorf("relpos %v: round trip gives %v", rp, back)
						}
						if i, err := d.Resolve(rp); err != nil || i != pos {
							return fmt.Errorf("relpos %v at %d resolves to %d, %v", rp, pos, i, err)
						}
					}
				}
			}
		}
		return nil
	})
}

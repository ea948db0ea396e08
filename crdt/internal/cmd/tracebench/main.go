// Command tracebench replays the editing traces into crdt documents and
// prints, per trace: the replay time (one user's local edits), allocations,
// the heap the document holds afterwards, the snapshot and update sizes, the
// snapshot load and encode times, and the time to apply the full update (the
// whole history) to an empty document; it checks the final text against the
// trace's endContent, after the replay and after the merge. Times are the
// minimum of -runs runs.
//
//	go run ./crdt/internal/cmd/tracebench [-traces DIR] [-runs 5] [-cpu]
//
// With -cpu, times are the process's CPU time (user and system, garbage
// collection included) rather than wall time: on a shared machine they move
// less with the load of others.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

func main() {
	dir := flag.String("traces", "", "directory of the editing traces (default: $TANDEM_TRACES or ../shared/traces)")
	runs := flag.Int("runs", 5, "runs per measure; the minimum is printed")
	cpu := flag.Bool("cpu", false, "measure the process's CPU time instead of wall time")
	flag.Parse()
	clock = wallClock
	if *cpu {
		clock = cpuClock
	}
	if *dir != "" {
		os.Setenv("TANDEM_TRACES", *dir)
	}
	var traces []*crdttest.Trace
	for _, f := range crdttest.TraceFiles("sequential_traces") {
		t, err := crdttest.LoadTrace(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tracebench:", err)
			os.Exit(1)
		}
		traces = append(traces, t)
	}
	if len(traces) == 0 {
		d, _ := crdttest.TracesDir()
		fmt.Fprintf(os.Stderr, "tracebench: no traces in %s; using a synthetic trace\n", filepath.Join(d, "sequential_traces"))
		traces = append(traces, crdttest.Typing(1, 250_000))
	}
	fmt.Printf("%-22s %8s %10s %9s %9s %10s %9s %9s %9s %9s %9s %s\n", "trace", "edits", "replay", "allocs", "alloc-MB", "heap-MB", "snapshot", "update", "load", "encode", "merge", "text")
	failed := false
	for _, t := range traces {
		edits, _ := t.Patches()
		var d *crdt.Doc
		replayTime := best(*runs, func() { d = replay(t) })
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		d = replay(t)
		runtime.ReadMemStats(&m1)
		allocs, allocBytes := m1.Mallocs-m0.Mallocs, m1.TotalAlloc-m0.TotalAlloc
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
		snap := d.EncodeSnapshot()
		upd := d.EncodeUpdate(nil)
		ok := d.Text("body").String() == t.EndContent
		load := best(*runs, func() {
			e, _ := crdt.NewDoc(2, crdt.Config{})
			if _, err := e.Apply(snap); err != nil {
				panic(err)
			}
		})
		encode := best(*runs, func() { d.EncodeSnapshot() })
		var merged *crdt.Doc
		merge := best(*runs, func() {
			merged, _ = crdt.NewDoc(2, crdt.Config{})
			if _, err := merged.Apply(upd); err != nil {
				panic(err)
			}
		})
		ok = ok && merged.Text("body").String() == t.EndContent
		status := "ok"
		if !ok {
			status, failed = "DIFFERS from endContent", true
		}
		fmt.Printf("%-22s %8d %8.1fms %9d %9.1f %10.2f %9d %9d %7.2fms %7.2fms %7.2fms %s\n", t.Name, edits,
			ms(replayTime), allocs, float64(allocBytes)/1e6, float64(heap)/1e6, len(snap), len(upd), ms(load), ms(encode), ms(merge), status)
		runtime.KeepAlive(d)
	}
	if failed {
		os.Exit(1)
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// clock returns the time that best measures: wallClock or cpuClock.
var clock func() time.Duration

var wallStart = time.Now()

func wallClock() time.Duration { return time.Since(wallStart) }

func cpuClock() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// best returns the shortest of n runs of f.
func best(n int, f func()) time.Duration {
	min := time.Duration(1<<63 - 1)
	for i := 0; i < max(n, 1); i++ {
		runtime.GC()
		start := clock()
		f()
		if d := clock() - start; d < min {
			min = d
		}
	}
	return min
}

// replay applies a sequential trace as one user's local edits.
func replay(t *crdttest.Trace) *crdt.Doc {
	d, _ := crdt.NewDoc(1, crdt.Config{})
	txt := d.Text("body")
	if t.StartContent != "" {
		txt.Insert(0, t.StartContent)
	}
	for _, x := range t.Txns {
		for _, p := range x.Patches {
			if p.Del > 0 {
				if err := txt.Delete(p.Pos, p.Del); err != nil {
					panic(err)
				}
			}
			if p.Ins != "" {
				if err := txt.Insert(p.Pos, p.Ins); err != nil {
					panic(err)
				}
			}
		}
	}
	return d
}

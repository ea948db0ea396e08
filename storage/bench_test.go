package storage

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchPayload is the size of a typical small CRDT update (a few keystrokes with their IDs).
const benchPayload = 64

// BenchmarkAppendGroupCommit measures durable appends (real fsyncs) from many goroutines, each
// waiting for its own ack as a document actor does, plus one caller that keeps many appends in flight.
// It reports appends/s, commits/s and appends per commit.
func BenchmarkAppendGroupCommit(b *testing.B) {
	for _, perCPU := range []int{1, 8, 64} {
		goroutines := perCPU * runtime.GOMAXPROCS(0)
		b.Run(fmt.Sprintf("waiters=%d", goroutines), func(b *testing.B) {
			s, _ := openTest(b, Options{})
			data := make([]byte, benchPayload)
			var next atomic.Int64
			b.SetParallelism(perCPU)
			b.ResetTimer()
			start, before := time.Now(), s.Stats()
			b.RunParallel(func(pb *testing.PB) {
				doc := fmt.Sprintf("doc-%d", next.Add(1))
				for pb.Next() {
					if _, err := s.AppendSync(context.Background(), doc, data); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportCommits(b, s, before, time.Since(start))
		})
	}
	b.Run("pipelined", func(b *testing.B) {
		s, _ := openTest(b, Options{})
		data := make([]byte, benchPayload)
		window := make(chan struct{}, 4096)
		var wg sync.WaitGroup
		b.ResetTimer()
		start, before := time.Now(), s.Stats()
		for i := range b.N {
			window <- struct{}{}
			wg.Add(1)
			s.Append(fmt.Sprintf("doc-%d", i%64), data, func(_ uint64, err error) {
				if err != nil {
					b.Error(err)
				}
				<-window
				wg.Done()
			})
		}
		wg.Wait()
		reportCommits(b, s, before, time.Since(start))
	})
}

func reportCommits(b *testing.B, s *Store, before Stats, elapsed time.Duration) {
	b.Helper()
	st := s.Stats()
	appends, commits := float64(st.Appends-before.Appends), float64(st.Commits-before.Commits)
	b.ReportMetric(appends/elapsed.Seconds(), "appends/s")
	b.ReportMetric(commits/elapsed.Seconds(), "commits/s")
	if commits > 0 {
		b.ReportMetric(appends/commits, "appends/commit")
	}
}

// BenchmarkAppendTyping is the storage side of a typing crowd: b.N appends of 40 bytes, paced at
// 5,000 a second (open loop, as typists who do not wait for their acks) over 100 documents, each
// compacted with a 20 KiB snapshot every 1,000 entries, with real fsyncs. It reports the ack
// latency (p50, p99, max), the sync's share of it (the write and fdatasync of one group: p50,
// p99) and what a commit writes to bbolt. Run it with -benchtime 40000x (8 s).
func BenchmarkAppendTyping(b *testing.B) {
	const docs, rate = 100, 5000
	var syncMu sync.Mutex
	var syncs []time.Duration
	s, _ := openTest(b, Options{ObserveSync: func(took time.Duration, _ int) {
		syncMu.Lock()
		syncs = append(syncs, took)
		syncMu.Unlock()
	}})
	data := make([]byte, 40)
	snap := make([]byte, 20<<10)
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	entries := make([]int, docs)
	before, st0 := s.db.Stats(), s.Stats()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
		d := i % docs
		doc := fmt.Sprintf("doc-%d", d)
		if entries[d]++; entries[d]%1000 == 0 {
			s.CompactAsync(doc, snap, 0, func(error) {})
		}
		t0 := time.Now()
		wg.Add(1)
		s.Append(doc, data, func(_ uint64, err error) {
			if err != nil {
				b.Error(err)
			}
			lat[i] = time.Since(t0)
			wg.Done()
		})
	}
	wg.Wait()
	b.StopTimer()
	after, st := s.db.Stats(), s.Stats()
	diff := after.Sub(&before)
	commits := float64(st.Commits - st0.Commits)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
	b.ReportMetric(float64(st.Appends-st0.Appends)/commits, "appends/commit")
	// bbolt's commits: behind the log, fewer than the groups (StoreCommits); without it, one each.
	bboltCommits := commits
	if st.StoreCommits > 0 {
		bboltCommits = float64(st.StoreCommits - st0.StoreCommits)
	}
	b.ReportMetric(float64(diff.TxStats.GetWrite())/bboltCommits, "page-writes/bbolt-commit")
	b.ReportMetric(bboltCommits/b.Elapsed().Seconds(), "bbolt-commits/s")
	syncMu.Lock()
	defer syncMu.Unlock()
	if len(syncs) > 0 {
		slices.Sort(syncs)
		b.ReportMetric(float64(syncs[len(syncs)/2])/1e6, "sync-p50-ms")
		b.ReportMetric(float64(syncs[len(syncs)*99/100])/1e6, "sync-p99-ms")
	}
}

// BenchmarkLargeSnapshot: the storage side of compacting and loading the heavy-writing bench's
// document (an 8.75 MB coded snapshot, stored in page-sized chunks), without fsync.
func BenchmarkLargeSnapshot(b *testing.B) {
	snapshot := make([]byte, 8_750_641)
	for i := range snapshot {
		snapshot[i] = byte(i * 31 / 7)
	}
	s, _ := openTest(b, Options{NoSync: true})
	mustAppend(b, s, "doc", "entry")
	if err := s.Compact("doc", snapshot, 1); err != nil {
		b.Fatal(err)
	}
	b.Run("compact", func(b *testing.B) {
		b.SetBytes(int64(len(snapshot)))
		for b.Loop() {
			if err := s.Compact("doc", snapshot, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("load", func(b *testing.B) {
		b.SetBytes(int64(len(snapshot)))
		for b.Loop() {
			if st, _ := mustLoad(b, s, "doc"); len(st.Snapshot) != len(snapshot) {
				b.Fatalf("loaded %d bytes; want %d", len(st.Snapshot), len(snapshot))
			}
		}
	})
}

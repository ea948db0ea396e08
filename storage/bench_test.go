package storage

import (
	"context"
	"fmt"
	"runtime"
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

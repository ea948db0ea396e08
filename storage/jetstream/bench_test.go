package jetstream

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemhq/tandem/storage/jetstream/natstest"
)

// BenchmarkAppend measures the acknowledgement latency of one writer appending 100-byte entries
// to one document on the shared three-server cluster (R3, sync always): each append waits for
// its acknowledgement before the next. It reports the median and the 99th percentile.
func BenchmarkAppend(b *testing.B) {
	l, ctx := benchLog(b)
	data := make([]byte, 100)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		copy(data, fmt.Sprintf("%08d", i)) // distinct bytes: no duplicate suppression
		start := time.Now()
		if _, err := l.Append(ctx, "doc", 1, data); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkAppendParallel measures throughput with GOMAXPROCS×4 writers, each on its own
// document, each waiting for every acknowledgement.
func BenchmarkAppendParallel(b *testing.B) {
	l, ctx := benchLog(b)
	b.SetParallelism(4)
	var writers atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		doc := fmt.Sprintf("doc%d", writers.Add(1))
		data := make([]byte, 100)
		for i := 0; pb.Next(); i++ {
			copy(data, fmt.Sprintf("%08d", i))
			if _, err := l.Append(ctx, doc, 1, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchLog opens a backend of the benchmark's own on the shared cluster and returns its log, and
// a context that ends after ten minutes or with the benchmark.
func benchLog(b *testing.B) (*Log, context.Context) {
	b.Helper()
	_, js := connect(b)
	bk := openBackend(b, js, natstest.Prefix(b))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	return (*Log)(bk), ctx
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// BenchmarkRead measures a cold load's log read: 1,000 entries of 100 bytes from one document.
func BenchmarkRead(b *testing.B) {
	l, ctx := benchLog(b)
	data := make([]byte, 100)
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := range 100 {
				d := slices.Clone(data)
				copy(d, fmt.Sprintf("%03d-%05d", w, i))
				if _, err := l.Append(ctx, "doc", 1, d); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ResetTimer()
	for range b.N {
		es, err := l.Read(ctx, "doc", 1, 0, 0)
		if err != nil || len(es) != 1000 {
			b.Fatalf("Read = %d entries, %v; want 1000", len(es), err)
		}
	}
}

// BenchmarkSnapshotGet reads a 3.2 MB snapshot (25 chunks) from R3: through Snapshots.Get (each
// chunk from the stream's leader), and, to compare, through the object store's own Get (an ordered
// consumer, which may read a lagging replica: Snapshots.Get's comment).
func BenchmarkSnapshotGet(b *testing.B) {
	_, js := connect(b)
	bk := openBackend(b, js, natstest.Prefix(b))
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 200_000)
	if err := (*Snapshots)(bk).Put(ctx, "k/1/1-x", big); err != nil {
		b.Fatalf("Put: %v", err)
	}
	for _, bc := range []struct {
		name string
		get  func() ([]byte, error)
	}{
		{"leader", func() ([]byte, error) { return (*Snapshots)(bk).Get(ctx, "k/1/1-x") }},
		{"objectstore", func() ([]byte, error) { return bk.obs.GetBytes(ctx, "k/1/1-x") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(big)))
			for b.Loop() {
				if got, err := bc.get(); err != nil || len(got) != len(big) {
					b.Fatalf("Get = %d bytes, %v", len(got), err)
				}
			}
		})
	}
}

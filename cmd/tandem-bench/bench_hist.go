package main

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// hist is a latency histogram: 10 µs buckets up to 2 s, exact values beyond, so that quantiles
// are exact to 10 µs where they matter (the same resolution as the anchors' generator).
type hist struct {
	b    []uint32
	over []time.Duration
	n    int64
	sum  time.Duration
	max  time.Duration
}

const (
	histBucket = 10 * time.Microsecond
	histTop    = 2 * time.Second
)

func newHist() *hist { return &hist{b: make([]uint32, histTop/histBucket)} }

func (h *hist) add(d time.Duration) {
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
	i := int(d / histBucket)
	switch {
	case i < 0:
		h.b[0]++
	case i < len(h.b):
		h.b[i]++
	default:
		h.over = append(h.over, d)
	}
}

func (h *hist) merge(o *hist) {
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
	for i, v := range o.b {
		h.b[i] += v
	}
	h.over = append(h.over, o.over...)
}

// quantile returns the value below which a fraction p of the samples lie (the bucket's middle),
// or 0 for an empty histogram.
func (h *hist) quantile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	target := int64(p*float64(h.n) + 0.999999)
	if target < 1 {
		target = 1
	}
	var c int64
	for i, v := range h.b {
		c += int64(v)
		if c >= target {
			return time.Duration(i)*histBucket + histBucket/2
		}
	}
	sort.Slice(h.over, func(i, j int) bool { return h.over[i] < h.over[j] })
	k := int(target - c - 1)
	if k >= len(h.over) {
		k = len(h.over) - 1
	}
	return h.over[k]
}

func (h *hist) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// latencySummary is the quantiles of a histogram in milliseconds, for the JSON result.
type latencySummary struct {
	N      int64   `json:"n"`
	P50ms  float64 `json:"p50_ms"`
	P95ms  float64 `json:"p95_ms"`
	P99ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
}

func (h *hist) summary() latencySummary {
	ms := func(d time.Duration) float64 { return round2(float64(d) / float64(time.Millisecond)) }
	return latencySummary{N: h.n, P50ms: ms(h.quantile(0.50)), P95ms: ms(h.quantile(0.95)),
		P99ms: ms(h.quantile(0.99)), MaxMs: ms(h.max), MeanMs: ms(h.mean())}
}

// shardedHist spreads samples from many goroutines over a few locked histograms, so that the
// receivers of hundreds of sockets do not all contend on one lock.
type shardedHist struct {
	shards []histShard
}

type histShard struct {
	mu sync.Mutex
	h  *hist
	_  [40]byte // keep shards on separate cache lines
}

func newShardedHist(n int) *shardedHist {
	s := &shardedHist{shards: make([]histShard, n)}
	for i := range s.shards {
		s.shards[i].h = newHist()
	}
	return s
}

func (s *shardedHist) add(shard int, d time.Duration) {
	sh := &s.shards[shard%len(s.shards)]
	sh.mu.Lock()
	sh.h.add(d)
	sh.mu.Unlock()
}

func (s *shardedHist) merged() *hist {
	out := newHist()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		out.merge(sh.h)
		sh.mu.Unlock()
	}
	return out
}

// shardedCount is a counter spread over cache lines, for the receivers of hundreds of sockets.
type shardedCount struct {
	shards []countShard
}

type countShard struct {
	n atomic.Int64
	_ [56]byte
}

func newShardedCount(n int) *shardedCount { return &shardedCount{shards: make([]countShard, n)} }

func (c *shardedCount) add(shard int, v int64) { c.shards[shard%len(c.shards)].n.Add(v) }

func (c *shardedCount) sum() int64 {
	var n int64
	for i := range c.shards {
		n += c.shards[i].n.Load()
	}
	return n
}

// Package metrics holds one Server's Prometheus metrics on top of prometheus/client_golang:
// counters, gauges and histograms, with at most one label each, in a registry per Server (no
// globals) that also carries the Go runtime and process collectors.
//
// Counters and gauges keep their value in one atomic word that the hot path adds to (a few
// nanoseconds, no allocation) and that code and tests can read back with Value; histograms keep a
// word per bucket and one for the sum. client_golang reads them when it is scraped and owns the
// exposition (text and OpenMetrics formats, content negotiation, compression). Every metric is
// registered before it is used; a duplicate name is a programming error and panics. Names and label
// values are the caller's responsibility (the server uses constants).
//
// All methods are safe for concurrent use.
package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Registry is one server's metrics: its own metrics, gathered together with the Go runtime and
// process collectors by a prometheus.Registry of its own.
type Registry struct {
	prom *prometheus.Registry
	set  collectorSet
}

// NewRegistry returns a registry with the Go runtime and process collectors and none of its own
// metrics yet.
func NewRegistry() *Registry {
	r := &Registry{prom: prometheus.NewRegistry()}
	r.prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Prometheus returns the prometheus.Registry the scrape endpoint serves: this registry's metrics,
// the Go runtime's and the process's. An embedder may register its own collectors there.
func (r *Registry) Prometheus() *prometheus.Registry { return r.prom }

// Collector returns a collector of this registry's own metrics alone (no runtime or process
// metrics), to register into another registry that already has those.
func (r *Registry) Collector() prometheus.Collector { return &r.set }

// register adds c to the registry's own metrics; a second metric of the same name panics.
func (r *Registry) register(name string, c prometheus.Collector) {
	if !r.set.add(name, c) {
		panic("metrics: duplicate metric " + name)
	}
	r.prom.MustRegister(c)
}

// WriteTo writes every metric the scrape endpoint serves in the text exposition format (0.0.4).
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	mfs, err := r.prom.Gather()
	if err != nil {
		return 0, fmt.Errorf("metrics: gather: %w", err)
	}
	cw := &countingWriter{w: w}
	enc := expfmt.NewEncoder(cw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return cw.n, fmt.Errorf("metrics: encode %s: %w", mf.GetName(), err)
		}
	}
	return cw.n, nil
}

// Handler serves the registry at a scrape endpoint.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.prom, promhttp.HandlerOpts{})
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// collectorSet is the registry's own metrics as one prometheus.Collector, for another registry.
// Metrics are added while the server is built, before an embedder can register the set.
type collectorSet struct {
	mu    sync.Mutex
	names map[string]bool
	cs    []prometheus.Collector
}

func (s *collectorSet) add(name string, c prometheus.Collector) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names[name] {
		return false
	}
	if s.names == nil {
		s.names = make(map[string]bool)
	}
	s.names[name] = true
	s.cs = append(s.cs, c)
	return true
}

func (s *collectorSet) collectors() []prometheus.Collector {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]prometheus.Collector(nil), s.cs...)
}

// Describe implements prometheus.Collector.
func (s *collectorSet) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (s *collectorSet) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s.collectors() {
		c.Collect(ch)
	}
}

// Counter is a monotonically increasing count.
type Counter struct{ v atomic.Uint64 }

// NewCounter registers a counter.
func (r *Registry) NewCounter(name, help string) *Counter {
	c := &Counter{}
	r.register(name, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
		func() float64 { return float64(c.v.Load()) }))
	return c
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the current count.
func (c *Counter) Value() uint64 { return c.v.Load() }

// CounterVec is a family of counters told apart by the value of one label.
type CounterVec struct {
	desc     *prometheus.Desc
	mu       sync.Mutex
	children map[string]*atomic.Uint64
}

// NewCounterVec registers a counter family with one label. Values listed in preset are exported
// (as zero) before their first increment, so that a dashboard sees every reason from the start.
func (r *Registry) NewCounterVec(name, help, label string, preset ...string) *CounterVec {
	c := &CounterVec{
		desc:     prometheus.NewDesc(name, help, []string{label}, nil),
		children: make(map[string]*atomic.Uint64),
	}
	for _, v := range preset {
		c.children[v] = new(atomic.Uint64)
	}
	r.register(name, c)
	return c
}

// Inc adds one to the counter with label value v.
func (c *CounterVec) Inc(v string) { c.child(v).Add(1) }

// Value returns the count for label value v.
func (c *CounterVec) Value(v string) uint64 { return c.child(v).Load() }

func (c *CounterVec) child(v string) *atomic.Uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.children[v]
	if !ok {
		ch = new(atomic.Uint64)
		c.children[v] = ch
	}
	return ch
}

// Describe implements prometheus.Collector.
func (c *CounterVec) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *CounterVec) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	ms := make([]prometheus.Metric, 0, len(c.children))
	for k, v := range c.children {
		ms = append(ms, prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v.Load()), k))
	}
	c.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
}

// Gauge is a value that goes up and down.
type Gauge struct{ v atomic.Int64 }

// NewGauge registers a gauge.
func (r *Registry) NewGauge(name, help string) *Gauge {
	g := &Gauge{}
	r.register(name, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
		func() float64 { return float64(g.v.Load()) }))
	return g
}

// Add adds d (which may be negative).
func (g *Gauge) Add(d int64) { g.v.Add(d) }

// Inc adds one.
func (g *Gauge) Inc() { g.v.Add(1) }

// Dec subtracts one.
func (g *Gauge) Dec() { g.v.Add(-1) }

// Value returns the current value.
func (g *Gauge) Value() int64 { return g.v.Load() }

// GaugeFunc is a gauge whose value a function gives when the metrics are gathered: for a quantity
// that something else keeps (a budget's use).
type GaugeFunc struct{ f func() int64 }

// NewGaugeFunc registers a gauge whose value is f().
func (r *Registry) NewGaugeFunc(name, help string, f func() int64) *GaugeFunc {
	g := &GaugeFunc{f: f}
	r.register(name, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
		func() float64 { return float64(f()) }))
	return g
}

// Value returns the current value.
func (g *GaugeFunc) Value() int64 { return g.f() }

// NewCounterFunc registers a counter whose value is f(), which never decreases: for a count that
// something else keeps.
func (r *Registry) NewCounterFunc(name, help string, f func() uint64) {
	r.register(name, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
		func() float64 { return float64(f()) }))
}

// Histogram counts observations in buckets. Observing is a bucket search and two atomic adds, with
// no allocation; the buckets are made cumulative when the histogram is gathered. (client_golang's
// own histogram costs about half as much again per observation, and the broadcast latency is
// observed once per frame per connection.)
type Histogram struct {
	desc    *prometheus.Desc
	bounds  []float64
	counts  []atomic.Uint64 // one per bound, plus +Inf
	sumBits atomic.Uint64   // float64 bits of the sum
}

// NewHistogram registers a histogram with ascending upper bounds (the +Inf bucket is implied).
func (r *Registry) NewHistogram(name, help string, bounds []float64) *Histogram {
	h := &Histogram{desc: prometheus.NewDesc(name, help, nil, nil), bounds: append([]float64(nil), bounds...)}
	sort.Float64s(h.bounds)
	h.counts = make([]atomic.Uint64, len(h.bounds)+1)
	r.register(name, h)
	return h
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	h.counts[sort.SearchFloat64s(h.bounds, v)].Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// Describe implements prometheus.Collector.
func (h *Histogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect implements prometheus.Collector. The count is the buckets' sum, so that the two always
// agree; the sum may include an observation the buckets do not yet show.
func (h *Histogram) Collect(ch chan<- prometheus.Metric) {
	buckets := make(map[float64]uint64, len(h.bounds))
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		buckets[b] = cum
	}
	cum += h.counts[len(h.bounds)].Load()
	ch <- prometheus.MustNewConstHistogram(h.desc, cum, math.Float64frombits(h.sumBits.Load()), buckets)
}

// LatencyBuckets are upper bounds in seconds from 100 µs to 10 s, for latencies of messages and commits.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Package metrics is a small Prometheus registry: counters, gauges and histograms, with at most
// one label each, written in the Prometheus text exposition format (version 0.0.4).
//
// The server needs a registry per Server (no globals) and a handful of metric kinds; this package
// gives exactly that with lock-free updates on the hot path (atomic adds), so that counting a
// delivered message costs a few nanoseconds. Every metric is registered before it is used; names and
// label values are the caller's responsibility (the server uses constants).
//
// All methods are safe for concurrent use.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds metrics and writes them in the text exposition format.
type Registry struct {
	mu      sync.Mutex
	metrics []metric
	names   map[string]bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{names: make(map[string]bool)}
}

type metric interface {
	name() string
	write(w *bufio.Writer)
}

func (r *Registry) register(m metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[m.name()] {
		// Registration happens once at construction with constant names: a duplicate is a
		// programming error, not input.
		panic("metrics: duplicate metric " + m.name())
	}
	r.names[m.name()] = true
	r.metrics = append(r.metrics, m)
}

// WriteTo writes every metric, sorted by name, in the text exposition format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	ms := append([]metric(nil), r.metrics...)
	r.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool { return ms[i].name() < ms[j].name() })
	cw := &countingWriter{w: w}
	bw := bufio.NewWriter(cw)
	for _, m := range ms {
		m.write(bw)
	}
	err := bw.Flush()
	return cw.n, err
}

// Handler serves the registry at a scrape endpoint.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = r.WriteTo(w)
	})
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

func writeHeader(w *bufio.Writer, name, help, kind string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, kind)
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Counter is a monotonically increasing count.
type Counter struct {
	n, help string
	v       atomic.Uint64
}

// NewCounter registers a counter.
func (r *Registry) NewCounter(name, help string) *Counter {
	c := &Counter{n: name, help: help}
	r.register(c)
	return c
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the current count.
func (c *Counter) Value() uint64 { return c.v.Load() }

func (c *Counter) name() string { return c.n }

func (c *Counter) write(w *bufio.Writer) {
	writeHeader(w, c.n, c.help, "counter")
	fmt.Fprintf(w, "%s %d\n", c.n, c.v.Load())
}

// CounterVec is a family of counters told apart by the value of one label.
type CounterVec struct {
	n, help, label string
	mu             sync.Mutex
	children       map[string]*atomic.Uint64
}

// NewCounterVec registers a counter family with one label. Values listed in preset are exported
// (as zero) before their first increment, so that a dashboard sees every reason from the start.
func (r *Registry) NewCounterVec(name, help, label string, preset ...string) *CounterVec {
	c := &CounterVec{n: name, help: help, label: label, children: make(map[string]*atomic.Uint64)}
	for _, v := range preset {
		c.children[v] = new(atomic.Uint64)
	}
	r.register(c)
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

func (c *CounterVec) name() string { return c.n }

func (c *CounterVec) write(w *bufio.Writer) {
	writeHeader(w, c.n, c.help, "counter")
	c.mu.Lock()
	keys := make([]string, 0, len(c.children))
	for k := range c.children {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s{%s=\"%s\"} %d\n", c.n, c.label, escapeLabel(k), c.child(k).Load())
	}
}

// Gauge is a value that goes up and down.
type Gauge struct {
	n, help string
	v       atomic.Int64
}

// NewGauge registers a gauge.
func (r *Registry) NewGauge(name, help string) *Gauge {
	g := &Gauge{n: name, help: help}
	r.register(g)
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

func (g *Gauge) name() string { return g.n }

func (g *Gauge) write(w *bufio.Writer) {
	writeHeader(w, g.n, g.help, "gauge")
	fmt.Fprintf(w, "%s %d\n", g.n, g.v.Load())
}

// GaugeFunc is a gauge whose value a function gives when the metrics are written: for a quantity
// that something else keeps (a budget's use).
type GaugeFunc struct {
	n, help string
	f       func() int64
}

// NewGaugeFunc registers a gauge whose value is f().
func (r *Registry) NewGaugeFunc(name, help string, f func() int64) *GaugeFunc {
	g := &GaugeFunc{n: name, help: help, f: f}
	r.register(g)
	return g
}

// Value returns the current value.
func (g *GaugeFunc) Value() int64 { return g.f() }

func (g *GaugeFunc) name() string { return g.n }

func (g *GaugeFunc) write(w *bufio.Writer) {
	writeHeader(w, g.n, g.help, "gauge")
	fmt.Fprintf(w, "%s %d\n", g.n, g.f())
}

// Histogram counts observations in cumulative buckets.
type Histogram struct {
	n, help string
	bounds  []float64
	counts  []atomic.Uint64 // one per bound, plus +Inf
	count   atomic.Uint64
	sumBits atomic.Uint64 // float64 bits of the sum
}

// NewHistogram registers a histogram with ascending upper bounds (the +Inf bucket is implied).
func (r *Registry) NewHistogram(name, help string, bounds []float64) *Histogram {
	h := &Histogram{n: name, help: help, bounds: append([]float64(nil), bounds...)}
	sort.Float64s(h.bounds)
	h.counts = make([]atomic.Uint64, len(h.bounds)+1)
	r.register(h)
	return h
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.counts[i].Add(1)
	h.count.Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count.Load() }

func (h *Histogram) name() string { return h.n }

func (h *Histogram) write(w *bufio.Writer) {
	writeHeader(w, h.n, h.help, "histogram")
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", h.n, formatFloat(b), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n", h.n, cum)
	fmt.Fprintf(w, "%s_sum %s\n", h.n, formatFloat(math.Float64frombits(h.sumBits.Load())))
	fmt.Fprintf(w, "%s_count %d\n", h.n, cum)
}

// LatencyBuckets are upper bounds in seconds from 100 µs to 10 s, for latencies of messages and commits.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

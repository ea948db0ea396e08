package metrics

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

func TestWriteTo(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("t_requests_total", "Requests.")
	g := r.NewGauge("t_open", "Open things.")
	v := r.NewCounterVec("t_refusals_total", "Refusals by reason.", "reason", "zero")
	h := r.NewHistogram("t_seconds", "Latency.", []float64{0.1, 1})
	held := int64(4096)
	r.NewGaugeFunc("t_held_bytes", "Bytes held.", func() int64 { return held })
	skipped := uint64(2)
	r.NewCounterFunc("t_skipped_total", "Skipped.", func() uint64 { return skipped })
	c.Add(3)
	g.Inc()
	g.Inc()
	g.Dec()
	v.Inc(`a"b`)
	for _, x := range []float64{0.05, 0.5, 0.5, 7} {
		h.Observe(x)
	}
	held = 8192 // read when written
	skipped = 5
	// The registry's own metrics, registered into another (pedantic) registry, as an embedder would.
	other := prometheus.NewPedanticRegistry()
	other.MustRegister(r.Collector())
	mfs, err := other.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	want := `# HELP t_held_bytes Bytes held.
# TYPE t_held_bytes gauge
t_held_bytes 8192
# HELP t_open Open things.
# TYPE t_open gauge
t_open 1
# HELP t_refusals_total Refusals by reason.
# TYPE t_refusals_total counter
t_refusals_total{reason="a\"b"} 1
t_refusals_total{reason="zero"} 0
# HELP t_requests_total Requests.
# TYPE t_requests_total counter
t_requests_total 3
# HELP t_seconds Latency.
# TYPE t_seconds histogram
t_seconds_bucket{le="0.1"} 1
t_seconds_bucket{le="1"} 3
t_seconds_bucket{le="+Inf"} 4
t_seconds_sum 8.05
t_seconds_count 4
# HELP t_skipped_total Skipped.
# TYPE t_skipped_total counter
t_skipped_total 5
`
	if got := b.String(); got != want {
		t.Errorf("gathered:\n%s\nwant:\n%s", got, want)
	}

	// The registry itself also serves the Go runtime's and the process's metrics.
	var all strings.Builder
	if _, err := r.WriteTo(&all); err != nil {
		t.Fatal(err)
	}
	wantAll := []string{"t_requests_total 3\n", "go_goroutines ", "go_memstats_heap_alloc_bytes "}
	if runtime.GOOS == "linux" {
		wantAll = append(wantAll, "process_resident_memory_bytes ", "process_open_fds ")
	}
	for _, w := range wantAll {
		if !strings.Contains(all.String(), w) {
			t.Errorf("WriteTo lacks %q", w)
		}
	}
}

// TestHotPathAllocs checks that counting costs no allocation.
func TestHotPathAllocs(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("t_total", "")
	g := r.NewGauge("t_gauge", "")
	v := r.NewCounterVec("t_by_total", "", "reason", "x")
	h := r.NewHistogram("t_seconds", "", LatencyBuckets)
	if n := testing.AllocsPerRun(100, func() {
		c.Inc()
		c.Add(7)
		g.Add(3)
		g.Dec()
		v.Inc("x")
		h.Observe(0.003)
	}); n != 0 {
		t.Errorf("%v allocations per round of updates; want 0", n)
	}
}

func TestDuplicateNamePanics(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("x", "")
	defer func() {
		if recover() == nil {
			t.Errorf("second registration of x did not panic")
		}
	}()
	r.NewGauge("x", "")
}

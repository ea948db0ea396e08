package metrics

import (
	"strings"
	"testing"
)

func TestWriteTo(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("t_requests_total", "Requests.")
	g := r.NewGauge("t_open", "Open things.")
	v := r.NewCounterVec("t_refusals_total", "Refusals by reason.", "reason", "zero")
	h := r.NewHistogram("t_seconds", "Latency.", []float64{0.1, 1})
	held := int64(4096)
	r.NewGaugeFunc("t_held_bytes", "Bytes held.", func() int64 { return held })
	c.Add(3)
	g.Inc()
	g.Inc()
	g.Dec()
	v.Inc(`a"b`)
	for _, x := range []float64{0.05, 0.5, 0.5, 7} {
		h.Observe(x)
	}
	held = 8192 // read when written
	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
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
`
	if got := b.String(); got != want {
		t.Errorf("WriteTo:\n%s\nwant:\n%s", got, want)
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

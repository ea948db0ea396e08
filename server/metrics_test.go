package server

import (
	"math"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// TestMetricsEndpoint checks that /metrics serves the tandem_* metrics with their help strings
// beside the Go runtime's and the process's, in the Prometheus text format.
func TestMetricsEndpoint(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	resp, err := http.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("GET /metrics = %d, Content-Type %q; want 200, text/plain; version=0.0.4", resp.StatusCode, ct)
	}
	status, body := do(t, http.MethodGet, ts.base+"/metrics", "", nil)
	want := []string{
		"# HELP tandem_updates_applied_total CRDT updates applied, from WebSocket and HTTP.\n# TYPE tandem_updates_applied_total counter\ntandem_updates_applied_total 0\n",
		"# TYPE tandem_commit_seconds histogram\n",
		"# TYPE tandem_commit_sync_seconds histogram\n",
		"# TYPE tandem_commit_apply_seconds histogram\n",
		`tandem_slow_consumer_closes_total{cause="no_pong"} 0` + "\n",
		"tandem_partial_message_bytes 0\n",
		"go_goroutines ",
		"go_memstats_heap_alloc_bytes ",
	}
	if runtime.GOOS == "linux" {
		want = append(want, "process_resident_memory_bytes ", "process_open_fds ")
	}
	for _, w := range want {
		if status != http.StatusOK || !strings.Contains(string(body), w) {
			t.Errorf("GET /metrics = %d; want 200 containing %q", status, w)
		}
	}
}

// TestMetricsEmbedded checks that an application can register a server's metrics into its own
// registry beside its runtime collectors, and leave /metrics out of the server's routes.
func TestMetricsEmbedded(t *testing.T) {
	cfg := testConfig(t)
	cfg.OmitMetricsRoute = true
	ts := startServer(t, cfg, nil)
	if status, _ := do(t, http.MethodGet, ts.base+"/metrics", "", nil); status != http.StatusNotFound {
		t.Errorf("GET /metrics with OmitMetricsRoute = %d; want 404", status)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.NewGoCollector(), ts.MetricsCollector())
	ts.metrics.refusals.Inc(reasonOrigin)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "process_") {
			t.Errorf("the collector brings %s; want the tandem_* metrics alone", mf.GetName())
		}
		if mf.GetName() != "tandem_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if l := m.GetLabel(); len(l) == 1 && l[0].GetValue() == reasonOrigin {
				found = m.GetCounter().GetValue() == 1
			}
		}
	}
	if !found {
		t.Errorf("the application's registry lacks tandem_refusals_total{reason=%q} 1", reasonOrigin)
	}

	// The server's own registry is there too, for an application that serves it itself.
	if _, err := ts.MetricsRegistry().Gather(); err != nil {
		t.Errorf("MetricsRegistry().Gather: %v", err)
	}
	if err := reg.Register(ts.MetricsCollector()); err == nil {
		t.Errorf("registering the collector twice succeeded; want an error")
	}
}

// exposedValue returns the value of the unlabelled metric name in a text exposition, or NaN if it
// is not there.
func exposedValue(text, name string) float64 {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return math.NaN()
			}
			return f
		}
	}
	return math.NaN()
}

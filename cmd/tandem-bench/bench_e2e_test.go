package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/server"
)

// benchServer runs a server in this process on 127.0.0.1 and returns a bench environment that
// points at it (its PID is this process's, so the /proc readings are real if approximate).
func benchServer(t *testing.T, o benchOptions) *benchEnv {
	t.Helper()
	s, err := server.New(server.Config{DataPath: filepath.Join(t.TempDir(), "bench.db"), IdleUnloadAfter: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	if o.docPrefix == "" {
		o.docPrefix = "bench-" + strings.ReplaceAll(t.Name(), "/", "-")
	}
	o.quiet = true
	u := "ws://" + l.Addr().String()
	return &benchEnv{o: o, url: u, urls: []string{u}, pid: os.Getpid(), stderr: io.Discard}
}

func defaults(t *testing.T, args ...string) benchOptions {
	t.Helper()
	o, err := parseBench(args, io.Discard)
	if err != nil {
		t.Fatalf("parseBench(%q): %v", args, err)
	}
	return o
}

func TestBenchLatencyEndToEnd(t *testing.T) {
	e := benchServer(t, defaults(t, "--clients", "12", "--docs", "3", "--rate", "20", "--warmup", "200ms", "--duration", "1s", "--grace", "2s"))
	for _, apply := range []bool{false, true} {
		e.o.apply = apply
		e.o.docPrefix += "x"
		res, err := benchLatency(context.Background(), e)
		if err != nil {
			t.Fatalf("apply=%t: benchLatency: %v", apply, err)
		}
		// 12 clients at 20/s for 1 s, each op delivered to the 3 others of its document.
		if res.DeliveriesExpected < 3*200 || res.Dropped != 0 || res.DeliveriesReceived != res.DeliveriesExpected {
			t.Errorf("apply=%t: expected %d, received %d, dropped %d; want about %d, all received", apply, res.DeliveriesExpected, res.DeliveriesReceived, res.Dropped, 3*240)
		}
		if res.ConnectFailures != 0 || res.ClosedClients != 0 || res.EditErrors != 0 || res.DecodeErrors != 0 {
			t.Errorf("apply=%t: failures %d, closed %d, edit errors %d, decode errors %d; want none", apply, res.ConnectFailures, res.ClosedClients, res.EditErrors, res.DecodeErrors)
		}
		if res.P50ms <= 0 || res.P99ms < res.P50ms || res.MaxMs < res.P99ms {
			t.Errorf("apply=%t: p50 %v, p99 %v, max %v; want 0 < p50 <= p99 <= max", apply, res.P50ms, res.P99ms, res.MaxMs)
		}
	}
}

func TestBenchDurableEndToEnd(t *testing.T) {
	e := benchServer(t, defaults(t, "--mode", "durable", "--clients", "8", "--docs", "2", "--warmup", "100ms", "--duration", "1s"))
	res, err := benchDurable(context.Background(), e)
	if err != nil {
		t.Fatalf("benchDurable: %v", err)
	}
	if res.Acked < 8 || res.AckedOpsS <= 0 || res.Ack.P50ms <= 0 || res.EditErrors != 0 {
		t.Errorf("acked %d (%v/s), ack p50 %v ms, edit errors %d; want acknowledged edits and no errors", res.Acked, res.AckedOpsS, res.Ack.P50ms, res.EditErrors)
	}
}

func TestBenchSyncEndToEnd(t *testing.T) {
	for _, pattern := range []string{"runs", "random"} {
		e := benchServer(t, defaults(t, "--mode", "sync", "--pattern", pattern, "--n", "3000", "--readers", "3", "--chunk", "100", "--cold-wait", "1s"))
		res, err := benchSync(context.Background(), e)
		if err != nil {
			t.Fatalf("%s: benchSync: %v", pattern, err)
		}
		if res.Chars != 3000 || res.ContentOK != 3 || res.Cold == nil || !res.Cold.OK || res.SyncBytes == 0 {
			t.Errorf("%s: chars %d, content ok %d/3, cold %+v, sync bytes %d; want 3000 chars, all identical, a cold read", pattern, res.Chars, res.ContentOK, res.Cold, res.SyncBytes)
		}
	}
}

func TestBenchSyncTrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.json")
	trace := `{"startContent":"","endContent":"hXllo wörld","txns":[{"patches":[[0,0,"hello"]]},{"patches":[[5,0," wörld"],[1,1,"X"]]}]}`
	if err := os.WriteFile(path, []byte(trace), 0o644); err != nil {
		t.Fatal(err)
	}
	e := benchServer(t, defaults(t, "--mode", "sync", "--trace", path, "--readers", "2", "--chunk", "1"))
	res, err := benchSync(context.Background(), e)
	if err != nil {
		t.Fatalf("benchSync: %v", err)
	}
	if res.Pattern != "trace" || res.N != 3 || res.Chars != 11 || res.ContentOK != 2 {
		t.Errorf("pattern %q, %d edits, %d chars, %d/2 identical; want trace, 3, 11, 2", res.Pattern, res.N, res.Chars, res.ContentOK)
	}
}

func TestBenchIdleEndToEnd(t *testing.T) {
	e := benchServer(t, defaults(t, "--mode", "idle", "--steps", "10,30", "--docs", "5", "--settle", "200ms"))
	res, err := benchIdle(context.Background(), e)
	if err != nil {
		t.Fatalf("benchIdle: %v", err)
	}
	if len(res.Steps) != 2 || res.Steps[1].Open != 30 || res.Steps[1].RSSMB <= 0 || res.RSS0MB <= 0 {
		t.Errorf("steps %+v, rss0 %v; want 2 steps, 30 open, RSS read", res.Steps, res.RSS0MB)
	}
}

// Two URLs of one server stand for two nodes: the clients alternate between them, and the
// deliveries between clients of different URLs are the cross-node ones.
func TestBenchLatencyTwoURLs(t *testing.T) {
	e := benchServer(t, defaults(t, "--clients", "8", "--docs", "2", "--rate", "20", "--warmup", "200ms", "--duration", "1s", "--grace", "2s"))
	e.urls = []string{e.url, strings.Replace(e.url, "127.0.0.1", "localhost", 1)}
	res, err := benchLatency(context.Background(), e)
	if err != nil {
		t.Fatalf("benchLatency: %v", err)
	}
	// Each document has 2 clients per URL: of the 3 deliveries of an edit, 2 cross.
	if res.Nodes != 2 || res.Cross == nil || res.Dropped != 0 || res.Cross.N*3 != res.DeliveriesReceived*2 {
		t.Errorf("nodes %d, cross %+v, received %d, dropped %d; want 2 nodes, two thirds of the deliveries cross, none dropped", res.Nodes, res.Cross, res.DeliveriesReceived, res.Dropped)
	}
}

func TestBenchRampEndToEnd(t *testing.T) {
	e := benchServer(t, defaults(t, "--mode", "ramp", "--clients", "6", "--docs", "2", "--rates", "5,10", "--p99-limit", "5s", "--warmup", "100ms", "--duration", "500ms", "--grace", "2s"))
	res, err := benchRamp(context.Background(), e)
	if err != nil {
		t.Fatalf("benchRamp: %v", err)
	}
	if len(res.Steps) != 2 || res.Steps[1].RatePerClient != 10 || res.Steps[1].TargetOpsS != 60 {
		t.Fatalf("steps %+v; want 2, the second at 10/s per client (60/s)", res.Steps)
	}
	if !res.Steps[1].Holds || res.Steps[1].AckP99ms <= 0 || res.Sustained["server"] != res.Steps[1].AchievedOpsS {
		t.Errorf("second step %+v, sustained %v; want it to hold (limit 5 s) and be the sustained rate", res.Steps[1], res.Sustained)
	}
}

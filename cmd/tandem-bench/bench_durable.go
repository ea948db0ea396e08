package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
)

// durableResult is the JSON result of --mode durable.
type durableResult struct {
	Label   string `json:"label,omitempty"`
	Proto   string `json:"proto"`
	Docs    int    `json:"docs"`
	Clients int    `json:"clients"`
	// AckedOpsS is edits acknowledged as durable per second over the window: each client sends
	// its next edit as soon as the previous one is acknowledged.
	AckedOpsS float64 `json:"acked_ops_s"`
	Acked     int64   `json:"acked"`
	// The ack latency: from the edit's send to its acknowledgement (fsync included).
	Ack latencySummary `json:"ack"`
	// Commit is the server's commit histograms over the window (bench_commit.go).
	Commit commitSplit `json:"commit,omitempty"`
	cpuWindow
	ServerRSSMB     float64        `json:"server_rss_mb"`
	ClosedClients   int            `json:"closed_clients"`
	CloseReasons    map[string]int `json:"close_reasons,omitempty"`
	ConnectFailures int            `json:"connect_failures"`
	ConnectErrors   map[string]int `json:"connect_errors,omitempty"`
	EditErrors      int64          `json:"edit_errors"`
	WindowS         float64        `json:"window_s"`
}

// benchDurable measures acknowledged edits per second: every client types one character, waits
// for the server to acknowledge it as durable, and types the next, so the server's group commit
// decides the throughput.
func benchDurable(ctx context.Context, e *benchEnv) (*durableResult, error) {
	o := e.o
	n, docs := o.clients, o.docs
	e.logf("durable: connecting %d clients over %d documents", n, docs)
	var fails failureCounts
	ids := randomClientIDs(n, e.maxClientID())
	typists := dialParallel(ctx, n, o.connectConcurrency, func(ctx context.Context, i int) (typist, error) {
		return dialTypist(ctx, e, e.url, docName(o.docPrefix, i*docs/n), ids[i], false, nil, nil)
	}, &fails)
	defer closeAll(typists)
	if fails.total() == n {
		return nil, fmt.Errorf("bench: no client connected: %v", fails.snapshot())
	}
	conns := make([]*client.Conn, n)
	for i, t := range typists {
		if t != nil {
			conns[i] = t.(*tandemTypist).c
		}
	}
	base := time.Now()
	winStart := base.Add(o.warmup)
	winEnd := winStart.Add(o.duration)
	hist := newShardedHist(4 * runtime.GOMAXPROCS(0))
	var acked, editErrors atomic.Int64
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithDeadline(ctx, winEnd.Add(10*time.Second))
			defer cancel()
			for {
				t0 := time.Now()
				if !t0.Before(winEnd) || wctx.Err() != nil {
					return
				}
				err := c.Edit(func(d *crdt.Doc) error {
					t := d.Text(benchRoot)
					return t.Insert(t.Len(), "x")
				})
				if err == nil {
					err = c.WaitSaved(wctx)
				}
				if err != nil {
					editErrors.Add(1)
					select {
					case <-c.Done():
						return
					default:
					}
					continue
				}
				if !t0.Before(winStart) {
					acked.Add(1)
					hist.add(i, time.Since(t0))
				}
			}
		}()
	}
	sleepUntil(ctx, winStart)
	c0 := sampleCPU(e.pid)
	commit0 := scrapeCommit(ctx, e.url)
	sleepUntil(ctx, winEnd)
	c1 := sampleCPU(e.pid)
	commit := splitBetween(commit0, scrapeCommit(ctx, e.url))
	wg.Wait()
	closed, reasons := closedDuring(e, typists)
	res := &durableResult{
		Label: o.label, Proto: "tandem", Docs: docs, Clients: n,
		AckedOpsS: round1(float64(acked.Load()) / o.duration.Seconds()), Acked: acked.Load(),
		Ack: hist.merged().summary(), Commit: commit, cpuWindow: cpuBetween(c0, c1), ServerRSSMB: e.serverRSSMB(),
		ClosedClients: closed, CloseReasons: reasons, ConnectFailures: fails.total(), ConnectErrors: fails.snapshot(),
		EditErrors: editErrors.Load(), WindowS: o.duration.Seconds(),
	}
	e.logf("durable: %.0f acknowledged edits/s; ack p50 %.2f ms, p99 %.2f ms, max %.2f ms; server CPU %.1f%%; %v",
		res.AckedOpsS, res.Ack.P50ms, res.Ack.P99ms, res.Ack.MaxMs, res.ServerPct, res.Commit)
	return res, nil
}

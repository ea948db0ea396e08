package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// idleResult is the JSON result of --mode idle, shaped like the anchors' idle.mjs rows.
type idleResult struct {
	Label  string     `json:"label,omitempty"`
	Proto  string     `json:"proto"`
	Docs   int        `json:"docs"`
	RSS0MB float64    `json:"rss0_mb"`
	Steps  []idleStep `json:"steps"`
	// MarginalRSSPerConnKB is (RSS at the last step - RSS at the first) / (connections added):
	// the cost of one more socket on documents already open.
	MarginalRSSPerConnKB float64 `json:"marginal_rss_per_conn_kb"`
}

type idleStep struct {
	N               int            `json:"n"`
	Open            int            `json:"open"`
	ConnectFailures int            `json:"connect_failures"`
	ConnectErrors   map[string]int `json:"connect_errors,omitempty"`
	ConnectS        float64        `json:"connect_s"`
	RSSMB           float64        `json:"rss_mb"`
	// RSSPerConnKB is (RSS - RSS with no connection) / N: documents included.
	RSSPerConnKB      float64 `json:"rss_per_conn_kb"`
	IdleServerCPUPct  float64 `json:"idle_server_cpu_pct"`
	IdleGenCPUPct     float64 `json:"idle_gen_cpu_pct"`
	OtherCPUPct       float64 `json:"other_cpu_pct"`
	ServerMsgsOutPerS float64 `json:"server_msgs_out_per_s"`
}

// benchIdle measures the server's memory per idle connection: RSS with no connection, then with
// each step's number of connected, synced clients spread round-robin over --docs documents, each
// with a small presence state renewed every --renew (as the anchors' clients renew theirs).
func benchIdle(ctx context.Context, e *benchEnv) (*idleResult, error) {
	o := e.o
	if e.pid <= 0 {
		return nil, fmt.Errorf("bench: --mode idle needs --server-pid or --spawn (it reads the server's RSS)")
	}
	steps, err := parseSteps(o.steps)
	if err != nil {
		return nil, err
	}
	sleepUntil(ctx, time.Now().Add(2*time.Second))
	rss0, err := procRSS(e.pid)
	if err != nil {
		return nil, err
	}
	res := &idleResult{Label: o.label, Proto: o.proto, Docs: o.docs, RSS0MB: round1(float64(rss0) / (1 << 20))}
	var conns []typist
	defer func() { closeAll(conns) }()
	stopRenew := make(chan struct{})
	var renewWG sync.WaitGroup
	defer func() { close(stopRenew); renewWG.Wait() }()
	received := func() int64 {
		var n int64
		for _, c := range conns {
			n += c.received()
		}
		return n
	}
	for _, n := range steps {
		have := len(conns)
		ids := randomClientIDs(n-have, e.maxClientID())
		e.logf("idle: connecting %d more %s clients (%d in all) over %d documents", n-have, o.proto, n, o.docs)
		var fails failureCounts
		t0 := time.Now()
		fresh := dialParallel(ctx, n-have, o.connectConcurrency, func(ctx context.Context, i int) (typist, error) {
			return dialTypist(ctx, e, e.url, docName(o.docPrefix, (have+i)%o.docs), ids[i], false, nil, nil)
		}, &fails)
		connectS := time.Since(t0).Seconds()
		var live []typist
		for _, c := range fresh {
			if c == nil {
				continue
			}
			live = append(live, c)
			if o.awareness && o.proto == "tandem" { // the Yjs clients announced theirs on connect
				_ = c.renewPresence()
			}
		}
		conns = append(conns, live...)
		if o.awareness && o.renew > 0 {
			renewWG.Add(1)
			go renewPresence(live, o.renew, stopRenew, &renewWG)
		}
		c0 := sampleCPU(e.pid)
		m0 := received()
		sleepUntil(ctx, time.Now().Add(o.settle))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c1 := sampleCPU(e.pid)
		m1 := received()
		rss, err := procRSS(e.pid)
		if err != nil {
			return nil, err
		}
		open := 0
		for _, c := range conns {
			select {
			case <-c.ended():
			default:
				open++
			}
		}
		cpu := cpuBetween(c0, c1)
		st := idleStep{
			N: n, Open: open, ConnectFailures: fails.total(), ConnectErrors: fails.snapshot(), ConnectS: round2(connectS),
			RSSMB: round1(float64(rss) / (1 << 20)), RSSPerConnKB: round1(float64(rss-rss0) / 1024 / float64(n)),
			IdleServerCPUPct: cpu.ServerPct, IdleGenCPUPct: cpu.GenPct, OtherCPUPct: cpu.OtherPct,
			ServerMsgsOutPerS: round1(float64(m1-m0) / c1.at.Sub(c0.at).Seconds()),
		}
		res.Steps = append(res.Steps, st)
		e.logf("idle: %d open: RSS %.1f MiB, %.1f KiB per connection; server CPU %.1f%%", open, st.RSSMB, st.RSSPerConnKB, st.IdleServerCPUPct)
	}
	if len(res.Steps) >= 2 {
		a, b := res.Steps[0], res.Steps[len(res.Steps)-1]
		res.MarginalRSSPerConnKB = round1((b.RSSMB - a.RSSMB) * 1024 / float64(b.N-a.N))
	}
	return res, nil
}

// renewPresence re-announces each client's presence every period, spread over the period, until
// stop is closed (the anchors' clients renew theirs every 15 s).
func renewPresence(ts []typist, period time.Duration, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	if len(ts) == 0 {
		return
	}
	step := period / time.Duration(len(ts))
	if step <= 0 {
		step = time.Microsecond
	}
	t := time.NewTicker(step)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(ts) {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		_ = ts[i].renewPresence()
	}
}

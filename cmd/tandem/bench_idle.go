package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/protocol"
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
	res := &idleResult{Label: o.label, Proto: "tandem", Docs: o.docs, RSS0MB: round1(float64(rss0) / (1 << 20))}
	var msgs countingHook
	var conns []*client.Conn
	defer func() { closeAll(conns) }()
	stopRenew := make(chan struct{})
	var renewWG sync.WaitGroup
	defer func() { close(stopRenew); renewWG.Wait() }()
	for _, n := range steps {
		specs := make([]dialSpec, 0, n-len(conns))
		for i := len(conns); i < n; i++ {
			specs = append(specs, dialSpec{doc: docName(o.docPrefix, i%o.docs), opts: client.Options{
				Observe: true, OnUpdate: msgs.update, OnAwareness: msgs.awareness, HandshakeTimeout: 30 * time.Second,
			}})
		}
		e.logf("idle: connecting %d more clients (%d in all) over %d documents", len(specs), n, o.docs)
		var fails failureCounts
		t0 := time.Now()
		fresh := dialAll(ctx, e.url, specs, o.connectConcurrency, &fails)
		connectS := time.Since(t0).Seconds()
		for _, c := range fresh {
			if c == nil {
				continue
			}
			conns = append(conns, c)
			if o.awareness {
				_ = c.SetAwareness(presence(c.ClientID()))
			}
		}
		if o.awareness && o.renew > 0 {
			renewWG.Add(1)
			go renewPresence(fresh, o.renew, stopRenew, &renewWG)
		}
		c0 := sampleCPU(e.pid)
		m0 := msgs.total()
		sleepUntil(ctx, time.Now().Add(o.settle))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c1 := sampleCPU(e.pid)
		m1 := msgs.total()
		rss, err := procRSS(e.pid)
		if err != nil {
			return nil, err
		}
		open := 0
		for _, c := range conns {
			select {
			case <-c.Done():
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
// stop is closed.
func renewPresence(conns []*client.Conn, period time.Duration, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	live := conns[:0:0]
	for _, c := range conns {
		if c != nil {
			live = append(live, c)
		}
	}
	if len(live) == 0 {
		return
	}
	step := period / time.Duration(len(live))
	if step <= 0 {
		step = time.Microsecond
	}
	t := time.NewTicker(step)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(live) {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		_ = live[i].SetAwareness(presence(live[i].ClientID()))
	}
}

// countingHook counts the messages the clients receive.
type countingHook struct {
	mu sync.Mutex
	n  int64
}

func (h *countingHook) update([]byte) { h.mu.Lock(); h.n++; h.mu.Unlock() }

func (h *countingHook) awareness([]protocol.AwarenessEntry) { h.mu.Lock(); h.n++; h.mu.Unlock() }

func (h *countingHook) total() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

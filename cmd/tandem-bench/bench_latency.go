package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// latencyResult is the JSON result of --mode latency. Field names follow the anchors' typing.mjs
// so that rows of both can be summarised together.
type latencyResult struct {
	Label              string  `json:"label,omitempty"`
	Proto              string  `json:"proto"`
	Mode               string  `json:"mode"`
	Docs               int     `json:"docs"`
	PerDoc             float64 `json:"perdoc"`
	Clients            int     `json:"clients"`
	TargetOpsS         float64 `json:"target_ops_s"`
	AchievedOpsS       float64 `json:"achieved_ops_s"`
	DeliveriesExpected int64   `json:"deliveries_expected"`
	DeliveriesReceived int64   `json:"deliveries_received"`
	Dropped            int64   `json:"dropped"`
	latencySummary
	// Nodes is the number of servers the clients were spread over (client i on node i mod
	// Nodes); with several, Cross is the delivery latency of the edits whose author is connected
	// to another node than the receiver (part of the summary above).
	Nodes int             `json:"nodes,omitempty"`
	Cross *latencySummary `json:"cross,omitempty"`
	// Ack is the acknowledgement latency of the edits sent in the window: from an edit's send to
	// the ack that reports it durable (tandem observers only; N is 0 otherwise).
	Ack latencySummary `json:"ack"`
	// Commit is the server's commit histograms over the window (tandem only): the queue and the
	// disk apart (bench_commit.go).
	Commit commitSplit `json:"commit,omitempty"`
	cpuWindow
	SchedLagMaxMs     float64        `json:"sched_lag_max_ms"`
	ServerMsgsOutPerS float64        `json:"server_msgs_out_per_s"`
	ServerRSSMB       float64        `json:"server_rss_mb"`
	ClosedClients     int            `json:"closed_clients"`
	CloseReasons      map[string]int `json:"close_reasons,omitempty"`
	ConnectFailures   int            `json:"connect_failures"`
	ConnectErrors     map[string]int `json:"connect_errors,omitempty"`
	ConnectS          float64        `json:"connect_s"`
	EditErrors        int64          `json:"edit_errors"`
	DecodeErrors      int64          `json:"decode_errors"`
	WarmupS           float64        `json:"warmup_s"`
	WindowS           float64        `json:"window_s"`
	GoMaxProcs        int            `json:"gen_gomaxprocs"`
	GenCPUs           string         `json:"gen_cpus"`              // CPUs the generator may run on
	ServerCPUs        string         `json:"server_cpus,omitempty"` // CPUs the server may run on
	GenUsPerDelivery  float64        `json:"gen_us_per_delivery"`   // generator CPU over the window / updates received in it
	ServerUsPerEdit   float64        `json:"server_us_per_edit"`    // server CPU over the window / edits sent in it
}

// sendLog holds the send time of each of one client's characters, indexed by the character's
// clock: the op's ID (client, clock) travels inside the update, so the receivers look the time up
// here and nothing is added to the payload (the anchors' method). Times are nanoseconds since the
// run's base, plus one so that zero means "not sent".
type sendLog struct {
	times []atomic.Int64
	doc   int // index of the client's document
	node  int // index of the client's server in e.urls
}

// latencyRun is the state shared by the typists and the receivers of one run.
type latencyRun struct {
	base             time.Time    // set before the first client connects; times are ns since it
	winStart, winEnd atomic.Int64 // window bounds (sends inside it count); zero until typing starts
	logs             map[uint64]*sendLog
	hist             *shardedHist
	crossHist        *shardedHist  // deliveries between clients of different nodes
	ackHist          *shardedHist  // send to durable ack, tandem observers only
	received         *shardedCount // deliveries measured (sent in the window, by another client)
	msgs             *shardedCount // updates received
	decodeErrors     atomic.Int64
	editErrors       atomic.Int64
	measuredOps      atomic.Int64
	expected         atomic.Int64
	lagMax           atomic.Int64
	firstEditErr     sync.Once
	editErrMsg       string // the first edit error, set under firstEditErr
	members          []int  // clients per document
}

// acker returns the ack hook of client self: ack seq n reports the client's first n updates
// durable, and its update k carries the character of clock k (one keystroke per update), so each
// newly acknowledged character sent in the window records ack - send. It is called from the
// client's reader goroutine only.
func (r *latencyRun) acker(self uint64, shard int) func(uint64) {
	var acked uint64
	return func(seq uint64) {
		now := int64(time.Since(r.base))
		l := r.logs[self]
		winStart, winEnd := r.winStart.Load(), r.winEnd.Load()
		for k := acked; k < seq && k < uint64(len(l.times)); k++ {
			t0 := l.times[k].Load() - 1
			if t0 >= winStart && t0 < winEnd {
				r.ackHist.add(shard, time.Duration(now-t0))
			}
		}
		acked = max(acked, seq)
	}
}

// receiver returns the receive hook of client self, connected to node (shard picks its histogram
// shard): for each op that an update carries, sent in the window by another client, it records
// receive - send, in the cross-node histogram too when the author is on another node.
func (r *latencyRun) receiver(self uint64, node, shard int) func([]clockRange, error) {
	return func(ranges []clockRange, err error) {
		now := int64(time.Since(r.base))
		r.msgs.add(shard, 1)
		if err != nil {
			r.decodeErrors.Add(1)
			return
		}
		for _, rg := range ranges {
			if rg.client == self {
				continue
			}
			l := r.logs[rg.client]
			if l == nil {
				continue
			}
			winStart, winEnd := r.winStart.Load(), r.winEnd.Load()
			for k := rg.start; k < rg.end && k < uint64(len(l.times)); k++ {
				t0 := l.times[k].Load() - 1
				if t0 >= winStart && t0 < winEnd {
					r.hist.add(shard, time.Duration(now-t0))
					r.received.add(shard, 1)
					if l.node != node {
						r.crossHist.add(shard, time.Duration(now-t0))
					}
				}
			}
		}
	}
}

func benchLatency(ctx context.Context, e *benchEnv) (*latencyResult, error) {
	o := e.o
	n, docs := o.clients, o.docs
	ids := randomClientIDs(n, e.maxClientID())
	perLog := int(o.rate*(o.warmup+o.duration+time.Second).Seconds()) + 64
	r := &latencyRun{
		base:      time.Now(),
		logs:      make(map[uint64]*sendLog, n),
		hist:      newShardedHist(4 * runtime.GOMAXPROCS(0)),
		crossHist: newShardedHist(4 * runtime.GOMAXPROCS(0)),
		ackHist:   newShardedHist(4 * runtime.GOMAXPROCS(0)),
		received:  newShardedCount(4 * runtime.GOMAXPROCS(0)),
		msgs:      newShardedCount(4 * runtime.GOMAXPROCS(0)),
		members:   make([]int, docs),
	}
	// Contiguous blocks, as the anchors' typing test: document d holds clients [d*n/docs, (d+1)*n/docs).
	// With several nodes, client i connects to node i mod their number: every document has
	// editors on every node (when it has as many clients as there are nodes).
	docOf := func(i int) int { return i * docs / n }
	nodeOf := func(i int) int { return i % len(e.urls) }
	for i, id := range ids {
		d := docOf(i)
		r.members[d]++
		r.logs[id] = &sendLog{times: make([]atomic.Int64, perLog), doc: d, node: nodeOf(i)}
	}
	e.logf("latency: connecting %d %s clients over %d documents on %d servers", n, o.proto, docs, len(e.urls))
	var fails failureCounts
	t0 := time.Now()
	conns := dialParallel(ctx, n, o.connectConcurrency, func(ctx context.Context, i int) (typist, error) {
		return dialTypist(ctx, e, e.urls[nodeOf(i)], docName(o.docPrefix, docOf(i)), ids[i], o.apply, r.receiver(ids[i], nodeOf(i), i), r.acker(ids[i], i))
	}, &fails)
	connectS := time.Since(t0).Seconds()
	defer closeAll(conns)
	for _, ex := range fails.examples() {
		e.logf("connection refused: %s", ex)
	}
	if fails.total() == n {
		return nil, fmt.Errorf("bench: no client connected: %v", fails.snapshot())
	}
	if o.awareness && o.proto == "tandem" { // the Yjs clients announced theirs on connect
		for _, c := range conns {
			if c != nil {
				_ = c.renewPresence()
			}
		}
	}
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	period := time.Duration(float64(time.Second) / o.rate)
	start := time.Since(r.base) + 50*time.Millisecond
	winStart := int64(start + o.warmup)
	winEnd := winStart + int64(o.duration)
	r.winStart.Store(winStart)
	r.winEnd.Store(winEnd)
	stopAt := time.Duration(winEnd)
	e.logf("latency: typing %g edits/s per client (%g/s in all), %v warm-up, %v window", o.rate, o.rate*float64(n-fails.total()), o.warmup, o.duration)

	wg := r.startTyping(ctx, conns, start, period, stopAt, o)
	// The CPU window is the measurement window.
	sleepUntil(ctx, r.base.Add(time.Duration(winStart)))
	if err := e.prof.start(); err != nil {
		e.logf("latency: %v", err)
	}
	c0 := sampleCPU(e.serverPIDs()...)
	msgs0 := r.msgs.sum()
	var commit0 histCounts
	if o.proto == "tandem" {
		commit0 = scrapeCommit(ctx, e.url)
	}
	sleepUntil(ctx, r.base.Add(time.Duration(winEnd)))
	c1 := sampleCPU(e.serverPIDs()...)
	msgs1 := r.msgs.sum()
	var commit commitSplit
	if o.proto == "tandem" {
		commit = splitBetween(commit0, scrapeCommit(ctx, e.url))
	}
	if err := e.prof.stop(); err != nil {
		e.logf("latency: %v", err)
	}
	wg.Wait()
	expected := r.expected.Load()
	graceEnd := time.Now().Add(o.grace)
	for r.received.sum() < expected && time.Now().Before(graceEnd) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	closed, reasons := closedDuring(e, conns)
	if r.editErrors.Load() > 0 {
		r.firstEditErr.Do(func() {})
		e.logf("latency: %d edits failed; the first: %s", r.editErrors.Load(), r.editErrMsg)
	}
	h := r.hist.merged()
	cpu := cpuBetween(c0, c1)
	res := &latencyResult{
		Label: o.label, Proto: o.proto, Mode: map[bool]string{true: "apply", false: "peek"}[o.apply],
		Docs: docs, PerDoc: round1(float64(n) / float64(docs)), Clients: n,
		TargetOpsS:         o.rate * float64(n),
		AchievedOpsS:       round1(float64(r.measuredOps.Load()) / o.duration.Seconds()),
		DeliveriesExpected: expected,
		DeliveriesReceived: r.received.sum(),
		Dropped:            expected - r.received.sum(),
		latencySummary:     h.summary(),
		Ack:                r.ackHist.merged().summary(),
		Commit:             commit,
		cpuWindow:          cpu,
		SchedLagMaxMs:      round1(float64(r.lagMax.Load()) / 1e6),
		ServerMsgsOutPerS:  round1(float64(msgs1-msgs0) / c1.at.Sub(c0.at).Seconds()),
		ServerRSSMB:        e.serverRSSMB(),
		ClosedClients:      closed,
		CloseReasons:       reasons,
		ConnectFailures:    fails.total(),
		ConnectErrors:      fails.snapshot(),
		ConnectS:           round2(connectS),
		EditErrors:         r.editErrors.Load(),
		DecodeErrors:       r.decodeErrors.Load(),
		WarmupS:            o.warmup.Seconds(),
		WindowS:            o.duration.Seconds(),
		GoMaxProcs:         runtime.GOMAXPROCS(0),
		GenCPUs:            procCPUList(0),
		ServerCPUs:         procCPUList(e.pid),
	}
	if len(e.urls) > 1 {
		res.Nodes = len(e.urls)
		cross := r.crossHist.merged().summary()
		res.Cross = &cross
	}
	if m := msgs1 - msgs0; m > 0 {
		res.GenUsPerDelivery = round2(float64(c1.self-c0.self) / float64(time.Microsecond) / float64(m))
	}
	if n := r.measuredOps.Load(); n > 0 && e.pid > 0 {
		res.ServerUsPerEdit = round1(float64(c1.server-c0.server) / float64(time.Microsecond) / float64(n))
	}
	e.logf("latency: %.0f edits/s achieved (target %.0f); p50 %.2f ms, p95 %.2f, p99 %.2f, max %.2f; ack p50 %.2f ms, p99 %.2f, max %.2f (%d acked); %d/%d deliveries; server CPU %.1f%%, bench %.1f%% (%.2f µs per delivery), other %.1f%%; %d closed, %d refused",
		res.AchievedOpsS, res.TargetOpsS, res.P50ms, res.P95ms, res.P99ms, res.MaxMs, res.Ack.P50ms, res.Ack.P99ms, res.Ack.MaxMs, res.Ack.N, res.DeliveriesReceived, res.DeliveriesExpected,
		cpu.ServerPct, cpu.GenPct, res.GenUsPerDelivery, cpu.OtherPct, closed, res.ConnectFailures)
	return res, nil
}

// startTyping runs the typists' keystrokes: one character every period per typist, at its own
// cursor, from its phase (drawn at random in [0, period)) after start until stopAt (all relative
// to the run's base). Instead of a goroutine and a timer per typist, GOMAXPROCS goroutines each
// walk their share of the typists in phase order (with one period for all, the order of the
// keystrokes repeats every round), and sleep at least a millisecond between batches: at thousands
// of keystrokes per second, each wake-up sends the few that fell due, instead of one wake-up per
// keystroke. A keystroke may so go out up to about a millisecond after its slot; its send time is
// taken just before its write, so the latencies are exact, and a shard that falls behind catches
// up (as the anchors' scheduler does) and reports its lag. The returned group is done when every
// shard has stopped.
func (r *latencyRun) startTyping(ctx context.Context, conns []typist, start, period, stopAt time.Duration, o benchOptions) *sync.WaitGroup {
	shards := runtime.GOMAXPROCS(0)
	slots := make([][]typingSlot, shards)
	k := 0
	for _, c := range conns {
		if c == nil {
			continue
		}
		l := r.logs[c.clientID()]
		slots[k%shards] = append(slots[k%shards], typingSlot{c: c, l: l, phase: time.Duration(rand.Int64N(int64(period))),
			members: int64(r.members[l.doc] - 1), renewAt: o.renew})
		k++
	}
	var wg sync.WaitGroup
	for _, sl := range slots {
		if len(sl) == 0 {
			continue
		}
		sort.Slice(sl, func(i, j int) bool { return sl[i].phase < sl[j].phase })
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.typeShard(ctx, sl, start, period, stopAt, o)
		}()
	}
	return &wg
}

// typingSlot is one typist in a typing shard.
type typingSlot struct {
	c       typist
	l       *sendLog
	phase   time.Duration // offset of its keystrokes in each round
	members int64         // the other clients of its document: deliveries per keystroke
	renewAt time.Duration // next presence renewal, from the start of typing
}

// typingBatch is the least time a typing shard sleeps between batches of keystrokes.
const typingBatch = time.Millisecond

// typeShard sends the keystrokes of one shard's typists, sorted by phase, round after round.
func (r *latencyRun) typeShard(ctx context.Context, slots []typingSlot, start, period, stopAt time.Duration, o benchOptions) {
	var measured, expected int64
	defer func() {
		r.measuredOps.Add(measured)
		r.expected.Add(expected)
	}()
	winStart, winEnd := r.winStart.Load(), r.winEnd.Load()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	round := time.Duration(0)
	for j := 0; ; {
		s := &slots[j]
		due := start + round + s.phase
		if due >= stopAt {
			return // the slots are in order: every later one is later still
		}
		now := time.Since(r.base)
		if due > now {
			t.Reset(max(due-now, typingBatch))
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		storeMax(&r.lagMax, int64(now-due))
		clock := s.c.nextClock()
		sent := int64(time.Since(r.base))
		if clock < uint64(len(s.l.times)) {
			s.l.times[clock].Store(sent + 1)
		}
		if sent >= winStart && sent < winEnd {
			measured++
			expected += s.members
		}
		if err := s.c.typeChar(); err != nil {
			r.editErrors.Add(1)
			r.firstEditErr.Do(func() { r.editErrMsg = err.Error() })
		}
		if o.awareness && o.renew > 0 && now-start >= s.renewAt {
			_ = s.c.renewPresence()
			s.renewAt += o.renew
		}
		if j++; j == len(slots) {
			j, round = 0, round+period
		}
	}
}

// storeMax raises m to v if v is larger.
func storeMax(m *atomic.Int64, v int64) {
	for {
		old := m.Load()
		if v <= old || m.CompareAndSwap(old, v) {
			return
		}
	}
}

// sleepUntil sleeps until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

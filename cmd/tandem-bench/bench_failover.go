package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
)

// failoverKill is one kill of --mode failover.
type failoverKill struct {
	Node    string `json:"node"`
	Clients int    `json:"clients"`
	// Reconnect is the time from the kill to each client's handshake on another node (the sync
	// answer applied and the updates the server lacked sent); Synced to that and, as well, every
	// edit the client had made before the kill acknowledged as durable.
	Reconnect latencySummary `json:"reconnect"`
	Synced    latencySummary `json:"synced"`
	NotSynced int            `json:"not_synced"` // clients not synced within failoverWait
	// MovedTo counts the clients by the node they reconnected to.
	MovedTo map[string]int `json:"moved_to"`
	// UnackedAtKill is the number of the clients' edits not yet acknowledged at the kill.
	UnackedAtKill int64 `json:"unacked_at_kill"`
	// Warm is whether the documents were open on the other nodes too (--warm).
	Warm bool `json:"warm"`
	// Leaders names, just before the kill, the server that led each JetStream stream (the
	// embedded servers take their node's name); Led lists those the killed node's server led.
	Leaders map[string]string `json:"leaders,omitempty"`
	Led     []string          `json:"led,omitempty"`
}

// failoverResult is the JSON result of --mode failover.
type failoverResult struct {
	Label         string         `json:"label,omitempty"`
	Mode          string         `json:"mode"`
	Nodes         int            `json:"nodes"`
	Clients       int            `json:"clients"`
	Docs          int            `json:"docs"`
	RatePerClient float64        `json:"rate_per_client"`
	BackoffMinMs  float64        `json:"backoff_min_ms"`
	BackoffMaxMs  float64        `json:"backoff_max_ms"`
	Kills         []failoverKill `json:"kills"`
	// Reconnect and Synced pool every kill's clients.
	Reconnect latencySummary `json:"reconnect"`
	Synced    latencySummary `json:"synced"`
	NotSynced int            `json:"not_synced"`
}

// failoverWait bounds how long a kill's clients are waited for.
const failoverWait = time.Minute

// benchFailover kills the spawned cluster's nodes one after another (--kills, in turn) under
// --clients editors connected to the node being killed (package client with Reconnect, typing
// --rate edits a second into --docs documents), and times each client's move to another node:
// from the kill (SIGKILL) to its reconnection, and to the acknowledgement of every edit it had
// made before the kill. The clients' dialer plays the load balancer: it sends a client whose node
// is down to the next live one (failoverDialer). After each kill the node is started again, on
// its addresses and data, and the next kill waits until every node is ready and --settle has
// passed (the restarted NATS server catching up on the streams). With --warm, the documents are
// also open on the other nodes (an observer each), as when their editors are spread over the
// nodes; without, the other nodes load them when the moving clients arrive.
func benchFailover(ctx context.Context, e *benchEnv) (*failoverResult, error) {
	o := e.o
	c := e.cluster
	res := &failoverResult{Label: o.label, Mode: "failover", Nodes: len(c.nodes), Clients: o.clients, Docs: o.docs,
		RatePerClient: o.rate, BackoffMinMs: float64(o.backoffMin) / float64(time.Millisecond), BackoffMaxMs: float64(o.backoffMax) / float64(time.Millisecond)}
	allReconnect, allSynced := newHist(), newHist()
	for k := range o.kills {
		victim := k % len(c.nodes)
		for i := range c.nodes {
			if err := c.waitReady(ctx, i, failoverWait); err != nil {
				return nil, err
			}
		}
		kr, rh, sh, err := failoverOnce(ctx, e, victim, o.docPrefix+"-k"+strconv.Itoa(k))
		if err != nil {
			return nil, err
		}
		res.Kills = append(res.Kills, kr)
		allReconnect.merge(rh)
		allSynced.merge(sh)
		res.NotSynced += kr.NotSynced
		e.logf("failover: killed %s (leading %v) under %d clients: reconnected p50 %.0f ms, p99 %.0f, max %.0f; synced p50 %.0f ms, p99 %.0f, max %.0f; %d not synced; moved to %v",
			kr.Node, kr.Led, kr.Clients, kr.Reconnect.P50ms, kr.Reconnect.P99ms, kr.Reconnect.MaxMs, kr.Synced.P50ms, kr.Synced.P99ms, kr.Synced.MaxMs, kr.NotSynced, kr.MovedTo)
		if err := c.start(ctx, victim); err != nil {
			return nil, err
		}
		if err := c.waitReady(ctx, victim, failoverWait); err != nil {
			return nil, err
		}
		sleepUntil(ctx, time.Now().Add(o.settle))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	res.Reconnect, res.Synced = allReconnect.summary(), allSynced.summary()
	return res, nil
}

// failoverClient is one editor of a failover: its Conn and what its callbacks saw.
type failoverClient struct {
	c      *client.Conn
	addr   atomic.Value  // string: the node address its current socket went to
	killed atomic.Bool   // set just before the kill
	back   chan struct{} // closed by the first reconnection after the kill
	once   sync.Once
}

// failoverOnce runs one kill of node victim under fresh clients on documents named from prefix.
func failoverOnce(ctx context.Context, e *benchEnv, victim int, prefix string) (failoverKill, *hist, *hist, error) {
	o, c := e.o, e.cluster
	kr := failoverKill{Node: c.nodes[victim].name, MovedTo: map[string]int{}, Warm: o.warm}
	addrs := make([]string, len(c.nodes))
	names := map[string]string{}
	for i, nd := range c.nodes {
		addrs[i], names[nd.addr] = nd.addr, nd.name
	}
	url := "ws://" + c.nodes[victim].addr
	clients := make([]*failoverClient, o.clients)
	var fails failureCounts
	dialParallel(ctx, o.clients, o.connectConcurrency, func(ctx context.Context, i int) (typist, error) {
		fc := &failoverClient{back: make(chan struct{})}
		fc.addr.Store("")
		conn, err := client.Dial(ctx, url, docName(prefix, i*o.docs/o.clients), client.Options{
			Observe: true, Reconnect: true, MinBackoff: o.backoffMin, MaxBackoff: o.backoffMax,
			HandshakeTimeout: 10 * time.Second,
			// The balancer: survivors in turn from a different one for each client, so the
			// dead node's clients spread over them.
			Dialer: &websocket.Dialer{ReadBufferSize: 4096, WriteBufferSize: 4096,
				NetDialContext: failoverDialer(addrs, victim+1+i%max(1, len(addrs)-1), func(a string) { fc.addr.Store(a) })},
			OnStatus: func(s client.Status, _ error) {
				if s == client.StatusConnected && fc.killed.Load() {
					fc.once.Do(func() { close(fc.back) })
				}
			},
		})
		if err != nil {
			return nil, err
		}
		fc.c = conn
		clients[i] = fc
		return nil, nil
	}, &fails)
	defer func() {
		for _, fc := range clients {
			if fc != nil {
				fc.c.Close()
			}
		}
	}()
	if n := fails.total(); n > 0 {
		return kr, nil, nil, fmt.Errorf("bench: failover: %d of %d clients did not connect to %s: %v", n, o.clients, kr.Node, fails.examples())
	}
	kr.Clients = len(clients)
	if o.warm {
		// One observer per document on every other node keeps the documents open there: the
		// moving clients join a loaded document that follows the log.
		var watchers []*client.Conn
		defer func() {
			for _, w := range watchers {
				w.Close()
			}
		}()
		for i, nd := range c.nodes {
			if i == victim {
				continue
			}
			for d := range o.docs {
				w, err := client.Dial(ctx, "ws://"+nd.addr, docName(prefix, d), client.Options{Observe: true, HandshakeTimeout: 10 * time.Second})
				if err != nil {
					return kr, nil, nil, fmt.Errorf("bench: failover: watcher on %s: %w", nd.name, err)
				}
				watchers = append(watchers, w)
			}
		}
	}

	// Type until the clients are measured, then stop. Each client starts at a random phase of
	// the period, so that the kill finds some with an edit just sent and others between edits.
	typeCtx, stopTyping := context.WithCancel(ctx)
	var typing sync.WaitGroup
	period := time.Duration(float64(time.Second) / o.rate)
	for _, fc := range clients {
		typing.Add(1)
		go func() {
			defer typing.Done()
			sleepUntil(typeCtx, time.Now().Add(rand.N(period)))
			t := time.NewTicker(period)
			defer t.Stop()
			for {
				select {
				case <-t.C:
				case <-typeCtx.Done():
					return
				}
				_ = fc.c.Edit(func(d *crdt.Doc) error { return d.Text(benchRoot).Insert(d.Text(benchRoot).Len(), "x") })
			}
		}()
	}
	defer func() { stopTyping(); typing.Wait() }()
	sleepUntil(ctx, time.Now().Add(o.warmup))

	kr.Leaders = c.streamLeaders(ctx, (victim+1)%len(c.nodes))
	for _, name := range clusterStreams {
		if kr.Leaders[name] == kr.Node {
			kr.Led = append(kr.Led, name)
		}
	}

	// The kill. Each client's wait for its edits starts here: WaitSaved's target is every edit
	// made before the call.
	for _, fc := range clients {
		fc.killed.Store(true)
		kr.UnackedAtKill += int64(fc.c.Clock() - fc.c.Saved())
	}
	wctx, cancel := context.WithTimeout(ctx, failoverWait)
	defer cancel()
	type mark struct{ reconnect, saved time.Time }
	marks := make([]mark, len(clients))
	var wg sync.WaitGroup
	var killedAt time.Time
	start := make(chan struct{})
	for i, fc := range clients {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			if fc.c.WaitSaved(wctx) == nil {
				marks[i].saved = time.Now()
			}
		}()
		go func() {
			defer wg.Done()
			select {
			case <-fc.back:
				marks[i].reconnect = time.Now()
			case <-wctx.Done():
			}
		}()
	}
	killedAt = c.kill(victim)
	close(start)
	wg.Wait()

	rh, sh := newHist(), newHist()
	for i, m := range marks {
		if m.reconnect.IsZero() || m.saved.IsZero() {
			kr.NotSynced++
			continue
		}
		rh.add(m.reconnect.Sub(killedAt))
		sh.add(max(m.reconnect.Sub(killedAt), m.saved.Sub(killedAt)))
		kr.MovedTo[names[clients[i].addr.Load().(string)]]++
	}
	kr.Reconnect, kr.Synced = rh.summary(), sh.summary()
	return kr, rh, sh, nil
}

package main

// Several nodes: the --url list, the cluster the bench spawns with --spawn --cluster N (N tandem
// processes, each embedding a NATS server routed to the others, as docs/cluster.md §9 runs them),
// and the dialer that moves a client whose node died to another one.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// urlList is the --url flag: one or more server URLs, comma-separated or given several times.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, ",") }

func (l *urlList) Set(s string) error {
	for _, u := range strings.Split(s, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			return fmt.Errorf("empty URL in %q", s)
		}
		*l = append(*l, u)
	}
	return nil
}

// Bounds of the cluster flags.
const (
	minClusterNodes = 3 // the streams are R3
	maxClusterNodes = 7
	maxKills        = 50
	maxBackoff      = time.Minute
)

// validateCluster checks the flags of several nodes, the ramp and the failover.
func (o *benchOptions) validateCluster() error {
	if len(o.urls) > 1 {
		if o.mode != "latency" && o.mode != "ramp" {
			return fmt.Errorf("--url: several servers are for the latency and ramp modes")
		}
		if o.spawn {
			return fmt.Errorf("--url: several servers and --spawn exclude each other (--spawn --cluster N runs its own)")
		}
		if o.proto != "tandem" {
			return fmt.Errorf("--url: several servers are tandem nodes (--proto tandem)")
		}
	}
	if o.cluster != 0 {
		if o.cluster < minClusterNodes || o.cluster > maxClusterNodes {
			return fmt.Errorf("--cluster %d: want %d to %d nodes", o.cluster, minClusterNodes, maxClusterNodes)
		}
		if !o.spawn || o.serverBin == "" {
			return fmt.Errorf("--cluster needs --spawn and --server-bin: the bench runs the nodes")
		}
		if o.mode != "latency" && o.mode != "ramp" && o.mode != "failover" {
			return fmt.Errorf("--cluster: only the latency, ramp and failover modes run a cluster")
		}
		if o.proto != "tandem" {
			return fmt.Errorf("--cluster runs tandem nodes (--proto tandem)")
		}
	}
	if o.compareSingle && (o.cluster == 0 || o.mode != "ramp") {
		return fmt.Errorf("--compare-single is for --mode ramp with --cluster")
	}
	switch o.mode {
	case "ramp":
		if _, err := parseRates(o.rates); err != nil {
			return err
		}
		if o.p99Limit <= 0 || o.p99Limit > 10*time.Second {
			return fmt.Errorf("--p99-limit %v: want above 0 and at most 10s", o.p99Limit)
		}
		if o.giveUp < 0 {
			return fmt.Errorf("--give-up %d: want 0 or more", o.giveUp)
		}
	case "failover":
		if o.cluster == 0 {
			return fmt.Errorf("--mode failover needs --spawn --cluster N: it kills only nodes it started")
		}
		if o.kills < 1 || o.kills > maxKills {
			return fmt.Errorf("--kills %d: want 1 to %d", o.kills, maxKills)
		}
		// Both are given to package client explicitly: its zero MaxBackoff is not its documented
		// 20 s but MinBackoff, a fixed delay without jitter.
		if o.backoffMin <= 0 || o.backoffMax < o.backoffMin || o.backoffMax > maxBackoff {
			return fmt.Errorf("--backoff-min %v, --backoff-max %v: want 0 < min <= max <= %v", o.backoffMin, o.backoffMax, maxBackoff)
		}
	}
	return nil
}

// parseRates reads --rates: increasing edit rates per client.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 || r > maxBenchRate || len(out) > 0 && r <= out[len(out)-1] {
			return nil, fmt.Errorf("--rates %q: want increasing edit rates per client, above 0 and at most %g", s, maxBenchRate)
		}
		out = append(out, r)
	}
	return out, nil
}

// benchTarget is what the clients of one measurement connect to: one server, or a cluster's
// nodes, with the PIDs whose CPU is read.
type benchTarget struct {
	name string
	urls []string
	pids []int
}

// use points the environment at t.
func (e *benchEnv) use(t benchTarget) {
	e.urls, e.pids = t.urls, t.pids
	e.url, e.pid = t.urls[0], 0
	if len(t.pids) > 0 {
		e.pid = t.pids[0]
	}
}

// serverPIDs returns the PIDs whose CPU counts as the server's.
func (e *benchEnv) serverPIDs() []int {
	if len(e.pids) > 0 {
		return e.pids
	}
	return []int{e.pid}
}

// clusterNode is one node of a spawned cluster: its fixed addresses (a restarted node takes the
// same ones back, and the same data), and the running process (nil while it is down).
type clusterNode struct {
	name    string
	addr    string // HTTP and WebSocket, 127.0.0.1:port
	nats    string // its NATS server's client address, 127.0.0.1:port
	args    []string
	data    string
	logBase string
	starts  int
	s       *spawnedServer
}

// spawnedCluster is the nodes of --spawn --cluster N.
type spawnedCluster struct {
	bin   string
	cpus  string
	nodes []*clusterNode
	logf  func(string, ...any)
}

// freeLoopbackPorts returns n ports of 127.0.0.1 that were free a moment ago: each is listened
// on, then all are closed together, so the n are distinct.
func freeLoopbackPorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("bench: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// clusterArgs returns the serve flags of node i of n whose ports are ports[3i:3i+3] (HTTP, NATS
// client, NATS route), storing under dir.
func clusterArgs(i, n int, ports []int, dir string) (addr string, args []string) {
	var routes []string
	for j := range n {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(ports[3*j+2]))
	}
	name := "n" + strconv.Itoa(i+1)
	addr = "127.0.0.1:" + strconv.Itoa(ports[3*i])
	return addr, []string{"--embedded-nats", "--node-id", name,
		"--nats-listen", "127.0.0.1:" + strconv.Itoa(ports[3*i+1]),
		"--nats-cluster-listen", "127.0.0.1:" + strconv.Itoa(ports[3*i+2]),
		"--nats-peers", strings.Join(routes, ","),
		"--nats-store", filepath.Join(dir, name+"-nats")}
}

// spawnCluster starts n nodes of bin on loopback, storing under dir, and waits until each answers
// /readyz. The nodes start together: each waits for JetStream, which needs a quorum of them.
func spawnCluster(ctx context.Context, bin, dir string, n int, extra []string, cpus string, logf func(string, ...any)) (*spawnedCluster, error) {
	ports, err := freeLoopbackPorts(3 * n)
	if err != nil {
		return nil, err
	}
	c := &spawnedCluster{bin: bin, cpus: cpus, logf: logf}
	for i := range n {
		addr, args := clusterArgs(i, n, ports, dir)
		c.nodes = append(c.nodes, &clusterNode{name: "n" + strconv.Itoa(i+1), addr: addr, nats: "127.0.0.1:" + strconv.Itoa(ports[3*i+1]), args: append(args, extra...),
			data: filepath.Join(dir, "n"+strconv.Itoa(i+1)+".db"), logBase: filepath.Join(dir, "n"+strconv.Itoa(i+1))})
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.start(ctx, i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.stop(15 * time.Second)
		return nil, err
	}
	for i := range c.nodes {
		if err := c.waitReady(ctx, i, time.Minute); err != nil {
			c.stop(15 * time.Second)
			return nil, err
		}
	}
	logf("spawned a cluster of %d nodes: %s", n, strings.Join(c.target().urls, " "))
	return c, nil
}

// start runs node i (again, after a kill) with its addresses and data.
func (c *spawnedCluster) start(ctx context.Context, i int) error {
	nd := c.nodes[i]
	nd.starts++
	logPath := fmt.Sprintf("%s-%d.log", nd.logBase, nd.starts)
	s, err := spawnServer(ctx, c.bin, nd.addr, nd.data, logPath, nd.args, c.cpus, 90*time.Second)
	if err != nil {
		return fmt.Errorf("bench: node %s: %w", nd.name, err)
	}
	nd.s = s
	return nil
}

// waitReady polls node i's /readyz until it answers 200 (the node can append to JetStream), at
// most wait.
func (c *spawnedCluster) waitReady(ctx context.Context, i int, wait time.Duration) error {
	nd := c.nodes[i]
	deadline := time.Now().Add(wait)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+nd.addr+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bench: node %s not ready within %v (last: %v); log in %s-%d.log", nd.name, wait, err, nd.logBase, nd.starts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends node i at once (SIGKILL: its sockets drop without close frames, nothing is flushed)
// and returns the time just before the signal.
func (c *spawnedCluster) kill(i int) time.Time {
	nd := c.nodes[i]
	t := time.Now()
	nd.s.kill()
	nd.s = nil
	return t
}

// target returns the cluster's nodes as a benchTarget.
func (c *spawnedCluster) target() benchTarget {
	t := benchTarget{name: "cluster"}
	for _, nd := range c.nodes {
		t.urls = append(t.urls, "ws://"+nd.addr)
		if nd.s != nil {
			t.pids = append(t.pids, nd.s.pid())
		}
	}
	return t
}

// stop asks every running node to shut down, together, and waits for them.
func (c *spawnedCluster) stop(timeout time.Duration) {
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		if nd.s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := nd.s.stop(timeout); err != nil {
				c.logf("node %s: %v", nd.name, err)
			}
			nd.s = nil
		}()
	}
	wg.Wait()
}

// failoverDialer returns the dial function of a client whose load balancer is the bench: it
// connects to the address the URL names and, when that fails (the node is down: on loopback a
// refused connection answers at once), to the others of nodes in turn from index first on, as a
// balancer that skips dead nodes would. onConnect (may be nil) gets the address connected to.
func failoverDialer(nodes []string, first int, onConnect func(addr string)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		tries := []string{addr}
		for k := range nodes {
			if a := nodes[(first+k)%len(nodes)]; a != addr {
				tries = append(tries, a)
			}
		}
		var errs []error
		for _, a := range tries {
			dctx, cancel := context.WithTimeout(ctx, time.Second)
			nc, err := d.DialContext(dctx, network, a)
			cancel()
			if err == nil {
				if onConnect != nil {
					onConnect(a)
				}
				return nc, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, errors.Join(errs...)
	}
}

// hostPort returns the host:port of a ws:// URL.
func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}

// clusterStreams are the JetStream streams of a cluster with the default prefix (docs/cluster.md
// §2): the update log, the metadata bucket and the snapshot store.
var clusterStreams = []string{"tandem_updates", "KV_tandem_meta", "OBJ_tandem_snapshots"}

// streamLeaders asks the NATS server of node i which server leads each of clusterStreams (the
// embedded servers are named after their nodes), at most 5 s. A stream it cannot tell is left
// out.
func (c *spawnedCluster) streamLeaders(ctx context.Context, i int) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := map[string]string{}
	nc, err := nats.Connect("nats://"+c.nodes[i].nats, nats.Name("tandem-bench"), nats.Timeout(2*time.Second))
	if err != nil {
		return out
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return out
	}
	for _, name := range clusterStreams {
		st, err := js.Stream(ctx, name)
		if err != nil {
			continue
		}
		if info := st.CachedInfo(); info != nil && info.Cluster != nil && info.Cluster.Leader != "" {
			out[name] = info.Cluster.Leader
		}
	}
	return out
}

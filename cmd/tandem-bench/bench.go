package main

// tandem-bench: a load generator for a tandem server on this machine. It opens real WebSocket
// clients (package client) and measures what an editor would feel (broadcast latency, sync time,
// acknowledgement time) and what the server pays (CPU and RSS from /proc). The shapes of load
// follow the anchors' generator (shared/anchors/yjs-load) so that the figures can be put side by
// side: see bench/README.md.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandemhq/tandem/cmd/internal/cliflag"
	"github.com/tandemhq/tandem/crdt"
)

// Bounds that keep every run finite whatever the flags say.
const (
	maxBenchClients  = 20000
	maxBenchDuration = 10 * time.Minute
	maxBenchRate     = 1000.0 // edits per second per client
)

// benchOptions are the flags of tandem-bench.
type benchOptions struct {
	url                string  // the first of urls
	urls               urlList // --url: one or more servers; latency and ramp spread their clients over them
	proto              string
	mode               string
	clients            int
	docs               int
	rate               float64
	duration           time.Duration
	warmup             time.Duration
	grace              time.Duration
	docPrefix          string
	apply              bool
	awareness          bool
	renew              time.Duration
	connectConcurrency int

	serverPID  int
	spawn      bool
	serverBin  string
	serverArgs string
	serverCPUs string
	keepData   bool
	cluster    int // --cluster: nodes to spawn with embedded NATS (bench_cluster.go)

	// ramp
	rates         string
	p99Limit      time.Duration
	compareSingle bool
	giveUp        int
	// failover
	kills      int
	backoffMin time.Duration
	backoffMax time.Duration
	warm       bool

	// idle
	steps  string
	settle time.Duration
	// sync
	trace    string
	pattern  string
	n        int
	readers  int
	chunk    int
	seed     uint64
	coldWait time.Duration
	// partial
	frameBytes int
	sendBytes  int
	// heavy
	writeRate   float64
	updateBytes int

	label      string
	out        string
	quiet      bool
	cpuProfile string
}

func newBenchFlags(o *benchOptions, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tandem-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.urls, "url", "server to load (127.0.0.1, ::1 or localhost only; default ws://127.0.0.1:8080); several, comma-separated or repeated, are the nodes of a cluster: the latency and ramp modes connect client i to node i mod their number")
	fs.StringVar(&o.proto, "proto", "tandem", "protocol of the server: tandem, or yws (@y/websocket-server) and hocus (Hocuspocus) to drive the anchors with this same generator (latency and idle modes; peek observers)")
	fs.StringVar(&o.mode, "mode", "latency", "latency (typing fan-out), idle (memory per idle connection), sync (initial sync of a large document), durable (acknowledged edits per second), partial (connections holding unfinished frames: RSS while held and after they leave), heavy (data file and reload memory after heavy writing into one document; needs --spawn), ramp (latency at each of --rates: the highest rate whose ack and delivery p99 stay under --p99-limit) or failover (kill -9 a spawned cluster node under its clients and time their move to another node; needs --spawn --cluster)")
	fs.IntVar(&o.clients, "clients", 500, "number of clients (latency, durable, ramp; failover: the killed node's)")
	fs.IntVar(&o.docs, "docs", 50, "number of documents the clients are spread over")
	fs.Float64Var(&o.rate, "rate", 5, "edits per second per client (latency, failover)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measurement window (latency, durable, ramp)")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "typing before the window opens (latency, durable, ramp; failover: before the kill)")
	fs.DurationVar(&o.grace, "grace", 5*time.Second, "wait after the window for deliveries still in flight (latency)")
	fs.StringVar(&o.docPrefix, "doc-prefix", "", "prefix of document IDs (default: bench-<mode>-<pid>)")
	fs.BoolVar(&o.apply, "apply", false, "every client applies every remote update to its replica, as an editor does (default: observers only decode, as the anchors' peek mode)")
	fs.BoolVar(&o.awareness, "awareness", true, "each client announces a small presence state on connect and renews it every --renew")
	fs.DurationVar(&o.renew, "renew", 15*time.Second, "presence renewal period (0: never)")
	fs.IntVar(&o.connectConcurrency, "connect-concurrency", 50, "connections opened at once")
	fs.IntVar(&o.serverPID, "server-pid", 0, "PID of the server, for its CPU and RSS from /proc (implied by --spawn)")
	fs.BoolVar(&o.spawn, "spawn", false, "run the server given by --server-bin on 127.0.0.1 with a temporary data file, and stop it at the end")
	fs.StringVar(&o.serverBin, "server-bin", "", "tandem binary to run with --spawn (nothing is built)")
	fs.StringVar(&o.serverArgs, "server-args", "", "extra serve flags for the spawned server, space-separated")
	fs.StringVar(&o.serverCPUs, "server-cpus", "", "run the spawned server on these CPUs only (a taskset list, such as 0); give the bench its own with taskset (bench/README.md, pinned runs)")
	fs.BoolVar(&o.keepData, "keep-data", false, "keep the spawned server's temporary directory (data file and log)")
	fs.IntVar(&o.cluster, "cluster", 0, "with --spawn: run this many tandem nodes, each with an embedded NATS server routed to the others (JetStream R3, sync always), instead of one node on bbolt (latency, ramp, failover)")
	fs.StringVar(&o.rates, "rates", "1,2,4,8,16", "edits per second per client at each step (ramp)")
	fs.DurationVar(&o.p99Limit, "p99-limit", 100*time.Millisecond, "a ramp step holds when its ack p99 and its delivery p99 are below this (ramp)")
	fs.IntVar(&o.giveUp, "give-up", 2, "stop driving a target after this many failed steps in a row; 0 runs every step (ramp: one failed step on a shared machine may be a neighbour's burst)")
	fs.BoolVar(&o.compareSingle, "compare-single", false, "with --cluster: also spawn one node on bbolt and run every step against it too, right after the cluster's (ramp)")
	fs.IntVar(&o.kills, "kills", 5, "nodes killed one after another, each restarted before the next kill (failover)")
	fs.DurationVar(&o.backoffMin, "backoff-min", 500*time.Millisecond, "the clients' least reconnect delay (failover; package client's default)")
	fs.DurationVar(&o.backoffMax, "backoff-max", 20*time.Second, "the clients' largest reconnect delay (failover; package client's default)")
	fs.BoolVar(&o.warm, "warm", false, "keep the documents open on the other nodes too, with one observer each, as when their editors are spread over the nodes (failover)")
	fs.StringVar(&o.steps, "steps", "1000,5000", "connection counts to measure (idle)")
	fs.DurationVar(&o.settle, "settle", 20*time.Second, "wait after each step before measuring (idle); after a killed node is ready again (failover)")
	fs.StringVar(&o.trace, "trace", "", "editing trace (.json or .json.gz, sequential format) to build the document from (sync); empty: --pattern")
	fs.StringVar(&o.pattern, "pattern", "runs", "generated document when no --trace: seq (append), runs (jump with p=0.05) or random (sync)")
	fs.IntVar(&o.n, "n", 100000, "characters typed for a generated document (sync)")
	fs.IntVar(&o.readers, "readers", 10, "fresh clients that time their initial sync, one after another (sync)")
	fs.IntVar(&o.chunk, "chunk", 1000, "edits per update message while building the document (sync; 1 = one message per keystroke)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated document's positions and letters (sync)")
	fs.IntVar(&o.frameBytes, "frame-bytes", 1<<20, "length each unfinished frame announces (partial)")
	fs.IntVar(&o.sendBytes, "send-bytes", -1, "bytes of each unfinished frame's payload sent (partial; -1: all but the last, 0: the header only)")
	fs.DurationVar(&o.coldWait, "cold-wait", 0, "without --spawn: after building, disconnect and wait this long (past the server's idle unload) so that the first reader loads from storage (sync)")
	fs.Float64Var(&o.writeRate, "write-rate", 500_000, "bytes of text a second the writer sends into one document (heavy)")
	fs.IntVar(&o.updateBytes, "update-bytes", 16<<10, "bytes of text per update message (heavy)")
	fs.StringVar(&o.label, "label", "", "label copied into the JSON result")
	fs.StringVar(&o.out, "out", "", "append the JSON result to this file")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress on stderr")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the generator's CPU profile over the measurement window (latency) or the whole run (other modes) to this file")
	return fs
}

func parseBench(args []string, stderr io.Writer) (benchOptions, error) {
	var o benchOptions
	fs := newBenchFlags(&o, stderr)
	if err := cliflag.Parse(fs, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(o.urls) == 0 {
		o.urls = urlList{"ws://127.0.0.1:8080"}
	}
	o.url = o.urls[0]
	return o, o.validate()
}

func (o *benchOptions) validate() error {
	switch o.mode {
	case "latency", "idle", "sync", "durable", "partial", "heavy", "ramp", "failover":
	default:
		return fmt.Errorf("--mode %q: want latency, idle, sync, durable, partial, heavy, ramp or failover", o.mode)
	}
	if err := o.validateCluster(); err != nil {
		return err
	}
	switch o.proto {
	case "tandem":
	case "yws", "hocus":
		if o.mode != "latency" && o.mode != "idle" {
			return fmt.Errorf("--proto %s: only the latency and idle modes drive the anchors", o.proto)
		}
		if o.apply {
			return fmt.Errorf("--proto %s: --apply is for tandem clients only", o.proto)
		}
		if o.spawn {
			return fmt.Errorf("--proto %s: --spawn runs tandem only; start the anchor yourself and give --url and --server-pid", o.proto)
		}
	default:
		return fmt.Errorf("--proto %q: want tandem, yws or hocus", o.proto)
	}
	if o.clients < 1 || o.clients > maxBenchClients {
		return fmt.Errorf("--clients %d: want 1 to %d", o.clients, maxBenchClients)
	}
	if o.mode == "partial" && (o.frameBytes < 2 || o.frameBytes > 64<<20) {
		return fmt.Errorf("--frame-bytes %d: want 2 to %d", o.frameBytes, 64<<20)
	}
	if o.mode == "partial" && (o.sendBytes < -1 || o.sendBytes >= o.frameBytes) {
		return fmt.Errorf("--send-bytes %d: want -1 to --frame-bytes minus 1", o.sendBytes)
	}
	if o.docs < 1 || o.docs > o.clients && o.mode != "idle" && o.mode != "sync" {
		return fmt.Errorf("--docs %d: want 1 to --clients", o.docs)
	}
	if o.rate <= 0 || o.rate > maxBenchRate {
		return fmt.Errorf("--rate %g: want above 0 and at most %g", o.rate, maxBenchRate)
	}
	for name, d := range map[string]time.Duration{"--duration": o.duration, "--warmup": o.warmup, "--grace": o.grace, "--settle": o.settle, "--cold-wait": o.coldWait} {
		if d < 0 || d > maxBenchDuration {
			return fmt.Errorf("%s %v: want 0 to %v", name, d, maxBenchDuration)
		}
	}
	if o.duration <= 0 && (o.mode == "latency" || o.mode == "durable" || o.mode == "ramp") {
		return fmt.Errorf("--duration must be positive")
	}
	if o.connectConcurrency < 1 {
		return fmt.Errorf("--connect-concurrency %d: want at least 1", o.connectConcurrency)
	}
	if o.serverCPUs != "" && !o.spawn {
		return fmt.Errorf("--server-cpus is for --spawn; run your own server under taskset")
	}
	if o.spawn && o.serverBin == "" {
		return fmt.Errorf("--spawn needs --server-bin (the bench builds nothing)")
	}
	if !o.spawn {
		for _, u := range o.urls {
			if err := checkLoopback(u); err != nil {
				return err
			}
		}
	}
	if _, err := parseSteps(o.steps); err != nil && o.mode == "idle" {
		return err
	}
	if o.mode == "heavy" {
		if !o.spawn || o.proto != "tandem" {
			return fmt.Errorf("--mode heavy needs --spawn: it stops the server to read its data file")
		}
		if o.writeRate <= 0 || o.writeRate > 100<<20 {
			return fmt.Errorf("--write-rate %g: want above 0 and at most %d", o.writeRate, 100<<20)
		}
		if o.updateBytes < 1 || o.updateBytes > 512<<10 {
			return fmt.Errorf("--update-bytes %d: want 1 to %d", o.updateBytes, 512<<10)
		}
		if o.duration <= 0 {
			return fmt.Errorf("--duration must be positive")
		}
	}
	if o.mode == "sync" {
		if o.trace == "" && o.pattern != "seq" && o.pattern != "runs" && o.pattern != "random" {
			return fmt.Errorf("--pattern %q: want seq, runs or random", o.pattern)
		}
		if o.n < 1 || o.n > 10_000_000 {
			return fmt.Errorf("--n %d: want 1 to 10000000", o.n)
		}
		if o.readers < 1 || o.readers > 1000 {
			return fmt.Errorf("--readers %d: want 1 to 1000", o.readers)
		}
		if o.chunk < 1 {
			return fmt.Errorf("--chunk %d: want at least 1", o.chunk)
		}
	}
	return nil
}

// checkLoopback refuses a server URL whose host is not this machine's loopback interface: the
// bench opens thousands of connections and must never point them elsewhere.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--url %q: %v", raw, err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--url %q: the bench only loads a server on this machine (127.0.0.1, ::1 or localhost)", raw)
}

func parseSteps(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxBenchClients || len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("--steps %q: want increasing connection counts from 1 to %d", s, maxBenchClients)
		}
		out = append(out, n)
	}
	return out, nil
}

// benchEnv is what a mode needs from the command: where the server is, how to report, and (with
// --spawn) how to restart it.
type benchEnv struct {
	o       benchOptions
	url     string          // urls[0]
	urls    []string        // the nodes the clients are spread over (one but for a cluster)
	pid     int             // the server's PID (the first node's), for /proc readings
	pids    []int           // every node's PID, whose CPU the latency mode sums; nil means pid alone
	cluster *spawnedCluster // --spawn --cluster
	single  *benchTarget    // --compare-single: the bbolt node beside the cluster
	spawned *spawnedServer
	tmpDir  string
	stderr  io.Writer
	restart func(ctx context.Context) error // nil without --spawn
	start   func(ctx context.Context) error // nil without --spawn: starts the server after a stop
	prof    profiler                        // --cpuprofile
}

func (e *benchEnv) logf(format string, args ...any) {
	if !e.o.quiet {
		fmt.Fprintf(e.stderr, "bench: "+format+"\n", args...)
	}
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseBench(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return cliflag.BadUsage(stderr, "tandem-bench", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A hard bound on the whole run, whatever happens inside.
	ctx, cancel := context.WithTimeout(ctx, 3*maxBenchDuration)
	defer cancel()

	limit := raiseFileLimit()
	e := &benchEnv{o: o, url: o.url, urls: o.urls, pid: o.serverPID, stderr: stderr, prof: profiler{path: o.cpuProfile}}
	defer func() {
		if err := e.prof.stop(); err != nil {
			fmt.Fprintf(stderr, "tandem-bench: %v\n", err)
		}
	}()
	if o.docPrefix == "" {
		e.o.docPrefix = fmt.Sprintf("bench-%s-%d", o.mode, os.Getpid())
	}
	if need := uint64(2*o.clients + 200); limit > 0 && limit < need && (o.mode == "latency" || o.mode == "durable") {
		e.logf("warning: open file limit %d is below the %d this run needs", limit, need)
	}
	if o.spawn {
		dir, err := os.MkdirTemp("", "tandem-bench-")
		if err != nil {
			fmt.Fprintf(stderr, "tandem-bench: %v\n", err)
			return 1
		}
		e.tmpDir = dir
		if !o.keepData {
			defer os.RemoveAll(dir)
		}
		start := func(ctx context.Context) error {
			s, err := spawnServer(ctx, o.serverBin, "127.0.0.1:0", filepath.Join(dir, "bench.db"), filepath.Join(dir, "server.log"), strings.Fields(o.serverArgs), o.serverCPUs, 15*time.Second)
			if err != nil {
				return err
			}
			e.spawned, e.pid, e.url = s, s.pid(), "ws://"+s.addr
			e.urls = []string{e.url}
			return nil
		}
		if o.cluster == 0 || o.compareSingle {
			if err := start(ctx); err != nil {
				fmt.Fprintf(stderr, "tandem-bench: %v\n", err)
				return 1
			}
			e.logf("spawned %s (pid %d) on %s, data in %s", o.serverBin, e.pid, e.url, dir)
		}
		if o.cluster > 0 {
			if e.spawned != nil {
				e.single = &benchTarget{name: "single", urls: e.urls, pids: []int{e.pid}}
			}
			c, err := spawnCluster(ctx, o.serverBin, dir, o.cluster, strings.Fields(o.serverArgs), o.serverCPUs, e.logf)
			if err != nil {
				fmt.Fprintf(stderr, "tandem-bench: %v\n", err)
				return 1
			}
			defer c.stop(15 * time.Second)
			e.cluster = c
			e.use(c.target())
		}
		e.start = start
		e.restart = func(ctx context.Context) error {
			if err := e.spawned.stop(15 * time.Second); err != nil {
				return err
			}
			return start(ctx)
		}
		defer func() {
			if e.spawned != nil {
				if err := e.spawned.stop(15 * time.Second); err != nil {
					fmt.Fprintf(stderr, "tandem-bench: %v\n", err)
				}
			}
		}()
	}

	if o.mode != "latency" {
		if err := e.prof.start(); err != nil {
			fmt.Fprintf(stderr, "tandem-bench: %v\n", err)
			return 1
		}
	}
	var res any
	switch o.mode {
	case "latency":
		res, err = benchLatency(ctx, e)
	case "idle":
		res, err = benchIdle(ctx, e)
	case "sync":
		res, err = benchSync(ctx, e)
	case "durable":
		res, err = benchDurable(ctx, e)
	case "partial":
		res, err = benchPartial(ctx, e)
	case "heavy":
		res, err = benchHeavy(ctx, e)
	case "ramp":
		res, err = benchRamp(ctx, e)
	case "failover":
		res, err = benchFailover(ctx, e)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tandem-bench: %v\n", err)
		return 1
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(stderr, "tandem-bench: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, string(line))
	if o.out != "" {
		f, err := os.OpenFile(o.out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = fmt.Fprintln(f, string(line))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "tandem-bench: --out: %v\n", err)
			return 1
		}
	}
	return 0
}

// maxClientID is the largest client ID to draw: Yjs draws 32-bit IDs, tandem 53-bit ones.
func (e *benchEnv) maxClientID() uint64 {
	if e.o.proto == "tandem" {
		return crdt.MaxClientID
	}
	return 1<<32 - 1
}

// serverRSSMB returns the server's RSS in MiB, or 0 without a PID.
func (e *benchEnv) serverRSSMB() float64 {
	if e.pid <= 0 {
		return 0
	}
	rss, err := procRSS(e.pid)
	if err != nil {
		return 0
	}
	return round1(float64(rss) / (1 << 20))
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/tandemhq/tandem/cmd/internal/cliflag"
	"github.com/tandemhq/tandem/server"
	"github.com/tandemhq/tandem/storage"
)

// envPrefix starts the name of the environment variable of every serve flag.
const envPrefix = "TANDEM_"

// serveOptions are the serve flags: server.Config plus what only the command needs.
type serveOptions struct {
	addr      string
	logLevel  slog.Level
	logFormat string
	origins   string
	// revokedSubjects is --revoked-subjects, a comma-separated list.
	revokedSubjects string
	// The garbage collector's settings (runtime/debug), 0 keeping the runtime's own (GOGC,
	// GOMEMLIMIT): a server holding many idle connections trades collector CPU for memory.
	gcPercent   int
	memoryLimit int64
	cluster     clusterOptions // cluster.go
	cfg         server.Config
}

// newServeFlags returns the serve flag set, writing into o.
func newServeFlags(o *serveOptions, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tandem serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &o.cfg
	// Byte-size flags show their default as the value they hold when defined.
	c.MaxMessageBytes = server.DefaultMaxMessageBytes
	c.MaxDocumentBytes = server.DefaultMaxDocumentBytes
	c.MaxAwarenessBytes = server.DefaultMaxAwarenessBytes
	c.SendQueueBytes = server.DefaultSendQueueBytes
	c.SendBufferBytes = server.DefaultSendBufferBytes
	c.MaxPartialMessageBytes = server.DefaultMaxPartialMessageBytes
	c.CompactLogBytes = server.DefaultCompactLogBytes
	c.MaxPendingBytes = server.DefaultMaxPendingBytes
	c.MaxPendingBytesTotal = server.DefaultMaxPendingBytesTotal
	c.MaxHeaderBytes = server.DefaultMaxHeaderBytes
	fs.StringVar(&o.addr, "addr", ":8080", "TCP address to listen on")
	fs.StringVar(&c.DataPath, "data", "./tandem.db", "path of the storage file (created if missing)")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.origins, "allowed-origins", "", "comma-separated browser origins allowed to open WebSockets (empty: the server's own host; * allows any)")
	fs.Var(byteSize{&c.MaxMessageBytes}, "max-message-bytes", "largest incoming WebSocket message (bytes; KiB/MiB/GiB suffixes)")
	fs.Var(byteSize64{&c.MaxDocumentBytes}, "max-document-bytes", "largest stored document: snapshot plus log (bytes)")
	fs.IntVar(&c.MaxConnsPerDocument, "max-conns-per-document", server.DefaultMaxConnsPerDocument, "WebSocket connections allowed on one document")
	fs.Var(byteSize{&c.MaxAwarenessBytes}, "max-awareness-bytes", "largest awareness state of one client (bytes)")
	fs.Var(byteSize{&c.SendQueueBytes}, "send-queue-bytes", "bytes queued for one slow connection before it is closed with 1013")
	fs.IntVar(&c.SendQueueMessages, "send-queue-messages", server.DefaultSendQueueMessages, "messages queued for one slow connection before it is closed with 1013")
	fs.Var(byteSize{&c.SendBufferBytes}, "send-buffer-bytes", "kernel send buffer (SO_SNDBUF) of each WebSocket connection: what one connection may park in the kernel")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", server.DefaultWriteTimeout, "how long a socket may take no byte while frames wait for it before the connection is closed with 1013 (slow consumer)")
	fs.DurationVar(&c.CloseTimeout, "close-timeout", server.DefaultCloseTimeout, "how long a closing connection waits for its socket to take the end of a frame begun and the close frame")
	fs.Var(byteSize64{&c.MaxPartialMessageBytes}, "max-partial-message-bytes", "memory, over all connections, of incoming messages begun and not whole yet; past it a connection is closed with 1013 (bytes)")
	fs.DurationVar(&c.FrameStallTimeout, "frame-stall-timeout", 0, "how long a frame begun may wait for its next byte before the connection is closed with 1008 (0: 10s, or a third of --pong-wait if shorter)")
	fs.DurationVar(&c.PongWait, "pong-wait", server.DefaultPongWait, "silence after which a connection is closed (pings at 9/10 of it)")
	fs.DurationVar(&c.PresenceWait, "presence-wait", server.DefaultPresenceWait, "silence after which a connection showing a presence (a cursor) is closed, so that it leaves the others' screens (pings every half of it)")
	fs.DurationVar(&c.AwarenessInterval, "awareness-interval", server.DefaultAwarenessInterval, "period over which awareness changes are coalesced")
	fs.DurationVar(&c.IdleUnloadAfter, "idle-unload-after", server.DefaultIdleUnloadAfter, "how long a document without connections stays in memory")
	fs.IntVar(&c.CompactLogEntries, "compact-log-entries", server.DefaultCompactLogEntries, "log entries after which a document is compacted")
	fs.Var(byteSize64{&c.CompactLogBytes}, "compact-log-bytes", "log size after which a document is compacted (bytes)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "bound on the graceful shutdown after SIGINT or SIGTERM")
	fs.DurationVar(&c.StorageLockTimeout, "storage-lock-timeout", server.DefaultStorageLockTimeout, "how long to wait for another process's lock on the storage file")
	fs.DurationVar(&c.StorageMaxBatchDelay, "storage-max-batch-delay", 0, "how long storage may wait to group more writes into one commit")

	// Security (docs/security.md).
	fs.Var(secret{&c.AuthSecret}, "auth-secret", "HS256 key of access tokens, at least 32 bytes (prefer TANDEM_AUTH_SECRET: flags show in ps); empty runs open")
	fs.IntVar(&c.MaxConnsPerSubject, "max-conns-per-subject", server.DefaultMaxConnsPerSubject, "WebSocket connections one token subject may hold open")
	fs.Float64Var(&c.UpdatesPerSecond, "updates-per-second", server.DefaultUpdatesPerSecond, "update messages per second per connection (token bucket rate)")
	fs.IntVar(&c.UpdateBurst, "update-burst", server.DefaultUpdateBurst, "update messages a connection may send in a burst")
	fs.Float64Var(&c.AwarenessPerSecond, "awareness-per-second", server.DefaultAwarenessPerSecond, "awareness, broadcast and ping messages per second per connection")
	fs.IntVar(&c.AwarenessBurst, "awareness-burst", server.DefaultAwarenessBurst, "awareness, broadcast and ping messages in a burst")
	fs.DurationVar(&c.RateLimitGrace, "rate-limit-grace", server.DefaultRateLimitGrace, "how long a connection may stay over its rate before it is closed with 4429")
	fs.Var(byteSize{&c.MaxPendingBytes}, "max-pending-bytes", "bytes that updates waiting for missing dependencies hold in memory, per document")
	fs.Var(byteSize{&c.MaxPendingBytesTotal}, "max-pending-bytes-total", "bytes that updates waiting for missing dependencies hold in memory, across all documents")
	fs.Var(byteSize{&c.MaxHeaderBytes}, "max-header-bytes", "largest HTTP request line and headers")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", server.DefaultReadHeaderTimeout, "time allowed to read an HTTP request's headers")
	fs.BoolVar(&c.EnableCompression, "enable-compression", false, "negotiate permessage-deflate (off: see docs/security.md)")
	fs.StringVar(&o.revokedSubjects, "revoked-subjects", "", "comma-separated token subjects refused whatever their tokens (a ban; revoke single tokens with POST /v1/revocations)")
	fs.StringVar(&c.RevocationsPath, "revocations-file", "", "file keeping the revocations made through the API across restarts (empty: the data file's path + .revocations.json)")
	fs.DurationVar(&c.RevocationTTL, "revocation-ttl", server.DefaultRevocationTTL, "how long a revocation without an explicit until is kept; make it outlast your tokens")
	fs.StringVar(&c.TLSCertFile, "tls-cert", "", "PEM certificate chain: serve HTTPS and WSS (with --tls-key)")
	fs.StringVar(&c.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.IntVar(&o.gcPercent, "gc-percent", 0, "heap growth that triggers a garbage collection, in percent (0: the runtime's, GOGC or 100; lower holds less memory per connection for more CPU, docs/server.md)")
	fs.Var(byteSize64{&o.memoryLimit}, "memory-limit", "soft limit of the process's memory, above which the collector works harder (bytes; 0: the runtime's, GOMEMLIMIT or none)")
	addClusterFlags(fs, &o.cluster) // cluster.go
	return fs
}

// envName returns the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseServe reads the environment, then the arguments (a flag wins over its variable).
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveOptions, error) {
	var o serveOptions
	fs := newServeFlags(&o, stderr)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if v == "" || envErr != nil {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("invalid value %q for %s: %v", v, envName(f.Name), err)
		}
	})
	if envErr != nil {
		return o, envErr
	}
	if err := cliflag.Parse(fs, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := checkAddr(o.addr); err != nil {
		return o, err
	}
	switch o.logFormat {
	case "text", "json":
	default:
		return o, fmt.Errorf("invalid value %q for -log-format: want text or json", o.logFormat)
	}
	if o.gcPercent < 0 {
		return o, fmt.Errorf("invalid value %d for -gc-percent: want 1 or more (0: the runtime's default)", o.gcPercent)
	}
	if o.memoryLimit < 0 {
		return o, fmt.Errorf("invalid value %d for -memory-limit: want 0 or more bytes", o.memoryLimit)
	}
	if err := o.cluster.check(); err != nil {
		return o, err
	}
	if len(o.cluster.entryKey) == 0 {
		o.cluster.entryKey = entryKeyFrom(o.cfg.AuthSecret)
	}
	o.cfg.AllowedOrigins = splitList(o.origins)
	o.cfg.RevokedSubjects = splitList(o.revokedSubjects)
	return o, nil
}

// splitList splits a comma-separated list, trimming spaces and dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkAddr refuses a listen address that no system would accept (no port, a port out of range),
// so that it is a usage error (status 2) found before anything is opened.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid value %q for -addr: %v (want HOST:PORT or :PORT)", addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("invalid value %q for -addr: %v", addr, err)
	}
	return nil
}

// serveProcs returns the GOMAXPROCS the server runs with: at least 2 unless the environment sets
// GOMAXPROCS. With one processor, the storage writer's fsync holds it while it waits for the disk,
// and goroutines woken by the network wait behind the busy ones: on one CPU at 5,000 edits/s the
// median broadcast latency was 400 ms with 1 and 2 ms with 2 (docs/server.md, Processors).
func serveProcs(getenv func(string) string, current int) int {
	if getenv("GOMAXPROCS") != "" || current >= 2 {
		return current
	}
	return 2
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseServe(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return cliflag.BadUsage(stderr, "tandem serve", err)
	}
	opts := &slog.HandlerOptions{Level: o.logLevel}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if o.logFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	log := slog.New(h)
	o.cfg.Logger = log
	if o.gcPercent > 0 {
		debug.SetGCPercent(o.gcPercent)
	}
	if n := serveProcs(os.Getenv, runtime.GOMAXPROCS(0)); n != runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(n)
		log.Info("one CPU available: running goroutines on 2 threads so that an fsync does not stall the network (set GOMAXPROCS to choose)", "gomaxprocs", n)
	}
	if o.memoryLimit > 0 {
		debug.SetMemoryLimit(o.memoryLimit)
	}

	// Listen before opening the data file, so that a server that cannot start (the port in use,
	// a port it may not bind) leaves no data file behind.
	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintf(stderr, "tandem serve: %v\n", err)
		return 1
	}
	where := o.cfg.DataPath
	if o.cluster.enabled() {
		node, err := openCluster(ctx, o.cluster, log)
		if err != nil {
			_ = l.Close()
			fmt.Fprintf(stderr, "tandem serve: cluster: %v\n", err)
			return 1
		}
		defer node.close()
		if len(o.cluster.entryKey) == 0 {
			log.Warn("log entries are not signed: anything with publish rights on the log's subjects can pass for a node (set --nats-entry-key or --auth-secret, docs/cluster.md)")
		}
		o.cfg.Cluster = node.cfg
		where = "the cluster's JetStream as node " + o.cluster.nodeID
	}
	srv, err := server.New(o.cfg)
	if err != nil {
		_ = l.Close()
	}
	if errors.Is(err, server.ErrInvalidConfig) {
		return cliflag.BadUsage(stderr, "tandem serve", err)
	}
	if errors.Is(err, storage.ErrLocked) {
		fmt.Fprintf(stderr, "tandem serve: %s is in use by another tandem process (only one may open it): %v\n", o.cfg.DataPath, err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "tandem serve: %v\n", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()

	log.Info("listening", "addr", l.Addr().String(), "data", o.cfg.DataPath)
	fmt.Fprintf(stdout, "tandem is serving %s: open %s in a browser to edit\n", where, editorURL(l.Addr()))
	if err := srv.Serve(ctx, l); err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

// editorURL returns the address a browser on this machine opens to reach the demo editor.
func editorURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// byteSize is an int flag in bytes that accepts KiB, MiB and GiB suffixes.
type byteSize struct{ p *int }

func (b byteSize) String() string {
	if b.p == nil {
		return "0"
	}
	return strconv.Itoa(*b.p)
}

func (b byteSize) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	if n > int64(^uint(0)>>1) {
		return fmt.Errorf("%s is too large", s)
	}
	*b.p = int(n)
	return nil
}

// byteSize64 is byteSize for int64 fields.
type byteSize64 struct{ p *int64 }

func (b byteSize64) String() string {
	if b.p == nil {
		return "0"
	}
	return strconv.FormatInt(*b.p, 10)
}

func (b byteSize64) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b.p = n
	return nil
}

// parseBytes parses a non-negative byte count with an optional KiB, MiB or GiB suffix.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a non-negative number of bytes, optionally with KiB, MiB or GiB")
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("too large")
	}
	return n * mult, nil
}

// secret is a flag holding bytes, shown redacted in usage and errors.
type secret struct{ p *[]byte }

func (s secret) String() string {
	if s.p == nil || len(*s.p) == 0 {
		return ""
	}
	return "REDACTED"
}

func (s secret) Set(v string) error {
	*s.p = []byte(v)
	return nil
}

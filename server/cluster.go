package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tandemhq/tandem/server/internal/metrics"
	"github.com/tandemhq/tandem/storage/jetstream"
)

// Cluster makes a Server one node of several that share one NATS JetStream (docs/cluster.md).
// The documents live in the JetStream backend; every node that has a document open follows the
// document's log there, so that the edits accepted by any node reach the editors of every node.
//
// The zero value (Conn nil) is a single node.
type Cluster struct {
	// Conn is the node's connection to the NATS servers. The server follows the logs, sends its
	// heartbeats and its notices over it; it does not close it (its owner does, after Shutdown).
	// It should reconnect forever (nats.MaxReconnects(-1)): a node that lost NATS acknowledges
	// nothing until it is back.
	Conn *nats.Conn
	// Backend is the JetStream backend opened over Conn (jetstream.Open). It holds the documents:
	// Config.Storage must be left zero.
	Backend *jetstream.Backend
	// NodeID names the node among the cluster's: 1 to 64 letters, digits, '-' or '_', unique
	// among the nodes that run at once. The server's own client ID for HTTP edits is kept per
	// node under it, so two nodes never edit under one ID; a node restarted with the same ID
	// keeps its own.
	NodeID string
	// MaxHeldBytes bounds the live deliveries that the node's followers hold above gaps in their
	// documents' logs until the gaps are read, all documents together; past it, deliveries are
	// read from the log with their gap instead. Zero means 64 MiB; negative, none is held.
	MaxHeldBytes int64
}

// enabled reports whether the server runs as a cluster node.
func (c Cluster) enabled() bool { return c.Conn != nil }

var validNodeID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validate reports what is wrong with c in cfg, or nil.
func (c Cluster) validate(cfg Config) error {
	if !c.enabled() {
		if c.Backend != nil || c.NodeID != "" {
			return fmt.Errorf("%w: Cluster.Conn is nil but Cluster is set", ErrInvalidConfig)
		}
		return nil
	}
	switch {
	case c.Backend == nil:
		return fmt.Errorf("%w: Cluster.Backend is nil", ErrInvalidConfig)
	case !validNodeID.MatchString(c.NodeID):
		return fmt.Errorf("%w: Cluster.NodeID %q: want 1 to 64 letters, digits, '-' or '_'", ErrInvalidConfig, c.NodeID)
	case cfg.Storage.Log != nil && cfg.Storage.Log != c.Backend.Set().Log:
		return fmt.Errorf("%w: Storage is set besides Cluster: the cluster's backend holds the documents", ErrInvalidConfig)
	}
	return nil
}

// Cluster timing.
const (
	// heartbeatEvery is how often a node says it is alive; nodeGoneAfter is how long a node
	// stays counted without saying so.
	heartbeatEvery = time.Second
	nodeGoneAfter  = 3 * time.Second
	// pingEvery is how often the node checks that JetStream can store (readiness); pingTimeout
	// bounds one check.
	pingEvery   = time.Second
	pingTimeout = 2 * time.Second
	// unsignedWarnEvery bounds the warnings about unsigned deliveries (warnUnsigned).
	unsignedWarnEvery = time.Minute
	// tailCheckEvery is how long a following actor waits, after its last read of the log, before
	// it reads the log's tail again: a delivery lost with nothing after it is otherwise noticed
	// only at the next one.
	tailCheckEvery = 2 * time.Second
	// readTimeout bounds one read of a document's log by a follower; one that takes longer
	// (a consumer on a server that stalls) is made again.
	readTimeout = 5 * time.Second
	// shortReadRetry is the wait before a repair read that fell short is made again.
	shortReadRetry = 100 * time.Millisecond
	// maxAppendBackoff bounds the wait between two attempts of a failed append.
	maxAppendBackoff = time.Second
	// maxAppendsInFlight bounds a node's appends in flight to JetStream at once (clusterStore).
	maxAppendsInFlight = 64
	// defaultMaxHeldBytes is Cluster.MaxHeldBytes's default.
	defaultMaxHeldBytes = 64 << 20
)

// clusterNode is what a cluster node runs besides its actors: the readiness check, the
// heartbeats and the count of nodes seen, and the cluster's metrics. Its goroutine is owned by
// the server's store (clusterStore) and stopped by its Close.
type clusterNode struct {
	cfg Cluster
	log *slog.Logger

	publishSecs  *metrics.Histogram
	gapsRepaired *metrics.Counter
	shortReads   *metrics.Counter
	entriesIn    *metrics.Counter
	// entriesSkipped counts log entries that are not updates, or whose units would overflow the
	// pending limit (written to the stream's subject by something other than a node), skipped by
	// followers and loads alike.
	entriesSkipped *metrics.Counter
	// held bounds the deliveries that the node's followers hold above their gaps.
	held *jetstream.HeldBudget

	ready atomic.Bool // the stream answers (check)
	// unsignedSeen and unsignedWarned: the count of unsigned deliveries at the last check, and
	// when a warning about them was last logged (warnUnsigned).
	unsignedSeen   uint64
	unsignedWarned time.Time
	// appendFailing is set by a failed append and cleared by a successful one: the stream may
	// answer for a few seconds after it lost its quorum, while appends already fail.
	appendFailing atomic.Bool

	mu   sync.Mutex
	seen map[string]time.Time // node ID -> last heartbeat

	// dropDelivery, when set (tests), is asked about every live delivery; true drops it, as a
	// lost message would be.
	dropDelivery atomic.Pointer[func() bool]
	// tailCheckPeriod, when not zero (tests), replaces tailCheckEvery (tailCheck).
	tailCheckPeriod atomic.Int64

	hbSub *nats.Subscription
	// ctx ends when the node closes: its checks and the actors' log reads stop with it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newClusterNode(cfg Cluster, log *slog.Logger, m *serverMetrics) (*clusterNode, error) {
	n := &clusterNode{
		cfg:  cfg,
		log:  log.With("node", cfg.NodeID),
		seen: map[string]time.Time{cfg.NodeID: time.Now()},
		held: jetstream.NewHeldBudget(max(0, cmp.Or(cfg.MaxHeldBytes, defaultMaxHeldBytes))),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	r := m.reg
	n.publishSecs = r.NewHistogram("tandem_cluster_publish_seconds", "Time from handing an update to JetStream to its publish acknowledgement (stored on a quorum), retries included.", metrics.LatencyBuckets)
	n.gapsRepaired = r.NewCounter("tandem_cluster_gaps_repaired_total", "Reads of a document's log that supplied entries whose live delivery this node missed.")
	n.shortReads = r.NewCounter("tandem_cluster_short_reads_total", "Repair reads of a document's log that failed or fell short and were made again.")
	n.entriesIn = r.NewCounter("tandem_cluster_entries_applied_total", "Log entries of other nodes applied to this node's open documents.")
	r.NewGaugeFunc("tandem_cluster_held_bytes", "Bytes of live deliveries held above gaps in documents' logs until the gaps are read, all documents together.", n.held.Used)
	n.entriesSkipped = r.NewCounter("tandem_cluster_entries_skipped_total", "Log entries that are not updates, or whose units would overflow the pending limit (written to a document's subject by something other than a node), skipped when followed or loaded.")
	r.NewCounterFunc("tandem_cluster_deliveries_unsigned_total", "Live deliveries of log entries skipped for want of a node's signature (nodes with another entry key, or none, or messages sent straight to the republishing subjects); what the stream holds is read from it instead.", cfg.Backend.UnsignedDeliveries)
	r.NewGaugeFunc("tandem_cluster_nodes", "Cluster nodes seen alive (a heartbeat within the last 3 s), this one included.", n.nodesSeen)
	r.NewGaugeFunc("tandem_cluster_ready", "1 while JetStream's update stream answers and appends do not fail (the node can acknowledge edits), else 0.", func() int64 {
		if n.canAppend() {
			return 1
		}
		return 0
	})
	sub, err := cfg.Conn.Subscribe(n.subject("hb", "*"), func(msg *nats.Msg) {
		id := msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:]
		n.mu.Lock()
		n.seen[id] = time.Now()
		n.mu.Unlock()
	})
	if err != nil {
		n.cancel()
		return nil, fmt.Errorf("server: cluster: subscribe to heartbeats: %w", err)
	}
	n.hbSub = sub
	n.wg.Add(1)
	go n.loop()
	return n, nil
}

// subject returns the core NATS subject <prefix>.<kind>.<token>.
func (n *clusterNode) subject(kind, token string) string {
	return n.cfg.Backend.Prefix() + "." + kind + "." + token
}

// nodesSeen counts the nodes whose heartbeat is recent, this one included.
func (n *clusterNode) nodesSeen() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	count := int64(0)
	for id, at := range n.seen {
		if id == n.cfg.NodeID || time.Since(at) < nodeGoneAfter {
			count++
		} else {
			delete(n.seen, id)
		}
	}
	return count
}

// loop checks readiness and sends heartbeats until stopped.
func (n *clusterNode) loop() {
	defer n.wg.Done()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	hb := time.NewTicker(heartbeatEvery)
	defer hb.Stop()
	n.check()
	n.heartbeat()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-ping.C:
			n.check()
			n.warnUnsigned(time.Now())
		case <-hb.C:
			n.heartbeat()
		}
	}
}

func (n *clusterNode) heartbeat() {
	_ = n.cfg.Conn.Publish(n.subject("hb", n.cfg.NodeID), nil) // at most once; the next one follows
}

// check asks the update stream's leader for its state and records whether it answered.
func (n *clusterNode) check() {
	ctx, cancel := context.WithTimeout(n.ctx, pingTimeout)
	defer cancel()
	err := n.cfg.Backend.Ping(ctx)
	if was := n.ready.Swap(err == nil); was != (err == nil) {
		if err != nil {
			n.log.Warn("cluster: JetStream does not answer: not ready, acknowledging nothing", "err", err)
		} else {
			n.log.Info("cluster: JetStream answers: ready")
		}
	}
}

// warnUnsigned logs, at most once every unsignedWarnEvery, that live deliveries were skipped for
// want of a node's signature since the last check: nodes whose entry keys differ read each other's
// entries from the stream, late, so that it is a misconfiguration to fix (docs/cluster.md §9).
func (n *clusterNode) warnUnsigned(now time.Time) {
	got := n.cfg.Backend.UnsignedDeliveries()
	if got == n.unsignedSeen || now.Sub(n.unsignedWarned) < unsignedWarnEvery {
		return
	}
	n.log.Warn("cluster: live deliveries without this node's signature were skipped and read from the stream instead: do all nodes have the same --nats-entry-key (or --auth-secret)? Is something publishing on the republishing subjects?", "skipped", got-n.unsignedSeen)
	n.unsignedSeen, n.unsignedWarned = got, now
}

// canAppend reports whether the node can acknowledge edits: JetStream answers, and the last
// append did not fail.
func (n *clusterNode) canAppend() bool { return n.ready.Load() && !n.appendFailing.Load() }

// connClosed reports whether the node's NATS connection is closed for good (a node without
// one, in tests of its store, never is).
func (n *clusterNode) connClosed() bool { return n.cfg.Conn != nil && n.cfg.Conn.IsClosed() }

// tailCheck returns how long a following actor waits after its last read of the log before it
// reads the log's tail again.
func (n *clusterNode) tailCheck() time.Duration {
	if d := n.tailCheckPeriod.Load(); d != 0 {
		return time.Duration(d)
	}
	return tailCheckEvery
}

// dropped reports whether the test hook drops a delivery.
func (n *clusterNode) dropped() bool {
	if f := n.dropDelivery.Load(); f != nil {
		return (*f)()
	}
	return false
}

// close stops the node's goroutine and its heartbeat subscription.
func (n *clusterNode) close() {
	n.cancel()
	n.wg.Wait()
	_ = n.hbSub.Unsubscribe()
}

// newClusterServer builds a cluster node's server: the cluster store over the backend, and the
// node's goroutine, which the store's Close stops.
func newClusterServer(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := newServerMetrics()
	node, err := newClusterNode(cfg.Cluster, log, m)
	if err != nil {
		return nil, err
	}
	cs := newClusterStore(cfg.Cluster, node)
	s, err := newServerWith(cfg, cs, m)
	if err != nil {
		node.close()
		return nil, err
	}
	s.cluster = cs
	if err := s.startPresence(cfg.Cluster.Conn, cfg.Cluster.NodeID, cfg.Cluster.Backend.Prefix()); err != nil { // cluster_presence.go
		_ = s.changes.close(context.Background())
		_ = cs.Close()
		return nil, err
	}
	s.log.Info("cluster node", "node", cfg.Cluster.NodeID, "prefix", cfg.Cluster.Backend.Prefix())
	return s, nil
}

// Close stops the node, then waits for the writes in flight.
func (cs *clusterStore) Close() error {
	cs.stop()
	err := cs.contractStore.Close()
	cs.node.close()
	return err
}

// bindRefusal is the answer to a join whose binding could not be stored: 4403 when another node
// holds the client ID for another subject, else a storage failure the client retries.
func bindRefusal(err error, clientID uint64) error {
	var bound *errClientBound
	if errors.As(err, &bound) && bound.clientID == clientID {
		return errBoundElsewhere(clientID)
	}
	return errStorage
}

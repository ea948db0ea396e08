package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemhq/tandem/server/internal/metrics"
	"github.com/tandemhq/tandem/server/internal/transport"
)

// MetricsRegistry returns the Prometheus registry that GET /metrics serves: the server's tandem_*
// metrics, the Go runtime's (go_*) and the process's (process_*). Each Server has its own. An
// application may register its own collectors there, or serve it on a route of its own
// (promhttp.HandlerFor) with Config.OmitMetricsRoute.
func (s *Server) MetricsRegistry() *prometheus.Registry { return s.metrics.reg.Prometheus() }

// MetricsCollector returns the server's tandem_* metrics alone as one collector, to register into
// an application's registry that has its own runtime and process collectors:
//
//	reg.MustRegister(srv.MetricsCollector())
//
// Registering it into a registry that already holds another Server's collector fails: the names
// collide.
func (s *Server) MetricsCollector() prometheus.Collector { return s.metrics.reg.Collector() }

// Refusal reasons, the label values of tandem_refusals_total. Every limit or check that refuses
// something counts it under one of these.
const (
	reasonBadDocID        = "bad_doc_id"
	reasonOrigin          = "origin"
	reasonUnauthorized    = "unauthorized"
	reasonForbidden       = "forbidden"
	reasonBadMessage      = transport.RefusedBadMessage
	reasonTextFrame       = transport.RefusedTextFrame
	reasonTooBig          = transport.RefusedTooBig
	reasonVersion         = "unsupported_version"
	reasonInvalidUpdate   = "invalid_update"
	reasonDocTooLarge     = "document_too_large"
	reasonTooManyConns    = "too_many_connections"
	reasonAwarenessTooBig = "awareness_too_big"
	reasonShuttingDown    = "shutting_down"
	reasonLoadFailed      = "load_failed"
	reasonDeleted         = "document_deleted"
	reasonPartialBudget   = transport.RefusedPartialBudget
	reasonFrameStalled    = transport.RefusedFrameStalled
)

var allReasons = []string{
	reasonBadDocID, reasonOrigin, reasonUnauthorized, reasonForbidden, reasonBadMessage,
	reasonTextFrame, reasonTooBig, reasonVersion, reasonInvalidUpdate, reasonDocTooLarge,
	reasonTooManyConns, reasonAwarenessTooBig, reasonShuttingDown, reasonLoadFailed, reasonDeleted,
	reasonRateLimited, reasonTokenExpired, reasonTooManySubjectConns, reasonPendingOverflow,
	reasonRevoked, reasonPartialBudget, reasonFrameStalled, reasonPendingBudget,
}

// Causes of slow-consumer closes, the label values of tandem_slow_consumer_closes_total.
const (
	slowQueueFull    = transport.SlowQueueFull    // the send queue passed SendQueueBytes or SendQueueMessages
	slowWriteStalled = transport.SlowWriteStalled // the socket took no byte for WriteTimeout
	slowNoPong       = transport.SlowNoPong       // silent (no pong, no message) for PongWait
)

// serverMetrics are one Server's Prometheus metrics, all named tandem_*.
type serverMetrics struct {
	reg *metrics.Registry

	connections     *metrics.Gauge
	documentsOpen   *metrics.Gauge
	updatesApplied  *metrics.Counter
	httpEdits       *metrics.Counter
	bytesIn         *metrics.Counter
	bytesOut        *metrics.Counter
	messagesIn      *metrics.Counter
	messagesOut     *metrics.Counter
	broadcastSecs   *metrics.Histogram
	commitSecs      *metrics.Histogram
	commitSyncSecs  *metrics.Histogram // storage.Options.ObserveSync (durability.go)
	commitGroup     *metrics.Histogram
	commitApplySecs *metrics.Histogram // storage.Options.ObserveApply
	slowConsumers   *metrics.CounterVec
	refusals        *metrics.CounterVec
	appendFailures  *metrics.Counter
	saves           *metrics.Counter
	saveFailures    *metrics.Counter
	savesAbandoned  *metrics.Counter
	compactions     *metrics.Counter
	unloads         *metrics.Counter
	loadFailures    *metrics.Counter
	joinSnapshotHit *metrics.Counter
	memoryReleases  *metrics.Counter // free memory returned to the system (memrelease.go)
	awarenessOut    *metrics.Counter
	pendingBytes    *metrics.Gauge // the server's pending budget in use (pending.go)
}

// groupBuckets are upper bounds for the number of appends in one group commit.
var groupBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}

func newServerMetrics() *serverMetrics {
	r := metrics.NewRegistry()
	return &serverMetrics{
		reg:             r,
		connections:     r.NewGauge("tandem_connections", "WebSocket connections open now."),
		documentsOpen:   r.NewGauge("tandem_documents_open", "Documents loaded in memory (one actor each)."),
		updatesApplied:  r.NewCounter("tandem_updates_applied_total", "CRDT updates applied, from WebSocket and HTTP."),
		httpEdits:       r.NewCounter("tandem_http_edits_total", "Edit and update requests applied through the HTTP API."),
		bytesIn:         r.NewCounter("tandem_bytes_received_total", "Bytes of WebSocket messages received."),
		bytesOut:        r.NewCounter("tandem_bytes_sent_total", "Bytes of WebSocket messages sent."),
		messagesIn:      r.NewCounter("tandem_messages_received_total", "WebSocket messages received."),
		messagesOut:     r.NewCounter("tandem_messages_sent_total", "WebSocket messages sent."),
		broadcastSecs:   r.NewHistogram("tandem_broadcast_seconds", "Time from an update's arrival to its write to another editor's socket.", metrics.LatencyBuckets),
		commitSecs:      r.NewHistogram("tandem_commit_seconds", "Time from handing an update to storage to its durability report.", metrics.LatencyBuckets),
		commitSyncSecs:  r.NewHistogram("tandem_commit_sync_seconds", "Time storage took to make one group of appends durable (its write and fdatasync): the disk's share of tandem_commit_seconds, the rest being the queue.", metrics.LatencyBuckets),
		commitGroup:     r.NewHistogram("tandem_commit_group_appends", "Appends made durable together by one sync (group commit).", groupBuckets),
		commitApplySecs: r.NewHistogram("tandem_commit_apply_seconds", "Time of each commit that writes the write-ahead log's groups into the bbolt file, behind the acknowledgements.", metrics.LatencyBuckets),
		slowConsumers:   r.NewCounterVec("tandem_slow_consumer_closes_total", "Connections closed with 1013 because they did not read what they were sent, by cause.", "cause", slowQueueFull, slowWriteStalled, slowNoPong),
		refusals:        r.NewCounterVec("tandem_refusals_total", "Requests, connections and messages refused, by reason.", "reason", allReasons...),
		appendFailures:  r.NewCounter("tandem_append_failures_total", "Update appends that storage failed to commit."),
		saves:           r.NewCounter("tandem_saves_total", "Snapshots written (compaction, unload, shutdown)."),
		saveFailures:    r.NewCounter("tandem_save_failures_total", "Snapshot writes that failed (each is retried with backoff)."),
		savesAbandoned:  r.NewCounter("tandem_saves_abandoned_total", "Documents whose snapshot kept failing and were unloaded with their log only."),
		compactions:     r.NewCounter("tandem_compactions_total", "Compactions started because a log passed its threshold."),
		unloads:         r.NewCounter("tandem_unloads_total", "Documents unloaded from memory."),
		loadFailures:    r.NewCounter("tandem_load_failures_total", "Documents that failed to load from storage."),
		joinSnapshotHit: r.NewCounter("tandem_join_snapshot_cache_hits_total", "Joins answered from the cached full-state sync message."),
		memoryReleases:  r.NewCounter("tandem_memory_releases_total", "Times the free heap was returned to the system after a large document load, join answer or write (ReleaseMemoryAfterBytes)."),
		awarenessOut:    r.NewCounter("tandem_awareness_batches_total", "Coalesced awareness messages sent (one per document per tick)."),
		pendingBytes:    r.NewGauge("tandem_pending_bytes", "Bytes that units waiting for missing dependencies hold, across the loaded documents."),
	}
}

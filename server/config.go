package server

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/tandemhq/tandem/storage/backend"
)

// Config configures a Server. It is a plain value: the zero value of every field except DataPath
// (or Storage) selects a documented default, and New checks the rest (validate names the first
// bad field).
type Config struct {
	// DataPath is the bbolt file that holds every document. Required unless Storage is set;
	// created if missing. Only one process may open it at a time: a second one fails New with an
	// error wrapping storage.ErrLocked after StorageLockTimeout.
	DataPath string

	// Storage, when its three stores are set, holds the documents instead of the file at DataPath:
	// any backend of the storage contract (storage/backend: a Log, Snapshots, Meta with
	// compare-and-set), such as storage.Store.Contract or storage/jetstream. The server does not
	// close it; its owner does, after Shutdown. The zero value means the bbolt file at DataPath,
	// with its own document layout (the two layouts do not see each other's documents).
	Storage backend.Set

	// Cluster makes the server one node of several sharing one NATS JetStream (cluster.go,
	// docs/cluster.md); the zero value is a single node. With it, Storage stays zero: the
	// cluster's backend holds the documents.
	Cluster Cluster

	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger

	// OmitMetricsRoute leaves GET /metrics out of Handler's routes, for an application that
	// exposes the metrics itself (Server.MetricsRegistry, Server.MetricsCollector). False serves it.
	OmitMetricsRoute bool

	// OmitDemoRoute leaves the demo editor and the browser client's modules (everything Handler
	// serves at / outside /v1, /healthz, /readyz and /metrics) out of Handler's routes, for an
	// application that serves its own pages. False serves them.
	OmitDemoRoute bool

	// Hooks are the embedding application's own authentication, per-document authorization and
	// change observer (hooks.go, docs/server.md "Embedding"). The zero value has none: the
	// built-in token check (SecurityConfig.AuthSecret) alone decides, and nothing is observed.
	Hooks Hooks

	// AllowedOrigins lists the browser origins ("https://app.example.com", scheme://host[:port])
	// accepted on a WebSocket upgrade, compared exactly and case-insensitively, besides the
	// server's own (the request's host), which is always accepted so that the demo it serves
	// works. Empty means the server's own only, like gorilla/websocket's default; a request
	// without an Origin header (a non-browser client) is always allowed through to authorization.
	// The single value "*" allows every origin; it is never the default.
	AllowedOrigins []string

	// MaxMessageBytes bounds one incoming WebSocket message, in bytes; a larger one closes the
	// connection with 1009. Zero means 1 MiB.
	MaxMessageBytes int

	// MaxDocumentBytes bounds what a document stores (its snapshot plus its update log), in bytes;
	// an update that would pass it is refused with 4413 (WebSocket) or 413 (HTTP). Zero means 64 MiB.
	MaxDocumentBytes int64

	// MaxConnsPerDocument bounds the WebSocket connections open on one document; the next one is
	// refused with 1013. Zero means 1000.
	MaxConnsPerDocument int

	// MaxAwarenessBytes bounds one awareness state, in bytes; a larger one closes the connection
	// with 1009. Zero means 4 KiB (or MaxMessageBytes, if smaller).
	MaxAwarenessBytes int

	// SendQueueBytes bounds the bytes waiting to be written to one connection. A connection whose
	// queue would pass it is a slow consumer and is closed with 1013; a single message larger than
	// the bound (a large document's sync) is still queued when the queue is empty. Zero means 4 MiB.
	SendQueueBytes int

	// SendQueueMessages bounds the messages waiting to be written to one connection, with the same
	// consequence as SendQueueBytes. Zero means 4096.
	SendQueueMessages int

	// SendBufferBytes is the kernel's send buffer (SO_SNDBUF) of every WebSocket connection's
	// socket: what one connection may park in the kernel beyond its send queue. It also turns off
	// the kernel's growth of the buffer (to several MiB on Linux), which would hide a client that
	// stopped reading for megabytes. Linux counts its own overhead in it, so about half of it
	// holds data. Zero means 256 KiB.
	SendBufferBytes int

	// WriteTimeout is how long a connection's socket may take no byte while frames wait to be
	// written to it. Past it the client is a slow consumer: the connection is closed with 1013
	// (after the end of the frame being written, within CloseTimeout). Zero means 10 s.
	WriteTimeout time.Duration

	// CloseTimeout bounds how long a closing connection waits for its socket to take the end of
	// a frame begun and its error message and close frame, so that a client that stopped reading
	// and reads again within it gets a whole stream and the close code; then the connection is
	// dropped. Zero means 10 s.
	CloseTimeout time.Duration

	// MaxPartialMessageBytes bounds, over the whole server, the memory held by incoming WebSocket
	// messages that have begun to arrive and are not whole yet (a message is put together in
	// 16 KiB chunks as its bytes arrive; a header's announced length is never allocated ahead). A
	// connection whose message needs a chunk past the bound is closed with 1013. It may not be
	// below MaxMessageBytes. Zero means 64 MiB, or twice MaxMessageBytes if that is more.
	MaxPartialMessageBytes int64

	// FrameStallTimeout is how long a frame or a fragmented message that has begun to arrive may
	// wait for its next byte; past it the connection is closed with 1008. Zero means 10 s, or a
	// third of PongWait if that is shorter.
	FrameStallTimeout time.Duration

	// PongWait is how long a connection may stay silent (no pong, no message) before it is
	// closed; the server pings at 9/10 of it. Zero means 30 s.
	PongWait time.Duration

	// PresenceWait is how long a connection that shows a presence (its last awareness state was
	// not empty) may stay silent before it is closed, so that its cursor leaves the other
	// editors' screens soon after its network died; it is pinged every half of it. Zero means
	// 6 s; more than PongWait means PongWait.
	PresenceWait time.Duration

	// AwarenessInterval is the period over which awareness changes of a document are coalesced
	// (latest state per client) into one message to the other editors. Zero means 50 ms.
	AwarenessInterval time.Duration

	// IdleUnloadAfter is how long a document with no connections stays in memory before it is
	// snapshotted and unloaded. Zero means 30 s.
	IdleUnloadAfter time.Duration

	// CompactLogEntries is the number of update log entries after which a document is compacted
	// (a new snapshot replaces the entries it covers). Zero means 1000.
	CompactLogEntries int

	// CompactLogBytes is the size of the update log, in bytes, after which a document is compacted.
	// Zero means 8 MiB.
	CompactLogBytes int64

	// ReleaseMemoryAfterBytes is the size, in bytes, of a document load (its snapshot plus its
	// log), of a join answer not kept (a large document's snapshot sent to a lone joiner) or of
	// the messages written to a connection at once, from which the server returns the freed heap
	// to the system about a second later (debug.FreeOSMemory, a full collection; at most once
	// every 10 s), instead of keeping it until the heap grows to twice what is live
	// (server/memrelease.go). Zero means 4 MiB; negative, never.
	ReleaseMemoryAfterBytes int64

	// SaveRetries is how many times a failed snapshot save is retried, with exponential backoff,
	// before the server gives up on it (the update log, already durable, is kept). Zero means 5.
	SaveRetries int

	// SaveRetryBackoff is the delay before the first retry of a failed save; each retry doubles it,
	// up to 30 s. Zero means 250 ms.
	SaveRetryBackoff time.Duration

	// ActorInbox is the capacity of each document actor's inbox, in messages. Senders wait when it
	// is full (bounded by their context). Zero means 256.
	ActorInbox int

	// ShutdownTimeout bounds the graceful shutdown that Serve starts when its context ends. Zero
	// means 10 s.
	ShutdownTimeout time.Duration

	// StorageLockTimeout is how long opening DataPath waits for another process's lock. Zero means 1 s.
	StorageLockTimeout time.Duration

	// StorageMaxBatchDelay is how long the storage writer may wait to gather more appends into one
	// commit. Zero means no wait (batches form naturally under load).
	StorageMaxBatchDelay time.Duration

	// SecurityConfig holds tokens, rate limits and the other limits against abusive clients
	// (server/limits.go, docs/security.md).
	SecurityConfig

	// StorageNoSync skips fsync on commit. UNSAFE: an acknowledged edit can be lost on power
	// failure. For tests and benchmarks only.
	StorageNoSync bool
}

// Defaults, applied by withDefaults to zero fields.
const (
	DefaultMaxMessageBytes        = 1 << 20
	DefaultMaxDocumentBytes       = 64 << 20
	DefaultMaxConnsPerDocument    = 1000
	DefaultMaxAwarenessBytes      = 4 << 10
	DefaultSendQueueBytes         = 4 << 20
	DefaultSendQueueMessages      = 4096
	DefaultSendBufferBytes        = 256 << 10
	DefaultWriteTimeout           = 10 * time.Second
	DefaultCloseTimeout           = 10 * time.Second
	DefaultMaxPartialMessageBytes = 64 << 20
	DefaultFrameStallTimeout      = 10 * time.Second
	DefaultPongWait               = 30 * time.Second
	DefaultAwarenessInterval      = 50 * time.Millisecond
	DefaultPresenceWait           = 6 * time.Second
	DefaultIdleUnloadAfter        = 30 * time.Second
	DefaultCompactLogEntries      = 1000
	DefaultCompactLogBytes        = 8 << 20
	DefaultSaveRetries            = 5
	DefaultSaveRetryBackoff       = 250 * time.Millisecond
	DefaultActorInbox             = 256
	DefaultShutdownTimeout        = 10 * time.Second
	DefaultStorageLockTimeout     = time.Second

	maxSaveRetryBackoff = 30 * time.Second
)

// DefaultReleaseMemoryAfterBytes is Config.ReleaseMemoryAfterBytes when zero.
const DefaultReleaseMemoryAfterBytes = 4 << 20

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	setInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	setDur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	setInt(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	if c.MaxDocumentBytes == 0 {
		c.MaxDocumentBytes = DefaultMaxDocumentBytes
	}
	setInt(&c.MaxConnsPerDocument, DefaultMaxConnsPerDocument)
	setInt(&c.MaxAwarenessBytes, min(DefaultMaxAwarenessBytes, c.MaxMessageBytes))
	setInt(&c.SendQueueBytes, DefaultSendQueueBytes)
	setInt(&c.SendQueueMessages, DefaultSendQueueMessages)
	setInt(&c.SendBufferBytes, DefaultSendBufferBytes)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	setDur(&c.CloseTimeout, DefaultCloseTimeout)
	if c.MaxPartialMessageBytes == 0 {
		c.MaxPartialMessageBytes = max(DefaultMaxPartialMessageBytes, 2*int64(c.MaxMessageBytes))
	}
	setDur(&c.PongWait, DefaultPongWait)
	if c.PongWait > 0 {
		setDur(&c.FrameStallTimeout, min(DefaultFrameStallTimeout, c.PongWait/3))
	}
	setDur(&c.AwarenessInterval, DefaultAwarenessInterval)
	setDur(&c.PresenceWait, DefaultPresenceWait)
	setDur(&c.IdleUnloadAfter, DefaultIdleUnloadAfter)
	setInt(&c.CompactLogEntries, DefaultCompactLogEntries)
	if c.CompactLogBytes == 0 {
		c.CompactLogBytes = DefaultCompactLogBytes
	}
	if c.ReleaseMemoryAfterBytes == 0 {
		c.ReleaseMemoryAfterBytes = DefaultReleaseMemoryAfterBytes
	}
	setInt(&c.SaveRetries, DefaultSaveRetries)
	setDur(&c.SaveRetryBackoff, DefaultSaveRetryBackoff)
	setInt(&c.ActorInbox, DefaultActorInbox)
	setDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDur(&c.StorageLockTimeout, DefaultStorageLockTimeout)
	if c.Cluster.enabled() && c.Cluster.Backend != nil && c.Storage.Log == nil {
		c.Storage = c.Cluster.Backend.Set() // cluster.go
	}
	c.Hooks = c.Hooks.withDefaults()
	c.SecurityConfig = c.SecurityConfig.withDefaults() // security
	if c.RevocationsPath == "" && c.DataPath != "" {
		c.RevocationsPath = c.DataPath + ".revocations.json" // security
	}
	return c
}

// validate reports the first field of c (after withDefaults) that holds a bad value.
func (c Config) validate() error {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if err := c.Cluster.validate(c); err != nil {
		return err
	}
	switch set := c.Storage; {
	case set.Log == nil && set.Snapshots == nil && set.Meta == nil:
		if c.DataPath == "" {
			return bad("DataPath", "is empty")
		}
	case set.Log == nil || set.Snapshots == nil || set.Meta == nil:
		return bad("Storage", "lacks a store: set Log, Snapshots and Meta, or none")
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return bad("AllowedOrigins", "holds %q: want scheme://host[:port] or *", o)
		}
	}
	positive := []struct {
		name string
		v    int64
	}{
		{"MaxMessageBytes", int64(c.MaxMessageBytes)},
		{"MaxDocumentBytes", c.MaxDocumentBytes},
		{"MaxConnsPerDocument", int64(c.MaxConnsPerDocument)},
		{"MaxAwarenessBytes", int64(c.MaxAwarenessBytes)},
		{"SendQueueBytes", int64(c.SendQueueBytes)},
		{"SendQueueMessages", int64(c.SendQueueMessages)},
		{"SendBufferBytes", int64(c.SendBufferBytes)},
		{"WriteTimeout", int64(c.WriteTimeout)},
		{"CloseTimeout", int64(c.CloseTimeout)},
		{"MaxPartialMessageBytes", c.MaxPartialMessageBytes},
		{"FrameStallTimeout", int64(c.FrameStallTimeout)},
		{"PongWait", int64(c.PongWait)},
		{"AwarenessInterval", int64(c.AwarenessInterval)},
		{"PresenceWait", int64(c.PresenceWait)},
		{"IdleUnloadAfter", int64(c.IdleUnloadAfter)},
		{"CompactLogEntries", int64(c.CompactLogEntries)},
		{"CompactLogBytes", c.CompactLogBytes},
		{"SaveRetries", int64(c.SaveRetries)},
		{"SaveRetryBackoff", int64(c.SaveRetryBackoff)},
		{"ActorInbox", int64(c.ActorInbox)},
		{"ShutdownTimeout", int64(c.ShutdownTimeout)},
		{"StorageLockTimeout", int64(c.StorageLockTimeout)},
		{"Hooks.ChangeDebounce", int64(c.Hooks.ChangeDebounce)},
		{"Hooks.ChangeMaxDebounce", int64(c.Hooks.ChangeMaxDebounce)},
		{"Hooks.MaxPendingEvents", int64(c.Hooks.MaxPendingEvents)},
	}
	for _, p := range positive {
		if p.v < 0 {
			return bad(p.name, "is negative (%d)", p.v)
		}
	}
	if c.StorageMaxBatchDelay < 0 {
		return bad("StorageMaxBatchDelay", "is negative (%s)", c.StorageMaxBatchDelay)
	}
	if c.MaxAwarenessBytes > c.MaxMessageBytes {
		return bad("MaxAwarenessBytes", "(%d) exceeds MaxMessageBytes (%d)", c.MaxAwarenessBytes, c.MaxMessageBytes)
	}
	if c.MaxPartialMessageBytes < int64(c.MaxMessageBytes) {
		return bad("MaxPartialMessageBytes", "(%d) is below MaxMessageBytes (%d)", c.MaxPartialMessageBytes, c.MaxMessageBytes)
	}
	if c.Hooks.ChangeMaxDebounce < c.Hooks.ChangeDebounce {
		return bad("Hooks.ChangeMaxDebounce", "(%s) is below Hooks.ChangeDebounce (%s)", c.Hooks.ChangeMaxDebounce, c.Hooks.ChangeDebounce)
	}
	if c.PongWait < 10*time.Millisecond {
		return bad("PongWait", "is below 10ms (%s)", c.PongWait)
	}
	if c.PresenceWait < 10*time.Millisecond {
		return bad("PresenceWait", "is below 10ms (%s)", c.PresenceWait)
	}
	return c.SecurityConfig.validate() // security
}

// originAllowed reports whether a WebSocket upgrade from origin (the Origin header, non-empty) to
// host (the request's Host) is allowed by allowed. The server's own origin (the request's host) is
// always allowed, so that the demo it serves at / works whatever the list says: a page the server
// served itself is no cross-site request.
func originAllowed(allowed []string, origin, host string) bool {
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, host) {
		return true
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			return true
		}
	}
	return false
}

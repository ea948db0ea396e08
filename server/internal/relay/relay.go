package relay

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Config configures a Relay. Conn and Node are required; a zero field otherwise takes the default
// named in its comment.
type Config struct {
	// Conn is the node's NATS connection, shared with the rest of the node. The Relay never
	// closes it.
	Conn *nats.Conn
	// Node is this node's ID, unique in the cluster: 1 to 128 bytes.
	Node string
	// Prefix begins every subject; zero means "tandem".
	Prefix string
	// Heartbeat is the period of the node's heartbeat; zero means 500 ms.
	Heartbeat time.Duration
	// Expiry is how long another node may stay silent before its clients' states are dropped;
	// zero means five heartbeats. A node that died is noticed between Expiry-Heartbeat and
	// Expiry+Heartbeat/4 after its death.
	Expiry time.Duration
	// FullEvery is the period at which the node sends every state it holds for each open document,
	// which heals what core NATS (at most once) lost; zero means ten seconds.
	FullEvery time.Duration
	// MaxNodes is the most other nodes tracked at once; zero means 64. Messages of a node beyond
	// it are ignored until a tracked one expires.
	MaxNodes int
	// Limits bound each document's table of remote states; zero fields mean 1000 clients per
	// node, 4 times that in all, 4 KiB per state.
	Limits Limits
	// QueueMessages is the most messages waiting to be published; zero means 1024. A message
	// that finds the queue full is dropped (presence is at most once) and counted.
	QueueMessages int
	// Logger receives the relay's logs; nil means discard.
	Logger *slog.Logger
}

// Defaults for Config.
const (
	DefaultPrefix = "tandem"
	// DefaultHeartbeat and five of them for the expiry notice a dead node 2 to 2.6 s after its
	// death, well within the 5 s that editors may wait for its cursors to go, while a node whose
	// beats are late by up to two seconds (a busy machine) is not taken for dead.
	DefaultHeartbeat         = 500 * time.Millisecond
	DefaultFullEvery         = 10 * time.Second
	DefaultMaxNodes          = 64
	DefaultMaxClientsPerNode = 1000
	DefaultMaxStateBytes     = 4 << 10
	DefaultQueueMessages     = 1024
)

// ErrClosed is returned by Open after Close.
var ErrClosed = errors.New("relay: closed")

// Relay carries a node's awareness states to the other nodes of its cluster and theirs to it,
// over core NATS, and tells the documents when a node dies. One Relay serves every document of a
// node (Open); its methods are safe for concurrent use.
type Relay struct {
	cfg  Config
	self Node
	log  *slog.Logger
	out  chan outgoing
	stop chan struct{}
	wg   sync.WaitGroup
	hb   *nats.Subscription

	closeOnce sync.Once

	// mu guards the fields below it. It is taken before a Doc's mutex, never while holding one.
	mu     sync.Mutex
	nodes  *Nodes
	docs   map[*Doc]struct{}
	closed bool
	// fullAt, when set, is when the ticker sends the full states of every open document ahead of
	// FullEvery: a node was heard as new, and the subscriptions of a node just (re)connected
	// reach every NATS server a moment after its first messages, so the query sent at once may
	// be lost.
	fullAt time.Time

	dropped atomic.Uint64 // messages not published: the queue was full or the publish failed
	refused atomic.Uint64 // messages ignored: malformed, or from a node beyond MaxNodes
}

type outgoing struct {
	subject string
	data    []byte
}

// New starts a relay on cfg.Conn: it subscribes to the heartbeats and starts its own.
func New(cfg Config) (*Relay, error) {
	if cfg.Conn == nil {
		return nil, errors.New("relay: no NATS connection")
	}
	if cfg.Node == "" || len(cfg.Node) > maxNodeIDBytes {
		return nil, fmt.Errorf("relay: node id of %d bytes; want 1 to %d", len(cfg.Node), maxNodeIDBytes)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = 5 * cfg.Heartbeat
	}
	if cfg.FullEvery <= 0 {
		cfg.FullEvery = DefaultFullEvery
	}
	if cfg.MaxNodes <= 0 {
		cfg.MaxNodes = DefaultMaxNodes
	}
	if cfg.Limits.MaxClientsPerNode <= 0 {
		cfg.Limits.MaxClientsPerNode = DefaultMaxClientsPerNode
	}
	if cfg.Limits.MaxClients <= 0 {
		cfg.Limits.MaxClients = 4 * cfg.Limits.MaxClientsPerNode
	}
	if cfg.Limits.MaxStateBytes <= 0 {
		cfg.Limits.MaxStateBytes = DefaultMaxStateBytes
	}
	if cfg.QueueMessages <= 0 {
		cfg.QueueMessages = DefaultQueueMessages
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var inst [8]byte
	if _, err := rand.Read(inst[:]); err != nil {
		return nil, fmt.Errorf("relay: draw an instance: %w", err)
	}
	r := &Relay{
		cfg:   cfg,
		self:  Node{ID: cfg.Node, Instance: binary.BigEndian.Uint64(inst[:])},
		log:   log.With("node", cfg.Node),
		out:   make(chan outgoing, cfg.QueueMessages),
		stop:  make(chan struct{}),
		nodes: NewNodes(cfg.MaxNodes, cfg.Expiry),
		docs:  make(map[*Doc]struct{}),
	}
	sub, err := cfg.Conn.Subscribe(r.heartbeatSubject(), r.onHeartbeat)
	if err != nil {
		return nil, fmt.Errorf("relay: subscribe to heartbeats: %w", err)
	}
	r.hb = sub
	r.enqueue(r.heartbeatSubject(), encode(message{kind: kindBeat, from: r.self}))
	r.wg.Add(2)
	go r.send()
	go r.tick()
	return r, nil
}

// heartbeatSubject is apart from the node heartbeats of the cluster (<prefix>.hb.<node>): these
// carry the instance and the goodbye.
func (r *Relay) heartbeatSubject() string { return r.cfg.Prefix + ".awhb" }

// Self returns this node as the others see it.
func (r *Relay) Self() Node { return r.self }

// Nodes returns how many other nodes are alive as far as this one knows.
func (r *Relay) Nodes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nodes.Len()
}

// Dropped returns how many messages were not published (the queue was full or NATS refused them).
func (r *Relay) Dropped() uint64 { return r.dropped.Load() }

// Refused returns how many received messages were ignored: malformed, or from a node beyond
// Config.MaxNodes.
func (r *Relay) Refused() uint64 { return r.refused.Load() }

// Close says goodbye to the other nodes (they drop this node's states at once), closes every
// open Doc, and stops the relay's goroutines. It does not close the NATS connection.
func (r *Relay) Close() {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		docs := make([]*Doc, 0, len(r.docs))
		for d := range r.docs {
			docs = append(docs, d)
		}
		r.mu.Unlock()
		for _, d := range docs {
			d.Close()
		}
		r.enqueue(r.heartbeatSubject(), encode(message{kind: kindBye, from: r.self}))
		close(r.stop)
		r.wg.Wait()
		_ = r.hb.Unsubscribe()
		if err := r.cfg.Conn.FlushTimeout(r.cfg.Heartbeat); err != nil {
			r.log.Debug("relay: flush at close", "err", err)
		}
	})
}

// enqueue hands a message to the sender without waiting: a full queue drops it.
func (r *Relay) enqueue(subject string, data []byte) {
	select {
	case r.out <- outgoing{subject: subject, data: data}:
	default:
		r.dropped.Add(1)
	}
}

// send publishes the queued messages until Close, then what is left.
func (r *Relay) send() {
	defer r.wg.Done()
	publish := func(o outgoing) {
		if err := r.cfg.Conn.Publish(o.subject, o.data); err != nil {
			r.dropped.Add(1)
			r.log.Debug("relay: publish", "subject", o.subject, "err", err)
		}
	}
	for {
		select {
		case o := <-r.out:
			publish(o)
		case <-r.stop:
			for {
				select {
				case o := <-r.out:
					publish(o)
				default:
					return
				}
			}
		}
	}
}

// tick beats the heartbeat, drops the states of nodes that fell silent, and sends the full
// states of the open documents now and then.
func (r *Relay) tick() {
	defer r.wg.Done()
	check := max(r.cfg.Heartbeat/4, time.Millisecond)
	t := time.NewTicker(check)
	defer t.Stop()
	lastBeat, lastFull := time.Now(), time.Now()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			if now.Sub(lastBeat) >= r.cfg.Heartbeat {
				lastBeat = now
				r.enqueue(r.heartbeatSubject(), encode(message{kind: kindBeat, from: r.self}))
			}
			r.mu.Lock()
			dead := r.nodes.Expire(now)
			r.mu.Unlock()
			for _, n := range dead {
				r.log.Info("relay: node silent, dropping its clients' presence", "peer", n.ID, "instance", n.Instance)
				r.dropNode(n)
			}
			r.mu.Lock()
			soon := !r.fullAt.IsZero() && !now.Before(r.fullAt)
			if soon {
				r.fullAt = time.Time{}
			}
			r.mu.Unlock()
			if soon || now.Sub(lastFull) >= r.cfg.FullEvery {
				lastFull = now
				for _, d := range r.openDocs() {
					d.sendFull()
				}
			}
		}
	}
}

// openDocs returns the open documents.
func (r *Relay) openDocs() []*Doc {
	r.mu.Lock()
	defer r.mu.Unlock()
	docs := make([]*Doc, 0, len(r.docs))
	for d := range r.docs {
		docs = append(docs, d)
	}
	return docs
}

// dropNode removes node n's states from every open document.
func (r *Relay) dropNode(n Node) {
	for _, d := range r.openDocs() {
		d.dropNode(n)
	}
}

// heard records a message from node n at now, and reports whether it is to be handled and
// whether n is new (not tracked before: just started, or back after it was taken for dead).
func (r *Relay) heard(n Node, now time.Time) (ok, isNew bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	before := r.nodes.Len()
	if !r.nodes.Heard(n, now) {
		r.refused.Add(1)
		return false, false
	}
	return true, r.nodes.Len() > before
}

// onHeartbeat handles a message on the heartbeat subject.
func (r *Relay) onHeartbeat(msg *nats.Msg) {
	m, err := decode(msg.Data)
	if err != nil || (m.kind != kindBeat && m.kind != kindBye) {
		r.refused.Add(1)
		return
	}
	if m.from == r.self {
		return // our own
	}
	if m.kind == kindBye {
		r.mu.Lock()
		r.nodes.Gone(m.from)
		r.mu.Unlock()
		r.log.Info("relay: node left", "peer", m.from.ID)
		r.dropNode(m.from)
		return
	}
	now := time.Now()
	ok, isNew := r.heard(m.from, now)
	if ok && isNew {
		// A node we did not know: it may hold states of documents open here (it was taken for
		// dead, or its documents were open before its first beat arrived). Ask, and send ours
		// again a little later (fullAt).
		r.log.Info("relay: node joined", "peer", m.from.ID, "instance", m.from.Instance)
		for _, d := range r.openDocs() {
			d.query()
		}
		r.mu.Lock()
		if at := now.Add(2 * r.cfg.Heartbeat); r.fullAt.IsZero() || at.Before(r.fullAt) {
			r.fullAt = at
		}
		r.mu.Unlock()
	}
}

// Doc is one document's presence across nodes on this node: it publishes the document's local
// awareness changes, and holds the states the other nodes relay (Table), which the document's
// actor takes with Flush when notified. Its methods are safe for concurrent use.
type Doc struct {
	r       *Relay
	subject string
	notify  func()
	sub     *nats.Subscription

	mu      sync.Mutex
	table   *Table
	local   map[uint64]Entry // the live local states, as last published
	waiting bool             // notify was called and Flush has not been since
	closed  bool
}

// Open starts relaying document docID: it subscribes to the document's subject and asks the other
// nodes for their states. notify is called, from another goroutine and without blocking, when
// remote changes wait for Flush; it is not called again before the next Flush.
func (r *Relay) Open(docID string, notify func()) (*Doc, error) {
	d := &Doc{
		r:       r,
		subject: r.DocSubject(docID),
		notify:  notify,
		table:   NewTable(r.cfg.Limits),
		local:   make(map[uint64]Entry),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	sub, err := r.cfg.Conn.Subscribe(d.subject, d.onMessage)
	if err != nil {
		return nil, fmt.Errorf("relay: subscribe to %s: %w", d.subject, err)
	}
	d.sub = sub
	r.docs[d] = struct{}{}
	d.query()
	return d, nil
}

// DocSubject returns the subject of document docID's presence messages.
func (r *Relay) DocSubject(docID string) string {
	return r.cfg.Prefix + ".aw." + base64.RawURLEncoding.EncodeToString([]byte(docID))
}

// query asks the other nodes with the document open for their states.
func (d *Doc) query() {
	d.r.enqueue(d.subject, encode(message{kind: kindQuery, from: d.r.self}))
}

// Publish sends the document's local awareness changes (an entry with a nil state is a removal)
// to the other nodes.
func (d *Doc) Publish(changes []Entry) {
	if len(changes) == 0 {
		return
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	defer d.mu.Unlock()
	for _, e := range changes {
		if e.State == nil {
			delete(d.local, e.ClientID)
		} else {
			d.local[e.ClientID] = e
		}
	}
	// Queued under d.mu, as sendFull's are: a full message never overtakes changes it lacks,
	// which would remove their states on the other nodes.
	d.r.enqueue(d.subject, encode(message{kind: kindChanges, from: d.r.self, entries: changes}))
}

// sendFull sends every local state, if there are any.
func (d *Doc) sendFull() {
	d.mu.Lock()
	if d.closed || len(d.local) == 0 {
		d.mu.Unlock()
		return
	}
	defer d.mu.Unlock()
	entries := make([]Entry, 0, len(d.local))
	for _, e := range d.local {
		entries = append(entries, e)
	}
	sortEntries(entries)
	d.r.enqueue(d.subject, encode(message{kind: kindFull, from: d.r.self, entries: entries}))
}

// Flush returns the remote changes since the last Flush, latest per client, by client ID (a nil
// state is a removal). Clients with a local state are left out: the local one wins.
func (d *Doc) Flush() []Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.waiting = false
	return d.withoutLocal(d.table.Flush())
}

// Current returns every remote state, by client ID, but those of clients with a local state.
func (d *Doc) Current() []Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.withoutLocal(d.table.Current())
}

func (d *Doc) withoutLocal(es []Entry) []Entry {
	if len(d.local) == 0 {
		return es
	}
	out := es[:0]
	for _, e := range es {
		if _, ok := d.local[e.ClientID]; !ok {
			out = append(out, e)
		}
	}
	return out
}

// Close stops relaying the document: the other nodes are told that its local states are gone.
// Flush and Current still answer; notify is not called again.
func (d *Doc) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	var removals []Entry
	for _, e := range d.local {
		removals = append(removals, Entry{ClientID: e.ClientID, Clock: e.Clock})
	}
	clear(d.local)
	d.mu.Unlock()
	if len(removals) > 0 {
		sortEntries(removals)
		d.r.enqueue(d.subject, encode(message{kind: kindChanges, from: d.r.self, entries: removals}))
	}
	_ = d.sub.Unsubscribe()
	d.r.mu.Lock()
	delete(d.r.docs, d)
	d.r.mu.Unlock()
}

// onMessage handles a message on the document's subject.
func (d *Doc) onMessage(msg *nats.Msg) {
	m, err := decode(msg.Data)
	if err != nil || (m.kind != kindChanges && m.kind != kindFull && m.kind != kindQuery) {
		d.r.refused.Add(1)
		return
	}
	if m.from == d.r.self {
		return // our own
	}
	if ok, _ := d.r.heard(m.from, time.Now()); !ok {
		return
	}
	if m.kind == kindQuery {
		d.sendFull()
		return
	}
	d.mu.Lock()
	changed := !d.closed && d.table.Apply(m.from, m.kind == kindFull, m.entries)
	d.signal(changed)
}

// dropNode removes node n's states.
func (d *Doc) dropNode(n Node) {
	d.mu.Lock()
	changed := !d.closed && d.table.DropNode(n)
	d.signal(changed)
}

// signal unlocks d.mu, and calls notify if changed and it is not waiting for a Flush already.
func (d *Doc) signal(changed bool) {
	call := changed && !d.waiting
	if call {
		d.waiting = true
	}
	d.mu.Unlock()
	if call {
		d.notify()
	}
}

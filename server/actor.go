package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/storage"
)

// metaSelfClient is the document metadata key (storage.PutDocMeta) under which the server keeps its
// own CRDT client ID for the document, 8 bytes big-endian. HTTP edits are made under that ID; keeping
// it stable across restarts keeps the state vector from growing by one client per restart.
//
// The ID outlives the process but its clocks live in the document, so a crash loses the clocks of
// edits that were not yet durable, and the restarted server issues them again with other content.
// That is safe only because nothing under the server's ID leaves the process before it is durable
// (DESIGN.md, "Identity and crashes"; relay): its units are relayed, sent to joiners and read over
// HTTP only once durable, and the HTTP edit is answered only then. A clock that a crash lost was
// therefore never seen by anyone.
const metaSelfClient = "server-client-id"

// message is what an actor's inbox carries. Each type below is one kind of message.
type message interface{ isMessage() }

// joinMsg: connection c sent hello; reply gets nil once the sync answer is queued, or the refusal.
type joinMsg struct {
	c     *conn
	hello *protocol.Hello
	reply chan error
}

// leaveMsg: connection c is gone.
type leaveMsg struct{ c *conn }

// updateMsg: connection c sent an update, which arrived at at.
type updateMsg struct {
	c    *conn
	data []byte
	at   time.Time
}

// awarenessMsg: connection c sent its awareness state.
type awarenessMsg struct {
	c     *conn
	clock uint64
	state []byte
}

// broadcastMsg: connection c asks to relay payload to the other editors.
type broadcastMsg struct {
	c       *conn
	payload []byte
}

// httpUpdateMsg: POST /v1/docs/{id}/update. reply gets the result once the update is durable.
type httpUpdateMsg struct {
	who   principal
	data  []byte
	reply chan writeResult
	// ifAbsent: PUT /v1/docs/{id}, a seed, applied only if the document has no content (seed.go).
	ifAbsent bool
}

// httpEditMsg: POST /v1/docs/{id}/edits. reply gets the result once the edits are durable.
type httpEditMsg struct {
	who   principal
	req   *editRequest
	reply chan writeResult
	// ifAbsent: PUT /v1/docs/{id}, a seed, applied only if the document has no content (seed.go).
	ifAbsent bool
}

// readMsg: GET /v1/docs/{id} (since nil) or GET /v1/docs/{id}/update (since set).
type readMsg struct {
	update bool
	since  crdt.StateVector
	reply  chan readResult
}

// deleteMsg: DELETE /v1/docs/{id}. reply gets the result once storage has deleted the document.
type deleteMsg struct{ reply chan error }

// stopMsg: the server is shutting down.
type stopMsg struct{}

// funcMsg runs fn on the actor's goroutine, with access to its state (tests use it to look, and
// the access endpoint to ask whether a deletion is in progress: access.go).
type funcMsg struct{ fn func(a *actor) }

func (joinMsg) isMessage()       {}
func (leaveMsg) isMessage()      {}
func (updateMsg) isMessage()     {}
func (awarenessMsg) isMessage()  {}
func (broadcastMsg) isMessage()  {}
func (httpUpdateMsg) isMessage() {}
func (httpEditMsg) isMessage()   {}
func (readMsg) isMessage()       {}
func (deleteMsg) isMessage()     {}
func (stopMsg) isMessage()       {}
func (funcMsg) isMessage()       {}

// writeResult answers an HTTP write.
type writeResult struct {
	sv  []byte // the document's encoded state vector after the write
	err error
	// existed: a seed (ifAbsent) found content and changed nothing; sv is the document's.
	existed bool
}

func (r writeResult) retry() bool { return errors.Is(r.err, errRetry) }

// readResult answers an HTTP read.
type readResult struct {
	summary *docSummary
	update  []byte
	err     error
}

func (r readResult) retry() bool { return errors.Is(r.err, errRetry) }

// event is a storage report, posted by a storage callback or a helper goroutine. Events travel
// through the actor's mailbox rather than its inbox: a callback runs on the storage writer and must
// never block, and the mailbox never does.
type event struct {
	kind  eventKind
	index uint64    // evAppend: the append's durability index
	seq   uint64    // evAppend: the entry's sequence number
	bytes int64     // evAppend: the entry's length
	start time.Time // when the write was handed to storage
	save  saveInfo  // evSave
	err   error
}

type eventKind uint8

const (
	evAppend  eventKind = iota + 1 // an append is durable or failed
	evSave                         // a snapshot (compaction) is durable or failed
	evSelfID                       // the server's client ID is stored or failed
	evDeleted                      // the document is deleted from storage, or failed
	evBound                        // the client bindings of joins up to index are stored, or failed
)

// saveInfo describes a snapshot being saved.
type saveInfo struct {
	cover   uint64 // every durability index <= cover is in the snapshot
	upto    uint64 // the log entries <= upto are folded into it
	entries int    // how many log entries that is
	bytes   int64  // and their size
	size    int64  // the snapshot's size
}

// actorMode is what the actor is doing with its life.
type actorMode uint8

const (
	modeRun    actorMode = iota // serving
	modeUnload                  // idle: save, then exit (a join or request brings it back to modeRun)
	modeStop                    // shutdown: finish writes, save, exit
	modeDelete                  // deleting: finish writes, delete from storage, exit
)

// pendingAck is an update that will be acknowledged with seq once durability index is durable.
type pendingAck struct {
	seq   uint64
	index uint64
}

// waiter is an HTTP write waiting for durability index.
type waiter struct {
	index uint64
	reply chan writeResult
}

// gatedFrame is a frame for a connection that may be written only once every update up to
// durability index need is durable (relay).
type gatedFrame struct {
	f    outFrame
	need uint64
}

// readWait is an HTTP read answered once every update up to durability index need is durable.
type readWait struct {
	need   uint64
	reply  chan readResult
	result readResult
}

// bindJoin is a join waiting for the bindings persist seq (its client ID's binding) to be stored.
type bindJoin struct {
	m   joinMsg
	seq uint64
}

// awareEntry is one client's awareness state. A nil state is a removal not yet sent to the others.
type awareEntry struct {
	owner *conn
	clock uint64
	state []byte
}

// actor owns one open document. One goroutine (run) owns every field below the mailbox: the CRDT
// document, the joined connections and their pending acknowledgements, the awareness states, the
// cached join answer, the log accounting and the timers. Nothing else reads or writes them;
// everything reaches the actor as a message on its inbox or an event in its mailbox. The actor never
// blocks on I/O: it writes to connections through their non-blocking queues and to storage through
// its asynchronous calls, whose reports come back as events.
type actor struct {
	s     *Server
	id    string
	log   *slog.Logger
	inbox chan message
	done  chan struct{} // closed when run returns

	// The mailbox: storage reports, appended by callbacks, drained by run.
	evMu   sync.Mutex
	events []event
	evWake chan struct{}
	// evSpare is the mailbox's other buffer, owned by run: drainEvents swaps the two, so that
	// posting an event does not allocate a new slice after every drain.
	evSpare []event
	bg      sync.WaitGroup // helper goroutines (deletion)

	// While it handles a batch of messages or events, the actor holds what it sends to its
	// connections (sendTo) and writes each one's frames at the end (flushHeld).
	holding bool
	held    []*conn
	// When the document is busy, the actor writes what it holds at most once per lingerMax
	// (endBatch), so that each connection gets several frames per system call.
	linger     lingerState
	flushTimer *time.Timer // set while the actor lingers

	// Owned by run.
	doc       *crdt.Doc
	loadErr   error     // the load failed: the actor is poisoned and refuses everything
	exists    bool      // the document is in storage or has been written
	updated   time.Time // last durable write
	self      uint64    // the server's own client ID for this document
	selfSaved bool      // self is stored in the document's metadata
	selfBusy  bool      // a PutDocMeta of self is in flight
	selfQueue []httpEditMsg
	bindings  *clientBindings // security: client ID -> subject (auth_bindings.go)
	// Joins whose client ID's binding is being stored (bind at hello, auth_bindings.go), in order,
	// and the sequence of those stores.
	bindJoins []bindJoin
	bindSeq   uint64

	// Relay after durable (relay): the frames for members that wait for durability, in order, only
	// while there are some (no empty lists); the HTTP reads waiting for it; and the durability
	// index of the last append of the server's own units.
	gated        map[*conn][]gatedFrame
	readWaits    []readWait
	selfInFlight uint64

	mode        actorMode
	fatal       error // exit now, closing connections with this
	deleteReply chan error
	deleting    bool // the storage deletion is in flight
	deleted     bool // the storage deletion reported

	// members are the joined connections, each at its slot (conn.memberSlot). What the actor
	// keeps about each is in the connection itself (conn.received, conn.refused), and its updates
	// waiting to be acknowledged in acking only while there are some, so that an idle member
	// costs the actor one pointer.
	members []*conn
	acking  map[*conn][]pendingAck // members' updates waiting to be durable, in order; no empty lists
	waiters []waiter

	aware      map[uint64]*awareEntry
	awareDirty map[uint64]struct{}
	awareTimer *time.Timer

	version     uint64 // bumped by every update that changed something
	svCache     crdt.StateVector
	svVersion   uint64 // version svCache was taken at; valid when equal to version and svCache != nil
	joinFrame   []byte // the sync frame for a joiner with an empty state vector
	joinVersion uint64
	// pendingFrame carries the units waiting for their dependencies, sent to joiners after the
	// sync frame; cached per crdt document version (pendingDocVersion).
	pendingFrame      []byte
	pendingDocVersion uint64
	// pendingHeld is the document's share of the server's pending budget: what its pending
	// units held after its last update (pending.go).
	pendingHeld int

	dur            durability
	lastSeq        uint64 // the last log sequence number known durable
	logEntries     int    // log entries after the snapshot, durable or in flight
	logBytes       int64
	durableEntries int // of which reported durable
	durableBytes   int64
	snapBytes      int64

	saving        bool
	saveAgain     bool // another save is wanted once this one ends
	saveAttempts  int  // consecutive failures
	saveTimer     *time.Timer
	saveAbandoned bool
	compactHold   int // after an abandoned save, no compaction below this many entries

	idleTimer *time.Timer

	changes changeMark // hooks: how far Hooks.Observe has been told (observe.go)
}

func newActor(s *Server, id string) *actor {
	return &actor{
		s:          s,
		id:         id,
		log:        s.log.With("doc", id),
		inbox:      make(chan message, s.cfg.ActorInbox),
		done:       make(chan struct{}),
		evWake:     make(chan struct{}, 1),
		acking:     make(map[*conn][]pendingAck),
		gated:      make(map[*conn][]gatedFrame),
		aware:      make(map[uint64]*awareEntry),
		awareDirty: make(map[uint64]struct{}),
	}
}

// post sends m to the actor's inbox. It waits while the inbox is full, until the actor exits
// (errActorGone) or ctx ends.
func (a *actor) post(ctx context.Context, m message) error {
	select {
	case a.inbox <- m:
		return nil
	case <-a.done:
		return errActorGone
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leave tells the actor that c is gone. It never blocks for long: the actor either takes the
// message or has exited.
func (a *actor) leave(c *conn) {
	_ = a.post(context.Background(), leaveMsg{c: c})
}

// postEvent adds e to the mailbox. It never blocks, so storage callbacks may call it.
func (a *actor) postEvent(e event) {
	a.evMu.Lock()
	a.events = append(a.events, e)
	a.evMu.Unlock()
	select {
	case a.evWake <- struct{}{}:
	default:
	}
}

// actorBatch is the most messages the actor handles before it writes what it sends (flushHeld).
const actorBatch = 64

// handleQueued handles the messages already waiting in the inbox, up to a batch, as long as the
// actor's mode stays the same (settle acts on a change before the next message), and returns how
// many it handled.
func (a *actor) handleQueued() int {
	mode := a.mode
	handled := 0
	for n := 1; n < actorBatch && a.fatal == nil && a.mode == mode; n++ {
		select {
		case m := <-a.inbox:
			a.handle(m)
			handled++
		default:
			return handled
		}
	}
	return handled
}

// Lingering under load. Each frame the actor writes costs a system call, and on a loopback or a
// virtual machine most of that is the kernel's (the receiver's wake-up included), not the
// server's: at thousands of edits a second the calls, not the edits, fill the CPU. When a
// document receives at least lingerRate messages a second, the actor writes what it holds at most
// once per lingerMax: each connection then gets the frames of several edits in one call. Below
// that rate nothing waits (a typist's keystrokes are further apart than lingerMax), and no frame
// waits more than lingerMax.
const (
	lingerMax    = 16 * time.Millisecond
	lingerRate   = 100 // messages a second
	lingerWindow = 500 * time.Millisecond
)

// lingerState decides when a document's actor writes what it holds: at once, unless the document
// is busy and the last write was less than lingerMax ago.
type lingerState struct {
	lastFlush time.Time // when held frames were last written
	rateStart time.Time // the start of the current rate window
	rateCount int       // messages handled in it
	busy      bool      // the last window, ended less than a window ago, counted lingerRate's worth
}

// count counts n messages handled at now.
func (l *lingerState) count(now time.Time, n int) {
	if d := now.Sub(l.rateStart); d >= lingerWindow {
		l.busy = d < 2*lingerWindow && l.rateCount >= lingerRate*int(lingerWindow/time.Millisecond)/1000
		l.rateStart, l.rateCount = now, 0
	}
	l.rateCount += n
}

// wait returns how long the actor holds on to what it holds, from now: 0 to write at once.
func (l *lingerState) wait(now time.Time) time.Duration {
	if !l.busy || now.Sub(l.rateStart) >= 2*lingerWindow {
		return 0
	}
	return max(0, lingerMax-now.Sub(l.lastFlush))
}

// flushed records a write of held frames at now.
func (l *lingerState) flushed(now time.Time) { l.lastFlush = now }

// endBatch ends a batch of messages or events at now: it writes what the actor holds, or, when
// the document is busy (lingerState), lets the flush timer write it later.
func (a *actor) endBatch(now time.Time) {
	if a.flushTimer != nil {
		return // lingering: the timer writes
	}
	if len(a.held) == 0 {
		a.holding = false
		return
	}
	if a.mode == modeRun && a.fatal == nil {
		if wait := a.linger.wait(now); wait > 0 {
			a.flushTimer = time.NewTimer(wait)
			return
		}
	}
	a.flushHeld()
	a.linger.flushed(now)
}

// sendTo sends f to c: held until flushHeld while the actor handles a batch, at once otherwise.
// Under load a batch holds many updates, and each connection gets them in one system call.
func (a *actor) sendTo(c *conn, f outFrame) {
	if !a.holding {
		c.send(f)
		return
	}
	if c.hold(f) {
		a.held = append(a.held, c)
	}
}

// flushHeld writes what the actor held for each connection, and stops holding.
func (a *actor) flushHeld() {
	a.holding = false
	for i, c := range a.held {
		c.flush()
		a.held[i] = nil
	}
	a.held = a.held[:0]
}

// timerC returns t's channel, or nil (a case that never fires) when there is no timer.
func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

// run is the actor's goroutine: load, then serve messages and events until the document unloads,
// is deleted or the server stops.
func (a *actor) run() {
	a.s.metrics.documentsOpen.Inc()
	defer a.s.metrics.documentsOpen.Dec()
	defer close(a.done)
	defer a.bg.Wait()

	a.load()
	a.armIdle()
	for {
		if a.settle() {
			a.exit()
			return
		}
		select {
		case m := <-a.inbox:
			a.holding = true
			a.handle(m)
			now := time.Now()
			a.linger.count(now, 1+a.handleQueued())
			a.endBatch(now)
		case <-a.evWake:
			a.holding = true
			a.drainEvents()
			a.endBatch(time.Now())
		case <-timerC(a.flushTimer):
			a.flushTimer = nil
			a.flushHeld()
			a.linger.flushed(time.Now())
		case <-timerC(a.idleTimer):
			a.idleTimer = nil
			a.onIdle()
		case <-timerC(a.awareTimer):
			a.awareTimer = nil
			a.flushAwareness()
		case <-timerC(a.saveTimer):
			a.saveTimer = nil
			a.startSave()
		}
	}
}

// load reads the document from storage: the snapshot, then the log. Any failure poisons the actor:
// it refuses every join and request rather than serve an empty or partial document that a later
// save would write over the real one.
func (a *actor) load() {
	start := time.Now()
	st, exists, err := a.s.store.Load(a.id)
	if err != nil {
		a.poison(fmt.Errorf("server: load %q: %w", a.id, err))
		return
	}
	self, saved := uint64(0), false
	if b, ok := st.DocMeta[metaSelfClient]; ok && len(b) == 8 {
		if id := binary.BigEndian.Uint64(b); id >= 1 && id <= crdt.MaxClientID {
			self, saved = id, true
		}
	}
	if !saved {
		if self, err = randomClientID(); err != nil {
			a.poison(fmt.Errorf("server: load %q: %w", a.id, err))
			return
		}
	}
	// security: the client IDs bound to subjects (auth_bindings.go).
	bindings, err := loadClientBindings(st.DocMeta, a.s.runsOpen())
	if err != nil {
		a.poison(fmt.Errorf("server: load %q: client bindings: %w", a.id, err))
		return
	}
	doc, err := a.build(self, st.Snapshot, st.Log)
	if err != nil {
		a.poison(err)
		return
	}
	if !saved && doc.StateVector()[self] > 0 {
		// A random ID that some client already used: draw again rather than share it.
		if self, err = randomClientID(); err != nil {
			a.poison(fmt.Errorf("server: load %q: %w", a.id, err))
			return
		}
		if doc, err = a.build(self, st.Snapshot, st.Log); err != nil {
			a.poison(err)
			return
		}
	}
	a.doc = doc
	a.accountPending() // a stored document may hold pending units: they count, unbounded at load
	a.self, a.selfSaved = self, saved
	a.bindings = bindings
	a.bindings.bindServer(self) // security
	a.exists = exists
	a.changes.existed = exists // hooks: a document not in storage is reported created (observe.go)
	a.updated = st.Meta.Updated
	a.lastSeq = st.Meta.LastSeq
	a.logEntries, a.durableEntries = len(st.Log), len(st.Log)
	a.logBytes, a.durableBytes = st.Meta.LogBytes, st.Meta.LogBytes
	a.snapBytes = st.Meta.SnapshotBytes
	a.log.Debug("loaded", "exists", exists, "snapshot_bytes", len(st.Snapshot), "log_entries", len(st.Log), "took", time.Since(start))
}

// build makes the document that edits under client ID self from its stored snapshot and log.
func (a *actor) build(self uint64, snap []byte, log []storage.LogEntry) (*crdt.Doc, error) {
	doc, err := crdt.NewDoc(self, crdt.Config{MaxPendingBytes: a.s.cfg.MaxPendingBytes})
	if err != nil {
		return nil, fmt.Errorf("server: load %q: %w", a.id, err)
	}
	if len(snap) > 0 {
		if _, err := doc.Apply(snap); err != nil {
			return nil, fmt.Errorf("server: load %q: snapshot: %w", a.id, err)
		}
	}
	for _, e := range log {
		if _, err := doc.Apply(e.Data); err != nil {
			return nil, fmt.Errorf("server: load %q: log entry %d: %w", a.id, e.Seq, err)
		}
	}
	return doc, nil
}

func (a *actor) poison(err error) {
	a.loadErr = err
	a.s.metrics.loadFailures.Inc()
	a.log.Error("document failed to load: refusing it", "err", err)
}

// randomClientID draws a client ID in [1, 2^53) from crypto/rand.
func randomClientID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("server: random client id: %w", err)
		}
		if id := binary.BigEndian.Uint64(b[:]) & crdt.MaxClientID; id != 0 {
			return id, nil
		}
	}
}

// settle moves the actor's life on (starting the save or the deletion its mode needs) and reports
// whether it should exit now.
func (a *actor) settle() bool {
	if a.fatal != nil {
		return true
	}
	switch a.mode {
	case modeUnload, modeStop:
		if a.loadErr != nil {
			return true
		}
		if a.dur.inFlight() || a.saving || a.selfBusy || a.saveTimer != nil {
			return false
		}
		if a.needsSave() && !a.saveAbandoned {
			a.startSave()
			return false
		}
		return true
	case modeDelete:
		if a.dur.inFlight() || a.saving || a.selfBusy {
			return false
		}
		if !a.deleting {
			a.deleting = true
			a.bg.Add(1)
			go func() {
				defer a.bg.Done()
				a.postEvent(event{kind: evDeleted, err: a.s.store.Delete(a.id)})
			}()
		}
		return a.deleted
	}
	return false
}

// exit ends the actor: it leaves the registry first (so that a new request starts a fresh actor),
// closes what is still connected, and answers whatever is still in the inbox with errRetry.
func (a *actor) exit() {
	a.s.docs.remove(a)
	defer a.releasePending()
	if a.flushTimer != nil {
		a.flushTimer.Stop()
		a.flushTimer = nil
	}
	a.flushHeld() // what a lingering actor holds, written before the close frames are queued
	cause := a.fatal
	switch {
	case cause != nil:
	case a.mode == modeDelete:
		cause = errDeleted
	case a.mode == modeStop:
		cause = errGoingAway
	default:
		cause = errDocUnavailable
	}
	for _, c := range a.members {
		c.closeWith(cause)
	}
	for _, w := range a.waiters {
		w.reply <- writeResult{err: cause}
	}
	for _, m := range a.selfQueue {
		m.reply <- writeResult{err: cause}
	}
	for _, j := range a.bindJoins {
		j.m.reply <- errRetry
	}
	for _, r := range a.readWaits {
		r.reply <- readResult{err: cause}
	}
	for _, t := range []*time.Timer{a.idleTimer, a.awareTimer, a.saveTimer} {
		if t != nil {
			t.Stop()
		}
	}
	for {
		select {
		case m := <-a.inbox:
			a.refuseLate(m)
		default:
			if a.mode == modeDelete || a.fatal != nil || a.loadErr != nil {
				a.log.Info("document closed", "deleted", a.mode == modeDelete && a.deleted)
			} else {
				a.s.metrics.unloads.Inc()
				a.log.Debug("document unloaded")
			}
			return
		}
	}
}

// refuseLate answers a message that reached the inbox after the actor decided to exit.
func (a *actor) refuseLate(m message) {
	switch m := m.(type) {
	case joinMsg:
		m.reply <- errRetry
	case httpUpdateMsg:
		m.reply <- writeResult{err: errRetry}
	case httpEditMsg:
		m.reply <- writeResult{err: errRetry}
	case readMsg:
		m.reply <- readResult{err: errRetry}
	case deleteMsg:
		m.reply <- errRetry
	case updateMsg:
		m.c.closeWith(errDocUnavailable)
	case awarenessMsg:
		m.c.closeWith(errDocUnavailable)
	case broadcastMsg:
		m.c.closeWith(errDocUnavailable)
	}
}

func (a *actor) handle(m message) {
	switch m := m.(type) {
	case joinMsg:
		a.onJoin(m)
	case leaveMsg:
		a.onLeave(m.c)
	case updateMsg:
		a.onUpdate(m)
	case awarenessMsg:
		a.onAwareness(m)
	case broadcastMsg:
		a.onBroadcast(m)
	case httpUpdateMsg:
		a.onHTTPUpdate(m)
	case httpEditMsg:
		a.onHTTPEdit(m)
	case readMsg:
		a.onRead(m)
	case deleteMsg:
		a.onDelete(m)
	case stopMsg:
		a.onStop()
	case funcMsg:
		m.fn(a)
	}
}

// available reports why the actor cannot take a new join or request now, or nil. A request brings
// an unloading actor back to life.
func (a *actor) available() error {
	switch {
	case a.loadErr != nil:
		return errLoadFailed
	case a.mode == modeStop:
		return errGoingAway
	case a.mode == modeDelete:
		return errDeleted
	}
	if a.mode == modeUnload {
		a.mode = modeRun
	}
	return nil
}

func (a *actor) onJoin(m joinMsg) {
	// Refusals are counted by the connection, which closes with them.
	if err := a.available(); err != nil {
		m.reply <- err
		return
	}
	if len(a.members) >= a.s.cfg.MaxConnsPerDocument {
		m.reply <- errTooManyConns // before anything is stored (admit checks again)
		return
	}
	if m.hello.ClientID == a.self {
		m.reply <- protocol.Errorf(protocol.CloseForbidden, "client id %d is the server's own in this document: draw another", a.self)
		return
	}
	// security: a client ID bound to another subject may not join (auth_bindings.go); onLeave
	// undoes the join. A writable hello binds its ID for good, and is answered only once the
	// binding is stored: nothing reveals the ID (presence, broadcasts, units) while a crash could
	// still undo the binding and let someone else take it.
	changed, err := a.bindings.join(m.c.subject, m.hello.ClientID, !m.c.isReadOnly())
	if err != nil {
		m.reply <- err
		return
	}
	if changed {
		a.stopIdle()
		a.bindSeq++
		seq := a.bindSeq
		a.bindJoins = append(a.bindJoins, bindJoin{m: m, seq: seq})
		a.bindings.persist(a.s.store, a.id, func(err error) {
			a.postEvent(event{kind: evBound, index: seq, err: err})
		})
		return
	}
	a.admit(m)
}

// onBound completes the joins whose bindings are stored now (persist seq and before).
func (a *actor) onBound(seq uint64, err error) {
	n := 0
	for n < len(a.bindJoins) && a.bindJoins[n].seq <= seq {
		n++
	}
	joins := slices.Clone(a.bindJoins[:n])
	a.bindJoins = slices.Delete(a.bindJoins, 0, n)
	for _, j := range joins {
		switch {
		case err != nil:
			// The binding is undone in memory too, so that the client's next hello stores it
			// again rather than find it bound and be answered before it is durable.
			a.log.Error("storing client bindings failed: refusing the join", "client", j.m.hello.ClientID, "err", err)
			a.bindings.leave(j.m.hello.ClientID)
			a.bindings.unbind(j.m.hello.ClientID)
			j.m.reply <- errStorage
		case j.m.c.closing():
			a.bindings.leave(j.m.hello.ClientID)
			j.m.reply <- errGoingAway
		default:
			a.admit(j.m)
		}
	}
	if len(a.members) == 0 && len(a.bindJoins) == 0 {
		a.armIdle()
	}
}

// admit makes the sender of hello m a member and sends it the sync answer. Its client ID is
// already joined to the bindings (onJoin); a refusal here undoes that.
func (a *actor) admit(m joinMsg) {
	refuse := func(err error) {
		a.bindings.leave(m.hello.ClientID)
		m.reply <- err
	}
	if err := a.available(); err != nil {
		refuse(err)
		return
	}
	if len(a.members) >= a.s.cfg.MaxConnsPerDocument {
		refuse(errTooManyConns)
		return
	}
	frame, err := a.syncFrame(m.hello.StateVector)
	if err != nil {
		refuse(err)
		return
	}
	c := m.c
	a.stopIdle()
	a.addMember(c)
	// The joiner sees the document as it is now; where that holds what is not durable yet and
	// must not be seen before it is (relay), the answer waits for it, and so does everything
	// sent to the joiner after it.
	need := a.visibleNeed()
	a.out(c, outFrame{data: frame}, need)
	if f := a.pendingUpdateFrame(); f != nil {
		a.out(c, outFrame{data: f}, need)
	}
	if f := a.awarenessFor(c); f != nil {
		a.out(c, outFrame{data: f}, need)
	}
	m.reply <- nil
	c.log().Debug("joined", "client", c.clientID, "members", len(a.members), "read_only", c.isReadOnly())
}

// isMember reports whether c is joined to the actor.
func (a *actor) isMember(c *conn) bool {
	i := int(c.memberSlot)
	return i >= 0 && i < len(a.members) && a.members[i] == c
}

// addMember adds c to the members, at the end.
func (a *actor) addMember(c *conn) {
	c.memberSlot = int32(len(a.members))
	a.members = append(a.members, c)
}

// removeMember takes c, a member, out of the members: the last one takes its slot.
func (a *actor) removeMember(c *conn) {
	a.members = removeSlot(a.members, c, func(c *conn) *int32 { return &c.memberSlot })
}

// syncFrame returns the sync answer to a hello with state vector svBytes: the snapshot for an empty
// state vector (cached per document version, so that a crowd of joiners costs one encoding), else
// the update the client lacks.
func (a *actor) syncFrame(svBytes []byte) ([]byte, error) {
	var since crdt.StateVector
	if len(svBytes) > 0 {
		sv, err := crdt.DecodeStateVector(svBytes)
		if err != nil {
			return nil, protocol.Errorf(protocol.CloseBadMessage, "hello: bad state vector: %v", err)
		}
		since = sv
	}
	if len(since) == 0 {
		if a.joinFrame != nil && a.joinVersion == a.version {
			a.s.metrics.joinSnapshotHit.Inc()
			return a.joinFrame, nil
		}
		a.joinFrame = protocol.EncodeFrame(0, &protocol.Sync{
			Update:      a.doc.EncodeSnapshot(),
			StateVector: crdt.EncodeStateVector(a.stateVector()),
		})
		a.joinVersion = a.version
		return a.joinFrame, nil
	}
	return protocol.EncodeFrame(0, &protocol.Sync{
		Update:      a.doc.EncodeUpdate(since),
		StateVector: crdt.EncodeStateVector(a.stateVector()),
	}), nil
}

// pendingUpdateFrame returns an update frame holding the units and deletions that wait for their
// dependencies, or nil when none wait. A joiner gets it right after the sync answer, which leaves
// them out: when the dependencies arrive (often from that same joiner, re-sending what a crash lost),
// what is broadcast is the update that carries them, never the units it releases, so a joiner not
// sent them now would never have them.
func (a *actor) pendingUpdateFrame() []byte {
	if v := a.doc.Version(); a.pendingFrame == nil || a.pendingDocVersion != v {
		a.pendingFrame, a.pendingDocVersion = nil, v
		if p := a.doc.PendingUpdate(); p != nil {
			a.pendingFrame = protocol.EncodeFrame(0, &protocol.Update{Data: p})
		}
	}
	return a.pendingFrame
}

// stateVector returns the document's state vector, cached per version. The caller must not modify it.
func (a *actor) stateVector() crdt.StateVector {
	if a.svCache == nil || a.svVersion != a.version {
		a.svCache = a.doc.StateVector()
		a.svVersion = a.version
	}
	return a.svCache
}

func (a *actor) onLeave(c *conn) {
	if !a.isMember(c) {
		return
	}
	a.removeMember(c)
	delete(a.acking, c)
	delete(a.gated, c)
	a.bindings.leave(c.clientID) // security
	if e := a.aware[c.clientID]; e != nil && e.owner == c && e.state != nil {
		e.state = nil
		e.clock++
		a.markAware(c.clientID)
	}
	if len(a.members) == 0 {
		a.armIdle()
	}
	c.log().Debug("left", "members", len(a.members))
}

func (a *actor) onUpdate(m updateMsg) {
	if !a.isMember(m.c) {
		return
	}
	if m.c.refused {
		return
	}
	m.c.received++
	seq := m.c.received
	refuse := func(err error) {
		m.c.refused = true
		a.s.refuseErr(err)
		m.c.closeWith(err)
	}
	if m.c.isReadOnly() {
		refuse(errReadOnly)
		return
	}
	if err := a.authorizeUpdate(m.c.subject, m.c.clientID, m.data); err != nil { // security: auth_bindings.go
		refuse(err)
		return
	}
	index, err := a.applyAndStore(m.data, m.at, m.c)
	if err != nil {
		refuse(err)
		return
	}
	if ackEarlyDelay > 0 {
		// Crash-test mutation build only: acknowledge before durability.
		m.c.sendMsg(&protocol.Ack{Seq: seq})
		return
	}
	a.acking[m.c] = append(a.acking[m.c], pendingAck{seq: seq, index: index})
	a.releaseAcks()
}

// applyAndStore applies an update from a connection (from, nil for HTTP) to the document, hands it
// to storage and broadcasts it to the other connections. It returns the durability index after
// which the update is durable. An update that brings nothing new is neither stored nor broadcast;
// its index is that of the last append, so that its acknowledgement keeps the order.
func (a *actor) applyAndStore(data []byte, at time.Time, from *conn) (uint64, error) {
	if a.docBytes()+int64(len(data)) > a.s.cfg.MaxDocumentBytes {
		return 0, protocol.Errorf(protocol.CloseDocumentTooLarge, "the document would exceed %d bytes", a.s.cfg.MaxDocumentBytes)
	}
	// The document's version tells a no-op (a reconnecting client's catch-up of what the server
	// already has) from an update that changed anything, visible or not, at no cost.
	before := a.doc.Version()
	limit, serverWide := a.s.pending.limit(a.s.cfg.MaxPendingBytes, a.pendingHeld)
	a.doc.SetMaxPendingMemory(limit)
	err := a.doc.Integrate(data)
	a.accountPending()
	if err != nil {
		if errors.Is(err, crdt.ErrPendingOverflow) {
			if serverWide {
				return 0, errPendingBudget // MaxPendingBytesTotal (pending.go)
			}
			return 0, errPendingOverflow // security: MaxPendingBytes (limits.go)
		}
		if errors.Is(err, crdt.ErrMalformedUpdate) {
			return 0, protocol.Errorf(protocol.CloseInvalidUpdate, "update refused: %v", err)
		}
		return 0, fmt.Errorf("server: apply update to %q: %w", a.id, err)
	}
	if a.doc.Version() == before {
		return a.dur.issued, nil
	}
	a.version++
	a.s.metrics.updatesApplied.Inc()
	index := a.appendUpdate(data)
	a.relay(outFrame{data: protocol.EncodeFrame(0, &protocol.Update{Data: data}), born: at}, index, from, false)
	return index, nil
}

// docBytes is the document's stored size: snapshot plus log.
func (a *actor) docBytes() int64 { return a.snapBytes + a.logBytes }

// appendUpdate hands an update to storage and returns its durability index.
func (a *actor) appendUpdate(data []byte) uint64 {
	i := a.dur.issue()
	a.logEntries++
	a.logBytes += int64(len(data))
	a.exists = true
	a.saveAbandoned = false
	start := time.Now()
	n := int64(len(data))
	if ackEarlyDelay > 0 {
		time.AfterFunc(ackEarlyDelay, func() {
			a.s.store.Append(a.id, data, func(seq uint64, err error) {
				a.postEvent(event{kind: evAppend, index: i, seq: seq, bytes: n, start: start, err: err})
			})
		})
	} else {
		a.s.store.Append(a.id, data, func(seq uint64, err error) {
			a.postEvent(event{kind: evAppend, index: i, seq: seq, bytes: n, start: start, err: err})
		})
	}
	a.maybeCompact()
	return i
}

// broadcast queues f, which carries no CRDT content (a broadcast message), for every member but
// from.
func (a *actor) broadcast(f outFrame, from *conn) {
	for _, c := range a.members {
		if c != from {
			a.out(c, f, 0)
		}
	}
}

// Relay after durable (DESIGN.md, "Identity and crashes"). A unit relayed before it is durable
// can be lost in a crash while another replica holds it. Two things then go wrong, and relay
// prevents both by holding such a unit back, from whoever it matters for, until it is durable:
//
//   - The server's own units (HTTP edits): the restarted server issues the lost clocks again with
//     other content, and the replica that holds the old content never converges. So they are
//     held from everyone (own), whatever the configuration.
//   - With client bindings on (auth_bindings.go), a replica of another subject would re-send the
//     lost unit in its catch-up after the crash, and be refused as a forger (4403, terminal). So
//     with bindings on, a unit is held from every connection of another subject than its
//     author's; connections of the same subject get it at once (they may re-send it). Without
//     bindings, re-sending a lost unit of another client is accepted and restores it, so nothing
//     is held.
//
// The cost is the commit latency (docs/server.md) on the relay between subjects while bindings
// are on. The same rule covers what a joiner or an HTTP reader is shown (visibleNeed).

// relay sends f, an update frame whose units became durability index index, to every member but
// from (nil for HTTP writes and the server's own edits, own), at once or once durable.
func (a *actor) relay(f outFrame, index uint64, from *conn, own bool) {
	need := uint64(0)
	if own || !a.bindings.open {
		need = index
	}
	for _, c := range a.members {
		if c == from {
			continue
		}
		n := need
		if n > 0 && !own && from != nil && c.subject == from.subject {
			n = 0
		}
		a.out(c, f, n)
	}
}

// visibleNeed returns the durability index up to which the document must be durable before its
// present content may be shown to a joiner or an HTTP reader (0: at once): with bindings on,
// every update handed to storage; without, the server's own units.
func (a *actor) visibleNeed() uint64 {
	switch {
	case !a.bindings.open:
		return a.dur.issued
	case a.selfInFlight > a.dur.durable():
		return a.selfInFlight
	}
	return 0
}

// out sends f to member c once every update up to durability index need is durable, and after
// every frame sent to c before it.
//
// The frames waiting count against the connection's send queue limit: a connection that has
// SendQueueMessages of them (storage stalled for long) is closed as a slow consumer, and its
// client resyncs once it reconnects.
func (a *actor) out(c *conn, f outFrame, need uint64) {
	q, waiting := a.gated[c]
	if !waiting && need <= a.dur.durable() {
		a.sendTo(c, f)
		return
	}
	if c.closing() {
		delete(a.gated, c)
		return
	}
	if len(q) >= a.s.cfg.SendQueueMessages {
		delete(a.gated, c)
		a.s.metrics.slowConsumers.Inc(slowQueueFull)
		c.closeWith(errSlowConsumer)
		return
	}
	a.gated[c] = append(q, gatedFrame{f: f, need: need})
}

// releaseGated sends the frames and answers the HTTP reads that were waiting for what is now
// durable.
func (a *actor) releaseGated() {
	d := a.dur.durable()
	for c, q := range a.gated {
		n := 0
		for n < len(q) && q[n].need <= d {
			a.sendTo(c, q[n].f)
			n++
		}
		if n == len(q) {
			delete(a.gated, c)
		} else if n > 0 {
			clear(q[:n])
			a.gated[c] = q[n:]
		}
	}
	if len(a.readWaits) > 0 {
		n := 0
		for n < len(a.readWaits) && a.readWaits[n].need <= d {
			a.readWaits[n].reply <- a.readWaits[n].result
			n++
		}
		a.readWaits = slices.Delete(a.readWaits, 0, n)
		if len(a.readWaits) == 0 && len(a.members) == 0 {
			a.armIdle()
		}
	}
}

// releaseAcks acknowledges every pending update that is now durable, and answers the HTTP writes
// that are.
func (a *actor) releaseAcks() {
	d := a.dur.durable()
	for c, pending := range a.acking {
		n := 0
		for n < len(pending) && pending[n].index <= d {
			n++
		}
		if n == 0 {
			continue
		}
		seq := pending[n-1].seq
		if n == len(pending) {
			delete(a.acking, c) // the list goes with it: an idle member keeps none
		} else {
			a.acking[c] = append(pending[:0], pending[n:]...)
		}
		a.out(c, outFrame{data: protocol.EncodeFrame(0, &protocol.Ack{Seq: seq})}, 0)
	}
	if len(a.waiters) > 0 {
		n := 0
		for n < len(a.waiters) && a.waiters[n].index <= d {
			n++
		}
		if n > 0 {
			sv := crdt.EncodeStateVector(a.stateVector())
			for _, w := range a.waiters[:n] {
				w.reply <- writeResult{sv: sv}
			}
			a.waiters = append(a.waiters[:0], a.waiters[n:]...)
			if len(a.waiters) == 0 && len(a.members) == 0 {
				a.armIdle()
			}
		}
	}
}

// wait answers an HTTP write once durability index i is durable.
func (a *actor) wait(i uint64, reply chan writeResult) {
	if i <= a.dur.durable() {
		reply <- writeResult{sv: crdt.EncodeStateVector(a.stateVector())}
		return
	}
	a.waiters = append(a.waiters, waiter{index: i, reply: reply})
}

func (a *actor) onAwareness(m awarenessMsg) {
	if !a.isMember(m.c) {
		return
	}
	cid := m.c.clientID
	e := a.aware[cid]
	if len(m.state) == 0 {
		if e == nil || e.owner != m.c || e.state == nil {
			return
		}
		e.state = nil
		e.clock = max(m.clock, e.clock+1)
		a.markAware(cid)
		return
	}
	if e == nil {
		e = &awareEntry{}
		a.aware[cid] = e
	} else if e.owner == m.c && m.clock <= e.clock {
		return // stale
	}
	e.owner, e.clock, e.state = m.c, m.clock, m.state
	a.markAware(cid)
}

// markAware schedules client cid's awareness state for the next coalesced message.
func (a *actor) markAware(cid uint64) {
	a.awareDirty[cid] = struct{}{}
	if a.awareTimer == nil {
		a.awareTimer = time.NewTimer(a.s.cfg.AwarenessInterval)
	}
}

// flushAwareness sends the awareness changes of the last interval, latest state per client, to
// every member, in one message each: the same bytes for all, except that a member whose own client
// changed gets a copy without its own entry.
func (a *actor) flushAwareness() {
	if len(a.awareDirty) == 0 {
		return
	}
	entries := make([]protocol.AwarenessEntry, 0, len(a.awareDirty))
	for cid := range a.awareDirty {
		e := a.aware[cid]
		if e == nil {
			continue
		}
		entries = append(entries, protocol.AwarenessEntry{ClientID: cid, Clock: e.clock, State: e.state})
		if e.state == nil {
			delete(a.aware, cid)
		}
	}
	clear(a.awareDirty)
	if len(entries) == 0 || len(a.members) == 0 {
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].ClientID < entries[j].ClientID })
	pos := make(map[uint64]int, len(entries))
	for i, e := range entries {
		pos[e.ClientID] = i
	}
	all := protocol.EncodeFrame(0, &protocol.PeerAwareness{Entries: entries})
	for _, c := range a.members {
		i, own := pos[c.clientID]
		if !own {
			a.out(c, outFrame{data: all}, 0)
			continue
		}
		if len(entries) == 1 {
			continue
		}
		others := make([]protocol.AwarenessEntry, 0, len(entries)-1)
		others = append(others, entries[:i]...)
		others = append(others, entries[i+1:]...)
		a.out(c, outFrame{data: protocol.EncodeFrame(0, &protocol.PeerAwareness{Entries: others})}, 0)
	}
	a.s.metrics.awarenessOut.Inc()
}

// awarenessFor returns the awareness message a joiner gets: every current state but its own, or
// nil when there is none.
func (a *actor) awarenessFor(c *conn) []byte {
	var entries []protocol.AwarenessEntry
	for cid, e := range a.aware {
		if cid != c.clientID && e.state != nil {
			entries = append(entries, protocol.AwarenessEntry{ClientID: cid, Clock: e.clock, State: e.state})
		}
	}
	if len(entries) == 0 {
		return nil
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].ClientID < entries[j].ClientID })
	return protocol.EncodeFrame(0, &protocol.PeerAwareness{Entries: entries})
}

func (a *actor) onBroadcast(m broadcastMsg) {
	if !a.isMember(m.c) {
		return
	}
	a.broadcast(outFrame{data: protocol.EncodeFrame(0, &protocol.PeerBroadcast{ClientID: m.c.clientID, Payload: m.payload})}, m.c)
}

func (a *actor) onHTTPUpdate(m httpUpdateMsg) {
	if err := a.available(); err != nil {
		m.reply <- writeResult{err: err}
		return
	}
	a.touchIdle()
	if !m.who.Role.CanWrite() {
		a.s.refuseErr(errReadOnly)
		m.reply <- writeResult{err: errReadOnly}
		return
	}
	if m.ifAbsent && a.seeded(m.reply) {
		return
	}
	if err := a.authorizeUpdate(m.who.Subject, 0, m.data); err != nil { // security: auth_bindings.go
		a.s.refuseErr(err)
		m.reply <- writeResult{err: err}
		return
	}
	index, err := a.applyAndStore(m.data, time.Now(), nil)
	if err != nil {
		a.s.refuseErr(err)
		m.reply <- writeResult{err: err}
		return
	}
	a.s.metrics.httpEdits.Inc()
	a.wait(index, m.reply)
}

func (a *actor) onHTTPEdit(m httpEditMsg) {
	if err := a.available(); err != nil {
		m.reply <- writeResult{err: err}
		return
	}
	a.touchIdle()
	if !m.who.Role.CanWrite() {
		a.s.refuseErr(errReadOnly)
		m.reply <- writeResult{err: errReadOnly}
		return
	}
	if !a.selfSaved {
		// The first edit under the server's client ID stores the ID first, so that it stays the
		// same after a restart; the edits wait for that write.
		a.selfQueue = append(a.selfQueue, m)
		if !a.selfBusy {
			a.selfBusy = true
			b := binary.BigEndian.AppendUint64(nil, a.self)
			a.s.store.PutDocMetaAsync(a.id, metaSelfClient, b, func(err error) {
				a.postEvent(event{kind: evSelfID, err: err})
			})
		}
		return
	}
	a.applyEdits(m)
}

// applyEdits applies an HTTP edit request under the server's client ID, stores and broadcasts the
// resulting update, and answers once it is durable.
func (a *actor) applyEdits(m httpEditMsg) {
	if m.ifAbsent && a.seeded(m.reply) {
		return
	}
	if err := m.req.check(a.doc); err != nil {
		m.reply <- writeResult{err: err}
		return
	}
	if a.docBytes()+int64(m.req.size()) > a.s.cfg.MaxDocumentBytes {
		a.s.refuse(reasonDocTooLarge)
		m.reply <- writeResult{err: protocol.Errorf(protocol.CloseDocumentTooLarge, "the document would exceed %d bytes", a.s.cfg.MaxDocumentBytes)}
		return
	}
	err := m.req.apply(a.doc)
	upd := a.doc.TakeUpdate()
	if upd != nil {
		a.version++
		a.s.metrics.updatesApplied.Inc()
		a.s.metrics.httpEdits.Inc()
		index := a.appendUpdate(upd)
		a.selfInFlight = index
		a.relay(outFrame{data: protocol.EncodeFrame(0, &protocol.Update{Data: upd}), born: time.Now()}, index, nil, true)
		if err != nil {
			// Checked edits do not fail; if one did, what was applied is stored and sent anyway.
			a.log.Error("edit failed after its check", "err", err)
			m.reply <- writeResult{err: fmt.Errorf("server: edit %q: %w", a.id, err)}
			return
		}
		a.wait(index, m.reply)
		return
	}
	if err != nil {
		m.reply <- writeResult{err: fmt.Errorf("server: edit %q: %w", a.id, err)}
		return
	}
	a.wait(a.dur.issued, m.reply)
}

// seeded answers a seed (PUT /v1/docs/{id}) with existed, and reports true, if the document has
// content: its state vector is not empty, because an update was applied (stored or on its way),
// by any client or an earlier seed. The actor takes writes one at a time, so of two seeds racing
// for an empty document exactly one finds it empty.
func (a *actor) seeded(reply chan writeResult) bool {
	sv := a.stateVector()
	if len(sv) == 0 {
		return false
	}
	reply <- writeResult{sv: crdt.EncodeStateVector(sv), existed: true}
	return true
}

func (a *actor) onRead(m readMsg) {
	if err := a.available(); err != nil {
		m.reply <- readResult{err: err}
		return
	}
	a.touchIdle()
	if !a.exists && len(a.members) == 0 {
		m.reply <- readResult{err: errNotFound}
		return
	}
	var r readResult
	if m.update {
		r = readResult{update: a.doc.EncodeUpdate(m.since)}
	} else {
		r = readResult{summary: a.summary()}
	}
	// What is read is shown only once durable where that matters (relay).
	if need := a.visibleNeed(); need > a.dur.durable() {
		a.readWaits = append(a.readWaits, readWait{need: need, reply: m.reply, result: r})
		return
	}
	m.reply <- r
}

func (a *actor) onDelete(m deleteMsg) {
	switch {
	case a.mode == modeStop:
		m.reply <- errGoingAway
		return
	case a.mode == modeDelete:
		m.reply <- errNotFound
		return
	case !a.exists && a.loadErr == nil:
		m.reply <- errNotFound
		return
	}
	a.mode = modeDelete
	a.deleteReply = m.reply
	a.stopIdle()
	for _, c := range a.members {
		c.closeWith(errDeleted)
	}
	a.log.Info("deleting document", "members", len(a.members))
}

func (a *actor) onStop() {
	if a.mode == modeDelete {
		return // finishes the deletion, then exits
	}
	a.mode = modeStop
	a.stopIdle()
	for _, c := range a.members {
		c.closeWith(errGoingAway)
	}
}

// drainEvents handles the storage reports in the mailbox.
func (a *actor) drainEvents() {
	a.evMu.Lock()
	evs := a.events
	a.events = a.evSpare[:0]
	a.evMu.Unlock()
	defer func() {
		clear(evs) // drop the errors they hold
		a.evSpare = evs[:0]
	}()
	for _, e := range evs {
		switch e.kind {
		case evAppend:
			a.onAppendDone(e)
		case evSave:
			a.onSaveDone(e)
		case evSelfID:
			a.onSelfSaved(e.err)
		case evDeleted:
			a.onDeleted(e.err)
		case evBound:
			a.onBound(e.index, e.err)
		}
	}
	a.releaseAcks()
	a.releaseGated()
	// hooks: the document's "changed" effect. What storage has made durable is reported to the
	// embedder's observer, which never blocks the actor (observe.go, notifier.durable).
	if a.s.changes != nil {
		d := a.dur.durable()
		a.s.changes.durable(&a.changes, a.id, d, a.selfInFlight <= d, a.stateVector)
	}
}

func (a *actor) onAppendDone(e event) {
	a.s.metrics.commitSecs.ObserveDuration(time.Since(e.start))
	if e.err != nil {
		a.s.metrics.appendFailures.Inc()
		a.log.Error("append failed: the update waits for a snapshot", "index", e.index, "err", e.err)
		a.dur.report(e.index, false)
		a.logEntries--
		a.logBytes -= e.bytes
		a.requestSave()
		return
	}
	a.dur.report(e.index, true)
	a.lastSeq = max(a.lastSeq, e.seq)
	a.durableEntries++
	a.durableBytes += e.bytes
	a.updated = time.Now()
}

// needsSave reports whether the document has changes that no snapshot holds.
func (a *actor) needsSave() bool {
	return a.loadErr == nil && (a.logEntries > 0 || a.dur.gap())
}

// maybeCompact starts a compaction when the log has passed its threshold.
func (a *actor) maybeCompact() {
	if a.mode != modeRun || a.saving || a.saveTimer != nil {
		return
	}
	if a.compactHold > 0 && a.logEntries < a.compactHold {
		return
	}
	if a.logEntries >= a.s.cfg.CompactLogEntries || a.logBytes >= a.s.cfg.CompactLogBytes {
		a.s.metrics.compactions.Inc()
		a.startSave()
	}
}

// requestSave starts a save now, or after the one in flight or the pending retry.
func (a *actor) requestSave() {
	if a.saving {
		a.saveAgain = true
		return
	}
	if a.saveTimer == nil {
		a.startSave()
	}
}

// startSave encodes a snapshot and hands it to storage as a compaction up to the last durable log
// entry. Log entries still in flight stay after it (applying them again on load changes nothing).
func (a *actor) startSave() {
	if a.loadErr != nil || a.saving {
		return
	}
	snap := a.doc.EncodeSnapshot()
	info := saveInfo{
		cover:   a.dur.issued,
		upto:    a.lastSeq,
		entries: a.durableEntries,
		bytes:   a.durableBytes,
		size:    int64(len(snap)),
	}
	a.saving = true
	a.s.store.CompactAsync(a.id, snap, info.upto, func(err error) {
		a.postEvent(event{kind: evSave, save: info, err: err})
	})
}

func (a *actor) onSaveDone(e event) {
	a.saving = false
	if e.err != nil {
		a.s.metrics.saveFailures.Inc()
		a.saveAttempts++
		if a.saveAttempts > a.s.cfg.SaveRetries {
			a.abandonSave(e.err)
			return
		}
		backoff := min(a.s.cfg.SaveRetryBackoff<<(a.saveAttempts-1), maxSaveRetryBackoff)
		a.log.Error("save failed: retrying", "attempt", a.saveAttempts, "in", backoff, "err", e.err)
		a.saveTimer = time.NewTimer(backoff)
		return
	}
	a.s.metrics.saves.Inc()
	a.saveAttempts = 0
	a.compactHold = 0
	a.exists = true
	a.dur.cover(e.save.cover)
	a.logEntries -= e.save.entries
	a.logBytes -= e.save.bytes
	a.durableEntries -= e.save.entries
	a.durableBytes -= e.save.bytes
	a.snapBytes = e.save.size
	a.updated = time.Now()
	a.log.Debug("saved", "snapshot_bytes", e.save.size, "folded_entries", e.save.entries, "upto", e.save.upto)
	if a.saveAgain {
		a.saveAgain = false
		if a.needsSave() {
			a.startSave()
		}
	} else {
		a.maybeCompact()
	}
}

// abandonSave gives up on a save after its retries. When the log holds every update (it is
// already durable), the document goes on, or unloads, with its log. When it does not (appends
// failed too), the actor exits, closing its connections with 1011: the clients still hold the
// updates that were never acknowledged, and send them again to a fresh actor once storage works.
func (a *actor) abandonSave(err error) {
	a.s.metrics.savesAbandoned.Inc()
	a.saveAttempts = 0
	a.saveAbandoned = true
	a.compactHold = 2 * max(a.logEntries, a.s.cfg.CompactLogEntries)
	if a.dur.gap() {
		a.log.Error("save failed after retries and the log lacks updates: closing the document", "err", err)
		a.fatal = errStorage
		return
	}
	a.log.Error("save failed after retries: keeping the log, which is durable", "err", err)
}

func (a *actor) onSelfSaved(err error) {
	a.selfBusy = false
	queue := a.selfQueue
	a.selfQueue = nil
	if err != nil {
		a.log.Error("storing the server's client id failed", "err", err)
		for _, m := range queue {
			m.reply <- writeResult{err: fmt.Errorf("server: edit %q: %w", a.id, err)}
		}
		return
	}
	a.selfSaved = true
	a.exists = true
	for _, m := range queue {
		a.applyEdits(m)
	}
}

func (a *actor) onDeleted(err error) {
	a.deleted = true
	if err != nil {
		a.log.Error("delete failed", "err", err)
		a.deleteReply <- fmt.Errorf("server: delete %q: %w", a.id, err)
		return
	}
	a.s.changes.deleted(a.id) // hooks: the document's "deleted" effect (observe.go)
	a.deleteReply <- nil
}

// armIdle starts the idle countdown if nothing holds the document open.
func (a *actor) armIdle() {
	if a.idleTimer == nil && len(a.members) == 0 && len(a.waiters) == 0 && a.mode == modeRun {
		a.idleTimer = time.NewTimer(a.s.cfg.IdleUnloadAfter)
	}
}

func (a *actor) stopIdle() {
	if a.idleTimer != nil {
		a.idleTimer.Stop()
		a.idleTimer = nil
	}
}

// touchIdle restarts the idle countdown after an HTTP request, so that a document read or written
// over HTTP stays loaded for the grace period.
func (a *actor) touchIdle() {
	a.stopIdle()
	a.armIdle()
}

func (a *actor) onIdle() {
	if len(a.members) > 0 || len(a.waiters) > 0 || len(a.bindJoins) > 0 || len(a.readWaits) > 0 || a.mode != modeRun {
		return
	}
	a.mode = modeUnload
}

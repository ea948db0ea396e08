package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/relay"
	"github.com/tandemhq/tandem/server/internal/room"
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
	c     member
	hello *protocol.Hello
	reply chan error
}

// leaveMsg: connection c is gone.
type leaveMsg struct{ c member }

// updateMsg: connection c sent an update, which arrived at at.
type updateMsg struct {
	c    member
	data []byte
	at   time.Time
}

// awarenessMsg: connection c sent its awareness state.
type awarenessMsg struct {
	c     member
	clock uint64
	state []byte
}

// broadcastMsg: connection c asks to relay payload to the other editors.
type broadcastMsg struct {
	c       member
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
	index uint64        // evAppend: the append's durability index
	seq   uint64        // evAppend: the entry's sequence number
	bytes int64         // evAppend: the entry's length
	start time.Time     // when the write was handed to storage
	save  room.SaveInfo // evSave
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

// The actor's modes (room.Mode): what it is doing with its life.
const (
	modeRun    = room.Run    // serving
	modeUnload = room.Unload // idle: save, then exit (a join or request brings it back to modeRun)
	modeStop   = room.Stop   // shutdown: finish writes, save, exit
	modeDelete = room.Delete // deleting: finish writes, delete from storage, exit
)

// waitReply is an HTTP request that the ledger holds until what it shows is durable: a write
// (answered with the document's state vector then) or a read (answered with result).
type waitReply struct {
	write  chan writeResult
	read   chan readResult
	result readResult
}

// docLedger is what waits for durability in an actor (room.Ledger): its members' acks, the
// frames held back from them, and the HTTP requests.
type docLedger = room.Ledger[member, outFrame, waitReply]

// bindJoin is a join waiting for the bindings persist seq (its client ID's binding) to be stored.
type bindJoin struct {
	m   joinMsg
	seq uint64
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
	held    []member
	// When the document is busy, the actor writes what it holds at most once per room.LingerMax
	// (endBatch), so that each connection gets several frames per system call.
	linger     room.Linger
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

	// The durability of the document's updates, and what waits for it (room.Ledger): the
	// members' acks, the frames held back from members until durable (relay), the HTTP writes
	// and reads. selfInFlight is the durability index of the last append of the server's own units.
	ledger       *docLedger
	selfInFlight uint64

	mode        room.Mode
	fatal       error // exit now, closing connections with this
	deleteReply chan error
	deleting    bool // the storage deletion is in flight
	deleted     bool // the storage deletion reported

	// members are the joined connections, each at its seat's slot (member.Seat), with its updates
	// waiting to be acknowledged in the ledger only while there are some: an idle member costs
	// the actor its slot.
	members []member

	// The awareness states and what changed since they were last sent (room.Presence);
	// awareTimer runs while changes wait to be sent.
	presence   *room.Presence[member]
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

	// The log accounting and the snapshot decisions (room.Saver); saveTimer runs while a failed
	// save waits for its retry.
	saver     *room.Saver
	saveTimer *time.Timer

	idleTimer *time.Timer

	changes changeMark // hooks: how far Hooks.Observe has been told (observe.go)

	remote *relay.Doc // cluster: the other nodes' presence; nil on a single node (actor_presence.go)
	follow *follow    // cluster: the following of the document's log; nil on a single node (actor_follow.go)
}

func newActor(s *Server, id string) *actor {
	return &actor{
		s:      s,
		id:     id,
		log:    s.log.With("doc", id),
		inbox:  make(chan message, s.cfg.ActorInbox),
		done:   make(chan struct{}),
		evWake: make(chan struct{}, 1),
		ledger: room.NewLedger[member, outFrame, waitReply](s.cfg.SendQueueMessages, func(seq uint64) outFrame {
			return outFrame{data: protocol.EncodeFrame(0, &protocol.Ack{Seq: seq})}
		}),
		saver: room.NewSaver(room.SaveConfig{
			CompactEntries: s.cfg.CompactLogEntries,
			CompactBytes:   s.cfg.CompactLogBytes,
			Retries:        s.cfg.SaveRetries,
			Backoff:        s.cfg.SaveRetryBackoff,
			MaxBackoff:     maxSaveRetryBackoff,
		}),
		presence: room.NewPresence[member](),
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
func (a *actor) leave(c member) {
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

// endBatch ends a batch of messages or events at now: it writes what the actor holds, or, when
// the document is busy (room.Linger), lets the flush timer write it later.
func (a *actor) endBatch(now time.Time) {
	if a.flushTimer != nil {
		return // lingering: the timer writes
	}
	if len(a.held) == 0 {
		a.holding = false
		return
	}
	if a.mode == modeRun && a.fatal == nil {
		if wait := a.linger.Wait(now); wait > 0 {
			a.flushTimer = time.NewTimer(wait)
			return
		}
	}
	a.flushHeld()
	a.linger.Flushed(now)
}

// sendTo sends f to c: held until flushHeld while the actor handles a batch, at once otherwise.
// Under load a batch holds many updates, and each connection gets them in one system call.
func (a *actor) sendTo(c member, f outFrame) {
	if !a.holding {
		c.Send(f)
		return
	}
	if c.Hold(f) {
		a.held = append(a.held, c)
	}
}

// flushHeld writes what the actor held for each connection, and stops holding.
func (a *actor) flushHeld() {
	a.holding = false
	for i, c := range a.held {
		c.Flush()
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
	a.openRemote()  // cluster: presence across nodes (actor_presence.go)
	a.startFollow() // cluster (actor_follow.go)
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
			a.linger.Count(now, 1+a.handleQueued())
			a.endBatch(now)
		case <-a.evWake:
			a.holding = true
			a.drainEvents()
			a.endBatch(time.Now())
		case <-timerC(a.flushTimer):
			a.flushTimer = nil
			a.flushHeld()
			a.linger.Flushed(time.Now())
		case <-timerC(a.idleTimer):
			a.idleTimer = nil
			a.onIdle()
		case <-timerC(a.awareTimer):
			a.awareTimer = nil
			a.flushAwareness()
		case <-timerC(a.saveTimer):
			a.saveTimer = nil
			a.saver.RetryDue()
			a.startSave()
		}
	}
}

// settle moves the actor's life on (starting the save or the deletion its mode needs: room.Settle)
// and reports whether it should exit now.
func (a *actor) settle() bool {
	switch room.Settle(room.Life{
		Mode:       a.mode,
		Fatal:      a.fatal != nil,
		LoadFailed: a.loadErr != nil,
		InFlight:   a.ledger.InFlight(),
		Saving:     a.saver.Saving(),
		Retrying:   a.saver.Retrying(),
		OtherWrite: a.selfBusy,
		Unsaved:    a.needsSave(),
		Abandoned:  a.saver.Abandoned(),
		Deleting:   a.deleting,
		DeletedNow: a.deleted,
	}) {
	case room.Exit:
		return true
	case room.StartSave:
		a.startSave()
	case room.StartDelete:
		a.deleting = true
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			a.postEvent(event{kind: evDeleted, err: a.s.store.Delete(a.id)})
		}()
	}
	return false
}

// exit ends the actor: it leaves the registry first (so that a new request starts a fresh actor),
// closes what is still connected, and answers whatever is still in the inbox with errRetry.
func (a *actor) exit() {
	a.closeRemote() // cluster: presence across nodes (actor_presence.go)
	a.stopFollow()  // cluster (actor_follow.go)
	a.s.docs.remove(a)
	if f, ok := a.s.store.(docForgetter); ok {
		f.Forget(a.id)
	}
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
		c.CloseWith(cause)
	}
	writes, reads := a.ledger.TakeWaiters()
	for _, w := range writes {
		w.write <- writeResult{err: cause}
	}
	for _, m := range a.selfQueue {
		m.reply <- writeResult{err: cause}
	}
	for _, j := range a.bindJoins {
		j.m.reply <- errRetry
	}
	for _, r := range reads {
		r.read <- readResult{err: cause}
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
		m.c.CloseWith(errDocUnavailable)
	case awarenessMsg:
		m.c.CloseWith(errDocUnavailable)
	case broadcastMsg:
		m.c.CloseWith(errDocUnavailable)
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
	mode, refusal := room.Admit(a.mode, a.loadErr != nil)
	a.mode = mode
	switch refusal {
	case room.LoadFailed:
		return errLoadFailed
	case room.GoingAway:
		return errGoingAway
	case room.Deleted:
		return errDeleted
	}
	return nil
}

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

// waitReply is an HTTP request that the core holds until what it shows is durable: a write
// (answered with the document's state vector then) or a read (answered with result).
type waitReply struct {
	write  chan writeResult
	read   chan readResult
	result readResult
}

// docCore is a document's decisions (room.Core): fed what happens, it lists what to do.
type docCore = room.Core[member, outFrame, *waitReply]

// bindJoin is a join waiting for the bindings persist seq (its client ID's binding) to be stored.
type bindJoin struct {
	m   joinMsg
	seq uint64
}

// actor owns one open document. One goroutine (run) owns every field below the mailbox: the CRDT
// document, its decisions (core: the joined connections and their pending acknowledgements, the
// awareness states, the log accounting, the document's life), the cached join answer and the
// timers. Nothing else reads or writes them; everything reaches the actor as a message on its
// inbox or an event in its mailbox. The actor is the loop that runs the core: it takes a message
// or an event, does what needs the CRDT, the wire format or security (apply and encode, client
// bindings), feeds the core the facts, and carries out what the core lists (perform). It never
// blocks on I/O: it writes to connections through their non-blocking queues and to storage
// through its asynchronous calls, whose reports come back as events.
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
	// connections (sendTo) and writes each one's frames at the end (flushHeld). When the
	// document is busy, the core has it write what it holds at most once per room.LingerMax
	// (endBatch, room.TimerFlush), so that each connection gets several frames per system call.
	holding bool
	held    []member

	// Owned by run.
	core      *docCore
	timers    [room.NumTimers]*time.Timer // the core's timers (room.Arm), nil when not running
	doc       *crdt.Doc
	loadErr   error     // the load failed: the actor is poisoned and refuses everything
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

	deleteReply chan error
	removed     bool // the storage deletion reported

	version     uint64 // bumped by every update that changed something
	svCache     crdt.StateVector
	svVersion   uint64 // version svCache was taken at; valid when equal to version and svCache != nil
	joinFrame   []byte // the sync frame for a joiner with an empty state vector; nil when not kept (syncFrame)
	joinVersion uint64
	joinBuilt   bool // a join frame was built at joinVersion, kept or not
	// pendingFrame carries the units waiting for their dependencies, sent to joiners after the
	// sync frame; cached per crdt document version (pendingDocVersion).
	pendingFrame      []byte
	pendingDocVersion uint64
	// pendingHeld is the document's share of the server's pending budget: what its pending
	// units held after its last update (pending.go).
	pendingHeld int

	changes changeMark // hooks: how far Hooks.Observe has been told (observe.go)

	// skipLogged is when the actor last logged a log entry it skipped, and skipQuiet how many
	// it skipped since (logSkipped).
	skipLogged time.Time
	skipQuiet  int

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
		core: room.NewCore[member, outFrame, *waitReply](room.CoreConfig{
			MaxHeld:           s.cfg.SendQueueMessages,
			MaxMembers:        s.cfg.MaxConnsPerDocument,
			MaxDocBytes:       s.cfg.MaxDocumentBytes,
			IdleAfter:         s.cfg.IdleUnloadAfter,
			AwarenessInterval: s.cfg.AwarenessInterval,
			Save: room.SaveConfig{
				CompactEntries: s.cfg.CompactLogEntries,
				CompactBytes:   s.cfg.CompactLogBytes,
				Retries:        s.cfg.SaveRetries,
				Backoff:        s.cfg.SaveRetryBackoff,
				MaxBackoff:     maxSaveRetryBackoff,
			},
			Load: room.LoadConfig{
				Backoff:    loadRetryBackoff,
				MaxBackoff: maxLoadRetryBackoff,
				For:        loadRetryFor,
				Grace:      loadFailedGrace,
			},
		}, room.Encoders[outFrame]{
			Ack: func(seq uint64) outFrame {
				return outFrame{data: protocol.EncodeFrame(0, &protocol.Ack{Seq: seq})}
			},
			Awareness: func(es []room.PresenceEntry) outFrame {
				return outFrame{data: protocol.EncodeFrame(0, &protocol.PeerAwareness{Entries: awarenessEntries(es)})}
			},
		}),
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
// actor's mode stays the same (the core's Settle acts on a change before the next message), and
// returns how many it handled.
func (a *actor) handleQueued() int {
	mode := a.core.Mode()
	handled := 0
	for n := 1; n < actorBatch && !a.core.Fatal() && a.core.Mode() == mode; n++ {
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

// endBatch ends a batch of n messages (0 for events) at now: the core has the actor write what it
// holds (room.Flush), or, when the document is busy (room.Linger), lets the flush timer write it
// later.
func (a *actor) endBatch(now time.Time, n int) {
	lingering := a.core.Lingering() // the timer writes
	a.core.EndBatch(now, n, len(a.held) > 0)
	if !lingering && len(a.held) == 0 {
		a.holding = false
	}
	a.perform()
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
// is deleted or the server stops. Each turn lets the core move the document's life on (Settle),
// carries out what it lists, and waits for the next message, event or timer.
func (a *actor) run() {
	a.s.metrics.documentsOpen.Inc()
	defer a.s.metrics.documentsOpen.Dec()
	defer close(a.done)
	defer a.bg.Wait()

	loaded := a.loadFollow()
	a.openRemote() // cluster: presence across nodes (actor_presence.go)
	a.loaded(loaded)
	for {
		a.core.Settle()
		if a.perform() {
			a.exit()
			return
		}
		inbox, stopping := a.inbox, (<-chan struct{})(nil)
		if a.core.Loading() {
			inbox = nil // joins and requests wait for the next load, as they wait for the first
			stopping = a.s.docs.stopping
		}
		select {
		case <-stopping:
			a.core.Stop() // no load to wait for: the server is going away
			a.perform()
		case m := <-inbox:
			a.holding = true
			a.handle(m)
			now := time.Now()
			a.endBatch(now, 1+a.handleQueued())
		case <-a.evWake:
			a.holding = true
			a.drainEvents()
			a.endBatch(time.Now(), 0)
		case <-timerC(a.timers[room.TimerFlush]):
			a.fire(room.TimerFlush)
		case <-timerC(a.timers[room.TimerIdle]):
			a.fire(room.TimerIdle)
		case <-timerC(a.timers[room.TimerAwareness]):
			a.fire(room.TimerAwareness)
		case <-timerC(a.timers[room.TimerSave]):
			a.fire(room.TimerSave)
		case <-timerC(a.timers[room.TimerLoad]):
			a.fire(room.TimerLoad)
		}
	}
}

// fire tells the core that timer t fired, and carries out what it lists.
func (a *actor) fire(t room.Timer) {
	a.timers[t] = nil
	a.core.Fire(t, time.Now())
	a.perform()
}

// perform carries out what the core listed (room.Core.Ready), in order, then Advance; it reports
// whether the document's life ended (room.End).
func (a *actor) perform() (ended bool) {
	ready := a.core.Ready()
	if len(ready) == 0 {
		return false
	}
	var sv []byte // the state vector HTTP writes are answered with, encoded once
	again := false
	for i := range ready {
		e := &ready[i]
		switch e.Kind {
		case room.Send:
			a.sendTo(e.Member, e.Frame)
		case room.SendOthers:
			for _, c := range a.core.MemberList() {
				if c != e.Member {
					a.sendTo(c, e.Frame)
				}
			}
		case room.Overflow:
			a.s.metrics.slowConsumers.Inc(slowQueueFull)
			e.Member.CloseWith(errSlowConsumer)
		case room.Close:
			e.Member.CloseWith(refusalErr(e.Refusal, e.Err))
		case room.Append:
			a.append(e.Index, e.Data)
		case room.Changed:
			a.changed()
		case room.AnswerWrite:
			if sv == nil {
				sv = crdt.EncodeStateVector(a.stateVector())
			}
			e.Waiter.write <- writeResult{sv: sv}
		case room.AnswerRead:
			e.Waiter.read <- e.Waiter.result
		case room.Reply:
			if err := refusalErr(e.Refusal, e.Err); e.Waiter.write != nil {
				e.Waiter.write <- writeResult{err: err}
			} else {
				e.Waiter.read <- readResult{err: err}
			}
		case room.Save:
			a.save(e.Compact)
		case room.Remove:
			a.bg.Add(1)
			go func() {
				defer a.bg.Done()
				a.postEvent(event{kind: evDeleted, err: a.s.store.Delete(a.id)})
			}()
		case room.Arm:
			a.disarm(e.Timer)
			a.timers[e.Timer] = time.NewTimer(e.After)
		case room.Disarm:
			a.disarm(e.Timer)
		case room.Flush:
			a.flushHeld()
		case room.AwarenessOut:
			a.s.metrics.awarenessOut.Inc()
		case room.Announce:
			a.announce(e.Presence) // cluster (actor_presence.go)
		case room.LoadAgain:
			again = true // after Advance: the load's report lists effects of its own
		case room.End:
			a.end(refusalErr(e.Refusal, e.Err))
			ended = true
		}
	}
	a.core.Advance()
	if again {
		a.loadAgain()
		ended = a.perform() || ended
	}
	return ended
}

// disarm stops timer t if it runs.
func (a *actor) disarm(t room.Timer) {
	if a.timers[t] != nil {
		a.timers[t].Stop()
		a.timers[t] = nil
	}
}

// exit ends the actor once the core has ended the document's life (room.End, carried out by
// end): it answers whatever is still in the inbox with errRetry.
func (a *actor) exit() {
	defer a.releasePending()
	for {
		select {
		case m := <-a.inbox:
			a.refuseLate(m)
		default:
			if mode := a.core.Mode(); mode == room.Delete || a.core.Fatal() || a.loadErr != nil {
				a.log.Info("document closed", "deleted", mode == room.Delete && a.removed)
			} else {
				a.s.metrics.unloads.Inc()
				a.log.Debug("document unloaded")
			}
			return
		}
	}
}

// end carries out room.End: the actor leaves the registry first (so that a new request starts a
// fresh actor), writes what it holds, and answers the requests only it knows of (the edits
// waiting for the server's client ID, the joins waiting for their bindings). The core's Close
// and Reply effects that follow close the members and answer the requests it holds.
func (a *actor) end(cause error) {
	a.closeRemote() // cluster: the other nodes drop this document's local states (actor_presence.go)
	a.stopFollow()  // cluster: no delivery or read of the log reaches the actor after it (actor_follow.go)
	a.s.docs.remove(a)
	if f, ok := a.s.store.(docForgetter); ok {
		f.Forget(a.id)
	}
	a.disarm(room.TimerFlush)
	a.flushHeld() // what a lingering actor holds, written before the close frames are queued
	for _, m := range a.selfQueue {
		m.reply <- writeResult{err: cause}
	}
	for _, j := range a.bindJoins {
		j.m.reply <- errRetry
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
	a.perform()
}

// refusalErr returns the error that tells a client or a request why: a refusal of the core, the
// reason it closes a member for, or err for room.Custom; nil for room.Open.
func refusalErr(r room.Refusal, err error) error {
	switch r {
	case room.Open:
		return nil
	case room.LoadFailed:
		return errLoadFailed
	case room.GoingAway:
		return errGoingAway
	case room.Deleted:
		return errDeleted
	case room.Full:
		return errTooManyConns
	case room.NotFound:
		return errNotFound
	case room.StorageFailed:
		return errStorage
	case room.Custom:
		return err
	}
	return errDocUnavailable
}

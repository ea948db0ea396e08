package server

import (
	"fmt"
	"time"

	"github.com/tandemhq/tandem/server/internal/room"
)

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
		case evRemotePresence:
			a.onRemotePresence() // cluster (actor_presence.go)
		}
	}
	a.release()
}

func (a *actor) onAppendDone(e event) {
	a.s.metrics.commitSecs.ObserveDuration(time.Since(e.start))
	a.ledger.Report(e.index, e.err == nil)
	a.saver.AppendReported(e.seq, e.bytes, e.err == nil)
	if e.err != nil {
		a.s.metrics.appendFailures.Inc()
		a.log.Error("append failed: the update waits for a snapshot", "index", e.index, "err", e.err)
		a.requestSave()
		return
	}
	a.updated = time.Now()
}

// needsSave reports whether the document has changes that no snapshot holds.
func (a *actor) needsSave() bool {
	return a.loadErr == nil && a.saver.Unsaved(a.ledger.Gap())
}

// maybeCompact starts a compaction when the log has passed its threshold (room.Saver).
func (a *actor) maybeCompact() {
	if a.mode == modeRun && a.saver.WantCompact() {
		a.s.metrics.compactions.Inc()
		a.startSave()
	}
}

// requestSave starts a save now, or after the one in flight or the pending retry.
func (a *actor) requestSave() {
	if a.saver.Request() {
		a.startSave()
	}
}

// startSave encodes a snapshot and hands it to storage as a compaction up to the last durable log
// entry. Log entries still in flight stay after it (applying them again on load changes nothing).
func (a *actor) startSave() {
	if a.loadErr != nil || a.saver.Saving() {
		return
	}
	snap := a.doc.EncodeSnapshot()
	info := a.saver.Start(a.ledger.Issued(), int64(len(snap)))
	a.followSave(&info) // cluster (actor_follow.go)
	a.s.store.CompactAsync(a.id, snap, info.Upto, func(err error) {
		a.postEvent(event{kind: evSave, save: info, err: err})
	})
}

func (a *actor) onSaveDone(e event) {
	if e.err == nil {
		a.ledger.Cover(e.save.Cover)
	}
	outcome, backoff := a.saver.Done(e.save, e.err != nil, a.ledger.Gap())
	switch outcome {
	case room.Retry:
		a.s.metrics.saveFailures.Inc()
		a.log.Error("save failed: retrying", "attempt", a.saver.Attempts(), "in", backoff, "err", e.err)
		a.saveTimer = time.NewTimer(backoff)
	case room.AbandonKeep:
		a.s.metrics.saveFailures.Inc()
		a.s.metrics.savesAbandoned.Inc()
		a.log.Error("save failed after retries: keeping the log, which is durable", "err", e.err)
	case room.AbandonFatal:
		// The log lacks updates: the actor exits, closing its connections with 1011. The clients
		// still hold the updates that were never acknowledged, and send them again to a fresh
		// actor once storage works.
		a.s.metrics.saveFailures.Inc()
		a.s.metrics.savesAbandoned.Inc()
		a.log.Error("save failed after retries and the log lacks updates: closing the document", "err", e.err)
		a.fatal = errStorage
	case room.Saved, room.SavedAgain:
		a.s.metrics.saves.Inc()
		a.exists = true
		a.updated = time.Now()
		a.log.Debug("saved", "snapshot_bytes", e.save.Size, "folded_entries", e.save.Entries, "upto", e.save.Upto)
		if outcome == room.SavedAgain {
			if a.needsSave() {
				a.startSave()
			}
		} else {
			a.maybeCompact()
		}
	}
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
	if a.idleTimer == nil && len(a.members) == 0 && a.ledger.Writes() == 0 && a.mode == modeRun {
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
	if !room.CanUnload(a.mode, len(a.members), len(a.bindJoins), a.ledger.Writes(), a.ledger.Reads()) {
		return
	}
	a.mode = modeUnload
}

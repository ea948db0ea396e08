package server

import (
	"fmt"
	"time"

	"github.com/tandemhq/tandem/server/internal/room"
)

// drainEvents handles the storage reports in the mailbox, then lets the core release what they
// made due (room.Core.Release): one cumulative acknowledgement per member for all of them.
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
		a.perform()
	}
	a.core.Release()
	a.perform()
}

func (a *actor) onAppendDone(e event) {
	a.s.metrics.commitSecs.ObserveDuration(time.Since(e.start))
	a.core.AppendReported(e.index, e.seq, e.bytes, e.err == nil)
	if e.err != nil {
		a.s.metrics.appendFailures.Inc()
		a.log.Error("append failed: the update waits for a snapshot", "index", e.index, "err", e.err)
		return
	}
	a.updated = time.Now()
}

// save carries out room.Save: it encodes a snapshot and hands it to storage as a compaction up to
// the last durable log entry (room.Core.Saving). Log entries still in flight stay after it
// (applying them again on load changes nothing).
func (a *actor) save(compact bool) {
	if compact {
		a.s.metrics.compactions.Inc()
	}
	snap := a.doc.EncodeSnapshot()
	info := a.core.Saving()
	info.Size = int64(len(snap))
	a.s.store.CompactAsync(a.id, snap, info.Upto, func(err error) {
		a.postEvent(event{kind: evSave, save: info, err: err})
	})
}

func (a *actor) onSaveDone(e event) {
	outcome, backoff := a.core.SaveEnded(e.save, e.err == nil)
	switch outcome {
	case room.Retry:
		a.s.metrics.saveFailures.Inc()
		a.log.Error("save failed: retrying", "attempt", a.core.SaveAttempts(), "in", backoff, "err", e.err)
	case room.AbandonKeep:
		a.s.metrics.saveFailures.Inc()
		a.s.metrics.savesAbandoned.Inc()
		a.log.Error("save failed after retries: keeping the log, which is durable", "err", e.err)
	case room.AbandonFatal:
		// The log lacks updates: the core ends the document, closing its connections with 1011.
		// The clients still hold the updates that were never acknowledged, and send them again
		// to a fresh actor once storage works.
		a.s.metrics.saveFailures.Inc()
		a.s.metrics.savesAbandoned.Inc()
		a.log.Error("save failed after retries and the log lacks updates: closing the document", "err", e.err)
	case room.Saved, room.SavedAgain:
		a.s.metrics.saves.Inc()
		a.updated = time.Now()
		a.log.Debug("saved", "snapshot_bytes", e.save.Size, "folded_entries", e.save.Entries, "upto", e.save.Upto)
	}
}

func (a *actor) onSelfSaved(err error) {
	a.selfBusy = false
	a.core.MetaWritten(err == nil)
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
	for _, m := range queue {
		a.applyEdits(m)
		a.perform()
	}
}

func (a *actor) onDeleted(err error) {
	a.core.Removed()
	a.removed = true
	if err != nil {
		a.log.Error("delete failed", "err", err)
		a.deleteReply <- fmt.Errorf("server: delete %q: %w", a.id, err)
		return
	}
	a.s.changes.deleted(a.id) // hooks: the document's "deleted" effect (observe.go)
	a.deleteReply <- nil
}

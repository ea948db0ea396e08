package server

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/server/internal/room"
	"github.com/tandemhq/tandem/storage"
)

// A failed load is tried again after loadRetryBackoff, doubling up to maxLoadRetryBackoff, while
// the loads and the waits add up to loadRetryFor at most (room.LoadConfig): at most 8 reads over
// 7.1 s when each fails at once, fewer when a read waits for its deadline. That covers
// storage unreachable for seconds (a cluster's NATS servers electing a leader take 4 to 9 s)
// while the joiners, who wait meanwhile, wait about as long as a client's handshake lasts (10 s).
// Then the document refuses everything with 1011 for loadFailedGrace and ends, so that the next
// join loads again, and storage that fails for good is read a few times per join at most.
const (
	loadRetryBackoff    = 100 * time.Millisecond
	maxLoadRetryBackoff = 2 * time.Second
	loadRetryFor        = 8 * time.Second
	loadFailedGrace     = time.Second
)

// load reads the document from storage: the snapshot, then the log, and returns what the core
// needs of it. Any failure poisons the actor until a load works (the core has it load again, a
// few times): it refuses every join and request rather than serve an empty or partial document
// that a later save would write over the real one.
func (a *actor) load() room.Loaded {
	start := time.Now()
	st, exists, err := a.s.store.Load(a.id)
	if err != nil {
		return a.poison(fmt.Errorf("server: load %q: %w", a.id, err))
	}
	self, saved := uint64(0), false
	if b, ok := st.DocMeta[metaSelfClient]; ok && len(b) == 8 {
		if id := binary.BigEndian.Uint64(b); id >= 1 && id <= crdt.MaxClientID {
			self, saved = id, true
		}
	}
	if !saved {
		if self, err = randomClientID(); err != nil {
			return a.poison(fmt.Errorf("server: load %q: %w", a.id, err))
		}
	}
	// security: the client IDs bound to subjects (auth_bindings.go).
	bindings, err := loadClientBindings(st.DocMeta, a.s.runsOpen())
	if err != nil {
		return a.poison(fmt.Errorf("server: load %q: client bindings: %w", a.id, err))
	}
	doc, err := a.build(self, st.Snapshot, st.Log)
	if err != nil {
		return a.poison(err)
	}
	if !saved && doc.StateVector()[self] > 0 {
		// A random ID that some client already used: draw again rather than share it.
		if self, err = randomClientID(); err != nil {
			return a.poison(fmt.Errorf("server: load %q: %w", a.id, err))
		}
		if doc, err = a.build(self, st.Snapshot, st.Log); err != nil {
			return a.poison(err)
		}
	}
	a.doc = doc
	// What was read is garbage now (doc holds its own copy of the text): returned to the system
	// shortly, with the join answer that follows for a large document (memrelease.go).
	a.s.mem.note(noteLoad, int64(len(st.Snapshot))+st.Meta.LogBytes)
	a.accountPending() // a stored document may hold pending units: they count, unbounded at load
	a.self, a.selfSaved = self, saved
	a.bindings = bindings
	a.bindings.bindServer(self) // security
	a.changes.existed = exists  // hooks: a document not in storage is reported created (observe.go)
	a.updated = st.Meta.Updated
	a.log.Debug("loaded", "exists", exists, "snapshot_bytes", len(st.Snapshot), "log_entries", len(st.Log), "took", time.Since(start))
	return room.Loaded{
		Exists:         exists,
		Entries:        len(st.Log),
		Bytes:          st.Meta.LogBytes,
		LastSeq:        st.Meta.LastSeq,
		SnapBytes:      st.Meta.SnapshotBytes,
		HoldFromOthers: !bindings.open,
	}
}

// build makes the document that edits under client ID self from its stored snapshot and log.
func (a *actor) build(self uint64, snap []byte, log []storage.LogEntry) (*crdt.Doc, error) {
	doc, err := crdt.NewDoc(self, crdt.Config{MaxPendingBytes: a.s.cfg.MaxPendingBytes})
	if err != nil {
		return nil, fmt.Errorf("server: load %q: %w", a.id, err)
	}
	if len(snap) > 0 {
		if err := integrate(doc, snap, false); err != nil {
			return nil, fmt.Errorf("server: load %q: snapshot: %w", a.id, err)
		}
	}
	for _, e := range log {
		if err := integrate(doc, e.Data, e.Foreign); err != nil {
			if a.skipForeign(e.Seq, err) {
				continue
			}
			return nil, fmt.Errorf("server: load %q: log entry %d: %w", a.id, e.Seq, err)
		}
	}
	return doc, nil
}

// integrateLogged applies a log entry or a snapshot that the document's store holds to the
// replica (see applyLogged and build).
func (a *actor) integrateLogged(data []byte, foreign bool) error {
	return integrate(a.doc, data, foreign)
}

// integrate applies data, a log entry or a snapshot of a document's store, to doc: a foreign
// entry (storage.LogEntry.Foreign) within the pending limit, the rest whatever waits
// (crdt.Doc.IntegrateAccepted). What a store holds was accepted within the limit when it was
// written (by another node, in another order, or before the limit was lowered): refused now, it
// would be lost for good.
func integrate(doc *crdt.Doc, data []byte, foreign bool) error {
	if foreign {
		return doc.Integrate(data)
	}
	return doc.IntegrateAccepted(data)
}

// skipForeign reports whether a log entry that failed to apply with err is skipped rather than
// failing the load. A node's log holds only updates that it applied before writing them, so one
// that does not apply is corruption there: the document is refused rather than served without
// it. A cluster's log is a NATS subject that anything with publish rights on it can write to, so
// an entry there may be no update at all, or a foreign update (storage.LogEntry.Foreign) whose
// units would overflow the pending limit (units waiting for what never comes): such an entry is
// skipped, logged and counted by loads as by followers (applyLogged), so that every node's
// replica is the same and a foreign message does not make the document unloadable.
func (a *actor) skipForeign(seq uint64, err error) bool {
	if a.s.cluster == nil {
		return false
	}
	switch {
	case errors.Is(err, crdt.ErrMalformedUpdate):
		a.logSkipped("a log entry is not an update: skipping it", seq, err)
	case errors.Is(err, crdt.ErrPendingOverflow):
		a.logSkipped("a log entry's units would overflow the pending limit: skipping it", seq, err)
	default:
		return false
	}
	a.s.cluster.node.entriesSkipped.Inc()
	return true
}

// logSkipped logs a log entry that the document skips. Anything with publish rights on a
// cluster's subjects can write entries, so a flood of them costs one line per document per
// skipLogEvery (the first, then how many were skipped since), not one per entry.
func (a *actor) logSkipped(msg string, seq uint64, err error) {
	a.skipQuiet++
	if now := time.Now(); a.skipLogged.IsZero() || now.Sub(a.skipLogged) >= skipLogEvery {
		a.log.Error(msg, "seq", seq, "err", err, "skipped", a.skipQuiet)
		a.skipLogged, a.skipQuiet = now, 0
	}
}

// skipLogEvery is how often a document logs the log entries it skips.
const skipLogEvery = 10 * time.Second

func (a *actor) poison(err error) room.Loaded {
	a.loadErr = err
	a.log.Warn("document failed to load", "err", err)
	return room.Loaded{Failed: true}
}

// loaded tells the core what a load found; the core has a failed load tried again
// (room.LoadAgain) until its retries are spent, and only then is the document refused.
func (a *actor) loaded(l room.Loaded) {
	a.core.Load(l)
	if l.Failed && !a.core.Loading() {
		a.s.metrics.loadFailures.Inc()
		a.log.Error("document failed to load: refusing it", "err", a.loadErr)
	}
}

// loadFollow loads the document and, on a cluster node, starts following its log
// (actor_follow.go); the core is told how long that took.
func (a *actor) loadFollow() room.Loaded {
	start := time.Now()
	l := a.startFollow(a.load())
	l.Took = time.Since(start)
	return l
}

// loadAgain carries out room.LoadAgain: a failed load's backoff has passed.
func (a *actor) loadAgain() {
	a.loadErr = nil
	l := a.loadFollow()
	if !l.Failed {
		a.openRemote() // cluster: skipped after the failed load (actor_presence.go)
	}
	a.loaded(l)
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

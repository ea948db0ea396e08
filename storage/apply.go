package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The applier: the goroutine that writes into bbolt what the write-ahead log (wal.go) has made
// durable, with the folded writes (compactions, metadata puts, the contract's writes) in call
// order among the appends.
//
// The writer makes a group of appends durable in the log, acknowledges it, and hands the group
// (its appends with their sequence numbers, and the folded writes queued among them) to the
// applier. The applier waits up to applyDelay for more groups, then commits every group it holds
// in one bbolt transaction with bbolt's own two fdatasyncs, and only then reports the folded
// writes. bbolt so holds a prefix of the log at every moment, which is what replay relies on.
// A reader (Load, Stat, List, GetDocMeta, the contract's reads) first waits until bbolt holds
// every group handed over before it was called, so that it sees every acknowledged append.
//
// A failed bbolt commit breaks the store: the log still holds the groups, but bbolt cannot take
// later ones without the failed ones, so every later write fails, reads return the error, and the
// next Open replays the log.

// applyDelay is how long the applier lets groups gather before it commits them, unless a reader,
// an operation that needs bbolt to hold everything (Delete, Check, a full log, Close) or a folded
// write is waiting. A commit of bbolt costs two fdatasyncs whatever it holds: at 5,000 appends a
// second over 100 documents, ten a second instead of one per group.
const applyDelay = 100 * time.Millisecond

// seqCacheDocs is how many documents' last sequence numbers the writer keeps once bbolt holds
// them (about 100 bytes each).
const seqCacheDocs = 4096

// walLimitBytes is the size of the log past which the writer waits for bbolt to hold everything
// and empties it: it bounds the log, replay at Open, and the memory of the groups in flight.
const walLimitBytes = 32 << 20

// walRewindBytes is the size of the log past which the writer empties it whenever bbolt already
// holds everything (drained), without waiting: the log's records are then written again from the
// file's start, over blocks it has, so that under steady writing the file stays near this size
// rather than growing to walLimitBytes. An emptying costs one more small write and fdatasync (the
// header slot), once per walRewindBytes of records.
const walRewindBytes = 4 << 20

// group is one writer batch handed to the applier: appends (with their sequence numbers) and
// folded writes, in call order.
type group struct {
	now   time.Time // when the writer committed it: the time its documents' metadata records
	reqs  []*request
	folds bool // some request is a folded write: the applier should not linger
}

// hand gives g to the applier.
func (s *Store) hand(g group) {
	s.groupNo++
	s.amu.Lock()
	s.groups = append(s.groups, g)
	s.handed++
	s.amu.Unlock()
	select {
	case s.applyWake <- struct{}{}:
	default:
	}
	if g.folds {
		s.hurry()
	}
}

// hurry asks the applier to commit what it holds now rather than after applyDelay.
func (s *Store) hurry() {
	select {
	case s.applyHurry <- struct{}{}:
	default:
	}
}

// pendingSeq is the writer's record of a document whose latest entry bbolt may not hold yet: its
// sequence number, and the group that carries it.
type pendingSeq struct {
	seq   uint64
	group uint64
}

// settleDoc is settle for the appends of docID alone: a document none of whose entries waits for
// the applier (the usual case when a document loads) costs no wait.
func (s *Store) settleDoc(docID string) error {
	s.seqMu.Lock()
	p, ok := s.lastSeq[docID]
	s.seqMu.Unlock()
	s.amu.Lock()
	defer s.amu.Unlock()
	if !ok || p.group == 0 {
		return s.broken
	}
	// A group not handed over yet holds appends not acknowledged yet: no need to wait for it.
	target := min(p.group, s.handed)
	for s.applied < target && s.broken == nil {
		s.hurry()
		s.acond.Wait()
	}
	return s.broken
}

// settle waits until bbolt holds every group handed to the applier before the call, and returns
// the error that broke the store, if one did.
func (s *Store) settle() error {
	s.amu.Lock()
	defer s.amu.Unlock()
	target := s.handed
	for s.applied < target && s.broken == nil {
		s.hurry()
		s.acond.Wait()
	}
	return s.broken
}

// quiesce waits until bbolt holds everything handed over, then empties the log. Only the writer
// calls it.
func (s *Store) quiesce() error {
	if err := s.settle(); err != nil {
		return err
	}
	if err := s.wal.reset(); err != nil {
		s.breakStore(err)
		return err
	}
	return nil
}

// drained reports whether bbolt holds every group handed to the applier, without waiting. Only
// the writer calls it: no group can be handed meanwhile.
func (s *Store) drained() bool {
	s.amu.Lock()
	defer s.amu.Unlock()
	return s.applied == s.handed && s.broken == nil
}

// breakStore records the error that makes the store refuse later writes.
func (s *Store) breakStore(err error) {
	s.amu.Lock()
	if s.broken == nil {
		s.broken = fmt.Errorf("%w (the write-ahead log keeps what was acknowledged; reopen the store)", err)
	}
	s.acond.Broadcast()
	s.amu.Unlock()
}

// brokenErr returns the error that broke the store, or nil.
func (s *Store) brokenErr() error {
	s.amu.Lock()
	defer s.amu.Unlock()
	return s.broken
}

// stopApplier tells the applier to commit what it holds and end, and waits for it.
func (s *Store) stopApplier() {
	s.amu.Lock()
	s.applyStop = true
	s.amu.Unlock()
	select {
	case s.applyWake <- struct{}{}:
	default:
	}
	<-s.applierDone
}

// runApply is the applier goroutine.
func (s *Store) runApply() {
	defer close(s.applierDone)
	for {
		s.amu.Lock()
		n, stop := len(s.groups), s.applyStop
		s.amu.Unlock()
		if n == 0 {
			if stop {
				return
			}
			<-s.applyWake
			continue
		}
		if !stop {
			t := time.NewTimer(applyDelay)
			select {
			case <-t.C:
			case <-s.applyHurry:
			}
			t.Stop()
		}
		s.amu.Lock()
		groups := s.groups
		s.groups = nil
		broken := s.broken
		s.amu.Unlock()

		if broken == nil && s.hooks.beforeApply != nil {
			s.hooks.beforeApply()
		}
		if broken == nil {
			if err := s.applyGroups(groups); err != nil {
				s.breakStore(fmt.Errorf("storage: apply the write-ahead log: %w", err))
			}
		}
		if err := s.brokenErr(); err != nil {
			for _, g := range groups {
				for _, r := range g.reqs {
					if r.fold != nil && !r.reported {
						r.opDone(fmt.Errorf("storage: %s: %w", r.what, err))
					}
				}
			}
		}
		s.amu.Lock()
		s.applied += uint64(len(groups))
		s.acond.Broadcast()
		s.amu.Unlock()
	}
}

// applyGroups commits groups into bbolt in one transaction and reports their folded writes.
func (s *Store) applyGroups(groups []group) error {
	var folds []*request
	last := make(map[string]uint64)
	start := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := &batchTx{tx: tx, docs: tx.Bucket(bucketDocs), open: make(map[string]*docWriter)}
		folds = folds[:0]
		for _, g := range groups {
			b.now = g.now
			keys := make([]byte, 8*len(g.reqs)) // bbolt needs keys and values until the commit
			for i, r := range g.reqs {
				if r.fold != nil {
					r.err = nil
					if err := r.fold(b); err != nil {
						if !errors.As(err, new(refusal)) {
							return err
						}
						r.err = fmt.Errorf("storage: %s: %w", r.what, err)
					}
					folds = append(folds, r)
					continue
				}
				d, err := b.doc(r.docID)
				if err != nil {
					return err
				}
				if r.seq != d.meta.LastSeq+1 {
					return fmt.Errorf("%w: document %q: entry %d follows %d", ErrCorrupt, r.docID, r.seq, d.meta.LastSeq)
				}
				d.meta.LastSeq = r.seq
				key := keys[8*i : 8*i+8]
				binary.BigEndian.PutUint64(key, r.seq)
				if err := d.log.Put(key, r.data); err != nil {
					return fmt.Errorf("document %q seq %d: %w", r.docID, r.seq, err)
				}
				d.meta.LogEntries++
				d.meta.LogBytes += int64(len(r.data))
				last[r.docID] = r.seq
			}
		}
		if len(b.open) == 0 && !b.changed {
			return errNoChange
		}
		for id, d := range b.open {
			if err := d.save(d.at); err != nil {
				return fmt.Errorf("document %q: %w", id, err)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return err
	}
	if err == nil {
		s.storeCommits.Add(1)
		if s.observeApply != nil {
			s.observeApply(time.Since(start))
		}
	}
	// A document whose last entry is now in bbolt needs no cached sequence number (the writer
	// reads it from bbolt the next time), and a read of it no wait. The writer keeps the numbers
	// of up to seqCacheDocs documents, so that the documents being written need no read of bbolt
	// (a read transaction beside the applier's commits keeps the pages they free from reuse).
	s.seqMu.Lock()
	for id, seq := range last {
		if p := s.lastSeq[id]; p.seq == seq {
			if len(s.lastSeq) > seqCacheDocs {
				delete(s.lastSeq, id)
			} else {
				s.lastSeq[id] = pendingSeq{seq: seq} // group 0: nothing to wait for
			}
		}
	}
	s.seqMu.Unlock()
	for _, r := range folds {
		if r.err == nil {
			s.ops.Add(1)
		}
		r.reported = true
		r.opDone(r.err)
	}
	return nil
}

// replay writes the records of the log that bbolt lacks into bbolt, in one commit, at Open. An
// entry bbolt already holds (a sequence number at or below the document's last) is skipped, so
// replaying twice changes nothing; one that leaves a gap means the file and the log disagree.
func (s *Store) replay(recs []walRecord) error {
	if len(recs) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := &batchTx{tx: tx, docs: tx.Bucket(bucketDocs), now: s.now(), open: make(map[string]*docWriter)}
		for _, r := range recs {
			if err := validDocID(r.docID); err != nil {
				return fmt.Errorf("%w: record of document %q: %w", ErrCorrupt, r.docID, err)
			}
			d, err := b.doc(r.docID)
			if err != nil {
				return err
			}
			switch {
			case r.seq <= d.meta.LastSeq:
				continue
			case r.seq != d.meta.LastSeq+1:
				return fmt.Errorf("%w: document %q: logged entry %d follows %d", ErrCorrupt, r.docID, r.seq, d.meta.LastSeq)
			}
			d.meta.LastSeq = r.seq
			if err := d.log.Put(seqKey(r.seq), r.data); err != nil {
				return fmt.Errorf("document %q seq %d: %w", r.docID, r.seq, err)
			}
			d.meta.LogEntries++
			d.meta.LogBytes += int64(len(r.data))
			b.changed = true
		}
		if !b.changed {
			return errNoChange
		}
		for id, d := range b.open {
			if err := d.save(b.now); err != nil {
				return fmt.Errorf("document %q: %w", id, err)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return fmt.Errorf("replay the write-ahead log: %w", err)
	}
	return nil
}

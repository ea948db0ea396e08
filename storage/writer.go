package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// request is one write waiting for the writer goroutine: an append (done set), a write that joins
// the appends' transaction (fold set), or a write that runs alone (op set).
type request struct {
	docID string
	data  []byte
	done  func(seq uint64, err error)
	err   error // an append refused before the writer saw it, or a folded write's refusal

	fold   func(b *batchTx) error // writes inside the group commit's transaction
	what   string                 // a folded write's name, for its errors
	size   int                    // the data an append or a folded write holds, for maxBatchBytes
	op     func() error
	opDone func(error) // a folded write's or an op's report

	seq      uint64 // an append's sequence number, once the write-ahead log's writer gave it one
	reported bool   // a folded write's opDone has been called (applier)
}

// refusal is a folded write's error that leaves the transaction untouched (a bad argument, a
// document whose metadata does not decode): that write alone fails, and the rest of the batch
// commits. Any other error from a folded write fails the whole transaction.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

// Append queues data as the next entry of docID's log and returns at once.
//
// done is called exactly once, from the writer goroutine, after the commit that holds the entry is
// durable (err == nil, seq = the entry's sequence number) or has failed (err != nil: the entry is
// not acknowledged; see the package doc on what a failed commit leaves behind). done must not block
// and must not panic: the writer waits for it before it commits anything else. It may call Append
// and the Async methods, but not a method that waits for the writer (AppendSync, Compact, Delete,
// PutDocMeta, Check, Close): that would deadlock.
//
// Appends of one document are committed in the order Append was called, and so are the other writes
// (Compact, Delete, PutDocMeta) queued between them. The store keeps a reference to data until done
// is called: the caller must not modify it before then.
//
// Append after Close calls done with ErrClosed before it returns, from the caller's goroutine (there
// is no writer left to call it).
func (s *Store) Append(docID string, data []byte, done func(seq uint64, err error)) {
	if done == nil {
		done = func(uint64, error) {}
	}
	r := &request{docID: docID, data: data, size: len(data), done: done}
	if err := validDocID(docID); err != nil {
		r.err = fmt.Errorf("storage: append: %w", err)
	} else if len(data) > MaxValueBytes {
		r.err = fmt.Errorf("storage: append to %q: %w: %d bytes (max %d)", docID, ErrTooLarge, len(data), MaxValueBytes)
	}
	if !s.enqueue(r) {
		s.failedAppends.Add(1)
		done(0, fmt.Errorf("storage: append to %q: %w", docID, ErrClosed))
	}
}

// AppendSync is Append that waits for the commit or for ctx. When ctx ends first, it returns ctx's
// error, and the entry may still be committed later.
func (s *Store) AppendSync(ctx context.Context, docID string, data []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("storage: append to %q: %w", docID, err)
	}
	type result struct {
		seq uint64
		err error
	}
	ch := make(chan result, 1)
	s.Append(docID, data, func(seq uint64, err error) { ch <- result{seq, err} })
	select {
	case r := <-ch:
		return r.seq, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("storage: append to %q: %w (the entry may still be committed)", docID, ctx.Err())
	}
}

// write queues fn to run on the writer goroutine, in its own transaction, after every write queued
// before it; done gets its result. After Close, done gets ErrClosed from the caller's goroutine, in
// a message naming what, the operation. fn wraps its own errors.
func (s *Store) write(what string, fn func() error, done func(error)) {
	if !s.enqueue(&request{op: fn, opDone: done}) {
		done(fmt.Errorf("storage: %s: %w", what, ErrClosed))
	}
}

// writeFolded queues fn to run inside the next group commit's transaction, after the writes queued
// before it; done gets its result once that transaction has committed (or failed), in call order
// with the appends around it. Compactions and metadata puts go this way: as a transaction of their
// own, each would cost a commit (two fsyncs) during which every document's appends wait. fn returns
// a refusal for an error that changed nothing; errors are wrapped with "storage: what". size is
// the data fn writes (a snapshot's length), counted against the batch's bound.
func (s *Store) writeFolded(what string, size int, fn func(b *batchTx) error, done func(error)) {
	if !s.enqueue(&request{fold: fn, what: what, size: size, opDone: done}) {
		done(fmt.Errorf("storage: %s: %w", what, ErrClosed))
	}
}

// writeSync is write that waits.
func (s *Store) writeSync(what string, fn func() error) error {
	ch := make(chan error, 1)
	s.write(what, fn, func(err error) { ch <- err })
	return <-ch
}

// enqueue adds r to the queue and wakes the writer; it reports false after Close.
func (s *Store) enqueue(r *request) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	s.signal()
	return true
}

// signal wakes the writer without blocking; one pending wake-up is enough, since the writer looks at
// the whole queue when it wakes.
func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the writer goroutine: the only one that writes to the file. It stops once Close has been
// called and the queue is empty.
func (s *Store) run() {
	defer close(s.stopped)
	for {
		batch, op, stop := s.next()
		if stop {
			if s.wal != nil {
				_ = s.quiesce() // an error is kept in s.broken; the log keeps what bbolt lacks
				s.stopApplier()
			}
			return
		}
		if len(batch) > 0 {
			if s.wal != nil {
				s.commitLogged(batch)
			} else {
				s.commitAppends(batch)
			}
		}
		if op != nil {
			if s.wal != nil {
				// An operation of its own (Delete, Check) sees and changes bbolt alone: it waits
				// until bbolt holds everything, and the log is emptied so that replay can never
				// bring back what a Delete removed.
				if err := s.quiesce(); err != nil {
					op.opDone(fmt.Errorf("storage: %w", err))
					continue
				}
				s.seqMu.Lock()
				clear(s.lastSeq)
				s.seqMu.Unlock()
			}
			op.opDone(op.op())
		}
	}
}

// next waits for work and returns either up to maxBatch appends from the head of the queue, or the
// non-append write at its head. A non-append write is a barrier: the appends before it commit first,
// in their own transaction, and the ones after it wait for it.
func (s *Store) next() (batch []*request, op *request, stop bool) {
	var deadline <-chan time.Time
	var bytes int
	for {
		s.mu.Lock()
		for len(s.queue) > 0 && len(batch) < s.maxBatch {
			r := s.queue[0]
			if r.op != nil && len(batch) > 0 || len(batch) > 0 && bytes+r.size > s.maxBatchBytes {
				break
			}
			bytes += r.size
			s.queue[0] = nil
			s.queue = s.queue[1:]
			if r.op != nil {
				s.mu.Unlock()
				return nil, r, false
			}
			batch = append(batch, r)
		}
		more, closed := len(s.queue) > 0, s.closed
		s.mu.Unlock()

		if len(batch) == 0 && closed {
			return nil, nil, true
		}
		if len(batch) > 0 && (more || closed || s.maxBatchDelay == 0 || len(batch) >= s.maxBatch) {
			return batch, nil, false
		}
		if len(batch) > 0 && deadline == nil {
			t := time.NewTimer(s.maxBatchDelay)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-s.wake:
		case <-deadline:
			return batch, nil, false
		}
	}
}

// batchTx is one group commit's transaction: the documents its writes have opened, shared by the
// appends and the folded writes in it, whose metadata is saved once before the commit.
type batchTx struct {
	tx   *bolt.Tx
	docs *bolt.Bucket
	now  time.Time
	open map[string]*docWriter
	// changed is set by a folded write that changed the file outside the documents (the storage
	// contract's buckets, contract.go), so that the transaction commits.
	changed bool
}

// doc returns docID's writer in this transaction, opening (or creating) the document the first
// time.
func (b *batchTx) doc(docID string) (*docWriter, error) {
	if d := b.open[docID]; d != nil {
		d.at = b.now
		return d, nil
	}
	d, err := openDocWriter(b.docs, docID, b.now)
	if err != nil {
		return nil, err
	}
	d.at = b.now
	// Appends go to the end of the log: pack its pages full.
	d.log.FillPercent = 0.95
	b.open[docID] = d
	return d, nil
}

// meta returns docID's metadata as this transaction has it so far, without opening the document:
// the zero Meta for a document that does not exist.
func (b *batchTx) meta(docID string) (Meta, error) {
	if d := b.open[docID]; d != nil {
		return d.meta, nil
	}
	db := b.docs.Bucket([]byte(docID))
	if db == nil {
		return Meta{}, nil
	}
	m, err := decodeMeta(db.Get(keyDocMeta))
	if err != nil {
		return Meta{}, fmt.Errorf("document %q: %w", docID, err)
	}
	return m, nil
}

// docWriter is one document's bucket and metadata inside a write transaction.
type docWriter struct {
	b    *bolt.Bucket
	log  *bolt.Bucket
	meta Meta
	at   time.Time // when the last write to the document in this transaction was committed
}

// openDocWriter opens docID's bucket for writing, creating an empty document if there is none.
func openDocWriter(docs *bolt.Bucket, docID string, now time.Time) (*docWriter, error) {
	b := docs.Bucket([]byte(docID))
	if b == nil {
		b, err := docs.CreateBucket([]byte(docID))
		if err != nil {
			return nil, fmt.Errorf("create document %q: %w", docID, err)
		}
		log, err := b.CreateBucket(bucketLog)
		if err != nil {
			return nil, fmt.Errorf("create document %q: %w", docID, err)
		}
		if _, err := b.CreateBucket(bucketKV); err != nil {
			return nil, fmt.Errorf("create document %q: %w", docID, err)
		}
		return &docWriter{b: b, log: log, meta: Meta{Created: now}}, nil
	}
	m, err := decodeMeta(b.Get(keyDocMeta))
	if err != nil {
		return nil, fmt.Errorf("document %q: %w", docID, err)
	}
	log := b.Bucket(bucketLog)
	if log == nil {
		return nil, fmt.Errorf("%w: document %q has no log bucket", ErrCorrupt, docID)
	}
	return &docWriter{b: b, log: log, meta: m}, nil
}

// save writes the document's metadata back, stamped with now.
func (d *docWriter) save(now time.Time) error {
	d.meta.Updated = now
	return d.b.Put(keyDocMeta, encodeMeta(d.meta))
}

// commitAppends writes batch (appends and folded writes) in one transaction, one fsync pair, and
// reports to each after the commit, in call order: an append gets its sequence number, a folded
// write nil or its refusal; if the commit fails, each gets its error.
func (s *Store) commitAppends(batch []*request) {
	live := make([]*request, 0, len(batch))
	appends := 0
	for _, r := range batch {
		if r.err != nil {
			s.failedAppends.Add(1)
			r.done(0, r.err)
			continue
		}
		if r.fold == nil {
			appends++
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}

	seqs := make([]uint64, len(live))
	acked := false
	start := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := &batchTx{tx: tx, docs: tx.Bucket(bucketDocs), now: s.now(), open: make(map[string]*docWriter)}
		keys := make([]byte, 8*len(live)) // bbolt needs keys and values until the commit
		for i, r := range live {
			if r.fold != nil {
				r.err = nil
				if err := r.fold(b); err != nil {
					if !errors.As(err, new(refusal)) {
						return err
					}
					r.err = fmt.Errorf("storage: %s: %w", r.what, err)
				}
				continue
			}
			d, err := b.doc(r.docID)
			if err != nil {
				return err
			}
			d.meta.LastSeq++
			key := keys[8*i : 8*i+8]
			binary.BigEndian.PutUint64(key, d.meta.LastSeq)
			if err := d.log.Put(key, r.data); err != nil {
				return fmt.Errorf("document %q seq %d: %w", r.docID, d.meta.LastSeq, err)
			}
			d.meta.LogEntries++
			d.meta.LogBytes += int64(len(r.data))
			seqs[i] = d.meta.LastSeq
		}
		if len(b.open) == 0 && !b.changed {
			return errNoChange // only refused or empty writes: no commit, no fsync
		}
		for id, d := range b.open {
			if err := d.save(b.now); err != nil {
				return fmt.Errorf("document %q: %w", id, err)
			}
		}
		if s.hooks.beforeCommit != nil && appends > 0 {
			if err := s.hooks.beforeCommit(); err != nil {
				return err
			}
		}
		if s.hooks.ackBeforeCommit > 0 {
			for i, r := range live {
				if r.fold == nil {
					r.done(seqs[i], nil)
				}
			}
			acked = true
			time.Sleep(s.hooks.ackBeforeCommit)
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		for _, r := range live {
			r.opDone(r.err) // folded writes only (an append opens its document)
		}
		return
	}
	if err != nil {
		s.failedCommits.Add(1)
		for _, r := range live {
			if r.fold != nil {
				if r.err == nil {
					r.err = fmt.Errorf("storage: %s: %w", r.what, err)
				}
				r.opDone(r.err)
				continue
			}
			if acked {
				continue
			}
			s.failedAppends.Add(1)
			r.done(0, fmt.Errorf("storage: append to %q: %w", r.docID, err))
		}
		return
	}
	if s.observeSync != nil && appends > 0 {
		s.observeSync(time.Since(start), appends)
	}
	s.commits.Add(1)
	s.appends.Add(uint64(appends))
	if n := int64(appends); n > s.maxBatchSeen.Load() {
		s.maxBatchSeen.Store(n) // only the writer stores
	}
	if s.hooks.afterCommit != nil && appends > 0 {
		s.hooks.afterCommit()
	}
	for i, r := range live {
		switch {
		case r.fold != nil:
			if r.err == nil {
				s.ops.Add(1)
			}
			r.opDone(r.err)
		case !acked:
			r.done(seqs[i], nil)
		}
	}
}

// commitLogged makes batch's appends durable in the write-ahead log (one write, one fdatasync),
// acknowledges them, and hands the batch to the applier, which writes the appends and the folded
// writes into bbolt behind it (apply.go). Appends are reported in call order; a folded write is
// reported once bbolt holds it, after the appends that follow it in call order.
func (s *Store) commitLogged(batch []*request) {
	if err := s.brokenErr(); err != nil {
		s.failBatch(batch, err)
		return
	}
	if n := s.wal.bytes(); n >= walLimitBytes || n >= walRewindBytes && s.drained() {
		if err := s.quiesce(); err != nil {
			s.failBatch(batch, err)
			return
		}
	}
	now := s.now()
	live := make([]*request, 0, len(batch))
	var refused []*request
	var records []byte
	var at []int
	appends, folds := 0, false
	s.seqMu.Lock()
	for _, r := range batch {
		if r.err == nil && r.fold == nil {
			p, ok := s.lastSeq[r.docID]
			seq := p.seq
			if !ok {
				var err error
				if seq, err = s.storedLastSeq(r.docID); err != nil {
					r.err = fmt.Errorf("storage: append to %q: %w", r.docID, err)
				}
			}
			if r.err == nil {
				r.seq = seq + 1
				s.lastSeq[r.docID] = pendingSeq{seq: r.seq, group: s.groupNo + 1}
				var i int
				records, i = appendWALRecord(records, s.wal.epoch, r.docID, r.seq, r.data)
				at = append(at, i)
				appends++
			}
		}
		if r.err != nil && r.fold == nil {
			refused = append(refused, r)
			continue
		}
		folds = folds || r.fold != nil
		live = append(live, r)
	}
	s.seqMu.Unlock()
	for _, r := range refused {
		s.failedAppends.Add(1)
		r.done(0, r.err)
	}
	if len(live) == 0 {
		return
	}

	acked := false
	var err error
	if appends > 0 {
		if s.hooks.beforeCommit != nil {
			err = s.hooks.beforeCommit()
		}
		if err == nil && s.hooks.ackBeforeCommit > 0 {
			for _, r := range live {
				if r.fold == nil {
					r.done(r.seq, nil)
				}
			}
			acked = true
			time.Sleep(s.hooks.ackBeforeCommit)
		}
		if err == nil {
			start := time.Now()
			if err = s.wal.append(records); err == nil && s.observeSync != nil {
				s.observeSync(time.Since(start), appends)
			}
			if err != nil {
				// What reached the file is unknown: the store takes no more writes, and the next
				// Open replays whatever of the log survived.
				s.breakStore(err)
			}
		}
	}
	if err != nil {
		s.failedCommits.Add(1)
		s.seqMu.Lock()
		for i := len(live) - 1; i >= 0; i-- { // the sequence numbers are free again
			if r := live[i]; r.fold == nil {
				s.lastSeq[r.docID] = pendingSeq{seq: r.seq - 1, group: s.groupNo + 1}
			}
		}
		s.seqMu.Unlock()
		if !acked {
			s.failBatch(live, err)
		}
		return
	}
	if appends > 0 {
		s.commits.Add(1)
		s.appends.Add(uint64(appends))
		if n := int64(appends); n > s.maxBatchSeen.Load() {
			s.maxBatchSeen.Store(n) // only the writer stores
		}
		if s.hooks.afterCommit != nil {
			s.hooks.afterCommit()
		}
	}
	// The applier writes the entries from the records, which the store owns: the caller's data
	// is free once done is called.
	i := 0
	for _, r := range live {
		if r.fold == nil {
			r.data = records[at[i] : at[i]+len(r.data) : at[i]+len(r.data)]
			i++
		}
	}
	s.hand(group{now: now, reqs: live, folds: folds})
	if acked {
		return
	}
	for _, r := range live {
		if r.fold == nil {
			r.done(r.seq, nil)
		}
	}
}

// failBatch reports err to every append and folded write of batch.
func (s *Store) failBatch(batch []*request, err error) {
	for _, r := range batch {
		if r.fold != nil {
			r.opDone(fmt.Errorf("storage: %s: %w", r.what, err))
			continue
		}
		s.failedAppends.Add(1)
		if r.err != nil {
			r.done(0, r.err)
			continue
		}
		r.done(0, fmt.Errorf("storage: append to %q: %w", r.docID, err))
	}
}

// storedLastSeq reads docID's last sequence number from bbolt (zero for a document that does not
// exist). The writer calls it only for a document none of whose entries is waiting for the
// applier, so bbolt's value is current.
func (s *Store) storedLastSeq(docID string) (uint64, error) {
	var seq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDocs).Bucket([]byte(docID))
		if b == nil {
			return nil
		}
		m, err := decodeMeta(b.Get(keyDocMeta))
		if err != nil {
			return fmt.Errorf("document %q: %w", docID, err)
		}
		seq = m.LastSeq
		return nil
	})
	return seq, err
}

package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// request is one write waiting for the writer goroutine: an append (done set) or another write (op
// set).
type request struct {
	docID string
	data  []byte
	done  func(seq uint64, err error)
	err   error // an append refused before the writer saw it; done gets it without a commit

	op     func() error
	opDone func(error)
}

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
	r := &request{docID: docID, data: data, done: done}
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

// write queues fn to run on the writer goroutine after every write queued before it; done gets its
// result. After Close, done gets ErrClosed from the caller's goroutine, in a message naming what,
// the operation. fn wraps its own errors.
func (s *Store) write(what string, fn func() error, done func(error)) {
	if !s.enqueue(&request{op: fn, opDone: done}) {
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
			return
		}
		if len(batch) > 0 {
			s.commitAppends(batch)
		}
		if op != nil {
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
			if r.op != nil && len(batch) > 0 || len(batch) > 0 && bytes+len(r.data) > s.maxBatchBytes {
				break
			}
			bytes += len(r.data)
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

// docWriter is one document's bucket and metadata inside a write transaction.
type docWriter struct {
	b    *bolt.Bucket
	log  *bolt.Bucket
	meta Meta
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

// commitAppends writes batch in one transaction (one fsync pair) and reports to every done: each
// gets its sequence number after the commit, or the commit's error.
func (s *Store) commitAppends(batch []*request) {
	live := make([]*request, 0, len(batch))
	for _, r := range batch {
		if r.err != nil {
			s.failedAppends.Add(1)
			r.done(0, r.err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}

	seqs := make([]uint64, len(live))
	acked := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		now := s.now()
		open := make(map[string]*docWriter)
		keys := make([]byte, 8*len(live)) // bbolt needs keys and values until the commit
		for i, r := range live {
			d := open[r.docID]
			if d == nil {
				var err error
				if d, err = openDocWriter(docs, r.docID, now); err != nil {
					return err
				}
				// Appends go to the end of the log: pack its pages full.
				d.log.FillPercent = 0.95
				open[r.docID] = d
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
		for id, d := range open {
			if err := d.save(now); err != nil {
				return fmt.Errorf("document %q: %w", id, err)
			}
		}
		if s.hooks.beforeCommit != nil {
			if err := s.hooks.beforeCommit(); err != nil {
				return err
			}
		}
		if s.hooks.ackBeforeCommit > 0 {
			for i, r := range live {
				r.done(seqs[i], nil)
			}
			acked = true
			time.Sleep(s.hooks.ackBeforeCommit)
		}
		return nil
	})
	if err != nil {
		s.failedCommits.Add(1)
		if acked {
			return
		}
		for _, r := range live {
			s.failedAppends.Add(1)
			r.done(0, fmt.Errorf("storage: append to %q: %w", r.docID, err))
		}
		return
	}
	s.commits.Add(1)
	s.appends.Add(uint64(len(live)))
	if n := int64(len(live)); n > s.maxBatchSeen.Load() {
		s.maxBatchSeen.Store(n) // only the writer stores
	}
	if s.hooks.afterCommit != nil {
		s.hooks.afterCommit()
	}
	if acked {
		return
	}
	for i, r := range live {
		r.done(seqs[i], nil)
	}
}

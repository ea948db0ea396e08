package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tandemhq/tandem/storage"
	"github.com/tandemhq/tandem/storage/backend"
)

// contractStore is the server's store (docStore) over the storage contract (storage/backend):
// any backend's Log, Snapshots and Meta, composed by backend.Docs. Config.Storage selects it; the
// default remains the bbolt file's own document store.
//
// The contract's calls are synchronous; the actor's are asynchronous. Each write runs on a
// goroutine of its own and reports through the actor's callback, so that the writes of many
// documents, and many writes of one, are in flight together (the bbolt backend folds concurrent
// writes into one group commit). One order is kept per document, the one the actor relies on
// (clientBindings.persist): an append waits for every metadata write handed over before it, so
// that it is never durable before a binding it depends on.
//
// The actor's metadata keys (the server's client ID, the client bindings) are stored in Meta as
// "dmeta.<document key>.<epoch>.<base64url name>", so that they end with the document's epoch;
// a deletion drops them. Appends may commit in another order than they were handed over; the log
// holds CRDT updates, which commute, and durability tolerates reports out of order.
type contractStore struct {
	docs *backend.Docs
	meta backend.Meta
	ctx  context.Context // ends when the store closes; the writes' context
	stop context.CancelFunc
	wg   sync.WaitGroup // the write goroutines, waited by Close
	// appendSlots, when not nil, bounds the appends in flight to the backend at once: an append
	// takes a slot before its attempt (and before its timeout starts) and gives it back after.
	appendSlots chan struct{}
	// slotsQuit, when closed, fails the appends still waiting for a slot (the owner is closing:
	// each would otherwise make its attempt in turn, and Close wait for them all).
	slotsQuit <-chan struct{}

	mu      sync.Mutex
	open    map[string]*contractDoc
	closing bool // Close has begun: writes no longer join wg
}

// contractDoc is what the store knows of one document: its epoch once opened, and the metadata
// writes that later appends wait for.
//
// A write keeps the record it was handed over with until it ends, even if the document's actor
// exits meanwhile and the store forgets the document (Forget): it writes to the epoch its actor
// had, or creates the document at the epoch its actor expected. Looking the document up afresh
// would find another node's deletion and create the document again at the next epoch, from a
// write meant for the deleted one.
type contractDoc struct {
	mu    sync.Mutex // held while the epoch is found or created
	epoch uint64     // 0 until known
	// createAt, when not 0, is the only epoch at which a first write may create the document
	// (backend.Docs.OpenEpoch): the one its actor follows. 0 lets it create the document at
	// whatever epoch it finds (backend.Docs.Open).
	createAt uint64
	barrier  chan struct{}
}

// newContractStore returns the store over set; maxAppends, if positive, bounds the appends in
// flight to the backend at once (the others wait for a slot).
func newContractStore(set backend.Set, maxAppends int) *contractStore {
	ctx, stop := context.WithCancel(context.Background())
	cs := &contractStore{docs: backend.NewDocs(set, nil), meta: set.Meta, ctx: ctx, stop: stop, open: make(map[string]*contractDoc)}
	if maxAppends > 0 {
		cs.appendSlots = make(chan struct{}, maxAppends)
	}
	return cs
}

var _ docStore = (*contractStore)(nil)

// docForgetter is a store that keeps something in memory per document: the document's actor
// calls Forget when it exits, so that what is kept is bounded by the documents open.
type docForgetter interface{ Forget(docID string) }

var _ docForgetter = (*contractStore)(nil)

// Forget drops the store's record of docID (its epoch, its last metadata write), whose actor has
// exited. A write still in flight keeps its own reference; a new actor loads the document again,
// which reads its epoch afresh.
func (cs *contractStore) Forget(docID string) {
	cs.mu.Lock()
	delete(cs.open, docID)
	cs.mu.Unlock()
}

// doc returns the store's record of docID.
func (cs *contractStore) doc(docID string) *contractDoc {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	d := cs.open[docID]
	if d == nil {
		d = &contractDoc{}
		cs.open[docID] = d
	}
	return d
}

// epoch returns the epoch of d, the record of docID, creating the document if it does not exist
// (at d.createAt only, if set).
func (cs *contractStore) epoch(d *contractDoc, docID string) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.epoch != 0 {
		return d.epoch, nil
	}
	var m backend.DocMeta
	var err error
	if d.createAt != 0 {
		m, err = cs.docs.OpenEpoch(cs.ctx, docID, d.createAt)
	} else {
		m, err = cs.docs.Open(cs.ctx, docID)
	}
	if err != nil {
		return 0, err
	}
	d.epoch = m.Epoch
	return d.epoch, nil
}

func metaPrefix(docID string, epoch uint64) string {
	return "dmeta." + backend.Key(docID) + "." + strconv.FormatUint(epoch, 10) + "."
}

// Load reads the document's snapshot, its log after it and its metadata keys.
func (cs *contractStore) Load(docID string) (storage.DocState, bool, error) {
	st, err := cs.docs.Load(cs.ctx, docID)
	if errors.Is(err, backend.ErrNotFound) {
		return storage.DocState{}, false, nil
	}
	if err != nil {
		return storage.DocState{}, false, fmt.Errorf("server: load %q: %w", docID, err)
	}
	d := cs.doc(docID)
	d.mu.Lock()
	d.epoch = st.Meta.Epoch
	d.mu.Unlock()
	out := storage.DocState{Snapshot: st.Snapshot, SnapshotSeq: st.Meta.SnapshotSeq}
	out.Meta = storage.Meta{Created: st.Meta.Created, Updated: st.Meta.Created, SnapshotSeq: st.Meta.SnapshotSeq, LastSeq: st.Meta.SnapshotSeq, SnapshotBytes: int64(len(st.Snapshot))}
	for _, e := range st.Entries {
		out.Log = append(out.Log, storage.LogEntry{Seq: e.Seq, Data: e.Data, Foreign: e.Foreign})
		out.Meta.LogEntries++
		out.Meta.LogBytes += int64(len(e.Data))
		out.Meta.LastSeq = e.Seq
	}
	prefix := metaPrefix(docID, st.Meta.Epoch)
	keys, err := cs.meta.Keys(cs.ctx, prefix)
	if err != nil {
		return storage.DocState{}, false, fmt.Errorf("server: load %q: metadata keys: %w", docID, err)
	}
	names := make(map[string]string, len(keys))
	for _, k := range keys {
		name, err := base64.RawURLEncoding.DecodeString(k[len(prefix):])
		if err != nil {
			continue // not a key of ours
		}
		names[k] = string(name)
	}
	values, err := getAll(cs.ctx, cs.meta, slices.Collect(maps.Keys(names)))
	if err != nil {
		return storage.DocState{}, false, fmt.Errorf("server: load %q: metadata: %w", docID, err)
	}
	for k, v := range values {
		if out.DocMeta == nil {
			out.DocMeta = make(map[string][]byte)
		}
		out.DocMeta[names[k]] = v
	}
	return out, true, nil
}

// metaReads bounds the metadata values that one load reads at once.
const metaReads = 8

// getAll reads the values of keys from meta, metaReads at a time, leaving out the keys deleted
// meanwhile. A load reads every metadata key of its document (and, on a cluster node, every
// client binding): one request after the other, on a loaded cluster, they added seconds to a
// cold load and to its client's handshake.
func getAll(ctx context.Context, meta backend.Meta, keys []string) (map[string][]byte, error) {
	values := make([][]byte, len(keys))
	errs := make([]error, len(keys))
	slots := make(chan struct{}, metaReads)
	var wg sync.WaitGroup
	for i, k := range keys {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			values[i], _, errs[i] = meta.Get(ctx, k)
		})
	}
	wg.Wait()
	out := make(map[string][]byte, len(keys))
	for i, k := range keys {
		switch {
		case errors.Is(errs[i], backend.ErrNotFound):
		case errs[i] != nil:
			return nil, fmt.Errorf("%s: %w", k, errs[i])
		default:
			out[k] = values[i]
		}
	}
	return out, nil
}

// Stat returns the document's metadata as far as the contract keeps it (its creation time).
func (cs *contractStore) Stat(docID string) (storage.Meta, bool, error) {
	m, ok, err := cs.docs.Stat(cs.ctx, docID)
	if err != nil || !ok {
		return storage.Meta{}, false, err
	}
	return storage.Meta{Created: m.Created, Updated: m.Created, SnapshotSeq: m.SnapshotSeq, LastSeq: m.SnapshotSeq}, true, nil
}

// List returns up to limit documents whose IDs sort after after, in ID order.
func (cs *contractStore) List(after string, limit int) ([]storage.DocInfo, error) {
	ids, err := cs.docs.List(cs.ctx)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	var out []storage.DocInfo
	for _, id := range ids {
		if id <= after {
			continue
		}
		if limit > 0 && len(out) == limit {
			break
		}
		m, ok, err := cs.Stat(id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, storage.DocInfo{ID: id, Meta: m})
		}
	}
	return out, nil
}

// async runs fn on a goroutine the store waits for at Close. A write handed over once Close has
// begun (an actor that outlived the server's shutdown deadline) is not waited for: it runs on
// with the store's context, which Close cancels, so it fails unless it is already done.
func (cs *contractStore) async(fn func()) {
	cs.mu.Lock()
	if cs.closing {
		cs.mu.Unlock()
		go fn()
		return
	}
	cs.wg.Add(1)
	cs.mu.Unlock()
	go func() {
		defer cs.wg.Done()
		fn()
	}()
}

// appendTimeout bounds one append to the contract's log: an append that a backend neither stores
// nor refuses within it (JetStream without a quorum may hold a request) is reported failed.
const appendTimeout = 10 * time.Second

// Append appends data to the document's log once the metadata writes handed over before it are
// done, and reports its position.
func (cs *contractStore) Append(docID string, data []byte, done func(seq uint64, err error)) {
	cs.appendTo(cs.doc(docID), docID, data, done)
}

// appendTo appends data to the log of d, the record of docID (which the caller may hold across
// retries: contractDoc).
func (cs *contractStore) appendTo(d *contractDoc, docID string, data []byte, done func(seq uint64, err error)) {
	d.mu.Lock()
	barrier := d.barrier
	d.mu.Unlock()
	cs.async(func() {
		if barrier != nil {
			<-barrier
		}
		epoch, err := cs.epoch(d, docID)
		if err != nil {
			done(0, fmt.Errorf("server: append to %q: %w", docID, err))
			return
		}
		if cs.appendSlots != nil {
			select {
			case cs.appendSlots <- struct{}{}:
			case <-cs.ctx.Done():
				done(0, fmt.Errorf("server: append to %q: %w", docID, cs.ctx.Err()))
				return
			case <-cs.slotsQuit:
				done(0, fmt.Errorf("server: append to %q: %w", docID, ErrShuttingDown))
				return
			}
		}
		ctx, cancel := context.WithTimeout(cs.ctx, appendTimeout)
		seq, err := cs.docs.Append(ctx, docID, epoch, data)
		cancel()
		if cs.appendSlots != nil {
			<-cs.appendSlots
		}
		done(seq, err)
	})
}

// CompactAsync stores snapshot as the document's state at log position uptoSeq and drops the log
// up to it.
func (cs *contractStore) CompactAsync(docID string, snapshot []byte, uptoSeq uint64, done func(error)) {
	d := cs.doc(docID)
	cs.async(func() {
		epoch, err := cs.epoch(d, docID)
		if err == nil {
			err = cs.docs.Compact(cs.ctx, docID, epoch, uptoSeq, snapshot)
		}
		done(err)
	})
}

// PutDocMetaAsync stores value under the document's metadata key. Appends handed over after it
// wait for it.
func (cs *contractStore) PutDocMetaAsync(docID, key string, value []byte, done func(error)) {
	d := cs.doc(docID)
	next := make(chan struct{})
	d.mu.Lock()
	prev := d.barrier
	d.barrier = next
	d.mu.Unlock()
	cs.async(func() {
		defer close(next)
		if prev != nil {
			<-prev
		}
		done(cs.putMeta(d, docID, key, value))
	})
}

func (cs *contractStore) putMeta(d *contractDoc, docID, key string, value []byte) error {
	epoch, err := cs.epoch(d, docID)
	if err != nil {
		return fmt.Errorf("server: put %q metadata %s: %w", docID, key, err)
	}
	k := metaPrefix(docID, epoch) + base64.RawURLEncoding.EncodeToString([]byte(key))
	for range 16 {
		_, rev, err := cs.meta.Get(cs.ctx, k)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			_, err = cs.meta.Create(cs.ctx, k, value)
		case err == nil:
			_, err = cs.meta.Update(cs.ctx, k, value, rev)
		}
		if errors.Is(err, backend.ErrExists) || errors.Is(err, backend.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("server: put %q metadata %s: %w", docID, key, err)
		}
		return nil
	}
	return fmt.Errorf("server: put %q metadata %s: %w", docID, key, backend.ErrContended)
}

// Delete deletes the document and its metadata keys; the next write creates it afresh at a new
// epoch.
func (cs *contractStore) Delete(docID string) error {
	d := cs.doc(docID)
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok, err := cs.docs.Stat(cs.ctx, docID)
	if err != nil {
		return fmt.Errorf("server: delete %q: %w", docID, err)
	}
	d.epoch = 0
	if !ok {
		return nil
	}
	if err := cs.docs.Delete(cs.ctx, docID); err != nil && !errors.Is(err, backend.ErrNotFound) {
		return fmt.Errorf("server: delete %q: %w", docID, err)
	}
	keys, err := cs.meta.Keys(cs.ctx, metaPrefix(docID, m.Epoch))
	if err != nil {
		return fmt.Errorf("server: delete %q (deleted; metadata left): %w", docID, err)
	}
	for _, k := range keys {
		if err := cs.meta.Delete(cs.ctx, k); err != nil {
			return fmt.Errorf("server: delete %q (deleted; metadata left): %w", docID, err)
		}
	}
	return nil
}

// Close waits for the writes in flight. It does not close the backend, which its owner gave the
// server (Config.Storage) and closes after the server.
func (cs *contractStore) Close() error {
	cs.mu.Lock()
	cs.closing = true
	cs.mu.Unlock()
	cs.wg.Wait()
	cs.stop()
	return nil
}

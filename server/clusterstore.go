package server

import (
	"context"
	"encoding/json"
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

// clusterStore is a cluster node's store: the contract store over the JetStream backend, with
// what changes when several nodes share it.
//
//   - The server's own client ID (metaSelfClient) is kept per node, under
//     "server-client-id.<node>": two nodes editing under one ID would issue the same clocks
//     with different content.
//   - A client ID's binding to a subject is also stored, create-only, in the backend's own
//     binding keys (backend.Docs.Bind), which every node checks: the first subject to bind an ID
//     on any node keeps it, and a hello with it under another subject on another node is refused.
//     A load reads every node's bindings.
//   - A failed append is retried until it succeeds or the store closes: while the stream has no
//     quorum the author is not acknowledged, and is once the quorum returns. (A snapshot does not
//     stand in for a failed append on a cluster: the other nodes follow the log.)
//   - At most maxAppendsInFlight appends are in flight to JetStream at once; the others wait
//     for a slot before their attempt starts. Without the bound, every edit made while the
//     stream had no quorum retried on its own, each attempt bounded by appendTimeout: once the
//     quorum returned, the stream was offered more attempts than it could store within their
//     timeouts, so they timed out and were made again, and acknowledgements stalled for minutes
//     on a loaded machine (TestCluster/QuorumLoss).
//   - A compaction that finds a newer snapshot in place (another node compacted first) succeeded.
//   - A deletion tells the other nodes (<prefix>.ctl.<key>), so that they close the document.
type clusterStore struct {
	*contractStore
	node *clusterNode
	// closing ends when Close begins: appends stop being retried.
	closing context.Context
	stop    context.CancelFunc

	mu     sync.Mutex
	bound  map[string]map[uint64]bool // per document: client IDs known bound in the backend
	loaded map[string]uint64          // per document: the last log position its load read
}

func newClusterStore(cfg Cluster, node *clusterNode) *clusterStore {
	return newClusterStoreOn(cfg.Backend.Set(), node)
}

// newClusterStoreOn returns node's store over set (the JetStream backend's, or a test's).
func newClusterStoreOn(set backend.Set, node *clusterNode) *clusterStore {
	cs := &clusterStore{contractStore: newContractStore(set, maxAppendsInFlight), node: node, bound: make(map[string]map[uint64]bool), loaded: make(map[string]uint64)}
	cs.closing, cs.stop = context.WithCancel(context.Background())
	cs.contractStore.slotsQuit = cs.closing.Done()
	return cs
}

var (
	_ docStore     = (*clusterStore)(nil)
	_ docForgetter = (*clusterStore)(nil)
)

// selfKey is the metadata key of this node's own client ID.
func (cs *clusterStore) selfKey() string { return metaSelfClient + "." + cs.node.cfg.NodeID }

// Forget drops what the store keeps of docID.
func (cs *clusterStore) Forget(docID string) {
	cs.contractStore.Forget(docID)
	cs.mu.Lock()
	delete(cs.bound, docID)
	delete(cs.loaded, docID)
	cs.mu.Unlock()
}

// takeLoaded returns (and forgets) the last log position the latest load of docID read: where
// its follower's cursor starts. 0 for a document not written yet.
func (cs *clusterStore) takeLoaded(docID string) uint64 {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	seq := cs.loaded[docID]
	delete(cs.loaded, docID)
	return seq
}

// Load reads the document as the contract store does, then presents this node's own client ID
// as the server's, and the bindings of every node as the document's.
func (cs *clusterStore) Load(docID string) (storage.DocState, bool, error) {
	st, ok, err := cs.contractStore.Load(docID)
	if err != nil || !ok {
		return st, ok, err
	}
	cs.mu.Lock()
	cs.loaded[docID] = st.Meta.LastSeq
	cs.mu.Unlock()
	if v, mine := st.DocMeta[cs.selfKey()]; mine {
		st.DocMeta[metaSelfClient] = v
	} else {
		delete(st.DocMeta, metaSelfClient) // another node's, or a single node's before it joined
	}
	bound := map[uint64]string{}
	if b, ok := st.DocMeta[clientBindingsKey]; ok {
		if m, err := decodeClientBindings(b); err == nil {
			bound = m
		}
	}
	epoch := cs.knownEpoch(docID)
	prefix := bindKeyPrefix(docID, epoch)
	keys, err := cs.meta.Keys(cs.ctx, prefix)
	if err != nil {
		return storage.DocState{}, false, fmt.Errorf("server: load %q: client bindings: %w", docID, err)
	}
	ids := make(map[string]uint64, len(keys))
	for _, k := range keys {
		if id, err := strconv.ParseUint(k[len(prefix):], 10, 64); err == nil {
			ids[k] = id
		}
	}
	values, err := getAll(cs.ctx, cs.meta, slices.Collect(maps.Keys(ids)))
	if err != nil {
		return storage.DocState{}, false, fmt.Errorf("server: load %q: client bindings: %w", docID, err)
	}
	confirmed := make(map[uint64]bool, len(values))
	for k, v := range values {
		bound[ids[k]] = string(v) // the backend's binding is the one every node checks
		confirmed[ids[k]] = true
	}
	if len(bound) > 0 {
		if st.DocMeta == nil {
			st.DocMeta = make(map[string][]byte)
		}
		st.DocMeta[clientBindingsKey] = (&clientBindings{bound: bound}).encode()
	}
	cs.mu.Lock()
	cs.bound[docID] = confirmed
	cs.mu.Unlock()
	return st, true, nil
}

// bindKeyPrefix is the prefix of the backend's binding keys of (docID, epoch) (backend.Docs.Bind).
func bindKeyPrefix(docID string, epoch uint64) string {
	return "bind." + backend.Key(docID) + "." + strconv.FormatUint(epoch, 10) + "."
}

// knownEpoch returns the epoch the contract store holds for docID, or 0.
func (cs *clusterStore) knownEpoch(docID string) uint64 {
	d := cs.doc(docID)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.epoch
}

// rawMeta reads the document's metadata record as stored, tombstone included; ok is false if
// the document was never written.
func (cs *clusterStore) rawMeta(ctx context.Context, docID string) (m backend.DocMeta, ok bool, err error) {
	v, rev, err := cs.meta.Get(ctx, "doc."+backend.Key(docID))
	if errors.Is(err, backend.ErrNotFound) {
		return backend.DocMeta{}, false, nil
	}
	if err != nil {
		return backend.DocMeta{}, false, fmt.Errorf("server: %q: read metadata: %w", docID, err)
	}
	if err := json.Unmarshal(v, &m); err != nil {
		return backend.DocMeta{}, false, fmt.Errorf("server: %q: decode metadata: %w", docID, err)
	}
	m.Rev = rev
	return m, true, nil
}

// followEpoch returns the epoch whose log a node opening docID follows: the document's, or, for
// a document not yet written, the one its first write will create (1, or its tombstone's), and
// the only one it may create: if another node creates and deletes the document meanwhile, the
// writes of this node's actor, which follows the deleted epoch, do not create it again
// (backend.Docs.OpenEpoch).
func (cs *clusterStore) followEpoch(docID string) (uint64, error) {
	if e := cs.knownEpoch(docID); e != 0 {
		return e, nil
	}
	epoch := uint64(1)
	m, ok, err := cs.rawMeta(cs.ctx, docID)
	if err != nil {
		return 0, err
	}
	if ok {
		epoch = max(m.Epoch, 1)
	}
	d := cs.doc(docID)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.epoch != 0 {
		return d.epoch, nil // a write created it meanwhile
	}
	d.createAt = epoch
	return epoch, nil
}

// errClientBound is what storing bindings returns when a client ID is bound to another subject
// in the backend (by a hello on another node).
type errClientBound struct{ clientID uint64 }

func (e *errClientBound) Error() string {
	return fmt.Sprintf("server: client id %d is bound to another subject on another node", e.clientID)
}

// PutDocMetaAsync stores a metadata key as the contract store does, with this node's own client
// ID under its own key, and the bindings also bound one by one in the backend, where every node
// checks them; a binding refused there fails the write with *errClientBound.
func (cs *clusterStore) PutDocMetaAsync(docID, key string, value []byte, done func(error)) {
	switch key {
	case metaSelfClient:
		key = cs.selfKey()
	case clientBindingsKey:
		inner, d := done, cs.doc(docID) // the record the write keeps (contractDoc)
		done = func(err error) {
			if err == nil {
				err = cs.bindAll(d, docID, value)
			}
			inner(err)
		}
	}
	cs.contractStore.PutDocMetaAsync(docID, key, value, done)
}

// bindAll binds in the backend the bindings of value not yet known bound there, in the epoch of
// d, the record of docID.
func (cs *clusterStore) bindAll(d *contractDoc, docID string, value []byte) error {
	m, err := decodeClientBindings(value)
	if err != nil {
		return err
	}
	epoch, err := cs.epoch(d, docID)
	if err != nil {
		return err
	}
	for id, subject := range m {
		cs.mu.Lock()
		known := cs.bound[docID][id]
		cs.mu.Unlock()
		if known {
			continue
		}
		err := cs.docs.Bind(cs.ctx, docID, epoch, id, subject)
		if errors.Is(err, backend.ErrBound) {
			return &errClientBound{clientID: id}
		}
		if err != nil {
			return fmt.Errorf("server: bind %q client %d: %w", docID, id, err)
		}
		cs.mu.Lock()
		if cs.bound[docID] == nil {
			cs.bound[docID] = make(map[uint64]bool)
		}
		cs.bound[docID][id] = true
		cs.mu.Unlock()
	}
	return nil
}

// Append appends as the contract store does, retrying a failed append (with a backoff up to
// maxAppendBackoff) until it succeeds, the store closes or the NATS connection is closed, and
// records the publish latency. A retry within the stream's duplicate window is stored once; one
// after it may be stored twice, which changes nothing (applying an update twice is a no-op).
// Every attempt writes to the epoch of the record the append was handed over with
// (contractDoc); one that finds the document deleted before it could create it
// (backend.ErrDeleted) is not retried.
func (cs *clusterStore) Append(docID string, data []byte, done func(seq uint64, err error)) {
	start := time.Now()
	wait := shortReadRetry
	d := cs.doc(docID)
	var try func()
	try = func() {
		cs.contractStore.appendTo(d, docID, data, func(seq uint64, err error) {
			deleted := errors.Is(err, backend.ErrDeleted) // the stream was not asked
			if !deleted {
				cs.node.appendFailing.Store(err != nil)
			}
			if err != nil && !deleted && cs.closing.Err() == nil && !cs.node.connClosed() {
				cs.node.log.Debug("append failed: retrying", "doc", docID, "in", wait, "err", err)
				select {
				case <-time.After(wait):
				case <-cs.closing.Done():
				}
				wait = min(2*wait, maxAppendBackoff)
				try()
				return
			}
			if err == nil {
				cs.node.publishSecs.ObserveDuration(time.Since(start))
			}
			done(seq, err)
		})
	}
	try()
}

// CompactAsync compacts as the contract store does; a snapshot of another node already at or
// past the position is success (it holds everything up to it).
func (cs *clusterStore) CompactAsync(docID string, snapshot []byte, uptoSeq uint64, done func(error)) {
	cs.contractStore.CompactAsync(docID, snapshot, uptoSeq, func(err error) {
		if errors.Is(err, backend.ErrStale) {
			err = nil
		}
		done(err)
	})
}

// Delete deletes the document and tells the other nodes.
func (cs *clusterStore) Delete(docID string) error {
	if err := cs.contractStore.Delete(docID); err != nil {
		return err
	}
	_ = cs.node.cfg.Conn.Publish(cs.node.subject("ctl", backend.Key(docID)), []byte("delete")) // the others also notice at their next read
	return nil
}

// readTail reads the log of (docID, epoch) from from on, for a follower: the entries, and, if a
// compaction purged the log at or after from, the snapshot that replaced them and its position
// (backend.Docs.ReadFrom: the log is read once however often other nodes compact meanwhile).
// deleted reports that epoch is no longer the document's.
func (cs *clusterStore) readTail(ctx context.Context, docID string, epoch, from uint64) (tailRead, error) {
	st, err := cs.docs.ReadFrom(ctx, docID, epoch, from)
	if errors.Is(err, backend.ErrDeleted) {
		return tailRead{deleted: true}, nil
	}
	if err != nil {
		return tailRead{}, err
	}
	r := tailRead{entries: st.Entries}
	if st.Snapshot != nil {
		r.snapshot, r.snapshotSeq = st.Snapshot, st.Meta.SnapshotSeq
	}
	return r, nil
}

// tailRead is what readTail found.
type tailRead struct {
	snapshot    []byte
	snapshotSeq uint64
	entries     []backend.Entry
	deleted     bool
}

// ctlSubject returns the subject of the document's notices.
func (cs *clusterStore) ctlSubject(docID string) string {
	return cs.node.subject("ctl", backend.Key(docID))
}

package backend

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DocMeta is a document's metadata record, stored as JSON under the key "doc.<key>".
type DocMeta struct {
	// Epoch names the document's current log. It starts at 1 and grows by one at each deletion, so
	// that writers still holding the old epoch append to a log nobody reads again.
	Epoch uint64 `json:"epoch"`
	// Deleted marks a tombstone: the document was deleted; Epoch is already the next one.
	Deleted bool `json:"deleted,omitempty"`
	// SnapshotSeq is the log position the snapshot covers (0: no snapshot). The log holds the
	// entries after it.
	SnapshotSeq uint64 `json:"snapshotSeq,omitempty"`
	// Snapshot is the name of the snapshot blob in Snapshots ("" when SnapshotSeq is 0).
	Snapshot string `json:"snapshot,omitempty"`
	// Created is when the current epoch was created.
	Created time.Time `json:"created"`
	// Rev is the metadata record's revision when it was read (not stored).
	Rev uint64 `json:"-"`
}

// State is what a cold load reads: the snapshot and the log entries after it.
type State struct {
	Meta DocMeta
	// Snapshot is nil when Meta.SnapshotSeq is 0.
	Snapshot []byte
	// Entries are the log entries after Meta.SnapshotSeq, oldest first.
	Entries []Entry
}

// maxAttempts bounds the retries of Load, Compact, Delete and Open when the metadata keeps changing.
const maxAttempts = 16

// Docs is tandem's document storage over any backend's Log, Snapshots and Meta. It owns the
// orders that make the three stores safe together: compaction writes the snapshot, then
// compare-and-sets the metadata, then purges the log; deletion moves the metadata to a new epoch
// before it drops anything; a load reads the log, then the snapshot the metadata names after that
// read, with the entries past it.
//
// Every method is safe for concurrent use, from any number of processes sharing the backend.
type Docs struct {
	set Set
	now func() time.Time
}

// NewDocs returns Docs over set. now is the clock for DocMeta.Created; nil means time.Now.
func NewDocs(set Set, now func() time.Time) *Docs {
	if now == nil {
		now = time.Now
	}
	return &Docs{set: set, now: now}
}

// Key returns the form of a document ID used in metadata keys, snapshot names and subjects:
// unpadded base64url, whose alphabet is legal in all of them (a document ID may contain dots).
func Key(doc string) string { return base64.RawURLEncoding.EncodeToString([]byte(doc)) }

func metaKey(doc string) string { return "doc." + Key(doc) }

func bindPrefix(doc string, epoch uint64) string {
	return "bind." + Key(doc) + "." + strconv.FormatUint(epoch, 10) + "."
}

func checkDoc(doc string) error {
	if doc == "" {
		return errors.New("backend: empty document id")
	}
	return nil
}

func (d *Docs) get(ctx context.Context, doc string) (DocMeta, bool, error) {
	v, rev, err := d.set.Meta.Get(ctx, metaKey(doc))
	if errors.Is(err, ErrNotFound) {
		return DocMeta{}, false, nil
	}
	if err != nil {
		return DocMeta{}, false, fmt.Errorf("backend: read metadata of %q: %w", doc, err)
	}
	var m DocMeta
	if err := json.Unmarshal(v, &m); err != nil {
		return DocMeta{}, false, fmt.Errorf("backend: decode metadata of %q: %w", doc, err)
	}
	m.Rev = rev
	return m, true, nil
}

// Stat returns the document's metadata; ok is false if it does not exist or is deleted.
func (d *Docs) Stat(ctx context.Context, doc string) (m DocMeta, ok bool, err error) {
	if err := checkDoc(doc); err != nil {
		return DocMeta{}, false, err
	}
	m, ok, err = d.get(ctx, doc)
	if err != nil || !ok || m.Deleted {
		return DocMeta{}, false, err
	}
	return m, true, nil
}

// Open returns the document's metadata, creating the document (at epoch 1, or at the epoch its
// tombstone holds) if it does not exist.
func (d *Docs) Open(ctx context.Context, doc string) (DocMeta, error) {
	if err := checkDoc(doc); err != nil {
		return DocMeta{}, err
	}
	for range maxAttempts {
		m, ok, err := d.get(ctx, doc)
		if err != nil {
			return DocMeta{}, err
		}
		if ok && !m.Deleted {
			return m, nil
		}
		next := DocMeta{Epoch: 1, Created: d.now().UTC()}
		if ok {
			next.Epoch = m.Epoch
		}
		created, raced, err := d.create(ctx, doc, next, m, ok)
		if raced {
			continue
		}
		return created, err
	}
	return DocMeta{}, fmt.Errorf("backend: create %q: %w", doc, ErrContended)
}

// create writes next as the document's metadata: over old (a tombstone) when there was a record,
// as a new key otherwise. raced reports that another writer changed the record first, so the
// caller reads it again.
func (d *Docs) create(ctx context.Context, doc string, next, old DocMeta, exists bool) (_ DocMeta, raced bool, err error) {
	v, _ := json.Marshal(next)
	if exists {
		next.Rev, err = d.set.Meta.Update(ctx, metaKey(doc), v, old.Rev)
	} else {
		next.Rev, err = d.set.Meta.Create(ctx, metaKey(doc), v)
	}
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrExists) {
		return DocMeta{}, true, nil
	}
	if err != nil {
		return DocMeta{}, false, fmt.Errorf("backend: create %q: %w", doc, err)
	}
	return next, false, nil
}

// OpenEpoch returns the document's metadata if it lives at epoch, creating it there if it does
// not exist and no deletion moved it past epoch (no record and epoch 1, or a tombstone at epoch).
// It returns ErrDeleted if the document's epoch is past epoch: a writer that learnt the epoch
// before a deletion (a load that found no document, then another node created and deleted it)
// must not create the document again from what it still holds, which was meant for the deleted
// one. Open, by contrast, creates the document at whatever epoch its tombstone holds.
func (d *Docs) OpenEpoch(ctx context.Context, doc string, epoch uint64) (DocMeta, error) {
	if err := checkDoc(doc); err != nil {
		return DocMeta{}, err
	}
	if epoch == 0 {
		return DocMeta{}, fmt.Errorf("backend: open %q at epoch 0: no such epoch", doc)
	}
	for range maxAttempts {
		m, ok, err := d.get(ctx, doc)
		if err != nil {
			return DocMeta{}, err
		}
		current := uint64(1)
		if ok {
			current = m.Epoch
		}
		switch {
		case current != epoch:
			return DocMeta{}, fmt.Errorf("backend: open %q at epoch %d, now at %d: %w", doc, epoch, current, ErrDeleted)
		case ok && !m.Deleted:
			return m, nil
		}
		next := DocMeta{Epoch: epoch, Created: d.now().UTC()}
		created, raced, err := d.create(ctx, doc, next, m, ok)
		if raced {
			continue
		}
		return created, err
	}
	return DocMeta{}, fmt.Errorf("backend: create %q: %w", doc, ErrContended)
}

// Append appends data to the document's log at epoch and returns its durable position. It does not
// read the metadata: a writer whose epoch was deleted appends to a log nobody reads, and learns of
// the deletion from the metadata (Stat) or its notification.
func (d *Docs) Append(ctx context.Context, doc string, epoch uint64, data []byte) (uint64, error) {
	if err := checkDoc(doc); err != nil {
		return 0, err
	}
	seq, err := d.set.Log.Append(ctx, doc, epoch, data)
	if err != nil {
		return 0, fmt.Errorf("backend: append to %q epoch %d: %w", doc, epoch, err)
	}
	return seq, nil
}

// Load reads the document's snapshot and the log after it. It returns ErrNotFound if the document
// does not exist or is deleted.
//
// It reads the log once, from the snapshot the metadata names when it starts, and then the
// snapshot the metadata names once that read is done, with the entries read past it (readFrom):
// compactions by other writers while it reads make it read a newer snapshot, never the log again,
// so that it ends however often they come. It starts over only if the document was deleted and
// created again meanwhile.
func (d *Docs) Load(ctx context.Context, doc string) (State, error) {
	if err := checkDoc(doc); err != nil {
		return State{}, err
	}
	for range maxAttempts {
		m, ok, err := d.get(ctx, doc)
		if err != nil {
			return State{}, err
		}
		if !ok || m.Deleted {
			return State{}, fmt.Errorf("backend: load %q: %w", doc, ErrNotFound)
		}
		st, err := d.readFrom(ctx, doc, m, 1)
		if errors.Is(err, ErrDeleted) {
			continue // deleted while it read: found so, or created again, on the next attempt
		}
		if err != nil {
			return State{}, fmt.Errorf("backend: load %q: %w", doc, err)
		}
		return st, nil
	}
	return State{}, fmt.Errorf("backend: load %q: %w", doc, ErrContended)
}

// ReadFrom returns what a replica holding the log (doc, epoch) up to position from-1 lacks: the
// entries from from on; or, if a compaction has folded the log at or past from, the snapshot that
// replaced it (Snapshot, covering the log up to Meta.SnapshotSeq) and the entries after it. Meta is
// the metadata the read settled on. It returns an empty State if the document has not been written
// at epoch yet (no metadata, or a tombstone naming epoch), and ErrDeleted if the document is no
// longer at epoch. Like Load, it reads the log once however often the document is compacted
// meanwhile.
func (d *Docs) ReadFrom(ctx context.Context, doc string, epoch, from uint64) (State, error) {
	if err := checkDoc(doc); err != nil {
		return State{}, err
	}
	m, ok, err := d.get(ctx, doc)
	switch {
	case err != nil:
		return State{}, err
	case !ok && epoch == 1, ok && m.Deleted && m.Epoch == epoch:
		return State{}, nil // not written at epoch yet
	case !ok, m.Deleted, m.Epoch != epoch:
		return State{}, fmt.Errorf("backend: read %q epoch %d: %w", doc, epoch, ErrDeleted)
	}
	st, err := d.readFrom(ctx, doc, m, max(from, 1))
	if err != nil {
		return State{}, fmt.Errorf("backend: read %q: %w", doc, err)
	}
	return st, nil
}

// readFrom reads the log of the live document whose metadata m was read last, from position from
// on, and returns it as ReadFrom does; ErrDeleted if the document left m's epoch meanwhile.
//
// A compaction compare-and-sets the metadata before it purges the log, and snapshot positions
// only grow within an epoch. So once the log has been read, the metadata read next names a
// snapshot at or past every position that a purge could have removed from under the read: the
// entries read past that snapshot are complete, and the snapshot holds the rest. If that snapshot
// is gone when it is read (a newer compaction replaced and deleted it), the newer one is in the
// metadata, and the entries past it are a part of those already read: only the metadata and the
// snapshot are read again, never the log.
func (d *Docs) readFrom(ctx context.Context, doc string, m DocMeta, from uint64) (State, error) {
	start := from
	if m.SnapshotSeq >= from {
		start = m.SnapshotSeq + 1
	}
	entries, err := d.set.Log.Read(ctx, doc, m.Epoch, start, 0)
	if err != nil {
		return State{}, fmt.Errorf("log from %d: %w", start, err)
	}
	for range maxAttempts {
		after, ok, err := d.get(ctx, doc)
		if err != nil {
			return State{}, err
		}
		if !ok || after.Deleted || after.Epoch != m.Epoch {
			return State{}, fmt.Errorf("epoch %d: %w", m.Epoch, ErrDeleted)
		}
		st := State{Meta: after}
		past := from - 1 // the entries returned are those past it
		if after.SnapshotSeq >= from {
			st.Snapshot, err = d.set.Snapshots.Get(ctx, after.Snapshot)
			if errors.Is(err, ErrNotFound) {
				continue // replaced and deleted by a newer compaction since after was read
			}
			if err != nil {
				return State{}, fmt.Errorf("snapshot %s: %w", after.Snapshot, err)
			}
			past = after.SnapshotSeq
		}
		i := 0
		for i < len(entries) && entries[i].Seq <= past {
			i++
		}
		st.Entries = entries[i:]
		return st, nil
	}
	return State{}, ErrContended
}

// Compact stores snapshot as the document's state at log position seq (the caller's snapshot must
// cover every entry up to seq and nothing of a later one), then drops the log below seq+1, in
// the order that makes a crash or a concurrent compaction harmless at every step:
//
//  1. put the snapshot under a new name (a crash leaves an unreferenced blob);
//  2. compare-and-set the metadata to point at it (a lost race deletes the blob and stops, or
//     retries if the winner's snapshot is older);
//  3. purge the log below seq+1 and delete the old snapshot (a crash leaves entries and a blob that
//     are no longer read).
//
// It returns ErrStale if the document already has a snapshot at seq or later, and ErrDeleted if
// epoch is no longer the document's.
func (d *Docs) Compact(ctx context.Context, doc string, epoch, seq uint64, snapshot []byte) error {
	if err := checkDoc(doc); err != nil {
		return err
	}
	if seq == 0 {
		return fmt.Errorf("backend: compact %q at position 0: %w", doc, ErrStale)
	}
	name := ""
	for range maxAttempts {
		m, ok, err := d.get(ctx, doc)
		if err != nil {
			return err
		}
		if !ok || m.Deleted || m.Epoch != epoch {
			d.dropBlob(ctx, name)
			return fmt.Errorf("backend: compact %q epoch %d: %w", doc, epoch, ErrDeleted)
		}
		if m.SnapshotSeq >= seq {
			d.dropBlob(ctx, name)
			return fmt.Errorf("backend: compact %q at %d, snapshot at %d: %w", doc, seq, m.SnapshotSeq, ErrStale)
		}
		if name == "" {
			name = fmt.Sprintf("%s/%d/%d-%s", Key(doc), epoch, seq, rand.Text())
			if err := d.set.Snapshots.Put(ctx, name, snapshot); err != nil {
				return fmt.Errorf("backend: compact %q: put snapshot %s: %w", doc, name, err)
			}
		}
		next := m
		next.SnapshotSeq, next.Snapshot = seq, name
		v, _ := json.Marshal(next)
		if _, err := d.set.Meta.Update(ctx, metaKey(doc), v, m.Rev); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			// Indeterminate: the update may have been stored. Keep the blob, which the
			// metadata may name; an unreferenced blob only costs space.
			return fmt.Errorf("backend: compact %q: update metadata: %w", doc, err)
		}
		if err := d.set.Log.Purge(ctx, doc, epoch, seq+1); err != nil {
			return fmt.Errorf("backend: compact %q: purge below %d (the snapshot is in place): %w", doc, seq+1, err)
		}
		if m.Snapshot != "" {
			if err := d.set.Snapshots.Delete(ctx, m.Snapshot); err != nil {
				return fmt.Errorf("backend: compact %q: delete old snapshot %s (the new one is in place): %w", doc, m.Snapshot, err)
			}
		}
		return nil
	}
	return fmt.Errorf("backend: compact %q: %w", doc, ErrContended)
}

// dropBlob deletes an unreferenced snapshot blob, best effort: one left behind only costs space.
func (d *Docs) dropBlob(ctx context.Context, name string) {
	if name != "" {
		_ = d.set.Snapshots.Delete(ctx, name)
	}
}

// Delete deletes the document: it compare-and-sets the metadata to a tombstone at the next epoch
// first, so that from then on no load reads the old epoch's log and no compaction of it succeeds,
// then drops the old epoch's log, snapshot and bindings. An append still in flight to the old
// epoch lands in a log nobody reads: the document cannot come back. It returns ErrNotFound if the
// document does not exist or is already deleted.
func (d *Docs) Delete(ctx context.Context, doc string) error {
	if err := checkDoc(doc); err != nil {
		return err
	}
	for range maxAttempts {
		m, ok, err := d.get(ctx, doc)
		if err != nil {
			return err
		}
		if !ok || m.Deleted {
			return fmt.Errorf("backend: delete %q: %w", doc, ErrNotFound)
		}
		tomb := DocMeta{Epoch: m.Epoch + 1, Deleted: true, Created: d.now().UTC()}
		v, _ := json.Marshal(tomb)
		if _, err := d.set.Meta.Update(ctx, metaKey(doc), v, m.Rev); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return fmt.Errorf("backend: delete %q: update metadata: %w", doc, err)
		}
		var errs []error
		if err := d.set.Log.Drop(ctx, doc, m.Epoch); err != nil {
			errs = append(errs, fmt.Errorf("drop log: %w", err))
		}
		if m.Snapshot != "" {
			if err := d.set.Snapshots.Delete(ctx, m.Snapshot); err != nil {
				errs = append(errs, fmt.Errorf("delete snapshot %s: %w", m.Snapshot, err))
			}
		}
		keys, err := d.set.Meta.Keys(ctx, bindPrefix(doc, m.Epoch))
		if err != nil {
			errs = append(errs, fmt.Errorf("list bindings: %w", err))
		}
		for _, k := range keys {
			if err := d.set.Meta.Delete(ctx, k); err != nil {
				errs = append(errs, fmt.Errorf("delete binding %s: %w", k, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("backend: delete %q (deleted; clean-up of epoch %d incomplete): %w", doc, m.Epoch, err)
		}
		return nil
	}
	return fmt.Errorf("backend: delete %q: %w", doc, ErrContended)
}

// Bind binds clientID to subject in the document's epoch, once and for all: the first subject to
// bind an ID keeps it, a later bind by the same subject succeeds, and one by another subject
// returns ErrBound. Bindings end with the epoch.
func (d *Docs) Bind(ctx context.Context, doc string, epoch, clientID uint64, subject string) error {
	if err := checkDoc(doc); err != nil {
		return err
	}
	key := bindPrefix(doc, epoch) + strconv.FormatUint(clientID, 10)
	for range maxAttempts {
		_, err := d.set.Meta.Create(ctx, key, []byte(subject))
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrExists) {
			return fmt.Errorf("backend: bind %q client %d: %w", doc, clientID, err)
		}
		v, _, err := d.set.Meta.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			continue // deleted in between (the epoch's clean-up); try again
		}
		if err != nil {
			return fmt.Errorf("backend: bind %q client %d: %w", doc, clientID, err)
		}
		if string(v) != subject {
			return fmt.Errorf("backend: bind %q client %d: %w", doc, clientID, ErrBound)
		}
		return nil
	}
	return fmt.Errorf("backend: bind %q client %d: %w", doc, clientID, ErrContended)
}

// List returns the IDs of the existing documents, in no particular order.
func (d *Docs) List(ctx context.Context) ([]string, error) {
	keys, err := d.set.Meta.Keys(ctx, "doc.")
	if err != nil {
		return nil, fmt.Errorf("backend: list: %w", err)
	}
	var ids []string
	for _, k := range keys {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(k, "doc."))
		if err != nil {
			continue // not a key of ours
		}
		if _, ok, err := d.Stat(ctx, string(raw)); err != nil {
			return nil, err
		} else if ok {
			ids = append(ids, string(raw))
		}
	}
	return ids, nil
}

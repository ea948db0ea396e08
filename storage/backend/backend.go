package backend

import (
	"context"
	"errors"
)

// Sentinel errors. Implementations return them wrapped; test for them with errors.Is.
var (
	// ErrNotFound is returned for a snapshot, a metadata key or a document that does not exist (a
	// deleted document does not exist).
	ErrNotFound = errors.New("not found")

	// ErrExists is returned by Meta.Create when the key already has a value.
	ErrExists = errors.New("key exists")

	// ErrConflict is returned by Meta.Update when the key's revision is no longer the one given:
	// another writer got there first.
	ErrConflict = errors.New("revision conflict")

	// ErrDeleted is returned when an operation names an epoch of a document that has since been
	// deleted (or deleted and created again): its writer holds a fenced-off epoch.
	ErrDeleted = errors.New("document deleted")

	// ErrStale is returned by Docs.Compact when the document already has a snapshot at the same
	// position or a later one; nothing was changed.
	ErrStale = errors.New("snapshot not newer than the current one")

	// ErrBound is returned by Docs.Bind when the client ID is bound to another subject.
	ErrBound = errors.New("client id bound to another subject")

	// ErrContended is returned by the methods of Docs when the document's metadata kept changing
	// under them for all their attempts; the caller may retry later.
	ErrContended = errors.New("metadata kept changing")
)

// Entry is one entry of a document's log.
type Entry struct {
	// Seq is the entry's position: durable, greater than every earlier entry's of the same log, and
	// never 0. Positions of one log need not be contiguous (JetStream's are stream-wide).
	Seq uint64
	// Data is the appended bytes, owned by the caller.
	Data []byte
	// Foreign marks an entry that no tandem node appended: a JetStream log is a subject that
	// anything with publish rights on it can write to. A node applies a foreign entry within its
	// limits and skips it when it would pass them; a node's own entries were accepted within the
	// limits of the node that appended them, and every node applies them.
	Foreign bool
}

// Log is the per-document update log. A log is named by a document ID and an epoch: the logs of one
// document's epochs are separate, so an append to a deleted epoch never shows in a later one.
//
// Every method is safe for concurrent use.
type Log interface {
	// Append stores data as the newest entry of the log (doc, epoch) and returns its position. It
	// returns only once the entry is durable; on error the entry may or may not have been stored
	// (indeterminate, as with any database), but it was not acknowledged. Appending the same bytes to
	// the same log again within a short window (JetStream: the stream's duplicate window) may return
	// the first append's position instead of storing a second copy; entries are CRDT updates, so
	// applying one twice changes nothing.
	Append(ctx context.Context, doc string, epoch uint64, data []byte) (uint64, error)

	// Read returns the entries of the log (doc, epoch) whose positions lie in [from, to], oldest
	// first; to == 0 means no upper bound. The entries returned are gapless: no entry in that
	// range is left out between two that are returned. An empty or absent log gives no entries and no error.
	Read(ctx context.Context, doc string, epoch, from, to uint64) ([]Entry, error)

	// Purge removes the entries of the log (doc, epoch) whose positions are below below.
	Purge(ctx context.Context, doc string, epoch, below uint64) error

	// Drop removes every entry of the log (doc, epoch).
	Drop(ctx context.Context, doc string, epoch uint64) error
}

// Snapshots stores named blobs: a document's snapshots. A name is written once and never
// rewritten (Docs makes names unique).
//
// Every method is safe for concurrent use.
type Snapshots interface {
	// Put stores data under name, durably, replacing any earlier value.
	Put(ctx context.Context, name string, data []byte) error
	// Get returns the blob stored under name, or ErrNotFound.
	Get(ctx context.Context, name string) ([]byte, error)
	// Delete removes the blob stored under name; deleting an absent name is not an error.
	Delete(ctx context.Context, name string) error
}

// Meta is a small key-value store with compare-and-set: documents' metadata and client-ID bindings.
// Keys are dot-separated tokens of [A-Za-z0-9_-]. Revisions increase with every write of a key and
// are never 0.
//
// Every method is safe for concurrent use.
type Meta interface {
	// Get returns the key's value and revision, or ErrNotFound. It reads the latest committed
	// value (never a lagging replica's), so that a compare-and-set decided on it is current.
	Get(ctx context.Context, key string) (value []byte, rev uint64, err error)
	// Create sets the key if it has no value (or was deleted), or returns ErrExists.
	Create(ctx context.Context, key string, value []byte) (rev uint64, err error)
	// Update sets the key if its revision is still rev, or returns ErrConflict.
	Update(ctx context.Context, key string, value []byte, rev uint64) (newRev uint64, err error)
	// Delete removes the key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Keys returns the keys that start with prefix, which must end with a dot, in no particular order.
	Keys(ctx context.Context, prefix string) ([]string, error)
}

// Set is one backend's three stores.
type Set struct {
	Log       Log
	Snapshots Snapshots
	Meta      Meta
}

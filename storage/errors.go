package storage

import "errors"

// Sentinel errors. They are always returned wrapped, in a message that starts with "storage:", the
// operation and what the caller lacks (path, document ID, sequence number); test for them with
// errors.Is.
var (
	// ErrClosed is returned (or passed to an append's done) after Close.
	ErrClosed = errors.New("store closed")

	// ErrLocked is returned by Open when another process holds the file lock for longer than
	// Options.LockTimeout. Only one process may open a store at a time.
	ErrLocked = errors.New("database file is locked by another process")

	// ErrSchemaTooNew is returned by Open when the file was written by a newer build whose schema
	// version this build does not know. The file is left untouched.
	ErrSchemaTooNew = errors.New("schema version is newer than this build")

	// ErrCorrupt is returned when stored bytes break the layout or an invariant (see Check).
	ErrCorrupt = errors.New("corrupt data")

	// ErrInvalidDocID is returned for a document ID that is empty or longer than MaxDocIDBytes.
	ErrInvalidDocID = errors.New("invalid document id")

	// ErrInvalidKey is returned for a document metadata key that is empty or longer than
	// MaxDocMetaKeyBytes.
	ErrInvalidKey = errors.New("invalid metadata key")

	// ErrTooLarge is returned for a value longer than MaxValueBytes.
	ErrTooLarge = errors.New("value too large")

	// ErrSeqOutOfRange is returned by Compact when uptoSeq lies beyond the document's last sequence
	// number or behind the position its current snapshot already covers.
	ErrSeqOutOfRange = errors.New("sequence number out of range")

	// ErrNeedsReplay is returned by CompactFile for a store whose write-ahead log holds appends
	// that the bbolt file lacks (the store was not closed cleanly): Open writes them in.
	ErrNeedsReplay = errors.New("write-ahead log not replayed")
)

package storage

import "errors"

// Sentinel errors. Returned errors wrap them with the document ID, sequence number or path the caller
// lacks; test for them with errors.Is.
var (
	// ErrClosed is returned (or passed to an append's done) after Close.
	ErrClosed = errors.New("storage: store closed")

	// ErrLocked is returned by Open when another process holds the file lock for longer than
	// Options.LockTimeout. Only one process may open a store at a time.
	ErrLocked = errors.New("storage: database file is locked by another process")

	// ErrSchemaTooNew is returned by Open when the file was written by a newer build whose schema
	// version this build does not know. The file is left untouched.
	ErrSchemaTooNew = errors.New("storage: schema version is newer than this build")

	// ErrCorrupt is returned when stored bytes break the layout or an invariant (see Check).
	ErrCorrupt = errors.New("storage: corrupt data")

	// ErrInvalidDocID is returned for a document ID that is empty or longer than MaxDocIDBytes.
	ErrInvalidDocID = errors.New("storage: invalid document id")

	// ErrInvalidKey is returned for a document metadata key that is empty or longer than
	// MaxDocMetaKeyBytes.
	ErrInvalidKey = errors.New("storage: invalid metadata key")

	// ErrTooLarge is returned for a value longer than MaxValueBytes.
	ErrTooLarge = errors.New("storage: value too large")

	// ErrSeqOutOfRange is returned by Compact when uptoSeq lies beyond the document's last sequence
	// number or behind the position its current snapshot already covers.
	ErrSeqOutOfRange = errors.New("storage: sequence number out of range")
)

package server

import "github.com/tandemhq/tandem/storage"

// docStore is what the server needs of storage.Store. Tests wrap a real store to slow down or fail
// its callbacks; production uses *storage.Store itself.
type docStore interface {
	Load(docID string) (storage.DocState, bool, error)
	Stat(docID string) (storage.Meta, bool, error)
	List(after string, limit int) ([]storage.DocInfo, error)
	Append(docID string, data []byte, done func(seq uint64, err error))
	CompactAsync(docID string, snapshot []byte, uptoSeq uint64, done func(error))
	PutDocMetaAsync(docID, key string, value []byte, done func(error))
	Delete(docID string) error
	Close() error
}

var _ docStore = (*storage.Store)(nil)

package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemhq/tandem/storage/backend"
)

// The storage contract's buckets (doc.go, Layout): all inside one top-level bucket, created by the
// first write through Contract, so that a file never used that way has none of them.
var (
	bucketContract = []byte("contract") // top level
	bucketCLogs    = []byte("logs")     // in contract: one bucket per log, "<key>.<epoch>"
	bucketCBlobs   = []byte("blobs")    // in contract: snapshot name -> blob
	bucketCMeta    = []byte("meta")     // in contract: key -> 8-byte big-endian revision, value
	keyCPosition   = []byte("position") // in contract: the last log position handed out
	keyCRevision   = []byte("revision") // in contract: the last metadata revision handed out
)

// Contract returns the store as the three stores of the storage contract (storage/backend): a Log
// whose positions come from one counter shared by all logs, Snapshots as whole blobs, and Meta with
// compare-and-set, whose revisions come from another counter. They live in buckets of their own
// beside the documents that Append, Load and Compact keep; the two never see each other's data.
//
// Every write goes through the store's group-commit writer, folded into the transaction that
// commits the appends queued with it, and returns once that transaction is durable (or has
// failed). Reads run in read-only transactions in the caller's goroutine. A canceled context
// fails a call before it is queued; a write whose context ends while it waits returns the
// context's error and may still be committed (indeterminate, as the contract allows).
func (s *Store) Contract() backend.Set {
	c := &contract{s: s}
	return backend.Set{Log: contractLog{c}, Snapshots: contractSnapshots{c}, Meta: contractMeta{c}}
}

type contract struct{ s *Store }

// write runs fn inside the next group commit and waits for its commit, or for ctx.
func (c *contract) write(ctx context.Context, what string, size int, fn func(cb *bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: %s: %w", what, err)
	}
	ch := make(chan error, 1)
	c.s.writeFolded(what, size, func(b *batchTx) error {
		cb, err := b.tx.CreateBucketIfNotExists(bucketContract)
		if err != nil {
			return err
		}
		if err := fn(cb); err != nil {
			return err
		}
		b.changed = true
		return nil
	}, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("storage: %s: %w (the write may still be committed)", what, ctx.Err())
	}
}

// view runs fn with the contract bucket, which is nil until the first write.
func (c *contract) view(ctx context.Context, fn func(cb *bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.view(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketContract)) })
}

// next increments the counter under key and returns its new value.
func next(cb *bolt.Bucket, key []byte) (uint64, error) {
	n := uint64(0)
	if v := cb.Get(key); v != nil {
		if len(v) != 8 {
			return 0, fmt.Errorf("%w: counter %q is %d bytes", ErrCorrupt, key, len(v))
		}
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, cb.Put(key, binary.BigEndian.AppendUint64(nil, n))
}

func logBucketName(doc string, epoch uint64) []byte {
	return []byte(backend.Key(doc) + "." + strconv.FormatUint(epoch, 10))
}

// subBucket returns the bucket name inside cb, or nil if cb or it does not exist.
func subBucket(cb *bolt.Bucket, name []byte) *bolt.Bucket {
	if cb == nil {
		return nil
	}
	return cb.Bucket(name)
}

type contractLog struct{ c *contract }

// Append stores data as the newest entry of the log (doc, epoch), at the next position of the
// store-wide counter.
func (l contractLog) Append(ctx context.Context, doc string, epoch uint64, data []byte) (uint64, error) {
	what := fmt.Sprintf("append to %q epoch %d", doc, epoch)
	if len(data) > MaxValueBytes {
		return 0, fmt.Errorf("storage: %s: %w: %d bytes (max %d)", what, ErrTooLarge, len(data), MaxValueBytes)
	}
	data = clone(data)
	if data == nil {
		data = []byte{}
	}
	var seq uint64
	err := l.c.write(ctx, what, len(data), func(cb *bolt.Bucket) error {
		logs, err := cb.CreateBucketIfNotExists(bucketCLogs)
		if err != nil {
			return err
		}
		lb, err := logs.CreateBucketIfNotExists(logBucketName(doc, epoch))
		if err != nil {
			return err
		}
		lb.FillPercent = 0.95 // appends go to the end
		if seq, err = next(cb, keyCPosition); err != nil {
			return err
		}
		return lb.Put(seqKey(seq), data)
	})
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// Read returns the entries of the log (doc, epoch) in [from, to] (to == 0: no bound).
func (l contractLog) Read(ctx context.Context, doc string, epoch, from, to uint64) ([]backend.Entry, error) {
	var out []backend.Entry
	err := l.c.view(ctx, func(cb *bolt.Bucket) error {
		lb := subBucket(subBucket(cb, bucketCLogs), logBucketName(doc, epoch))
		if lb == nil {
			return nil
		}
		c := lb.Cursor()
		for k, v := c.Seek(seqKey(from)); k != nil; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if to != 0 && seq > to {
				break
			}
			out = append(out, backend.Entry{Seq: seq, Data: append([]byte{}, v...)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: read %q epoch %d: %w", doc, epoch, err)
	}
	return out, nil
}

// Purge removes the entries of the log (doc, epoch) below below.
func (l contractLog) Purge(ctx context.Context, doc string, epoch, below uint64) error {
	return l.c.write(ctx, fmt.Sprintf("purge %q epoch %d below %d", doc, epoch, below), 0, func(cb *bolt.Bucket) error {
		lb := subBucket(subBucket(cb, bucketCLogs), logBucketName(doc, epoch))
		if lb == nil {
			return nil
		}
		c := lb.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < below; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Drop removes the log (doc, epoch).
func (l contractLog) Drop(ctx context.Context, doc string, epoch uint64) error {
	return l.c.write(ctx, fmt.Sprintf("drop %q epoch %d", doc, epoch), 0, func(cb *bolt.Bucket) error {
		logs := subBucket(cb, bucketCLogs)
		if logs == nil {
			return nil
		}
		err := logs.DeleteBucket(logBucketName(doc, epoch))
		if errors.Is(err, bolt.ErrBucketNotFound) {
			return nil
		}
		return err
	})
}

type contractSnapshots struct{ c *contract }

// Put stores data under name, replacing any earlier value.
func (s contractSnapshots) Put(ctx context.Context, name string, data []byte) error {
	what := "put snapshot " + name
	if len(data) > MaxValueBytes {
		return fmt.Errorf("storage: %s: %w: %d bytes (max %d)", what, ErrTooLarge, len(data), MaxValueBytes)
	}
	if name == "" {
		return fmt.Errorf("storage: %s: %w: empty name", what, ErrInvalidKey)
	}
	data = clone(data)
	if data == nil {
		data = []byte{}
	}
	return s.c.write(ctx, what, len(data), func(cb *bolt.Bucket) error {
		blobs, err := cb.CreateBucketIfNotExists(bucketCBlobs)
		if err != nil {
			return err
		}
		return blobs.Put([]byte(name), data)
	})
}

// Get returns the blob stored under name, or backend.ErrNotFound.
func (s contractSnapshots) Get(ctx context.Context, name string) ([]byte, error) {
	var out []byte
	err := s.c.view(ctx, func(cb *bolt.Bucket) error {
		blobs := subBucket(cb, bucketCBlobs)
		if blobs == nil {
			return backend.ErrNotFound
		}
		v := blobs.Get([]byte(name))
		if v == nil {
			return backend.ErrNotFound
		}
		out = append([]byte{}, v...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: get snapshot %s: %w", name, err)
	}
	return out, nil
}

// Delete removes the blob stored under name.
func (s contractSnapshots) Delete(ctx context.Context, name string) error {
	return s.c.write(ctx, "delete snapshot "+name, 0, func(cb *bolt.Bucket) error {
		blobs := subBucket(cb, bucketCBlobs)
		if blobs == nil || name == "" {
			return nil
		}
		return blobs.Delete([]byte(name))
	})
}

type contractMeta struct{ c *contract }

// decodeRev splits a stored metadata value into its revision and value.
func decodeRev(key string, v []byte) (uint64, []byte, error) {
	if len(v) < 8 {
		return 0, nil, fmt.Errorf("%w: metadata %s is %d bytes", ErrCorrupt, key, len(v))
	}
	return binary.BigEndian.Uint64(v[:8]), v[8:], nil
}

// Get returns the key's value and revision, or backend.ErrNotFound.
func (m contractMeta) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	var value []byte
	var rev uint64
	err := m.c.view(ctx, func(cb *bolt.Bucket) error {
		mb := subBucket(cb, bucketCMeta)
		if mb == nil {
			return backend.ErrNotFound
		}
		v := mb.Get([]byte(key))
		if v == nil {
			return backend.ErrNotFound
		}
		r, val, err := decodeRev(key, v)
		if err != nil {
			return err
		}
		rev, value = r, append([]byte{}, val...)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("storage: get %s: %w", key, err)
	}
	return value, rev, nil
}

// set writes value under key at a new revision if check allows it; check gets the stored value
// (nil if none) and returns a refusal to leave the key alone.
func (m contractMeta) set(ctx context.Context, what, key string, value []byte, check func(old []byte) error) (uint64, error) {
	if key == "" || len(key) > MaxDocMetaKeyBytes {
		return 0, fmt.Errorf("storage: %s: %w: %d bytes", what, ErrInvalidKey, len(key))
	}
	if len(value)+8 > MaxValueBytes {
		return 0, fmt.Errorf("storage: %s: %w: %d bytes (max %d)", what, ErrTooLarge, len(value), MaxValueBytes-8)
	}
	// The stored form is built now: the caller may reuse value once a canceled call returns.
	stored := append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(value)), 0), value...)
	var rev uint64
	err := m.c.write(ctx, what, len(value), func(cb *bolt.Bucket) error {
		mb, err := cb.CreateBucketIfNotExists(bucketCMeta)
		if err != nil {
			return err
		}
		if err := check(mb.Get([]byte(key))); err != nil {
			return err
		}
		if rev, err = next(cb, keyCRevision); err != nil {
			return err
		}
		binary.BigEndian.PutUint64(stored, rev)
		return mb.Put([]byte(key), stored)
	})
	if err != nil {
		return 0, err
	}
	return rev, nil
}

// Create sets the key if it has no value, or returns backend.ErrExists.
func (m contractMeta) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	return m.set(ctx, "create "+key, key, value, func(old []byte) error {
		if old != nil {
			return refusal{backend.ErrExists}
		}
		return nil
	})
}

// Update sets the key if its revision is still rev, or returns backend.ErrConflict.
func (m contractMeta) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	what := fmt.Sprintf("update %s at revision %d", key, rev)
	return m.set(ctx, what, key, value, func(old []byte) error {
		if old == nil {
			return refusal{backend.ErrConflict}
		}
		r, _, err := decodeRev(key, old)
		if err != nil {
			return refusal{err}
		}
		if r != rev {
			return refusal{backend.ErrConflict}
		}
		return nil
	})
}

// Delete removes the key.
func (m contractMeta) Delete(ctx context.Context, key string) error {
	return m.c.write(ctx, "delete "+key, 0, func(cb *bolt.Bucket) error {
		mb := subBucket(cb, bucketCMeta)
		if mb == nil {
			return nil
		}
		return mb.Delete([]byte(key))
	})
}

// Keys returns the keys that start with prefix.
func (m contractMeta) Keys(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	err := m.c.view(ctx, func(cb *bolt.Bucket) error {
		mb := subBucket(cb, bucketCMeta)
		if mb == nil {
			return nil
		}
		c := mb.Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, _ = c.Next() {
			keys = append(keys, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: keys %s: %w", prefix, err)
	}
	return keys, nil
}

package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// compactTxBytes bounds the bytes CompactFile copies in one transaction of the new file, and so
// the memory the copy holds.
const compactTxBytes = 64 << 20

// CompactFile copies the store at src into a new file at dst that holds only live pages: what
// compaction and deletion freed in src, and the slack of its page splits, is left behind. bbolt
// never returns freed space to the file system, so this is how a file that once grew large (a
// burst of writing, a deleted document) becomes small again. It is an offline tool: src must not
// be open in any process (a server holding it makes CompactFile fail with ErrLocked after
// lockTimeout; zero means 1 s), and dst must not exist. The copy is fsynced, and so is dst's
// directory, and it must pass the checks of Check before CompactFile returns (else it is removed);
// src is not changed. It returns the sizes of both files. A store whose write-ahead log still
// holds appends (a crash) is refused with ErrNeedsReplay: Open it once first.
//
// A file of an older schema is copied as it is, and migrated by the next Open.
func CompactFile(src, dst string, lockTimeout time.Duration) (srcBytes, dstBytes int64, err error) {
	if lockTimeout <= 0 {
		lockTimeout = defaultLockTimeout
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			err = fs.ErrExist
		}
		return 0, 0, fmt.Errorf("storage: compact %s into %s: %w", src, dst, err)
	}
	if _, err := os.Stat(src); err != nil {
		return 0, 0, fmt.Errorf("storage: compact %s: %w", src, err)
	}
	in, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return 0, 0, fmt.Errorf("storage: compact %s: %w (gave up after %v)", src, ErrLocked, lockTimeout)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("storage: compact %s: %w", src, err)
	}
	defer func() { _ = in.Close() }()
	// Appends acknowledged from the write-ahead log and not yet in bbolt would be left behind:
	// a store closed cleanly leaves its log empty, and Open replays one that is not.
	if n, err := loggedRecords(src); err != nil || n > 0 {
		if err == nil {
			err = fmt.Errorf("%w: its write-ahead log holds %d appends; open the store once (tandem serve) to write them into the file", ErrNeedsReplay, n)
		}
		return 0, 0, fmt.Errorf("storage: compact %s: %w", src, err)
	}
	err = in.View(func(tx *bolt.Tx) error {
		empty, err := checkSchema(tx)
		if err == nil && empty {
			err = fmt.Errorf("%w: no schema", ErrCorrupt)
		}
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("storage: compact %s: %w", src, err)
	}

	out, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: lockTimeout, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return 0, 0, fmt.Errorf("storage: compact %s into %s: %w", src, dst, err)
	}
	err = bolt.Compact(out, in, compactTxBytes)
	var used int64
	if err == nil {
		err = out.View(func(tx *bolt.Tx) error {
			used = tx.Size()
			return nil
		})
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// bbolt grows a file ahead of its data (to its memory map's size while small, then growBytes
		// at a time); pages past the last one in use hold nothing, and the next Open maps the file
		// whatever its length.
		err = truncateSync(dst, used)
	}
	if err == nil {
		err = syncDir(filepath.Dir(dst))
	}
	if err == nil {
		err = checkFile(dst, lockTimeout)
	}
	if err != nil {
		_ = os.Remove(dst)
		return 0, 0, fmt.Errorf("storage: compact %s into %s: %w", src, dst, err)
	}
	return fileSize(src), fileSize(dst), nil
}

// checkFile runs the checks of Check on the store at path, read-only: bbolt's, and the layout's
// when the file is of the current schema (an older one is checked by Open's migration).
func checkFile(path string, lockTimeout time.Duration) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		var version uint64
		if v := tx.Bucket(bucketMeta).Get(keySchema); len(v) == 8 {
			version = binary.BigEndian.Uint64(v)
		}
		if problems := checkTx(tx, version == SchemaVersion); len(problems) > 0 {
			return fmt.Errorf("check: %w: %w", ErrCorrupt, errors.Join(problems...))
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// fileSize returns the size of the file at path, or -1 if it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// truncateSync cuts the file at path to size bytes and fsyncs it.
func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

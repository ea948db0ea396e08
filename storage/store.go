package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version this build writes and reads. Open refuses a file with a larger
// version (ErrSchemaTooNew) and migrates one with a smaller version. Bump it, and teach Open to
// migrate, whenever the bucket layout or an encoding changes.
//
// Version 3 stores snapshots in chunks two of which fill a page, and reads chunks of any size;
// version 2 wrote (and its Check required) 32 KiB chunks, version 1 one value per snapshot
// (snapshot.go). A version 2 file needs no change to be read as version 3: Open only raises its
// version, so that a build that would find the new chunks corrupt refuses the file instead.
const SchemaVersion = 3

// Limits on what the store accepts. Longer input is refused before it reaches a transaction, so it
// can never fail a batch of other documents' appends.
const (
	// MaxDocIDBytes is the longest document ID the store accepts.
	MaxDocIDBytes = 1024
	// MaxDocMetaKeyBytes is the longest document metadata key the store accepts.
	MaxDocMetaKeyBytes = 1024
	// MaxValueBytes is the longest log entry, snapshot or metadata value (bbolt's own limit).
	MaxValueBytes = bolt.MaxValueSize
)

// Defaults for zero Options fields.
const (
	defaultLockTimeout = time.Second
	defaultMaxBatch    = 1 << 16
	// maxBatchBytes bounds the data of the appends one commit takes (a batch takes at least one
	// append whatever its size): the transaction holds them in memory until it commits.
	maxBatchBytes          = 64 << 20
	defaultInitialMmapSize = 256 << 20
	// growBytes is how far bbolt grows the file past what a commit needs (bbolt's default is
	// 16 MiB). Each growth costs a truncate and an fsync, once per MiB the file grows (every few
	// seconds at most under heavy writing, and never once the file holds its steady size); in
	// exchange a file stays within 1 MiB of its high-water mark instead of 16 (or 4, this
	// store's step before), which for a document of a few MiB is a large part of the file.
	growBytes = 1 << 20
)

// Bucket and key names: the whole layout (see doc.go).
var (
	bucketMeta = []byte("meta")      // schema version
	keySchema  = []byte("schema")    // 8-byte big-endian SchemaVersion
	keyMigrate = []byte("migrating") // present while Open moves documents to the current layout
	bucketDocs = []byte("docs")      // one sub-bucket per document, named by its ID
	keyDocMeta = []byte("meta")      // in a document bucket: encoded Meta
	bucketLog  = []byte("log")       // in a document bucket: 8-byte big-endian seq -> entry
	bucketKV   = []byte("kv")        // in a document bucket: the caller's metadata key -> value
	// The snapshot's bucket and its schema 1 key: snapshot.go.
)

// Options configures Open. The zero value is a sensible production configuration.
type Options struct {
	// LockTimeout is how long Open waits for the file lock; zero means 1 s. A file held by another
	// process fails with ErrLocked (wrapped, message names the path) instead of hanging.
	LockTimeout time.Duration

	// MaxBatch is the most appends one commit takes; zero means 65,536. A commit also takes at
	// most 64 MiB of appended data. Both bounds are far above what queues between two commits in
	// normal work: a lower one would split the backlog after a slow fsync into several commits,
	// each paying its own fsyncs while the queue grows behind it.
	MaxBatch int

	// MaxBatchDelay is how long the writer may wait to gather more appends after the first one
	// arrives; zero means no wait: a commit starts as soon as the previous one is done, and whatever
	// queued during it forms the next batch (natural batching under load).
	MaxBatchDelay time.Duration

	// NoSync skips fsync on commit. THIS IS UNSAFE: an acknowledged append can be lost, and the file
	// corrupted, by a power loss or an operating system crash. For tests only.
	NoSync bool

	// Now is the clock for the times in Meta; nil means time.Now.
	Now func() time.Time

	// NoWriteAheadLog commits every group of appends straight into bbolt: two fdatasyncs of
	// scattered pages on the path of every acknowledgement, instead of one of a sequential append
	// to the write-ahead log (wal.go). The guarantee is the same either way; a store opened
	// without the log first replays one left by an earlier Open.
	NoWriteAheadLog bool

	// ObserveSync, if set, is called by the writer after each group of appends it made durable,
	// with how long the write and its sync took and how many appends the group held: the disk's
	// share of an append's wait, the rest being the queue. It must be quick and must not call
	// the store.
	ObserveSync func(took time.Duration, appends int)

	// ObserveApply, if set, is called after each commit that writes the write-ahead log's
	// groups into bbolt (apply.go), with how long it took. It must be quick and must not call
	// the store.
	ObserveApply func(took time.Duration)

	// InitialMmapBytes is the size of the initial memory map of the file; zero means 256 MiB. It is
	// address space, not memory or disk: the file grows with its data. While the file fits in the
	// map, a commit never has to remap it, and a remap is the one thing that makes the writer wait
	// for open read transactions (Load, List, Stat, Check).
	InitialMmapBytes int
}

// Store is a tandem database: one bbolt file holding every document's snapshot, update log and
// metadata, with one writer goroutine that commits appends in groups.
//
// All methods are safe for concurrent use. Writes (Append, Compact, Delete, PutDocMeta) go through
// the writer in call order; reads (Load, Stat, List, GetDocMeta) run in the caller's goroutine in
// read-only transactions and see what has committed.
type Store struct {
	db            *bolt.DB
	path          string
	now           func() time.Time
	maxBatch      int
	maxBatchDelay time.Duration
	maxBatchBytes int // maxBatchBytes; tests lower it before the first write
	observeSync   func(time.Duration, int)
	observeApply  func(time.Duration)

	mu      sync.Mutex
	queue   []*request // appends and other writes, in call order; guarded by mu
	closed  bool       // guarded by mu
	wake    chan struct{}
	stopped chan struct{}

	closeOnce sync.Once
	closeErr  error

	commits       atomic.Uint64
	failedCommits atomic.Uint64
	appends       atomic.Uint64
	failedAppends atomic.Uint64
	ops           atomic.Uint64
	maxBatchSeen  atomic.Int64
	storeCommits  atomic.Uint64

	// The write-ahead log and its applier (wal.go, apply.go); wal is nil with
	// Options.NoWriteAheadLog.
	wal     *wal
	seqMu   sync.Mutex
	lastSeq map[string]pendingSeq // per document with entries not yet in bbolt; guarded by seqMu
	groupNo uint64                // the writer's: groups handed to the applier

	amu         sync.Mutex
	acond       *sync.Cond // signalled when applied grows or broken is set
	groups      []group    // handed to the applier, not yet taken; guarded by amu
	handed      uint64     // groups handed to the applier; guarded by amu
	applied     uint64     // groups the applier is done with; guarded by amu
	broken      error      // set once the store can take no more writes; guarded by amu
	applyStop   bool       // guarded by amu
	applyWake   chan struct{}
	applyHurry  chan struct{}
	applierDone chan struct{}

	hooks testHooks
}

// testHooks are failure points for tests. They are set only by tests in this package, before the
// first write, and read only by the writer and applier goroutines.
type testHooks struct {
	// beforeApply runs on the applier before it writes groups into bbolt.
	beforeApply func()
	// beforeCommit runs inside the append transaction after the entries are written; an error rolls
	// the transaction back.
	beforeCommit func() error
	// afterCommit runs after an append transaction committed and before any done is called.
	afterCommit func()
	// beforeCompactCommit runs inside the compaction transaction after the old entries are deleted
	// and the snapshot written; an error rolls the transaction back.
	beforeCompactCommit func() error
	// ackBeforeCommit, when positive, breaks the durability contract on purpose: the writer calls
	// every done inside the transaction and then waits this long before committing. Crash tests use
	// it to prove that they detect loss.
	ackBeforeCommit time.Duration
}

// Stats counts the writer's work since Open.
type Stats struct {
	// Commits counts group-commit transactions that committed (each holds one or more appends,
	// compactions and metadata puts).
	Commits uint64
	// FailedCommits counts group-commit transactions that failed and rolled back.
	FailedCommits uint64
	// Appends counts acknowledged appends (done called with a nil error).
	Appends uint64
	// FailedAppends counts appends whose done got an error.
	FailedAppends uint64
	// Ops counts other committed writes: compactions, deletions, metadata puts and the storage
	// contract's writes (Contract).
	Ops uint64
	// StoreCommits counts the bbolt commits that wrote the write-ahead log's groups and the
	// folded writes behind the acknowledgements (zero with Options.NoWriteAheadLog, where every
	// commit is a bbolt commit).
	StoreCommits uint64
	// MaxBatch is the largest number of appends committed in one transaction.
	MaxBatch int
	// Queued is the number of writes waiting for the writer now.
	Queued int
}

// Open opens or creates the store at path. A new file gets the schema in one commit and its
// directory is fsynced, so that a crash right after Open cannot leave a file without a schema or no
// file at all.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout < 0 || opts.MaxBatch < 0 || opts.MaxBatchDelay < 0 || opts.InitialMmapBytes < 0 {
		return nil, fmt.Errorf("storage: open %s: negative option", path)
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = defaultLockTimeout
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = defaultMaxBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.InitialMmapBytes == 0 {
		opts.InitialMmapBytes = defaultInitialMmapSize
	}

	_, err := os.Stat(path)
	fresh := errors.Is(err, fs.ErrNotExist)

	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         opts.LockTimeout,
		InitialMmapSize: opts.InitialMmapBytes,
		// The hashmap freelist stays fast when deletions by compaction fragment the file.
		FreelistType: bolt.FreelistMapType,
		NoSync:       opts.NoSync,
		// A commit writes no freelist; Open rebuilds it (doc.go, Group commit).
		NoFreelistSync: true,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("storage: open %s: %w (gave up after %v)", path, ErrLocked, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	db.AllocSize = growBytes
	if err := initSchema(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	if fresh && !opts.NoSync {
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("storage: open %s: %w", path, err)
		}
	}

	s := &Store{
		db:            db,
		path:          path,
		now:           opts.Now,
		maxBatch:      opts.MaxBatch,
		maxBatchDelay: opts.MaxBatchDelay,
		maxBatchBytes: maxBatchBytes,
		observeSync:   opts.ObserveSync,
		observeApply:  opts.ObserveApply,
		wake:          make(chan struct{}, 1),
		stopped:       make(chan struct{}),
	}
	if err := s.openLog(opts); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	go s.run()
	return s, nil
}

// initSchema checks the schema version of an existing file, migrating an older one, or creates the
// layout in one commit in a file that has no bucket yet (a new file, or one whose first commit never
// happened).
func initSchema(db *bolt.DB) error {
	var empty, migrating bool
	var version uint64
	err := db.View(func(tx *bolt.Tx) error {
		var err error
		empty, err = checkSchema(tx)
		if err != nil || empty {
			return err
		}
		mb := tx.Bucket(bucketMeta)
		version = binary.BigEndian.Uint64(mb.Get(keySchema))
		migrating = mb.Get(keyMigrate) != nil
		return nil
	})
	if err != nil {
		return err
	}
	if !empty {
		if version < SchemaVersion || migrating {
			return migrate(db)
		}
		return nil
	}
	return db.Update(func(tx *bolt.Tx) error {
		if empty, err := checkSchema(tx); err != nil || !empty {
			return err
		}
		mb, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := mb.Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion)); err != nil {
			return err
		}
		_, err = tx.CreateBucket(bucketDocs)
		return err
	})
}

// checkSchema reports whether tx sees a file without any bucket, or else whether it holds a layout
// this build can read.
func checkSchema(tx *bolt.Tx) (empty bool, err error) {
	mb := tx.Bucket(bucketMeta)
	if mb == nil {
		if k, _ := tx.Cursor().First(); k != nil {
			return false, fmt.Errorf("%w: not a tandem store (bucket %q but no schema)", ErrCorrupt, k)
		}
		return true, nil
	}
	v := mb.Get(keySchema)
	if len(v) != 8 {
		return false, fmt.Errorf("%w: schema version is %d bytes", ErrCorrupt, len(v))
	}
	switch version := binary.BigEndian.Uint64(v); {
	case version > SchemaVersion:
		return false, fmt.Errorf("%w: file has version %d, this build reads up to %d", ErrSchemaTooNew, version, SchemaVersion)
	case version < 1:
		return false, fmt.Errorf("%w: schema version %d", ErrCorrupt, version)
	}
	if tx.Bucket(bucketDocs) == nil {
		return false, fmt.Errorf("%w: no %q bucket", ErrCorrupt, bucketDocs)
	}
	return false, nil
}

// syncDir fsyncs a directory so that a file just created in it survives a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Close commits every write queued before it, stops the writer and closes the file. It is
// idempotent: later calls wait for the first and return its result. Writes after Close fail with
// ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.signal()
		<-s.stopped
		if s.wal != nil {
			if err := s.brokenErr(); err != nil {
				s.closeErr = fmt.Errorf("storage: close %s: %w", s.path, err)
			} else if err := s.wal.shrink(); err != nil {
				s.closeErr = fmt.Errorf("storage: close %s: %w", s.path, err)
			}
			if err := s.wal.close(); err != nil && s.closeErr == nil {
				s.closeErr = fmt.Errorf("storage: close %s: %w", s.wal.path, err)
			}
		}
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("storage: close %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// Path returns the file's path as given to Open.
func (s *Store) Path() string { return s.path }

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	queued := len(s.queue)
	s.mu.Unlock()
	return Stats{
		Commits:       s.commits.Load(),
		FailedCommits: s.failedCommits.Load(),
		Appends:       s.appends.Load(),
		FailedAppends: s.failedAppends.Load(),
		Ops:           s.ops.Load(),
		StoreCommits:  s.storeCommits.Load(),
		MaxBatch:      int(s.maxBatchSeen.Load()),
		Queued:        queued,
	}
}

// FileBytes returns the size of the data in the file as of the last commit. The file never shrinks:
// space freed by compaction and deletion is reused, not returned.
func (s *Store) FileBytes() (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: file size: %w", err)
	}
	return n, nil
}

// openLog replays the write-ahead log into bbolt and empties it; unless opts.NoWriteAheadLog, it
// keeps the log open for the writer and starts the applier.
func (s *Store) openLog(opts Options) error {
	if _, err := os.Stat(walPath(s.path)); opts.NoWriteAheadLog && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	w, recs, err := openWAL(s.path, opts.NoSync)
	if err != nil {
		return err
	}
	if err := s.replay(recs); err != nil {
		_ = w.close()
		return err
	}
	if err := w.reset(); err != nil {
		_ = w.close()
		return err
	}
	if err := w.shrink(); err != nil {
		_ = w.close()
		return err
	}
	if opts.NoWriteAheadLog {
		return w.close()
	}
	s.wal = w
	s.lastSeq = make(map[string]pendingSeq)
	s.acond = sync.NewCond(&s.amu)
	s.applyWake = make(chan struct{}, 1)
	s.applyHurry = make(chan struct{}, 1)
	s.applierDone = make(chan struct{})
	go s.runApply()
	return nil
}

// view runs fn in a read-only transaction and maps bbolt's closed-database error to ErrClosed.
// With the write-ahead log, it first waits until bbolt holds every append acknowledged before
// the call (apply.go).
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	if s.wal != nil {
		if err := s.settle(); err != nil {
			return err
		}
	}
	return s.viewNow(fn)
}

// viewDoc is view for a read of docID alone: it waits only for docID's appends, and runs fn with
// docID's bucket. It reports whether the document exists; fn is not called when it does not.
func (s *Store) viewDoc(docID string, fn func(b *bolt.Bucket) error) (bool, error) {
	if s.wal != nil {
		if err := s.settleDoc(docID); err != nil {
			return false, err
		}
	}
	var ok bool
	err := s.viewNow(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDocs).Bucket([]byte(docID))
		if b == nil {
			return nil
		}
		ok = true
		return fn(b)
	})
	return ok, err
}

func (s *Store) viewNow(fn func(tx *bolt.Tx) error) error {
	err := s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// seqKey returns the log key of seq: 8 bytes, big-endian, so that byte order is numeric order.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

// validDocID reports whether id may name a document.
func validDocID(id string) error {
	if id == "" || len(id) > MaxDocIDBytes {
		return fmt.Errorf("%w: %d bytes (want 1 to %d)", ErrInvalidDocID, len(id), MaxDocIDBytes)
	}
	return nil
}

// clone copies b out of a transaction: bbolt's slices are valid only until it ends. It keeps nil and
// empty apart.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

package storage

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Meta describes one document as stored. The store keeps it up to date in the same transaction as
// every write to the document, so its counts always match the log and the snapshot (Check verifies
// this).
type Meta struct {
	// Created is when the document's first write committed.
	Created time.Time
	// Updated is when the document's last write (append, compaction or metadata put) committed.
	Updated time.Time
	// Compacted is when the document's last compaction committed; zero if it never was.
	Compacted time.Time

	// LogEntries is the number of log entries after SnapshotSeq; always LastSeq - SnapshotSeq.
	LogEntries int
	// LogBytes is the total length of those entries' data.
	LogBytes int64

	// HasSnapshot reports whether a snapshot is stored (an empty snapshot counts as one).
	HasSnapshot bool
	// SnapshotBytes is the length of the stored snapshot.
	SnapshotBytes int64
	// SnapshotSeq is the last log position the snapshot covers; zero without a snapshot.
	SnapshotSeq uint64

	// LastSeq is the sequence number of the document's last appended entry; zero before the first.
	// Sequence numbers start at 1 and have no gaps.
	LastSeq uint64
}

// metaVersion is the first byte of an encoded Meta. A new field means a new version, and decodeMeta
// keeps reading the old ones.
const metaVersion = 1

const metaFlagSnapshot = 1 << 0

// encodeMeta returns m in the stored form: a version byte, a flags byte, then three times as signed
// varints of Unix nanoseconds (0 for the zero time) and six unsigned varints.
func encodeMeta(m Meta) []byte {
	b := make([]byte, 0, 2+9*binary.MaxVarintLen64)
	b = append(b, metaVersion)
	var flags byte
	if m.HasSnapshot {
		flags |= metaFlagSnapshot
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, timeToNanos(m.Created))
	b = binary.AppendVarint(b, timeToNanos(m.Updated))
	b = binary.AppendVarint(b, timeToNanos(m.Compacted))
	b = binary.AppendUvarint(b, uint64(m.LogEntries))
	b = binary.AppendUvarint(b, uint64(m.LogBytes))
	b = binary.AppendUvarint(b, uint64(m.SnapshotBytes))
	b = binary.AppendUvarint(b, m.SnapshotSeq)
	b = binary.AppendUvarint(b, m.LastSeq)
	return b
}

// decodeMeta parses the output of encodeMeta. Any malformed input returns an error wrapping
// ErrCorrupt, never a panic.
func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) < 2 {
		return m, fmt.Errorf("%w: document meta: %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != metaVersion {
		return m, fmt.Errorf("%w: document meta: unknown version %d", ErrCorrupt, b[0])
	}
	flags := b[1]
	if flags&^metaFlagSnapshot != 0 {
		return m, fmt.Errorf("%w: document meta: unknown flags %#x", ErrCorrupt, flags)
	}
	m.HasSnapshot = flags&metaFlagSnapshot != 0
	r := metaReader{b: b[2:]}
	m.Created = nanosToTime(r.varint())
	m.Updated = nanosToTime(r.varint())
	m.Compacted = nanosToTime(r.varint())
	entries := r.uvarint()
	logBytes := r.uvarint()
	snapBytes := r.uvarint()
	m.SnapshotSeq = r.uvarint()
	m.LastSeq = r.uvarint()
	if r.err != nil {
		return Meta{}, fmt.Errorf("%w: document meta: %v", ErrCorrupt, r.err)
	}
	if len(r.b) != 0 {
		return Meta{}, fmt.Errorf("%w: document meta: %d trailing bytes", ErrCorrupt, len(r.b))
	}
	const maxInt63 = 1<<63 - 1
	if entries > maxInt63 || logBytes > maxInt63 || snapBytes > maxInt63 {
		return Meta{}, fmt.Errorf("%w: document meta: count out of range", ErrCorrupt)
	}
	m.LogEntries = int(entries)
	m.LogBytes = int64(logBytes)
	m.SnapshotBytes = int64(snapBytes)
	return m, nil
}

type metaReader struct {
	b   []byte
	err error
}

func (r *metaReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("bad varint at %d bytes before the end", len(r.b))
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *metaReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("bad varint at %d bytes before the end", len(r.b))
		return 0
	}
	r.b = r.b[n:]
	return v
}

// timeToNanos maps the zero time to 0 (UnixNano of the zero time is undefined) and any other time to
// its Unix nanoseconds.
func timeToNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// nanosToTime inverts timeToNanos; times come back in UTC, without a monotonic reading.
func nanosToTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

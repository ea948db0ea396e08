package room

import "time"

// SaveConfig is what a Saver's decisions depend on.
type SaveConfig struct {
	CompactEntries int           // compact once the log holds this many entries...
	CompactBytes   int64         // ...or this many bytes
	Retries        int           // a failed save is retried this many times, then abandoned
	Backoff        time.Duration // before the first retry; each retry doubles it...
	MaxBackoff     time.Duration // ...up to this
}

// SaveInfo describes a snapshot being saved: what it folds and covers.
type SaveInfo struct {
	Cover   uint64 // every durability index <= Cover is in the snapshot
	Upto    uint64 // the log entries <= Upto are folded into it
	Entries int    // how many log entries that is
	Bytes   int64  // and their size
	Size    int64  // the snapshot's size
}

// Saver keeps a document's log accounting (entries and bytes after the snapshot, durable or in
// flight) and decides its snapshots: when the log is long enough to compact, what a save folds,
// and what a save's report means (retry after a backoff, give up, save again).
type Saver struct {
	cfg SaveConfig

	lastSeq        uint64 // the last log sequence number known durable
	logEntries     int    // log entries after the snapshot, durable or in flight
	logBytes       int64
	durableEntries int // of which reported durable
	durableBytes   int64
	snapBytes      int64

	saving    bool
	again     bool // another save is wanted once this one ends
	attempts  int  // consecutive failures
	retrying  bool // a retry waits for its backoff (the caller's timer)
	abandoned bool // the last save was given up and nothing was appended since
	hold      int  // after an abandoned save, no compaction below this many entries
}

// NewSaver returns a Saver for an empty document.
func NewSaver(cfg SaveConfig) *Saver { return &Saver{cfg: cfg} }

// Loaded records what the document's load found: entries log entries of bytes after a snapshot of
// snapBytes, the last at lastSeq.
func (s *Saver) Loaded(entries int, bytes int64, lastSeq uint64, snapBytes int64) {
	s.logEntries, s.durableEntries = entries, entries
	s.logBytes, s.durableBytes = bytes, bytes
	s.lastSeq, s.snapBytes = lastSeq, snapBytes
}

// DocBytes is the document's stored size: snapshot plus log.
func (s *Saver) DocBytes() int64 { return s.snapBytes + s.logBytes }

// LogEntries returns the log entries after the snapshot, durable or in flight.
func (s *Saver) LogEntries() int { return s.logEntries }

// Appended records an append of n bytes handed to storage.
func (s *Saver) Appended(n int64) {
	s.logEntries++
	s.logBytes += n
	s.abandoned = false
}

// AppendReported records storage's report of an append of n bytes: durable at seq, or failed
// (then only a snapshot holds it).
func (s *Saver) AppendReported(seq uint64, n int64, ok bool) {
	if !ok {
		s.logEntries--
		s.logBytes -= n
		return
	}
	s.lastSeq = max(s.lastSeq, seq)
	s.durableEntries++
	s.durableBytes += n
}

// Unsaved reports whether the document has changes that no snapshot holds, given whether its log
// lacks an update (Durability.Gap).
func (s *Saver) Unsaved(gap bool) bool { return s.logEntries > 0 || gap }

// Saving reports whether a save is in flight; Retrying whether one waits for its backoff.
func (s *Saver) Saving() bool { return s.saving }

// Retrying reports whether a failed save waits for its backoff before it is tried again.
func (s *Saver) Retrying() bool { return s.retrying }

// Abandoned reports whether the last save was given up and nothing was appended since.
func (s *Saver) Abandoned() bool { return s.abandoned }

// WantCompact reports whether a serving document should compact now: its log has passed a
// threshold, no save is in flight or waiting, and no abandoned save holds compaction back.
func (s *Saver) WantCompact() bool {
	if s.saving || s.retrying {
		return false
	}
	if s.hold > 0 && s.logEntries < s.hold {
		return false
	}
	return s.logEntries >= s.cfg.CompactEntries || s.logBytes >= s.cfg.CompactBytes
}

// Request asks for a save and reports whether to start it now; otherwise it starts after the one
// in flight, or with the retry that waits.
func (s *Saver) Request() bool {
	if s.saving {
		s.again = true
		return false
	}
	return !s.retrying
}

// Start records a save of a snapshot of size bytes, encoded when every durability index up to
// cover was applied, and returns what it folds: the log entries reported durable.
func (s *Saver) Start(cover uint64, size int64) SaveInfo {
	s.saving = true
	return SaveInfo{Cover: cover, Upto: s.lastSeq, Entries: s.durableEntries, Bytes: s.durableBytes, Size: size}
}

// SaveOutcome is what a save's report asks of the caller.
type SaveOutcome uint8

const (
	Saved        SaveOutcome = iota + 1 // saved; compact if WantCompact
	SavedAgain                          // saved, and another save was asked for: save if Unsaved
	Retry                               // failed: arm the retry timer, then RetryDue and save
	AbandonKeep                         // failed for good, but the log holds every update: go on
	AbandonFatal                        // failed for good and the log lacks updates: close the document
)

// Done records the report of the save info: failed or not, and, for a failure, whether the log
// lacks an update (Durability.Gap). The caller covers info.Cover in its Durability before it calls
// Done for a save that succeeded. For Retry, the backoff is returned.
func (s *Saver) Done(info SaveInfo, failed, gap bool) (SaveOutcome, time.Duration) {
	s.saving = false
	if failed {
		s.attempts++
		if s.attempts > s.cfg.Retries {
			s.attempts = 0
			s.abandoned = true
			s.hold = 2 * max(s.logEntries, s.cfg.CompactEntries)
			if gap {
				return AbandonFatal, 0
			}
			return AbandonKeep, 0
		}
		s.retrying = true
		return Retry, min(s.cfg.Backoff<<(s.attempts-1), s.cfg.MaxBackoff)
	}
	s.attempts = 0
	s.hold = 0
	s.logEntries -= info.Entries
	s.logBytes -= info.Bytes
	s.durableEntries -= info.Entries
	s.durableBytes -= info.Bytes
	s.snapBytes = info.Size
	if s.again {
		s.again = false
		return SavedAgain, 0
	}
	return Saved, 0
}

// Attempts returns the consecutive failed saves so far.
func (s *Saver) Attempts() int { return s.attempts }

// RetryDue records that a retry's backoff has passed: the caller saves now.
func (s *Saver) RetryDue() { s.retrying = false }

package server

import (
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// Returning memory after a large load. Loading a large document leaves its garbage behind:
// storage's read of the snapshot and log, and the join answer written to the reader who loaded it
// (not kept: syncFrame, joinKeepBytes), each about the stored document's size, beside the
// document's text, about the size of that text. The Go runtime gives freed memory back to the
// system only down to its next collection's goal, twice the live heap: once the document is
// loaded, nothing is returned, and the process keeps about three times the document's size more
// than it needs (BENCHMARKS.md, Storage: reload memory). So after a load, an unkept join answer,
// or a batch of messages written to one connection, of at least Config.ReleaseMemoryAfterBytes,
// the server collects and returns what is free (debug.FreeOSMemory) releaseDelay later, and at
// most once per releaseEvery so that its cost (a full collection, a few milliseconds with one
// large document loaded, more with a large heap) stays negligible. The load and its answer are
// noted as they happen, and their release usually finds the answer written; a joiner that reads
// it slowly notes it again once it is written (hubSide.Sent), which brings a later release. The
// transport does the same after a burst of connections (server/internal/transport/memory.go).
const (
	releaseDelay = time.Second
	releaseEvery = 10 * time.Second
)

// memRelease schedules the returns of free memory. Its methods are safe for concurrent use: the
// document actors note their large loads and join answers, the connections' writers their large
// writes, on the server's one memRelease.
type memRelease struct {
	minBytes int64  // Config.ReleaseMemoryAfterBytes: negative, never
	free     func() // debug.FreeOSMemory (tests count the calls)
	log      *slog.Logger
	count    func() // counts a release (tandem_memory_releases_total); nil: none

	mu      sync.Mutex
	timer   *time.Timer       // the release scheduled; nil when none is
	last    time.Time         // when the last release ran
	noted   [numNoteKinds]int // the notes that asked for a release, coalesced or not, by kind
	stopped bool              // stop was called
	running sync.WaitGroup    // the release scheduled or running
}

// noteKind says what a note is about.
type noteKind int

const (
	noteLoad    noteKind = iota // a document loaded: what was read
	noteJoin                    // a join answer not kept
	noteWritten                 // a batch of messages written to one connection
	numNoteKinds
)

func newMemRelease(minBytes int64, log *slog.Logger, count func()) *memRelease {
	return &memRelease{minBytes: minBytes, free: debug.FreeOSMemory, log: log, count: count}
}

// note records that n bytes became garbage, or are about to, and schedules a release if n
// reaches the threshold and none is scheduled. It never blocks.
func (r *memRelease) note(kind noteKind, n int64) {
	if r.minBytes < 0 || n < r.minBytes {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noted[kind]++
	if r.stopped || r.timer != nil {
		return // the release scheduled covers this garbage too
	}
	d := releaseDelay
	if !r.last.IsZero() {
		d = max(d, time.Until(r.last.Add(releaseEvery)))
	}
	r.running.Add(1)
	r.timer = time.AfterFunc(d, r.release)
}

// release runs on the timer's goroutine: it returns free memory to the system.
func (r *memRelease) release() {
	defer r.running.Done()
	start := time.Now()
	r.free()
	took := time.Since(start)
	r.mu.Lock()
	r.timer, r.last = nil, time.Now()
	r.mu.Unlock()
	if r.count != nil {
		r.count()
	}
	r.log.Debug("memory returned to the system after a large load", "took", took)
}

// stop cancels a scheduled release and waits for one that runs. Later notes do nothing.
func (r *memRelease) stop() {
	r.mu.Lock()
	r.stopped = true
	if r.timer != nil && r.timer.Stop() {
		r.timer = nil
		r.running.Done()
	}
	r.mu.Unlock()
	r.running.Wait()
}

// notes returns how many notes of kind reached the threshold (tests).
func (r *memRelease) notes(kind noteKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.noted[kind]
}

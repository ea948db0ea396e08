// Package storagetest holds the conformance suite that every storage backend runs (Run), and
// Memory, an in-memory backend that is the suite's reference and a stand-in for tests above the
// backend.
//
// A backend's test calls Run with a function returning its backend.Set:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) backend.Set { return mine.Set() }, 0)
//	}
//
// The suite covers the contract in storage/backend: positions and reads of the log, epochs,
// document IDs that are not subject-safe, purge and drop, concurrent appends, snapshot blobs of
// several megabytes, compare-and-set under contention, and the Docs orders under races (two
// compactors and a cold loader; a deletion while a writer appends).
//
// It imports storage/backend and the standard library only, so that any backend's tests may
// import it.
package storagetest

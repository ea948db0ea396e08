// Package crdt is tandem's conflict-free replicated document: named Text roots
// (sequences of Unicode code points ordered by the FugueMax rule) and Map roots
// (string keys to JSON values, last writer wins), with state vectors, delete sets,
// a compact binary encoding of updates and snapshots, and relative positions.
//
// The specification, semantics and byte format alike, is docs/crdt.md; this
// package implements it, and the JavaScript twin in client-js/src/crdt implements
// the same page byte for byte.
//
// # Imports
//
// crdt imports nothing of tandem's and only the standard library. It is pure: no
// goroutines, channels, I/O, wall clocks, global randomness or logging. Every
// call is synchronous: an input (a local edit, a remote update) returns its output
// (update bytes to store and broadcast, the changes in index terms).
//
// # Concurrency
//
// A Doc is not safe for concurrent use. Its owner (the server's document actor,
// one editor tab) serialises every call, including reads such as Text.String.
// Functions that take no Doc (DecodeStateVector, DecodeRelPos, InspectUpdate) are
// safe to call from any goroutine.
//
// # Errors
//
// Hostile bytes return errors, never panics. Errors are the sentinels below,
// wrapped with detail and prefixed "crdt:"; test them with errors.Is. An update
// that is refused leaves the document exactly as it was.
//
// # Design
//
// Text is stored as runs, not characters: a run is a chain of code points that
// one client inserted in one go (consecutive clocks, each the left origin of the
// next, one shared right origin). Runs live in a B-tree whose inner nodes carry
// the visible length of their subtrees, so that index lookups cost O(log n), and
// a cursor cache makes the next edit near the last one O(1). Run content is a
// slice of a per-client append-only buffer, so splitting a run never copies text.
// An ID index (client, then runs ordered by clock) finds origins for remote
// integration and relative positions. Loading a snapshot into an empty document
// builds the tree bottom-up in one linear pass.
package crdt

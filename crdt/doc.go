// Package crdt is tandem's conflict-free replicated document: named Text roots
// (sequences of Unicode code points ordered by the FugueMax rule) and Map roots
// (string keys to JSON values, last writer wins), with state vectors, delete
// sets, a compact binary encoding of updates and snapshots, and relative
// positions.
//
// Rich text (docs/crdt.md section 4) adds embeds (items of a Text that hold
// JSON), marks (formatting operations anchored before or after items, the
// latest winning per item and name) and attributes on embeds: richtext.go
// holds their state and local API, richops.go their update ops, richsnap.go
// their snapshot section (format 0x06), spans.go their resolution into spans
// and change events, markindex.go the index of where the marks are that a
// read of spans makes and later edits keep.
//
// The specification, semantics and byte format alike, is docs/crdt.md; this
// package implements it, and the JavaScript twin in client-js/src/crdt
// implements the same page byte for byte. The golden vectors both run are in
// testdata/crdt/scenarios.
//
// # Imports
//
// crdt imports nothing of tandem's and only the standard library. It is pure:
// no goroutines, channels, I/O, clocks, randomness or logging. Every call is
// synchronous: an input (a local edit, a remote update) returns its output
// (update bytes to store and broadcast, the changes in index terms).
//
// # Concurrency
//
// A Doc, and the Text and Map handles it returns, are not safe for concurrent
// use. Their owner (the server's document actor, one editor tab) serialises
// every call, reads such as Text.String included (a read of spans updates the
// mark index). Functions that take no Doc
// (DecodeStateVector, DecodeRelPos, InspectUpdate, EncodeStateVector) are safe
// from any goroutine.
//
// # Errors
//
// Hostile bytes return errors, never panics. Errors wrap the sentinels of
// errors.go, are prefixed "crdt:", and are tested with errors.Is. A refused
// update, like a refused local edit, leaves the document exactly as it was:
// Apply decodes and checks the whole input and plans its integration before it
// changes anything.
//
// # Design
//
// Runs, not characters. A run is a chain of code points that one client
// inserted in one go: consecutive clocks, each the left origin of the next, one
// shared right origin. A local insertion goes right after the visible code
// point before its index, before any deleted ones that follow it (docs/crdt.md
// 1.3), so that replacing text and a concurrent insertion next to it keep
// their order whatever the client IDs. Typing extends the
// run at the cursor in place; a run is
// split only where an edit lands inside it, and deleted neighbours that
// continue each other merge back; backspacing (or deleting forward) next to
// the deleted run it continues moves the code points into that run without
// any split. A 100,000-character document edited for
// hours is a few thousand to tens of thousands of runs.
//
// A B-tree of runs per Text root. Leaves hold up to 32 runs in document order,
// inner nodes up to 32 children, and every node knows the visible length and
// the item count (deleted items included) of its subtree: finding a visible
// index, or the position of a run, costs O(log n). A cursor cache remembers
// the run of the last local edit and its visible start, so that typing and
// backspacing near the last edit skip the descent.
//
// Per-client content buffers. The text of a client's runs is appended, as
// UTF-8, to that client's buffer as they are integrated; a run is a byte
// offset and a byte length in it, beside its length in code points, so
// splitting a run never copies text. A rune would cost 4 bytes a character,
// and most text is ASCII; the price is a scan of the run to find the byte
// offset of a code point when a run that is not ASCII is cut. Snapshot loads
// decode the text once and share it among clients until one of them appends;
// snapshot encoding reads the runs' text where it lies.
//
// An ID index per client: the client's runs ordered by clock, in chunks of at
// most 64, for remote integration (origins), relative positions and encoding.
//
// Remote integration follows the FugueMax loop of docs/crdt.md section 1.3,
// run by run: the left origin is split to end a run and the right origin to
// start one, so only a run's first item can stop the scan. A remote run whose
// left origin is directly followed by its right origin is placed without a
// scan, and extends its left neighbour in place when it continues it (remote
// typing). A scan is as long as the concurrent insertions at one place.
//
// Apply plans before it acts: the update's ops are queued per client, with
// the client's pending ones; a client's next op is ready when it starts at
// the client's clock and its origins are known. Pending units are indexed by
// what they wait for: a client whose first pending op names an origin not yet
// integrated sits in the waiting set of the origin's client, keyed by clock,
// and a plan that moves a client's clock looks at the waiters below the new
// clock only. So a plan visits the clients the update names and those it
// unblocks, never the whole pending set. Ops that cannot be integrated stay
// pending, per client in a B+ tree by clock (up to 32 ops or children a node,
// their clocks beside them, so that a descent reads a few arrays rather than
// a node per level), which a plan changes in place while logging the nodes
// it changes (undone when the plan is refused, kept when it is carried out);
// the pending delete ranges are a B+ tree per client likewise (up to 32 ranges
// or children a node), changed likewise; the waiting
// sets are persistent AVL trees, changed by copying the O(log n) nodes on the
// paths. An arriving op finds its place and checks its neighbours in one
// descent. A
// plan takes a run of ops from the front of a tree by walking it, then cuts
// it once; so an Apply costs O(log n) per unit it touches whatever the size
// of the pending set and the order the updates arrive in, and a refused plan
// leaves the document's trees as they were. Most updates that arrive out of
// order only add what waits (one client's ops above its clock and no delete
// range, or one client's delete ranges above its clock): such an update is
// parked, put into its client's tree without a plan, once checks show that
// a plan would integrate nothing and keep the bounds of the size it keeps,
// measuring nothing (park.go). The pending size that MaxPendingBytes bounds is the length of the
// pending update (docs/crdt.md 1.6). An upper bound of it is kept in O(1) per
// op (each op counted as a block with tables of its own), and decides while
// the set is far under the limit. Past that bound, while the size measured
// is under half the limit, a slack bound is kept: the size measured plus what
// each op that came since may add, measured again when it passes the limit
// (at most once per half limit of ops that come). From half the limit up the
// size is kept exact: each
// tree node sums up its subtree as the encoder writes it (blocks, groups of
// ops that merge, their length fields), sums of neighbours combine in O(1),
// and the tables count the clients and roots the ops name. Only when a table
// passes 128 entries (two-byte indices) and the limit falls between the sizes
// with the narrowest and the widest indices is the pending set encoded to
// decide. What the pending structures hold in memory (PendingMemory) is kept
// up to date from the sizes of their nodes, ops and map entries, and can be
// bounded (MaxPendingMemory).
//
// Snapshots are written in format version 2 (docs/crdt.md 2.4.1: columns by
// kind, alike runs coalesced, the text in a canonical Huffman code when that
// is shorter; columns.go, huffman.go); version 1 snapshots still load.
//
// Loading a snapshot into an empty document is a linear build: runs go into
// leaves in document order, the tree is built bottom-up, and the client
// indexes come from one linear-time sort of the clock claims that decoding
// needs anyway to refuse a clock claimed twice.
//
// Items are allocated from slabs of 128 with a free list, so that the
// splits of typing cost no allocation in the steady state.
//
// An Apply reuses the document's scratch: the decoded update (reader, tables,
// ops, content), the plan, its queues and step lists. A block of ops that a
// client's pending queue does not overlap (a keystroke, or a whole history
// caught up with at once) stays in the update rather than going into the
// pending tree, its ops taken in order, and goes there, copied with its
// content, only if some of them have to wait. Integrate is Apply without the change list. A server that applies a
// one-character update with Integrate allocates nothing in the steady state.
//
// # Invariants
//
// Checked by the tests (CheckPending, the round trips, the random runs):
//   - every run has n >= 1; a run's items have consecutive clocks; runs of one
//     client never overlap; every node's counts are the sums of its children's;
//   - a client's clock (state vector entry) is c exactly when every unit of the
//     client below c is integrated (text item, winning assignment, or skip);
//   - origins of an integrated run are integrated text items of the same root;
//   - pending ops are above their client's clock, ascending and disjoint (the
//     trees balanced, each node's sum that of its ops), and the pending size
//     kept is the length of the pending set's encoding;
//   - every map key's winner is the assignment with the largest
//     (lamport, client, clock) integrated for it; losers are skips.
//
// # Caveats
//
// A document never shrinks: deleted items stay (as lengths; their text stays
// in memory until the document is reloaded from a snapshot, which drops it).
// Memory is about 100 bytes per run plus 4 bytes per code point integrated.
// Histories forged by a client that reuses its clocks with other content do
// not converge (the first unit integrated wins): the server prevents them by
// binding client IDs to users. A document loaded from a snapshot reports the
// whole text as one insertion.
package crdt

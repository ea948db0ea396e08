// @ts-check
// The JavaScript twin of tandem's CRDT (Go package crdt): named Text roots
// (code point sequences ordered by FugueMax) and Map roots (JSON values, last
// writer wins), updates, snapshots, state vectors and relative positions, byte
// for byte compatible with the Go implementation. The specification is
// docs/crdt.md; the scenario files in testdata/crdt are run by both twins.
//
// Calls are synchronous and the Doc reads no clock and no random source: the
// caller (the provider) owns a Doc and serialises every call. Errors are
// CrdtError with a `kind` (errors.js); bad bytes never change a Doc. Positions
// count code points; JavaScript strings are UTF-16, so editor bindings convert
// at their edge (../utf16.js). Storage is by runs in a B-tree (seq.js).

export { Doc, DEFAULT_MAX_PENDING_BYTES } from './doc.js';
export { Text, MapRoot, EXPAND } from './handles.js';
export { CrdtError } from './errors.js';
export { encodeStateVector, decodeStateVector } from './statevector.js';
export { encodeRelPos, decodeRelPos, REL_BEFORE, REL_AFTER, REL_START, REL_END } from './relpos.js';
export { splitUpdate, MIN_SPLIT_BYTES } from './split.js';
export { MAX_ROOT_NAME_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES, MAX_JSON_DEPTH } from './names.js';

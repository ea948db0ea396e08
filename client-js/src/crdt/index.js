// @ts-check
// The JavaScript twin of tandem's CRDT (Go package crdt), byte for byte
// compatible with it; the specification is docs/crdt.md.

export { Doc, DEFAULT_MAX_PENDING_BYTES } from './doc.js';
export { Text, MapRoot } from './handles.js';
export { CrdtError } from './errors.js';
export { encodeStateVector, decodeStateVector } from './statevector.js';
export { encodeRelPos, decodeRelPos, REL_BEFORE, REL_AFTER, REL_START, REL_END } from './relpos.js';
export { MAX_ROOT_NAME_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES, MAX_JSON_DEPTH } from './names.js';

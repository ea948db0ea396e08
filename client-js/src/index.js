// @ts-check
// The client's public entry: the provider and what goes with it. The CodeMirror binding has its
// own entry (@tandem/client/bindings/codemirror) because CodeMirror is an optional peer dependency.
export { Provider, randomClientId, docUrl, accessUrl, tokenExpiry, DEFAULT_MAX_MESSAGE_BYTES } from './provider.js';
export { Awareness } from './awareness.js';
export { MemoryStore, IndexedDBStore, openStore, shouldCompact } from './store.js';
export { UndoManager } from './undo.js';
export { TextareaBinding } from './bindings/textarea.js';
export { encodeCursor, resolveCursor, remoteCursors, colorFor, safeColor } from './cursor.js';
export { cpLength, toPos, toOffset16, diff16, PosMapper, hasSurrogates } from './utf16.js';
export { Emitter } from './emitter.js';
export { Backoff } from './backoff.js';
export * from './crdt/index.js';
export { CloseCode, isTerminal, closeCodeName, PROTOCOL_VERSION } from './protocol.js';

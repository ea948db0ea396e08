// @ts-check
import { Emitter } from './emitter.js';
import { Backoff } from './backoff.js';
import { Awareness } from './awareness.js';
import { openStore, shouldCompact, IndexedDBStore } from './store.js';
import { Doc, encodeStateVector, decodeStateVector, splitUpdate } from './crdt/index.js';
import { varUintLength } from './varint.js';
import { afterPaint } from './frame.js';
import { encodeFrame, decodeFrame, isTerminal, CloseCode, PROTOCOL_VERSION, MessageType, FROM_CLIENT, FROM_SERVER, FLAG_READ_ONLY } from './protocol.js';

/**
 * The provider keeps one document's local replica in step with the server.
 *
 * Session (docs/protocol.md): open `/v1/docs/{id}/ws`, send `hello` with the replica's state
 * vector, apply the `sync` answer, send what the server lacks, then stream updates both ways.
 * Every update message this client sends on a connection is counted; the server's `ack` carries
 * how many of them are durable, so the provider knows when all local changes are saved. An
 * update larger than the server's message limit (`maxMessageBytes`) is cut into several
 * (splitUpdate), each a message of its own: a big paste, or a long offline session's catch-up,
 * gets through instead of being refused with 1009 on every reconnect, and it counts as saved
 * once the last part is acknowledged.
 *
 * Offline: every update (local or remote) is appended to the offline store before anything else,
 * so closing the tab keeps it. On every (re)connection the state vector exchange finds what each
 * side lacks; applying an update twice is harmless, so nothing is lost or doubled. Pure deletions
 * do not move a state vector, so the store also remembers which client IDs have unacknowledged
 * changes, and their presence makes the provider push its delete set on the next connection.
 *
 * Reconnection: full-jitter exponential backoff from 0.5 s up to 20 s, reset once a connection
 * has stayed synced for `stableMs` (10 s): a server that accepts the hello and then closes at once
 * (an update it refuses, a state too large, rate limiting) meets ever wider windows rather than a
 * loop of two attempts a second. Terminal close codes (4401, 4403, 4404, 4409, 4413) stop it: the
 * status becomes `error` with the code, a `refused` event names the cause, and only connect()
 * tries again. After 4404 (the document was deleted) the offline copy is deleted too, nothing more
 * is stored or sent until connect(), and `deleted` is true (the bindings turn read-only): else the
 * next page load would send the whole document back and bring it to life again.
 *
 * Refusals before the upgrade: the server refuses a caller without access with a plain HTTP
 * status (400, 401, 403, 404) before any WebSocket exists, and a browser's WebSocket reports that
 * only as a close with 1006, like a network fault. So when a socket closes without ever opening,
 * the provider asks `GET /v1/docs/{id}/access` with the same token (docs/protocol.md): a refusal
 * there (4400 bad document ID, 4401, 4403, 4404) is terminal like the close code it names; an
 * answer of ok, or no answer, leaves the retry that was already scheduled in place.
 *
 * Tokens: `token` is fixed; `getToken` is asked for one before every connection attempt, again
 * before the current token expires (read from its JWT `exp`, `refreshBeforeMs` early; the new one
 * goes to the server on the open connection in an `auth` message), and once more after a 4401,
 * which is terminal only if the new token is refused too. setToken(token) sends a token at once.
 *
 * Liveness: the server pings a quiet connection, and the provider pings after `pingIntervalMs` of
 * silence and gives up `pongTimeoutMs` later. While sent updates wait for their ack, it pings
 * after `unsavedPingMs` (1 s) of silence and gives up `unsavedPongTimeoutMs` (3 s) after that, so
 * a dead network under unsaved edits shows as `offline` within about 4 s rather than 30. The
 * browser's `offline` event closes the connection at once; `online` reconnects at once.
 *
 * Tabs: each tab has its own client ID and its own connection, and the tabs of a browser share the
 * IndexedDB store. A tab that stores local changes it cannot send (it is offline, or closing with
 * changes not yet acknowledged) says so on a BroadcastChannel; the other tabs on the document read
 * the store and send those changes themselves, so they do not wait in the store until the document
 * is opened again.
 *
 * Local edits: make them inside provider.transact(fn) (or call provider.flush() after them); the
 * CRDT is pure and does not tell anyone that it changed, so the provider does: every flush that
 * found changes emits `local`, which is how an editor binding learns of edits made from code.
 *
 * Keystrokes: an editor binding calls scheduleFlush() instead, so that storing and sending a
 * keystroke happen after the frame that shows it is painted, and the keystrokes of one frame
 * travel as one update (one store append, one message). The change counts as unsaved at once; the
 * deferred flush runs before anything else could observe it missing: a direct flush() or
 * transact(), whenStored(), destroy(), the page being hidden (`visibilitychange`, `pagehide`), an
 * ack that would report "saved", and a (re)connection's catch-up. Other editors see a keystroke up to
 * one frame later.
 */

/** @typedef {'connecting' | 'connected' | 'offline' | 'error'} Status */

/**
 * @typedef {object} StatusEvent
 * @property {Status} status
 * @property {number} [code]    the close code (offline and error)
 * @property {string} [reason]  the close reason or the server's error message
 * @property {number} [retryInMs] when the next attempt is due (offline)
 */

/**
 * @typedef {'invalid-document' | 'unauthorized' | 'forbidden' | 'deleted' | 'unsupported-version' | 'too-large'} RefusalCause
 */

/**
 * @typedef {object} RefusedEvent  the server refused this document for good (until connect())
 * @property {number} code        the close code (4400, 4401, 4403, 4404, 4409, 4413)
 * @property {RefusalCause} cause  the code as a word
 * @property {string} reason      the server's human-readable reason ('' when it gave none)
 * @property {'close' | 'access'} via  learnt from the connection's close, or from the access endpoint after a failed upgrade
 */

/**
 * @typedef {object} ChangeEvent
 * @property {any[]} changes   the CRDT's changes in index terms (code points)
 * @property {'remote' | 'store'} origin  from the server, or from the offline store (another tab)
 */

/**
 * @typedef {object} ProviderEvents
 * @property {StatusEvent} status
 * @property {{ synced: true }} synced
 * @property {{ saved: true }} saved
 * @property {{ saved: false }} unsaved
 * @property {ChangeEvent} change
 * @property {{ clientId: number, payload: Uint8Array }} broadcast
 * @property {Error & { code?: number }} error
 * @property {{ loaded: true }} loaded
 * @property {{ update: Uint8Array, deferred?: boolean }} local  local changes were taken from the replica (by
 *   transact or flush; deferred: by the flush that scheduleFlush() scheduled, also when an ack runs it early)
 * @property {RefusedEvent} refused
 */

/**
 * @typedef {object} SocketLike  the part of the WebSocket interface the provider uses
 * @property {string} binaryType
 * @property {number} readyState
 * @property {((ev: any) => void) | null} onopen
 * @property {((ev: { data: any }) => void) | null} onmessage
 * @property {((ev: { code: number, reason: string }) => void) | null} onclose
 * @property {((ev: any) => void) | null} onerror
 * @property {(data: Uint8Array) => void} send
 * @property {(code?: number, reason?: string) => void} close
 */

/**
 * @typedef {object} ProviderOptions
 * @property {string} url         the server's base URL (http(s) or ws(s)), e.g. location.origin
 * @property {string} docId
 * @property {string} [token]     sent as ?token=
 * @property {() => string | Promise<string>} [getToken]  asked for a token before every connection
 *   attempt, before the current one expires, and after a 4401 (see the class comment)
 * @property {number} [refreshBeforeMs]  how long before its expiry a token is renewed (default 60 s)
 * @property {((url: string) => Promise<{ status: number, json: () => Promise<any> }>) | null} [fetch]  asks
 *   the access endpoint after a failed upgrade (default globalThis.fetch; null: never ask)
 * @property {Doc} [doc]          the replica (default: a new Doc with clientId)
 * @property {number} [clientId]  default: a random ID drawn per provider (so per tab). Pass one
 *   only with the replica (doc) that issued every unit under it: an ID must never outlive its
 *   clocks (docs/crdt.md 1.1). Local edits are sent before the offline store has written them, so
 *   an ID kept across page loads beside the store can issue a clock the server already holds.
 * @property {import('./store.js').DocStore | false} [storage]  default: IndexedDB, or memory
 * @property {(url: string) => SocketLike} [createSocket]  default: new WebSocket(url)
 * @property {boolean} [connect]  connect at once (default true)
 * @property {Backoff} [backoff]
 * @property {Awareness} [awareness]
 * @property {number} [pingIntervalMs]  send a ping after this long without a message (default 20 s)
 * @property {number} [pongTimeoutMs]   reconnect when nothing arrives this long after a ping (default 10 s)
 * @property {number} [unsavedPingMs]   the same while sent updates are unacknowledged (default 1 s)
 * @property {number} [unsavedPongTimeoutMs]  the same while sent updates are unacknowledged (default 3 s)
 * @property {boolean} [readOnly]  ask for a read-only session
 * @property {number} [stableMs]  a connection synced this long resets the backoff (default 10 s)
 * @property {number} [maxMessageBytes]  the server's limit on one message from a client (its
 *   MaxMessageBytes, default 1 MiB): a larger update is sent as several update messages; 0 or
 *   Infinity sends every update whole
 */

/** DEFAULT_MAX_MESSAGE_BYTES is the server's default limit on one message: 1 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 20;

/**
 * randomClientId draws a client ID in [1, 2^53) from the platform's cryptographic generator.
 */
export function randomClientId() {
  const a = new Uint32Array(2);
  for (;;) {
    globalThis.crypto.getRandomValues(a);
    const id = (a[0] % 2 ** 21) * 2 ** 32 + a[1];
    if (id > 0) return id;
  }
}

/**
 * docUrl returns the WebSocket URL of a document on a server.
 * @param {string} base
 * @param {string} docId
 * @param {string} [token]
 */
export function docUrl(base, docId, token) {
  const u = new URL(base, globalThis.location?.href);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/docs/${encodeURIComponent(docId)}/ws`;
  u.search = '';
  if (token) u.searchParams.set('token', token);
  u.hash = '';
  return u.toString();
}

/**
 * accessUrl returns the URL of a document's access check on a server.
 * @param {string} base
 * @param {string} docId
 * @param {string} [token]
 */
export function accessUrl(base, docId, token) {
  const u = new URL(docUrl(base, docId, token));
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  u.pathname = u.pathname.replace(/\/ws$/, '/access');
  return u.toString();
}

/** @type {ReadonlyMap<number, RefusalCause>} */
const refusalCauses = new Map([
  [CloseCode.BAD_MESSAGE, 'invalid-document'],
  [CloseCode.UNAUTHORIZED, 'unauthorized'],
  [CloseCode.FORBIDDEN, 'forbidden'],
  [CloseCode.DOCUMENT_DELETED, 'deleted'],
  [CloseCode.UNSUPPORTED_VERSION, 'unsupported-version'],
  [CloseCode.DOCUMENT_TOO_LARGE, 'too-large'],
]);

/**
 * tokenExpiry returns a JWT's expiry (its `exp` claim, in ms since the epoch), or null when the
 * token is not a JWT with one. The token is not verified: this only decides when to renew it.
 * @param {string} token
 * @returns {number | null}
 */
export function tokenExpiry(token) {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const exp = JSON.parse(json)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/**
 * sameBytes reports whether a and b hold the same bytes.
 * @param {Uint8Array} a
 * @param {Uint8Array | null} b
 */
function sameBytes(a, b) {
  if (!b || a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * @extends {Emitter<ProviderEvents>}
 */
export class Provider extends Emitter {
  /** @type {Doc} */
  doc;
  /** @type {Awareness} */
  awareness;
  /** @type {string} */
  docId;
  /** @type {Promise<void>} resolves once the offline store has been read into the replica */
  ready;

  /** @type {Status} */
  #status = 'offline';
  #synced = false;
  /** @type {SocketLike | null} */
  #ws = null;
  #url;
  #createSocket;
  #backoff;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #retryTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #pingTimer = null;
  #pingIntervalMs;
  #pongTimeoutMs;
  #pingNonce = 0;
  #stableMs;
  #unsavedPingMs;
  #unsavedPongTimeoutMs;
  /** the ping timer waits for: 'silence' before a ping, 'pong' after one; fast: on the unsaved schedule */
  #pingPhase = /** @type {'none' | 'silence' | 'pong'} */ ('none');
  #pingFast = false;
  #base;
  /** @type {string | undefined} */
  #token;
  /** @type {(() => string | Promise<string>) | null} */
  #getToken;
  #refreshBeforeMs;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #refreshTimer = null;
  /** the token a 4401 refused, so that a refresher handing back the same one is not retried */
  #refusedToken = /** @type {string | undefined | null} */ (null);
  /** @type {((url: string) => Promise<{ status: number, json: () => Promise<any> }>) | null} */
  #fetch;
  /** @type {Promise<void> | null} an access check after a failed upgrade, until it settles */
  #checking = null;
  /** @type {RefusedEvent | null} */
  #refusal = null;
  /** connection attempts started (an attempt's token fetch or access check may outlive it) */
  #attempt = 0;
  /** the largest update sent in one message (the limit less the frame's header); 0: no limit */
  #maxUpdateBytes;
  /** when the current connection synced (Date.now()), or null */
  #syncedAt = /** @type {number | null} */ (null);
  #wantConnected = false;
  #destroyed = false;
  #readOnly;

  // Saving: sent and acknowledged update counts on the current connection.
  #sentSeq = 0;
  #ackedSeq = 0;
  /** local changes exist that no sent message has carried yet (made while not synced) */
  #dirty = false;
  /** @type {boolean} */
  #saved = true;
  /** client IDs whose unacknowledged changes the stored state holds (this tab's included) */
  #unsavedIds = new Set();
  /** the ack sequence that, once reached, covers #unsavedIds as they were when it was sent */
  #coverSeq = 0;
  /** @type {number[]} */
  #coverIds = [];

  /** @type {import('./store.js').DocStore | null} */
  #store = null;
  #storeChain = Promise.resolve();
  #storeStats = { snapshotBytes: 0, logEntries: 0, logBytes: 0 };
  #loaded = false;
  /** the server deleted the document: store nothing more until connect() */
  #deleted = false;
  /** @type {BroadcastChannel | null} the other tabs sharing the IndexedDB store */
  #tabs = null;
  /** a read of the store for other tabs' changes is queued and not started */
  #pullQueued = false;
  /** @type {Uint8Array | null} the stored snapshot last applied (it changes only on compaction) */
  #seenSnapshot = null;

  /** @type {(() => void)[]} */
  #cleanup = [];
  /** @type {(() => void) | null} cancels the flush that scheduleFlush() scheduled, while it waits */
  #cancelFlush = null;
  /** scheduleFlush() marked this client unsaved before its changes were taken */
  #markedAhead = false;

  /** @param {ProviderOptions} opts */
  constructor(opts) {
    super();
    this.docId = opts.docId;
    this.doc = opts.doc ?? new Doc(opts.clientId ?? randomClientId());
    this.#base = opts.url;
    this.#token = opts.token;
    this.#getToken = opts.getToken ?? null;
    this.#refreshBeforeMs = opts.refreshBeforeMs ?? 60_000;
    this.#url = docUrl(opts.url, opts.docId, opts.token);
    const f = opts.fetch === undefined ? globalThis.fetch : opts.fetch;
    this.#fetch = typeof f === 'function' ? (url) => f(url) : null;
    this.#createSocket = opts.createSocket ?? ((url) => /** @type {SocketLike} */ (/** @type {unknown} */ (new WebSocket(url))));
    this.#backoff = opts.backoff ?? new Backoff();
    this.#pingIntervalMs = opts.pingIntervalMs ?? 20_000;
    this.#pongTimeoutMs = opts.pongTimeoutMs ?? 10_000;
    this.#unsavedPingMs = opts.unsavedPingMs ?? 1_000;
    this.#unsavedPongTimeoutMs = opts.unsavedPongTimeoutMs ?? 3_000;
    this.#readOnly = opts.readOnly ?? false;
    this.#stableMs = opts.stableMs ?? 10_000;
    const limit = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    // An update frame adds a type byte, the channel (0: one byte) and the update's length.
    this.#maxUpdateBytes = limit > 0 && Number.isFinite(limit) ? limit - 2 - varUintLength(limit) : 0;
    this.awareness = opts.awareness ?? new Awareness({ clientId: this.doc.clientId });
    this.awareness.clientId = this.doc.clientId;
    this.ready = this.#load(opts.storage);
    // Store writes queue behind the load (it never rejects).
    this.#storeChain = this.ready;
    this.#listenToPage();
    this.#listenToNetwork();
    if (opts.connect ?? true) {
      // Open on the next microtask, so that listeners added right after construction see every
      // status event.
      this.#wantConnected = true;
      queueMicrotask(() => {
        if (this.#wantConnected && !this.#ws && !this.#destroyed && this.#retryTimer === null) this.#open();
      });
    }
  }

  /** status is the connection status. */
  get status() {
    return this.#status;
  }

  /** synced is true while connected and caught up with the server. */
  get synced() {
    return this.#synced;
  }

  /** saved is true when the server has acknowledged every local change. */
  get saved() {
    return this.#saved;
  }

  /**
   * deleted is true once the server said the document was deleted (4404): local edits are then
   * neither stored nor sent, and the bindings make their editors read-only, until connect().
   */
  get deleted() {
    return this.#deleted;
  }

  /** refusal is the last terminal refusal (the `refused` event's payload), or null. */
  get refusal() {
    return this.#refusal;
  }

  /** clientId is the replica's client ID. */
  get clientId() {
    return this.doc.clientId;
  }

  /**
   * transact runs fn (which edits this.doc) and then sends and stores the local changes it made.
   * @template T
   * @param {() => T} fn
   * @returns {T}
   */
  transact(fn) {
    try {
      return fn();
    } finally {
      this.flush();
    }
  }

  /**
   * scheduleFlush flushes after the current frame is painted (see the class comment): for edits
   * made on a keystroke's way to the screen. The change is reported unsaved at once. Several calls
   * before the flush runs make one flush.
   */
  scheduleFlush() {
    if (this.#destroyed) return;
    if (!this.#deleted && !this.#unsavedIds.has(this.doc.clientId)) {
      this.#unsavedIds.add(this.doc.clientId);
      this.#markedAhead = true;
    }
    if (!this.#deleted) this.#setSaved(false);
    if (this.#cancelFlush) return;
    this.#cancelFlush = afterPaint(() => {
      this.#cancelFlush = null;
      this.#flush(true);
    });
  }

  /** flushPending is true while a flush scheduled by scheduleFlush() waits. */
  get flushPending() {
    return this.#cancelFlush !== null;
  }

  /** flush takes the replica's pending local changes, stores them and sends them if synced. */
  flush() {
    this.#flush(false);
  }

  /**
   * #flush is flush(); deferred: run by scheduleFlush().
   * @param {boolean} deferred
   */
  #flush(deferred) {
    const { update } = this.#takeLocal();
    if (!update || this.#destroyed) return;
    if (this.#deleted) {
      // Nothing keeps it: saying "unsaved" would promise that something will.
      this.#reportError('edit dropped: the document was deleted', null);
      this.emit('local', deferred ? { update, deferred } : { update });
      return;
    }
    // Stored with its unsaved mark in one write, before it is sent.
    this.#persist(update, this.doc.clientId);
    this.#unsavedIds.add(this.doc.clientId);
    this.#setSaved(false);
    if (this.#synced && this.#ws && !this.#readOnly) {
      this.#sendUpdate(update);
    } else {
      this.#dirty = true;
      // Another tab may be online: tell it once the change is stored.
      if (!this.#readOnly) this.#storeChain.then(() => this.#tellTabs());
    }
    this.emit('local', deferred ? { update, deferred } : { update });
  }

  /**
   * #takeLocal takes the local changes from the replica as the flush that scheduleFlush()
   * scheduled would, cancelling it (this is that flush), and reports whether one was scheduled.
   * A scheduled flush that finds no change takes back its unsaved mark.
   * @returns {{ update: Uint8Array | null, scheduled: boolean }}
   */
  #takeLocal() {
    const scheduled = this.#cancelFlush !== null;
    if (this.#cancelFlush) {
      this.#cancelFlush();
      this.#cancelFlush = null;
    }
    const ahead = this.#markedAhead;
    this.#markedAhead = false;
    const update = this.doc.takeUpdate();
    if (!update && ahead) this.#unmarkAhead();
    return { update, scheduled };
  }

  /**
   * #unmarkAhead undoes the unsaved mark of a scheduleFlush() whose flush found no change, when
   * nothing else of this client waits for an ack.
   */
  #unmarkAhead() {
    if (this.#sentSeq !== this.#ackedSeq || this.#dirty) return;
    this.#unsavedIds.delete(this.doc.clientId);
    if (this.#unsavedIds.size === 0) this.#setSaved(true);
  }

  /**
   * broadcast sends an application message to the document's other editors (never stored).
   * A string is sent as UTF-8. It is dropped when not connected; returns whether it was sent.
   * @param {Uint8Array | string} payload
   */
  broadcast(payload) {
    if (!this.#synced || !this.#ws) return false;
    const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    this.#send({ type: MessageType.BROADCAST, payload: bytes });
    return true;
  }

  /**
   * setToken replaces the token: it is used for every later connection, and sent at once on the
   * open one (the server adopts its role and expiry, or closes with 4401).
   * @param {string} token
   */
  setToken(token) {
    this.#token = token;
    this.#url = docUrl(this.#base, this.docId, token);
    if (this.#ws && this.#ws.readyState === 1 && this.#helloSent) this.#send({ type: MessageType.AUTH, token });
    this.#scheduleRefresh();
  }

  /** connect opens the connection (again), also after a terminal close. */
  connect() {
    if (this.#destroyed) return;
    this.#wantConnected = true;
    this.#deleted = false;
    this.#refusal = null;
    this.#refusedToken = null;
    this.#clearRetry();
    if (this.#ws) return;
    this.#open();
  }

  /** disconnect closes the connection and stops reconnecting until connect(). */
  disconnect() {
    this.#wantConnected = false;
    this.#clearRetry();
    this.#clearRefresh();
    if (this.#ws) {
      this.awareness.goodbye();
      this.#closeSocket(1000, 'client disconnect');
    }
    this.#setStatus({ status: 'offline' });
  }

  /**
   * goOffline drops the connection as lost, as the browser's `offline` event does, and retries
   * with backoff (the `online` event retries at once).
   */
  goOffline() {
    if (!this.#ws || this.#destroyed) return;
    this.#closeSocket(4000, 'network offline');
    this.#onClose(1006, 'network offline');
  }

  /** whenSynced resolves once the provider is synced. */
  whenSynced() {
    if (this.#synced) return Promise.resolve();
    return /** @type {Promise<void>} */ (new Promise((resolve) => this.once('synced', () => resolve())));
  }

  /** whenSaved resolves once every local change is acknowledged by the server. */
  whenSaved() {
    if (this.#saved) return Promise.resolve();
    return /** @type {Promise<void>} */ (new Promise((resolve) => this.once('saved', () => resolve())));
  }

  /**
   * storageStats reports what the offline store holds for this document (after the writes issued
   * so far), or null without a store.
   * @returns {Promise<{ snapshotBytes: number, logEntries: number, logBytes: number } | null>}
   */
  async storageStats() {
    if (this.#cancelFlush) this.flush();
    await this.#storeChain;
    return this.#store ? this.#store.stats(this.docId) : null;
  }

  /**
   * whenStored resolves once every change made so far is in the offline store: a flush that
   * scheduleFlush() scheduled runs first.
   */
  whenStored() {
    if (this.#cancelFlush) this.flush();
    return this.#storeChain;
  }

  /** destroy closes the connection, stops every timer and listener; the store is flushed. */
  async destroy() {
    if (this.#destroyed) return;
    this.flush();
    this.disconnect();
    this.#destroyed = true;
    for (const fn of this.#cleanup) fn();
    this.#cleanup = [];
    this.awareness.destroy();
    await this.#storeChain;
    this.#tabs?.close();
    this.#tabs = null;
    this.#store?.close();
    this.clear();
  }

  // --- the offline store ---

  /** @param {import('./store.js').DocStore | false | undefined} storage */
  async #load(storage) {
    try {
      if (storage === false) return;
      this.#store = storage ?? (await openStore());
      const stored = await this.#store.load(this.docId);
      this.#seenSnapshot = stored.snapshot;
      /** @type {any[]} */
      const changes = [];
      for (const bytes of [stored.snapshot, ...stored.updates]) {
        if (!bytes) continue;
        try {
          changes.push(...this.doc.apply(bytes));
        } catch (err) {
          this.#reportError('stored update refused', err);
        }
      }
      let logBytes = 0;
      for (const u of stored.updates) logBytes += u.byteLength;
      this.#storeStats = { snapshotBytes: stored.snapshot?.byteLength ?? 0, logEntries: stored.updates.length, logBytes };
      for (const id of stored.unsaved) this.#unsavedIds.add(id);
      if (this.#unsavedIds.size > 0) {
        this.#dirty = true;
        this.#setSaved(false);
      }
      if (changes.length > 0) this.emit('change', { changes, origin: 'store' });
      this.#maybeCompact();
      this.#openTabs();
    } catch (err) {
      this.#reportError('offline store unavailable', err);
      this.#store = null;
    } finally {
      this.#loaded = true;
      this.emit('loaded', { loaded: true });
      if (this.#ws && this.#ws.readyState === 1 && !this.#helloSent) this.#sendHello();
    }
  }

  /**
   * #enqueueStore runs a store operation after the ones before it; failures are reported.
   * @param {() => Promise<void>} op
   */
  #enqueueStore(op) {
    this.#storeChain = this.#storeChain.then(op).catch((err) => this.#reportError('offline store write failed', err));
  }

  /**
   * #persist appends update to the offline store; unsavedId, for a local change, marks its client
   * ID unsaved in the same write.
   * @param {Uint8Array} update
   * @param {number} [unsavedId]
   */
  #persist(update, unsavedId) {
    // Before the store is open (edits made before `ready`), the write waits in the queue, which
    // starts with the load.
    if ((this.#loaded && !this.#store) || this.#deleted) return;
    this.#storeStats.logEntries++;
    this.#storeStats.logBytes += update.byteLength;
    this.#enqueueStore(async () => {
      if (this.#store) await this.#store.append(this.docId, update, unsavedId);
    });
    this.#maybeCompact();
  }

  #maybeCompact() {
    const store = this.#store;
    if (!store || !shouldCompact(this.#storeStats)) return;
    // Reset at once so that appends made meanwhile do not queue more compactions.
    this.#storeStats = { snapshotBytes: this.#storeStats.snapshotBytes, logEntries: 0, logBytes: 0 };
    this.#enqueueStore(() =>
      store.compact(this.docId, (snapshot, updates) => {
        // Fold in what other tabs stored too: the snapshot replaces their log entries.
        /** @type {any[]} */
        const changes = [];
        for (const bytes of [snapshot, ...updates]) {
          if (!bytes) continue;
          try {
            changes.push(...this.doc.apply(bytes));
          } catch (err) {
            this.#reportError('stored update refused', err);
          }
        }
        if (changes.length > 0) this.emit('change', { changes, origin: 'store' });
        const snap = this.doc.encodeSnapshot();
        this.#storeStats.snapshotBytes = snap.byteLength;
        this.#seenSnapshot = snap;
        return snap;
      }),
    );
  }

  // --- the connection ---

  #helloSent = false;

  #open() {
    const nav = /** @type {any} */ (globalThis).navigator;
    if (nav && nav.onLine === false) {
      // No network: a socket could only fail, and "connecting" would not be true. Say offline
      // now; the `online` event opens the connection, or the retry if that event never comes.
      this.#scheduleRetry(0, 'network offline');
      return;
    }
    this.#setStatus({ status: 'connecting' });
    const attempt = ++this.#attempt;
    const getToken = this.#getToken;
    if (!getToken) {
      this.#openSocket();
      return;
    }
    // Ask for a token first; the attempt is void if something else (disconnect, another attempt)
    // came meanwhile.
    /** @type {Promise<string>} */
    let p;
    try {
      p = Promise.resolve(getToken());
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (token) => {
        if (attempt !== this.#attempt || !this.#wantConnected || this.#ws || this.#destroyed) return;
        if (typeof token === 'string' && token !== '') {
          this.#token = token;
          this.#url = docUrl(this.#base, this.docId, token);
        }
        if (this.#refusedToken !== null && this.#token === this.#refusedToken) {
          // The refresher has nothing newer than the token the server refused.
          this.#refuse(CloseCode.UNAUTHORIZED, this.#refusalReason || 'token refused', this.#refusalVia);
          return;
        }
        this.#openSocket();
      },
      (err) => {
        if (attempt !== this.#attempt || !this.#wantConnected || this.#ws || this.#destroyed) return;
        this.#reportError('getToken failed', err);
        this.#scheduleRetry(1006, 'no token');
      },
    );
  }

  /** @type {'close' | 'access'} how the last 4401 was learnt */
  #refusalVia = 'close';
  /** the server's reason for the last 4401 */
  #refusalReason = '';

  #openSocket() {
    /** @type {SocketLike} */
    let ws;
    try {
      ws = this.#createSocket(this.#url);
    } catch (err) {
      this.#reportError('cannot open WebSocket', err);
      this.#scheduleRetry(1006, 'cannot open');
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#helloSent = false;
    this.#sentSeq = 0;
    this.#ackedSeq = 0;
    this.#coverSeq = 0;
    let opened = false;
    ws.onopen = () => {
      if (ws !== this.#ws) return;
      opened = true;
      if (this.#loaded) this.#sendHello();
      this.#armPing();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.#ws) return;
      this.#onMessage(ev.data);
      // After the message: an ack may have moved the liveness timer back to the slow schedule.
      if (ws === this.#ws) this.#armPing();
    };
    ws.onclose = (ev) => {
      if (ws !== this.#ws) return;
      this.#onClose(ev.code, ev.reason);
      // Never opened: the upgrade may have been refused, which a browser cannot read. Ask why.
      if (!opened && this.#wantConnected && !this.#destroyed) this.#checkAccess();
    };
    ws.onerror = () => {
      // onclose follows and carries the code.
    };
  }

  #sendHello() {
    this.#helloSent = true;
    this.#send({
      type: MessageType.HELLO,
      version: PROTOCOL_VERSION,
      clientId: this.doc.clientId,
      stateVector: encodeStateVector(this.doc.stateVector()),
      flags: this.#readOnly ? FLAG_READ_ONLY : 0,
    });
  }

  /** @param {unknown} data */
  #onMessage(data) {
    if (!(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      this.#reportError('text frame from server ignored', null);
      return;
    }
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    /** @type {any} */
    let msg;
    try {
      msg = decodeFrame(bytes, FROM_SERVER);
    } catch (err) {
      this.#reportError('undecodable message from server', err);
      return;
    }
    if ((msg.channel ?? 0) !== 0) return;
    switch (msg.type) {
      case MessageType.SYNC:
        this.#onSync(msg.update, msg.stateVector);
        break;
      case MessageType.UPDATE:
        this.#applyRemote(msg.data);
        break;
      case MessageType.ACK:
        this.#onAck(msg.seq);
        break;
      case MessageType.AWARENESS:
        this.awareness.receive(msg.entries);
        break;
      case MessageType.BROADCAST:
        this.emit('broadcast', { clientId: msg.clientId, payload: msg.payload });
        break;
      case MessageType.ERROR: {
        /** @type {Error & { code?: number }} */
        const err = new Error(`provider: server error ${msg.code}: ${msg.message}`);
        err.code = msg.code;
        this.#lastServerError = { code: msg.code, message: msg.message };
        this.emit('error', err);
        break;
      }
      case MessageType.PING:
        this.#send({ type: MessageType.PONG, nonce: msg.nonce });
        break;
      default:
        break; // pong and future types: liveness was already noted
    }
  }

  /** @type {{ code: number, message: string } | null} */
  #lastServerError = null;

  /**
   * @param {Uint8Array} update
   * @param {Uint8Array} serverSv
   */
  #onSync(update, serverSv) {
    if (update && update.byteLength > 0) this.#applyRemote(update);
    this.#synced = true;
    this.#syncedAt = Date.now();
    this.#refusedToken = null;
    this.#setStatus({ status: 'connected' });
    this.#scheduleRefresh();
    this.emit('synced', { synced: true });
    // Send what the server lacks: the ops its state vector does not cover, and (when some
    // client's changes are unacknowledged) the delete set, which no state vector reveals.
    // Local changes made without transact() or flush() are stored (marked unsaved) like any other.
    // A flush scheduled for keystrokes is this one: it no longer waits.
    const { update: localUpdate, scheduled } = this.#takeLocal();
    if (localUpdate) {
      this.#persist(localUpdate, this.doc.clientId);
      this.#unsavedIds.add(this.doc.clientId);
    }
    /** @type {Map<number, number>} */
    let theirs;
    try {
      theirs = decodeStateVector(serverSv);
    } catch (err) {
      this.#reportError('server state vector refused', err);
      theirs = new Map();
    }
    let lacks = false;
    for (const [client, clock] of this.doc.stateVector()) {
      if ((theirs.get(client) ?? 0) < clock) {
        lacks = true;
        break;
      }
    }
    if (!this.#readOnly && (lacks || this.#unsavedIds.size > 0 || this.#dirty)) {
      this.#coverIds = [...this.#unsavedIds];
      this.#sendUpdate(this.doc.encodeUpdate(theirs));
      this.#coverSeq = this.#sentSeq;
      this.#setSaved(false);
    } else {
      this.#coverIds = [];
    }
    this.#dirty = false;
    this.awareness.attach((clock, state) => this.#send({ type: MessageType.AWARENESS, clock, state }));
    if (localUpdate) this.emit('local', scheduled ? { update: localUpdate, deferred: true } : { update: localUpdate });
  }

  /** @param {Uint8Array} update */
  #applyRemote(update) {
    const before = this.#fingerprint();
    /** @type {any[]} */
    let changes;
    try {
      changes = this.doc.apply(update);
    } catch (err) {
      this.#reportError('update from server refused', err);
      return;
    }
    // Store what changed the replica (visible or not: pending items, deletions of items not yet
    // here), and nothing else, so that reconnecting to an unchanged document writes nothing.
    if (changes.length > 0 || this.#fingerprint() !== before) this.#persist(update);
    if (changes.length > 0) this.emit('change', { changes, origin: 'remote' });
  }

  /** #fingerprint summarises the replica's state vector and pending buffer, to detect changes. */
  #fingerprint() {
    let f = `${this.doc.pendingVersion()}`;
    for (const [client, clock] of this.doc.stateVector()) f += `,${client}:${clock}`;
    return f;
  }

  /**
   * #sendUpdate sends an update, as several update messages when one would exceed the server's
   * message limit. Each counts in #sentSeq, so that what waits for an ack of the update (saved,
   * the cover of other tabs' changes) waits for the ack of its last part.
   * @param {Uint8Array} update
   */
  #sendUpdate(update) {
    let parts = [update];
    const max = this.#maxUpdateBytes;
    if (max > 0 && update.byteLength > max) {
      try {
        parts = splitUpdate(update, max);
      } catch (err) {
        // One unit larger than the limit on its own (a map value near 1 MiB): sent whole, for a
        // server whose limit is larger than this client was told.
        this.#reportError('update not split, sent whole', err);
      }
    }
    for (const data of parts) {
      this.#send({ type: MessageType.UPDATE, data });
      this.#sentSeq++;
    }
    this.#pingSooner();
  }

  /** @param {number} seq */
  #onAck(seq) {
    if (seq > this.#sentSeq) return; // an ack for more than we sent: ignore, do not trust
    // A change waiting for its deferred flush is not saved: send it now rather than say "saved"
    // (still the scheduled flush: its binding has nothing to render).
    if (this.#cancelFlush && seq >= this.#sentSeq) this.#flush(true);
    this.#ackedSeq = Math.max(this.#ackedSeq, seq);
    if (this.#coverSeq > 0 && this.#ackedSeq >= this.#coverSeq && this.#coverIds.length > 0) {
      const ids = this.#coverIds;
      this.#coverIds = [];
      for (const id of ids) if (id !== this.doc.clientId) this.#unsavedIds.delete(id);
      if (this.#store) {
        const store = this.#store;
        const others = ids.filter((id) => id !== this.doc.clientId);
        if (others.length > 0) this.#enqueueStore(() => store.markSaved(this.docId, others));
      }
    }
    if (this.#ackedSeq === this.#sentSeq && !this.#dirty) {
      this.#unsavedIds.delete(this.doc.clientId);
      if (this.#store) {
        const store = this.#store;
        this.#enqueueStore(() => store.markSaved(this.docId, [this.doc.clientId]));
      }
      if (this.#unsavedIds.size === 0) this.#setSaved(true);
    }
  }

  /**
   * #checkAccess asks the access endpoint why an upgrade failed; a refusal stops the retries.
   */
  #checkAccess() {
    const f = this.#fetch;
    if (!f || this.#checking) return;
    const nav = /** @type {any} */ (globalThis).navigator;
    if (nav && nav.onLine === false) return; // no network: nothing to ask
    const attempt = this.#attempt;
    const token = this.#token;
    this.#checking = (async () => {
      /** @type {any} */
      let body;
      try {
        const res = await f(accessUrl(this.#base, this.docId, token));
        body = await res.json();
      } catch {
        return; // no answer (network, an older server): the scheduled retry stands
      }
      if (attempt !== this.#attempt || this.#ws || !this.#wantConnected || this.#destroyed) return;
      if (!body || body.ok !== false || typeof body.code !== 'number') return;
      const code = body.code;
      const reason = typeof body.error === 'string' ? body.error : '';
      if (code === CloseCode.UNAUTHORIZED && this.#getToken && this.#refusedToken !== token) {
        // Try once more with a fresh token; the same token again is terminal.
        this.#refusedToken = token;
        this.#refusalVia = 'access';
        this.#refusalReason = reason;
        this.#clearRetry();
        this.#open();
        return;
      }
      if (refusalCauses.has(code)) this.#refuse(code, reason, 'access');
    })().finally(() => {
      this.#checking = null;
    });
  }

  /**
   * #refuse stops reconnecting after a terminal refusal and says why.
   * @param {number} code
   * @param {string} reason
   * @param {'close' | 'access'} via
   */
  #refuse(code, reason, via) {
    this.#wantConnected = false;
    this.#clearRetry();
    this.#clearRefresh();
    if (this.#ws) this.#closeSocket(1000, 'refused');
    if (code === CloseCode.DOCUMENT_DELETED) this.#forget();
    const cause = refusalCauses.get(code) ?? 'forbidden';
    this.#refusal = { code, cause, reason, via };
    this.#setStatus({ status: 'error', code, reason });
    this.emit('refused', this.#refusal);
  }

  #scheduleRefresh() {
    this.#clearRefresh();
    const getToken = this.#getToken;
    if (!getToken || !this.#token || !this.#wantConnected) return;
    const exp = tokenExpiry(this.#token);
    if (exp === null) return;
    // Not sooner than 5 s from now, so that a token that is already nearly spent does not loop.
    const delay = Math.max(exp - this.#refreshBeforeMs - Date.now(), 5_000);
    this.#refreshTimer = setTimeout(async () => {
      this.#refreshTimer = null;
      try {
        const token = await getToken();
        if (typeof token === 'string' && token !== '' && !this.#destroyed) this.setToken(token);
      } catch (err) {
        this.#reportError('getToken failed', err);
      }
    }, delay);
  }

  #clearRefresh() {
    if (this.#refreshTimer !== null) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  #onClose(code, reason) {
    // Only a connection that proved healthy for a while resets the backoff.
    if (this.#syncedAt !== null && Date.now() - this.#syncedAt >= this.#stableMs) this.#backoff.reset();
    this.#syncedAt = null;
    this.#ws = null;
    this.#synced = false;
    this.#clearPing();
    this.#clearRefresh();
    this.awareness.attach(null);
    this.awareness.removeAll();
    if (this.#sentSeq > this.#ackedSeq) this.#dirty = true;
    if (this.#destroyed || !this.#wantConnected) {
      this.#setStatus({ status: 'offline', code, reason });
      return;
    }
    const serverError = this.#lastServerError;
    this.#lastServerError = null;
    if (isTerminal(code) || (serverError && isTerminal(serverError.code))) {
      const c = isTerminal(code) ? code : /** @type {number} */ (serverError?.code);
      const why = reason || serverError?.message || '';
      if (c === CloseCode.UNAUTHORIZED && this.#getToken && this.#refusedToken !== this.#token) {
        // An expired or revoked token: ask for a new one and try again, once.
        this.#refusedToken = this.#token;
        this.#refusalVia = 'close';
        this.#refusalReason = why;
        this.#scheduleRetry(c, why);
        return;
      }
      this.#refuse(c, why, 'close');
      return;
    }
    this.#scheduleRetry(code, reason);
  }

  /** #openTabs opens the channel to the other tabs that share the IndexedDB store. */
  #openTabs() {
    const store = this.#store;
    if (!(store instanceof IndexedDBStore) || typeof BroadcastChannel !== 'function' || this.#destroyed) return;
    const ch = new BroadcastChannel(`tandem:${store.name}:${this.docId}`);
    ch.onmessage = (ev) => {
      if (ev.data?.type === 'stored' && ev.data.from !== this.doc.clientId) this.#pullStore();
    };
    // In node, an open channel would keep the process alive.
    /** @type {any} */ (ch).unref?.();
    this.#tabs = ch;
  }

  /** #tellTabs tells the other tabs that this one stored changes it has not got to the server. */
  #tellTabs() {
    try {
      this.#tabs?.postMessage({ type: 'stored', from: this.doc.clientId });
    } catch {
      // The channel is closed: this provider is gone.
    }
  }

  /**
   * #pullStore reads what other tabs stored, applies it, and sends the server what it did not
   * have from us: the entries that changed this replica, and the delete set when the store marks
   * another tab's changes unacknowledged (a deletion changes no state vector).
   */
  #pullStore() {
    const store = this.#store;
    if (!store || this.#readOnly || this.#destroyed || this.#deleted || this.#pullQueued) return;
    this.#pullQueued = true;
    this.#enqueueStore(async () => {
      this.#pullQueued = false;
      const stored = await store.load(this.docId);
      /** @type {any[]} */
      const changes = [];
      /** @type {Uint8Array[]} */
      const fresh = [];
      const snapshot = stored.snapshot && !sameBytes(stored.snapshot, this.#seenSnapshot) ? stored.snapshot : null;
      if (snapshot) this.#seenSnapshot = snapshot;
      for (const bytes of [snapshot, ...stored.updates]) {
        if (!bytes) continue;
        const before = this.#fingerprint();
        try {
          const c = this.doc.apply(bytes);
          changes.push(...c);
          if (c.length > 0 || this.#fingerprint() !== before) fresh.push(bytes);
        } catch (err) {
          this.#reportError('stored update refused', err);
        }
      }
      if (changes.length > 0) this.emit('change', { changes, origin: 'store' });
      const others = stored.unsaved.filter((id) => id !== this.doc.clientId);
      if (fresh.length === 0 && others.length === 0) return;
      for (const id of others) this.#unsavedIds.add(id);
      this.#setSaved(false);
      if (!this.#synced || !this.#ws) {
        this.#dirty = true; // the next catch-up carries them
        return;
      }
      for (const u of fresh) this.#sendUpdate(u);
      if (others.length > 0) {
        this.#sendUpdate(this.doc.encodeUpdate(this.doc.stateVector()));
        this.#coverIds = [...new Set([...this.#coverIds, ...others])];
        this.#coverSeq = this.#sentSeq;
      }
    });
  }

  /** #forget deletes the offline copy of a document the server has deleted. */
  #forget() {
    this.#deleted = true;
    this.#unsavedIds.clear();
    this.#dirty = false;
    this.#storeStats = { snapshotBytes: 0, logEntries: 0, logBytes: 0 };
    const store = this.#store;
    if (store) this.#enqueueStore(() => store.clear(this.docId));
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  #scheduleRetry(code, reason) {
    const delay = this.#backoff.next();
    this.#setStatus({ status: 'offline', code, reason, retryInMs: delay });
    this.#clearRetry();
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      const go = () => {
        if (this.#wantConnected && !this.#ws && !this.#destroyed && this.#retryTimer === null) this.#open();
      };
      // An access check still under way may yet find a refusal: wait for it.
      if (this.#checking) this.#checking.then(go);
      else go();
    }, delay);
  }

  #clearRetry() {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  /**
   * #armPing (re)starts the liveness timer after any sign of life: a ping after silence, and a
   * reconnection when nothing answers it. Both waits are short while sent updates are
   * unacknowledged, when a dead connection costs the user a false "saving...".
   */
  #armPing() {
    this.#clearPing();
    if (this.#pingIntervalMs <= 0) return;
    const fast = this.#sentSeq > this.#ackedSeq;
    this.#pingFast = fast;
    this.#pingPhase = 'silence';
    this.#pingTimer = setTimeout(() => {
      this.#send({ type: MessageType.PING, nonce: ++this.#pingNonce });
      this.#pingPhase = 'pong';
      this.#pingTimer = setTimeout(() => {
        this.#pingTimer = null;
        this.#pingPhase = 'none';
        // Nothing came back: the connection is dead without having said so.
        this.#closeSocket(4000, 'no answer to ping');
        this.#onClose(1006, 'no answer to ping');
      }, fast ? this.#unsavedPongTimeoutMs : this.#pongTimeoutMs);
    }, fast ? this.#unsavedPingMs : this.#pingIntervalMs);
  }

  /** #pingSooner moves the liveness timer to the unsaved schedule after an update is sent. */
  #pingSooner() {
    if (this.#pingFast || this.#pingPhase !== 'silence' || this.#pingTimer === null) return;
    this.#armPing();
  }

  #clearPing() {
    if (this.#pingTimer !== null) clearTimeout(this.#pingTimer);
    this.#pingTimer = null;
    this.#pingPhase = 'none';
    this.#pingFast = false;
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  #closeSocket(code, reason) {
    const ws = this.#ws;
    if (!ws) return;
    if (this.#syncedAt !== null && Date.now() - this.#syncedAt >= this.#stableMs) this.#backoff.reset();
    this.#syncedAt = null;
    this.#ws = null;
    this.#synced = false;
    this.#clearPing();
    this.awareness.attach(null);
    // Without a connection nobody renews the others' states: drop them now (no ghosts).
    this.awareness.removeAll();
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code, reason);
    } catch {
      // Closing a socket that is already gone is fine.
    }
  }

  /** @param {any} msg */
  #send(msg) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== 1) return;
    try {
      ws.send(encodeFrame(msg, FROM_CLIENT));
    } catch (err) {
      this.#reportError('send failed', err);
    }
  }

  /** @param {StatusEvent} ev */
  #setStatus(ev) {
    const changed = ev.status !== this.#status || ev.code !== undefined;
    this.#status = ev.status;
    if (changed) this.emit('status', ev);
  }

  /** @param {boolean} saved */
  #setSaved(saved) {
    if (saved === this.#saved) return;
    this.#saved = saved;
    if (saved) this.emit('saved', { saved: true });
    else this.emit('unsaved', { saved: false });
  }

  /**
   * @param {string} what
   * @param {unknown} cause
   */
  #reportError(what, cause) {
    const msg = cause instanceof Error ? `${what}: ${cause.message}` : what;
    this.emit('error', new Error(`provider: ${msg}`, { cause }));
  }

  #listenToPage() {
    const w = /** @type {any} */ (globalThis);
    if (typeof w.addEventListener !== 'function' || typeof w.document === 'undefined') return;
    const onHide = () => {
      this.flush();
      this.awareness.goodbye();
      // Changes the server has not acknowledged: another tab may get them there.
      if (!this.#saved && !this.#readOnly) {
        this.#tellTabs();
        this.#storeChain.then(() => this.#tellTabs());
      }
    };
    const onShow = (/** @type {any} */ ev) => {
      if (ev.persisted && this.#synced && this.#ws) {
        const send = (/** @type {number} */ clock, /** @type {Uint8Array} */ state) => this.#send({ type: MessageType.AWARENESS, clock, state });
        this.awareness.attach(send);
      }
    };
    // A hidden page paints no frames: a flush waiting for one runs now (the tab may be frozen or
    // discarded next, without a pagehide).
    const onVisibility = () => {
      if (w.document.visibilityState === 'hidden' && this.#cancelFlush) this.flush();
    };
    w.addEventListener('pagehide', onHide);
    w.addEventListener('pageshow', onShow);
    w.document.addEventListener?.('visibilitychange', onVisibility);
    this.#cleanup.push(() => {
      w.removeEventListener('pagehide', onHide);
      w.removeEventListener('pageshow', onShow);
      w.document.removeEventListener?.('visibilitychange', onVisibility);
    });
  }

  /** #listenToNetwork follows the platform's online and offline events (browsers; not node). */
  #listenToNetwork() {
    const w = /** @type {any} */ (globalThis);
    if (typeof w.addEventListener !== 'function' || typeof w.navigator?.onLine !== 'boolean') return;
    const onOnline = () => {
      if (this.#wantConnected && !this.#ws) {
        this.#backoff.reset();
        this.#clearRetry();
        this.#open();
      }
    };
    // The network is gone: the socket may take half a minute to notice. Say so now.
    const onOffline = () => this.goOffline();
    w.addEventListener('online', onOnline);
    w.addEventListener('offline', onOffline);
    this.#cleanup.push(() => {
      w.removeEventListener('online', onOnline);
      w.removeEventListener('offline', onOffline);
    });
  }
}

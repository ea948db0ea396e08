// @ts-check
import { Emitter } from './emitter.js';

/**
 * Presence ("awareness"): small, ephemeral, per-client states (the user's name and colour, the
 * cursor and selection as relative positions) that the server relays to a document's other
 * editors and never stores.
 *
 * Rules that keep cursors honest (no ghosts):
 * - the local state is sent throttled (at most one message per `throttleMs`, the latest state
 *   wins) and renewed every `renewMs` (15 s) while it is set;
 * - a remote state that has not been renewed for `timeoutMs` (30 s) is dropped: a backstop for a
 *   peer that vanished without its server telling us;
 * - the server removes a departed connection's state and says so (an entry with an empty state);
 * - `goodbye()` (on `pagehide`) sends an empty state at once; `attach()` re-announces the full
 *   state on every (re)connection, so a restarted server learns it again.
 *
 * States are JSON objects; on the wire they are UTF-8 JSON bytes and an empty byte string means
 * "no state". Each client stamps its states with an increasing clock; the server stamps them with
 * the sender's client ID. A state larger than the server's limit (8 KiB by default) would make the
 * server close the connection after every reconnection, so setLocalState refuses it.
 */

/** @typedef {Record<string, unknown>} State */

/**
 * @typedef {object} AwarenessChange
 * @property {number[]} added    client IDs that appeared
 * @property {number[]} updated  client IDs whose state changed
 * @property {number[]} removed  client IDs that left or timed out
 */

/**
 * @typedef {object} AwarenessEntry
 * @property {number} clientId
 * @property {number} clock
 * @property {Uint8Array} state  UTF-8 JSON, or empty for "left"
 */

/** @typedef {(clock: number, state: Uint8Array) => void} AwarenessSend */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * @extends {Emitter<{ change: AwarenessChange, local: State | null }>}
 */
export class Awareness extends Emitter {
  /** @type {State | null} */
  #local = null;
  #clock = 0;
  /** @type {Map<number, { state: State, clock: number, seenAt: number }>} */
  #remote = new Map();
  /** @type {Map<number, number>} last clock seen per client, kept after removal to order late messages */
  #clocks = new Map();
  /** @type {AwarenessSend | null} */
  #send = null;
  #clientId;
  #throttleMs;
  #renewMs;
  #timeoutMs;
  #maxStateBytes;
  #now;
  #lastSentAt = -Infinity;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #flushTimer = null;
  /** @type {ReturnType<typeof setInterval> | null} */
  #tick = null;
  #dirty = false;
  #destroyed = false;

  /**
   * @param {object} [opts]
   * @param {number} [opts.clientId]    this replica's client ID (its own entries are ignored)
   * @param {number} [opts.throttleMs]  minimum time between two sends (default 100 ms)
   * @param {number} [opts.renewMs]     resend the local state this often (default 15 s)
   * @param {number} [opts.timeoutMs]   drop remote states not renewed for this long (default 30 s)
   * @param {() => number} [opts.now]   clock in milliseconds (default Date.now)
   * @param {number} [opts.maxStateBytes]  the largest state the server takes (default 8 KiB)
   */
  constructor(opts = {}) {
    super();
    this.#clientId = opts.clientId ?? 0;
    this.#throttleMs = opts.throttleMs ?? 100;
    this.#renewMs = opts.renewMs ?? 15_000;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#maxStateBytes = opts.maxStateBytes ?? 8192;
    this.#now = opts.now ?? (() => Date.now());
    const every = Math.max(250, Math.min(this.#renewMs, this.#timeoutMs) / 5);
    this.#tick = setInterval(() => this.#onTick(), every);
    unref(this.#tick);
  }

  /** clientId is the local replica's client ID. */
  get clientId() {
    return this.#clientId;
  }

  set clientId(id) {
    this.#clientId = id;
    this.#remote.delete(id);
  }

  /** getLocalState returns the local state (null when cleared). */
  getLocalState() {
    return this.#local;
  }

  /**
   * setLocalState replaces the local state; null clears it (the others stop seeing us). It throws
   * a RangeError, and keeps the state it had, when the state's JSON exceeds maxStateBytes.
   * @param {State | null} state
   */
  setLocalState(state) {
    if (state !== null) {
      const n = encoder.encode(JSON.stringify(state)).byteLength;
      if (n > this.#maxStateBytes) throw new RangeError(`awareness: a state of ${n} bytes exceeds the limit of ${this.#maxStateBytes}`);
    }
    this.#local = state === null ? null : { ...state };
    this.emit('local', this.#local);
    this.#schedule();
  }

  /**
   * setLocalStateField sets one field of the local state (creating the state if needed).
   * @param {string} key
   * @param {unknown} value
   */
  setLocalStateField(key, value) {
    this.setLocalState({ ...(this.#local ?? {}), [key]: value });
  }

  /** getStates returns the remote states by client ID (the local one is getLocalState()). */
  getStates() {
    /** @type {Map<number, State>} */
    const m = new Map();
    for (const [id, e] of this.#remote) m.set(id, e.state);
    return m;
  }

  /**
   * attach connects the awareness to a transport (on every connection) and sends the full local
   * state at once; detach with attach(null) when the connection closes. Remote states are
   * kept while detached and expire by timeout unless the server renews them.
   * @param {AwarenessSend | null} send
   */
  attach(send) {
    this.#send = send;
    if (send && this.#local !== null) {
      this.#dirty = true;
      this.#flush();
    }
  }

  /**
   * goodbye sends an empty state right away (for `pagehide`), keeping the local state so that a
   * page restored from the back-forward cache can announce itself again with attach().
   */
  goodbye() {
    if (!this.#send) return;
    this.#clearFlushTimer();
    this.#dirty = false;
    this.#clock++;
    this.#send(this.#clock, new Uint8Array(0));
    this.#lastSentAt = this.#now();
  }

  /**
   * receive applies entries from the server. An empty state removes the client; entries older than
   * what we have (by clock) are ignored; our own entries are ignored.
   * @param {AwarenessEntry[]} entries
   * @returns {AwarenessChange}
   */
  receive(entries) {
    /** @type {AwarenessChange} */
    const change = { added: [], updated: [], removed: [] };
    const now = this.#now();
    for (const { clientId, clock, state } of entries) {
      if (clientId === this.#clientId) continue;
      const known = this.#clocks.get(clientId);
      const cur = this.#remote.get(clientId);
      if (state.byteLength === 0) {
        if (known !== undefined && clock < known) continue;
        this.#clocks.set(clientId, clock);
        if (cur) {
          this.#remote.delete(clientId);
          change.removed.push(clientId);
        }
        continue;
      }
      // A renewal carries the same state with a higher clock; an equal clock is a replay (the
      // server re-sends current states to a joiner) and still counts as fresh.
      if (known !== undefined && clock < known) continue;
      /** @type {State} */
      let parsed;
      try {
        const v = JSON.parse(decoder.decode(state));
        if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
        parsed = v;
      } catch {
        continue; // a peer's malformed state is its problem, not ours
      }
      this.#clocks.set(clientId, clock);
      if (!cur) {
        this.#remote.set(clientId, { state: parsed, clock, seenAt: now });
        change.added.push(clientId);
      } else {
        const same = JSON.stringify(cur.state) === JSON.stringify(parsed);
        this.#remote.set(clientId, { state: parsed, clock, seenAt: now });
        if (!same) change.updated.push(clientId);
      }
    }
    this.#report(change);
    return change;
  }

  /**
   * removeAll forgets every remote state (for example when the document is closed).
   */
  removeAll() {
    const removed = [...this.#remote.keys()];
    this.#remote.clear();
    this.#report({ added: [], updated: [], removed });
  }

  /** destroy stops the timers; the object must not be used afterwards. */
  destroy() {
    this.#destroyed = true;
    this.#clearFlushTimer();
    if (this.#tick !== null) clearInterval(this.#tick);
    this.#tick = null;
    this.#send = null;
    this.clear();
  }

  /** @param {AwarenessChange} change */
  #report(change) {
    if (change.added.length || change.updated.length || change.removed.length) this.emit('change', change);
  }

  #schedule() {
    this.#dirty = true;
    if (!this.#send || this.#flushTimer !== null) return;
    const wait = this.#lastSentAt + this.#throttleMs - this.#now();
    if (wait <= 0) {
      this.#flush();
      return;
    }
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = null;
      this.#flush();
    }, wait);
  }

  #clearFlushTimer() {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
  }

  #flush() {
    if (!this.#send || !this.#dirty || this.#destroyed) return;
    this.#clearFlushTimer();
    this.#dirty = false;
    this.#clock++;
    const bytes = this.#local === null ? new Uint8Array(0) : encoder.encode(JSON.stringify(this.#local));
    this.#lastSentAt = this.#now();
    this.#send(this.#clock, bytes);
  }

  #onTick() {
    const now = this.#now();
    if (this.#send && this.#local !== null && now - this.#lastSentAt >= this.#renewMs) {
      this.#dirty = true;
      this.#flush();
    }
    /** @type {number[]} */
    const removed = [];
    for (const [id, e] of this.#remote) {
      if (now - e.seenAt >= this.#timeoutMs) {
        this.#remote.delete(id);
        removed.push(id);
      }
    }
    this.#report({ added: [], updated: [], removed });
  }
}

/**
 * unref lets node exit while a timer is pending (browsers have no such notion).
 * @param {unknown} t
 */
function unref(t) {
  if (t && typeof t === 'object' && 'unref' in t && typeof t.unref === 'function') t.unref();
}

// @ts-check
// Doc: a replica of one document (docs/crdt.md). Calls are synchronous: a local
// edit changes the replica, takeUpdate returns the bytes to send, apply takes
// bytes from elsewhere and returns what changed. The Doc reads no clock and no
// random source; it is not meant to be shared between concurrent callers.

import { LIMIT } from './encoding.js';
import { CrdtError, malformed } from './errors.js';
import { Run, Piece, SkipEntry, TEXT, MAP, SKIP, MARK, ATTR } from './seq.js';
import { RichState, MarkEntry, AttrEntry, spans, richEdits } from './rich.js';
import { TextState } from './text.js';
import { MapState, Assign } from './map.js';
import { Op, decodeUpdate, encodeUpdate, addRange, sortRanges, hasOrigins, OBJECT_REPLACEMENT } from './update.js';
import { ChangeLog } from './changes.js';
import { cpLength, cpCount, cpSlice, compareUtf8 } from './utf.js';
import { checkName, checkKey, checkJSON } from './names.js';
import { validClient } from './statevector.js';
import { REL_BEFORE, REL_AFTER, REL_START, REL_END } from './relpos.js';
import { encodeSnapshot, decodeSnapshot, snapshotToUpdate, loadSnapshot, FORMAT_SNAPSHOT, FORMAT_SNAPSHOT_V1, FORMAT_SNAPSHOT_V3 } from './snapshot.js';
import { Text, MapRoot } from './handles.js';
import { OpQueue, Cursor, WaitHeap, Bound, rangeBound, opBound, varLen, Exact, RangeList } from './pending.js';

/** DEFAULT_MAX_PENDING_BYTES bounds the pending buffer when no other bound is given. */
export const DEFAULT_MAX_PENDING_BYTES = 8 << 20;

/**
 * @typedef {import('./update.js').DeleteSet} DeleteSet
 * @typedef {import('./update.js').Update} Update
 * @typedef {import('./changes.js').Change} Change
 * @typedef {import('./relpos.js').RelPos} RelPos
 * @typedef {import('./statevector.js').StateVector} StateVector
 * @typedef {Run | Assign | SkipEntry | MarkEntry | AttrEntry} Entry
 * @typedef {import('./text.js').TextState} TextStateT
 * @typedef {import('./pending.js').Wait} Wait
 */

/**
 * Lane is how far a plan took one client's ops: its pending ops through cur,
 * its fresh ops (those of the update neither integrated nor pending) up to fi.
 * @typedef {{cur: Cursor, fresh: Op[], fi: number}} Lane
 */

/**
 * DsStep is what a plan does to one client's pending delete ranges: the first
 * k apply, the next one is cut to start at split (unless -1), add are added.
 * @typedef {{k: number, split: number, add: number[]}} DsStep
 */

/**
 * Undo records what a plan changed in the waits: the waits it took out of
 * the heaps, and each waiter's previous wait.
 * @typedef {{popped: Wait[], waitOf: [number, Wait | undefined][]}} Undo
 */

/**
 * ClientState holds what a replica has of one client: the clocks [0, next),
 * each in exactly one entry, entries ascending by clock.
 */
export class ClientState {
  /** @param {number} id */
  constructor(id) {
    this.id = id;
    this.next = 0;
    /** @type {Entry[]} */
    this.entries = [];
  }

  /**
   * find returns the index of the entry holding clock (< next).
   * @param {number} clock
   * @returns {number}
   */
  find(clock) {
    const es = this.entries;
    let lo = 0;
    let hi = es.length - 1;
    if (es[hi].clock <= clock) return hi;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (es[mid].clock <= clock) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * push appends an entry at clock next, merging consecutive skips.
   * @param {Entry} e
   */
  push(e) {
    const es = this.entries;
    if (e.kind === SKIP && es.length > 0 && es[es.length - 1].kind === SKIP) {
      es[es.length - 1].len += e.len;
    } else {
      es.push(e);
    }
    this.next += e.len;
  }
}

/** Doc is one replica of a document: named Text and Map roots. */
export class Doc {
  /**
   * @param {number} clientId this replica's client ID, an integer in [1, 2^53)
   * @param {{maxPendingBytes?: number}} [options] maxPendingBytes bounds the
   *   encoded size of the pending buffer (0 or absent means 8 MiB)
   */
  constructor(clientId, { maxPendingBytes = 0 } = {}) {
    if (!validClient(clientId)) {
      const err = new RangeError(`crdt: invalid client id ${clientId}: want an integer in [1, 2^53)`);
      /** @type {any} */ (err).kind = 'client';
      throw err;
    }
    /** @private */
    this._id = clientId;
    /** @type {Map<number, ClientState>} */
    this._clients = new Map();
    /** @type {Map<string, TextState>} */
    this._texts = new Map();
    /** @type {Map<string, MapState>} */
    this._maps = new Map();
    /** @type {Map<number, OpQueue>} per client, the units waiting for their dependencies */
    this._pq = new Map();
    /** @type {Map<number, RangeList>} per client, the delete ranges waiting for their units */
    this._pds = new Map();
    /** @type {Map<number, WaitHeap>} per client, the clients whose next pending op waits for one of its clocks */
    this._waits = new Map();
    /** @type {Map<number, Wait>} per client, the wait its next pending op is in (the one current) */
    this._waitOf = new Map();
    /** upper bound of the pending buffer's encoded size, in O(1) per op or range */
    this._bound = new Bound();
    /** @type {Exact | null} the exact encoded size of the pending buffer, kept while the bound is above half maxPendingBytes */
    this._exact = null;
    /** @type {Uint8Array | null | undefined} the pending buffer, encoded (null when empty, undefined until asked for) */
    this._pendingEnc = null;
    /** how many applies changed the pending set */
    this._pendingVer = 0;
    /** how many local edits and applies changed the content (contentVersion) */
    this._contentVer = 0;
    this._maxPending = maxPendingBytes > 0 ? maxPendingBytes : DEFAULT_MAX_PENDING_BYTES;
    /** this client's clock at the last takeUpdate */
    this._taken = 0;
    /**
     * Local deletions since the last takeUpdate, per client: flat [start, end)
     * ranges in the order they were made, a range that continues the last one
     * (deleting forward) or ends where it starts (backspacing) merged into it.
     * takeUpdate sorts and merges them (sortRanges) for the update. Kept sorted
     * instead, every deletion before the last one moved all the ranges after
     * it: a long session of edits away from the end paid for that on every
     * keystroke.
     * @type {DeleteSet}
     */
    this._localDs = new Map();
  }

  /** @returns {number} this replica's client ID */
  get clientId() {
    return this._id;
  }

  /**
   * text returns a handle on the Text root named name; the root exists once
   * something has been written to it.
   * @param {string} name
   * @returns {Text}
   */
  text(name) {
    return new Text(this, name);
  }

  /**
   * map returns a handle on the Map root named name.
   * @param {string} name
   * @returns {MapRoot}
   */
  map(name) {
    return new MapRoot(this, name);
  }

  /**
   * roots lists the roots that exist, sorted by name (as UTF-8 bytes), then
   * kind (text first).
   * @returns {{name: string, kind: 'text'|'map'}[]}
   */
  roots() {
    /** @type {{name: string, kind: 'text'|'map'}[]} */
    const out = [];
    for (const name of this._texts.keys()) out.push({ name, kind: 'text' });
    for (const name of this._maps.keys()) out.push({ name, kind: 'map' });
    return out.sort((a, b) => compareUtf8(a.name, b.name) || (a.kind === b.kind ? 0 : a.kind === 'text' ? -1 : 1));
  }

  /**
   * stateVector returns client -> next clock for every client with units.
   * @returns {StateVector}
   */
  stateVector() {
    /** @type {StateVector} */
    const sv = new Map();
    for (const cs of this._clients.values()) if (cs.next > 0) sv.set(cs.id, cs.next);
    return sv;
  }

  /** @returns {number} the encoded size in bytes of the pending buffer (0 when empty) */
  pendingBytes() {
    const p = this._pendingEncoded();
    return p === null ? 0 : p.length;
  }

  /**
   * pendingVersion returns a number that changes whenever the pending buffer
   * does (an apply that added or took pending units or ranges): a cheap way to
   * tell whether an apply left it as it was, where pendingBytes encodes it.
   * @returns {number}
   */
  pendingVersion() {
    return this._pendingVer;
  }

  /**
   * setMaxPendingBytes sets the bound of the pending buffer's encoded size for
   * the updates applied from now on (0 or less: 8 MiB), as Go's
   * SetMaxPendingBytes does. What waits already may then be past it: updates
   * are refused only when they make it larger (docs/crdt.md 1.6 rule 3).
   * @param {number} n
   */
  setMaxPendingBytes(n) {
    this._maxPending = n > 0 ? n : DEFAULT_MAX_PENDING_BYTES;
  }

  /**
   * contentVersion returns a number that changes whenever the content does: a
   * local edit, or an apply that changed something. Editor bindings that share
   * a replica use it to tell whether it changed since they last showed it.
   * @returns {number}
   */
  contentVersion() {
    return this._contentVer;
  }

  /**
   * takeUpdate returns the local changes since the last call as an update, or
   * null if there are none.
   * @returns {Uint8Array | null}
   */
  takeUpdate() {
    const me = this._clients.get(this._id);
    const to = me === undefined ? 0 : me.next;
    if (to === this._taken && this._localDs.size === 0) return null;
    /** @type {Map<number, Op[]>} */
    const ops = new Map();
    if (me !== undefined && to > this._taken) ops.set(this._id, this._collect(me, this._taken));
    /** @type {DeleteSet} */
    const ds = new Map();
    for (const [client, r] of this._localDs) ds.set(client, sortRanges(r));
    const bytes = encodeUpdate(ops, ds);
    this._taken = to;
    this._localDs = new Map();
    return bytes;
  }

  /**
   * encodeUpdate returns what a replica with state vector since lacks: every
   * unit above since, and the whole delete set.
   * @param {StateVector} [since]
   * @returns {Uint8Array}
   */
  encodeUpdate(since = new Map()) {
    /** @type {Map<number, Op[]>} */
    const ops = new Map();
    for (const cs of this._clients.values()) {
      const from = since.get(cs.id) ?? 0;
      if (cs.next > from) ops.set(cs.id, this._collect(cs, from));
    }
    return encodeUpdate(ops, this._deleteSet());
  }

  /**
   * encodeSnapshot returns the whole state (format 0x05, docs/crdt.md 2.4).
   * @returns {Uint8Array}
   */
  encodeSnapshot() {
    return encodeSnapshot(this);
  }

  /**
   * apply integrates an update (0x01) or a snapshot (0x05, or 0x02 of format
   * version 1) and returns what
   * changed. On error (CrdtError 'malformed' or 'pending-overflow') nothing
   * changes.
   * @param {Uint8Array} bytes
   * @returns {Change[]}
   */
  apply(bytes) {
    const changes = this._applyBytes(bytes);
    if (changes.length > 0) this._contentVer++;
    return changes;
  }

  /**
   * _applyBytes is apply without counting the change (contentVersion).
   * @param {Uint8Array} bytes
   * @returns {Change[]}
   */
  _applyBytes(bytes) {
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw malformed('empty input');
    if (bytes[0] === 0x01) return this._applyUpdate(decodeUpdate(bytes));
    if (bytes[0] === FORMAT_SNAPSHOT || bytes[0] === FORMAT_SNAPSHOT_V1 || bytes[0] === FORMAT_SNAPSHOT_V3) {
      const snap = decodeSnapshot(bytes);
      if (this._isEmpty()) return this._load(snap);
      const n = new Doc(this._id);
      loadSnapshot(n, snap, new ChangeLog());
      return this._applyUpdate(snapshotToUpdate(n, snap));
    }
    throw malformed('unknown format byte');
  }

  /**
   * resolve returns the visible index a relative position stands for (Start is
   * 0, End the length, 0 for a root that does not exist); it throws CrdtError
   * 'unknown' when its item is not known or not in that root.
   * @param {RelPos} rp
   * @returns {number}
   */
  resolve(rp) {
    const root = this._texts.get(rp.root);
    if (rp.kind === REL_START) return 0;
    if (rp.kind === REL_END) return root === undefined ? 0 : root.length;
    if (rp.kind !== REL_BEFORE && rp.kind !== REL_AFTER) throw new CrdtError('unknown', 'bad kind');
    const p = this.findPiece(rp.client, rp.clock);
    if (p === null || root === undefined || p.run.root !== root) throw new CrdtError('unknown', 'unknown item');
    const pos = root.seq.visBefore(p);
    if (p.deleted) return pos;
    return pos + (rp.clock - p.clock) + (rp.kind === REL_AFTER ? 1 : 0);
  }

  /**
   * _load loads a snapshot into this empty document: a linear build into a new
   * state, then the snapshot's pending units through the usual path; the state
   * is replaced only if all of it succeeds.
   * @param {import('./snapshot.js').Snapshot} snap
   * @returns {Change[]}
   */
  _load(snap) {
    const n = new Doc(this._id, { maxPendingBytes: this._maxPending });
    const log = new ChangeLog();
    loadSnapshot(n, snap, log);
    if (snap.pending !== null) {
      for (const c of n._applyUpdate(snap.pending)) {
        const root = c.kind === 'text' ? n._textRoot(c.root) : n._mapRoot(c.root);
        for (const e of c.edits) {
          if (e.delete > 0) log.delete(root, e.pos, e.delete);
          if (e.insert !== '') log.insert(root, e.pos, e.insert, cpLength(e.insert));
        }
        for (const k of c.keys) log.key(root, k);
        if (c.formats.length + c.attrs.length > 0) {
          const e = log.entry(root, c.root, 'text');
          e.change.formats.push(...c.formats);
          e.change.attrs.push(...c.attrs);
        }
      }
    }
    n._richChanges(log);
    this._clients = n._clients;
    this._texts = n._texts;
    this._maps = n._maps;
    this._pq = n._pq;
    this._pds = n._pds;
    this._waits = n._waits;
    this._waitOf = n._waitOf;
    this._bound = n._bound;
    this._exact = n._exact;
    this._pendingEnc = n._pendingEnc;
    this._pendingVer++;
    this._taken = this._next(this._id);
    return log.result();
  }

  /** @returns {boolean} whether nothing is integrated and nothing pending */
  _isEmpty() {
    if (this._bound.entries !== 0) return false;
    for (const cs of this._clients.values()) if (cs.next > 0) return false;
    return true;
  }

  // ---- internal: index ----

  /**
   * findPiece returns the piece holding text item (client, clock), or null if
   * that unit is not integrated or not a text item.
   * @param {number} client
   * @param {number} clock
   * @returns {Piece | null}
   */
  findPiece(client, clock) {
    const cs = this._clients.get(client);
    if (cs === undefined || clock >= cs.next) return null;
    const e = cs.entries[cs.find(clock)];
    if (e.kind !== TEXT) return null;
    return e.pieceAt(clock);
  }

  /**
   * @param {number} id
   * @returns {ClientState}
   */
  _client(id) {
    let cs = this._clients.get(id);
    if (cs === undefined) {
      cs = new ClientState(id);
      this._clients.set(id, cs);
    }
    return cs;
  }

  /**
   * @param {string} name
   * @returns {TextState}
   */
  _textRoot(name) {
    let r = this._texts.get(name);
    if (r === undefined) {
      r = new TextState(name);
      this._texts.set(name, r);
    }
    return r;
  }

  /**
   * @param {string} name
   * @returns {MapState}
   */
  _mapRoot(name) {
    let r = this._maps.get(name);
    if (r === undefined) {
      r = new MapState(name);
      this._maps.set(name, r);
    }
    return r;
  }

  // ---- internal: local edits (called by the handles) ----

  /**
   * _recordDelete records the local deletion of clocks [clock, clock+len) of
   * client (TextState.localDelete calls it for every deleted range).
   * @param {number} client
   * @param {number} clock
   * @param {number} len
   */
  _recordDelete(client, clock, len) {
    const r = this._localDs.get(client);
    const end = clock + len;
    if (r === undefined) this._localDs.set(client, [clock, end]);
    else if (r[r.length - 1] === clock) r[r.length - 1] = end;
    else if (r[r.length - 2] === end) r[r.length - 2] = clock;
    else r.push(clock, end);
  }

  /**
   * @param {string} name
   * @param {number} pos
   * @param {string} str
   */
  _insert(name, pos, str) {
    // A root exists only under a valid name: check names that have none yet.
    const root = this._texts.get(name);
    if (root === undefined && !checkName(name)) throw new CrdtError('name', 'invalid root name');
    const len = root === undefined ? 0 : root.length;
    if (!Number.isInteger(pos) || pos < 0 || pos > len) throw new CrdtError('range', `position ${pos} out of range [0, ${len}]`);
    const n = typeof str === 'string' ? cpCount(str) : -1;
    if (n < 0) throw new CrdtError('text', 'invalid text: not encodable as utf-8');
    if (n === 0) return;
    const me = this._client(this._id);
    if (me.next + n >= LIMIT) throw new CrdtError('clock', 'clock overflow');
    this._contentVer++;
    (root ?? this._textRoot(name)).localInsert(me, pos, str, n);
  }

  /**
   * @param {string} name
   * @param {RelPos} rp
   * @param {string} str
   * @param {string | null} [embed] the JSON of an embed (str is U+FFFC)
   */
  _insertAt(name, rp, str, embed = null) {
    const root = this._texts.get(name);
    /** @type {Piece | null} */
    let p = null;
    if (rp.root !== name) throw new CrdtError('unknown', 'relative position of another root');
    if (rp.kind === REL_BEFORE || rp.kind === REL_AFTER) {
      p = this.findPiece(rp.client, rp.clock);
      if (p === null || root === undefined || p.run.root !== root) throw new CrdtError('unknown', 'unknown item');
    } else if (rp.kind !== REL_START && rp.kind !== REL_END) {
      throw new CrdtError('unknown', 'bad kind');
    } else if (root === undefined && !checkName(name)) {
      throw new CrdtError('name', 'invalid root name');
    }
    const n = typeof str === 'string' ? cpCount(str) : -1;
    if (n < 0) throw new CrdtError('text', 'invalid text: not encodable as utf-8');
    if (n === 0) return;
    const me = this._client(this._id);
    if (me.next + n >= LIMIT) throw new CrdtError('clock', 'clock overflow');
    this._contentVer++;
    (root ?? this._textRoot(name)).insertAt(me, p, rp.clock, rp.kind === REL_BEFORE || rp.kind === REL_END, str, n, embed);
  }

  /**
   * @param {string} name
   * @param {number} pos
   * @param {number} n
   */
  _delete(name, pos, n) {
    const root = this._texts.get(name);
    const len = root === undefined ? 0 : root.length;
    if (!Number.isInteger(pos) || !Number.isInteger(n) || pos < 0 || n < 0 || pos + n > len) {
      throw new CrdtError('range', `delete [${pos}, ${pos}+${n}) out of range [0, ${len}]`);
    }
    if (n === 0 || root === undefined) return;
    this._contentVer++;
    root.localDelete(pos, n, this);
  }

  /**
   * @param {string} name
   * @param {string} key
   * @param {string | null} value JSON text, null to delete
   */
  _assign(name, key, value) {
    if (value !== null && !checkJSON(value)) throw new CrdtError('json', 'invalid json value');
    if (!checkName(name)) throw new CrdtError('name', 'invalid root name');
    if (!checkKey(key)) throw new CrdtError('name', 'invalid map key');
    const me = this._client(this._id);
    if (me.next + 1 >= LIMIT) throw new CrdtError('clock', 'clock overflow');
    const root = this._mapRoot(name);
    const w = root.winners.get(key);
    const a = new Assign(this._id, me.next, root, key, w === undefined ? 1 : w.lamport + 1, value);
    me.push(a);
    this._contentVer++;
    root.integrate(a);
  }

  // ---- internal: rich text (docs/crdt.md section 4) ----

  /**
   * @param {string} name
   * @param {number} pos
   * @param {string} json the embed's JSON text
   */
  _insertEmbed(name, pos, json) {
    if (!checkJSON(json)) throw new CrdtError('json', 'invalid json value');
    const root = this._texts.get(name);
    if (root === undefined && !checkName(name)) throw new CrdtError('name', 'invalid root name');
    const len = root === undefined ? 0 : root.length;
    if (!Number.isInteger(pos) || pos < 0 || pos > len) throw new CrdtError('range', `embed at ${pos} in a text of ${len}`);
    const me = this._client(this._id);
    if (me.next + 1 >= LIMIT) throw new CrdtError('clock', 'clock overflow');
    this._contentVer++;
    (root ?? this._textRoot(name)).localInsert(me, pos, OBJECT_REPLACEMENT, 1, json);
  }

  /**
   * @param {string} name
   * @param {RelPos} rp
   * @param {string} json
   */
  _insertEmbedAt(name, rp, json) {
    if (!checkJSON(json)) throw new CrdtError('json', 'invalid json value');
    this._insertAt(name, rp, OBJECT_REPLACEMENT, json);
  }

  /**
   * _itemAt returns the ID of the visible item at pos of root.
   * @param {TextState} root
   * @param {number} pos
   * @returns {[number, number]}
   */
  _itemAt(root, pos) {
    const p = root.seq.findVis(pos);
    return [p.client, p.clock + root.seq.off];
  }

  /**
   * @param {string} name
   * @param {number} pos
   * @param {number} n
   * @param {string} mark
   * @param {string | null} json the mark's JSON text, null to remove
   * @param {number} expand Go's Expand bits
   */
  _format(name, pos, n, mark, json, expand) {
    if (!checkKey(mark) || mark === '') throw new CrdtError('name', 'invalid mark name');
    if (json !== null && !checkJSON(json)) throw new CrdtError('json', 'invalid json value');
    const root = this._texts.get(name);
    const len = root === undefined ? 0 : root.length;
    if (!Number.isInteger(pos) || !Number.isInteger(n) || pos < 0 || n < 0 || pos + n > len) {
      throw new CrdtError('range', `format ${pos}+${n} in a text of ${len}`);
    }
    if (n === 0 || root === undefined) return;
    const me = this._client(this._id);
    if (me.next + 1 >= LIMIT) throw new CrdtError('clock', 'clock overflow');
    let sk = REL_START;
    let sc = 0;
    let sclock = 0;
    if ((expand & 1) === 0) {
      sk = REL_BEFORE;
      [sc, sclock] = this._itemAt(root, pos);
    } else if (pos > 0) {
      sk = REL_AFTER;
      [sc, sclock] = this._itemAt(root, pos - 1);
    }
    let ek = REL_END;
    let ec = 0;
    let eclock = 0;
    if ((expand & 2) === 0) {
      ek = REL_AFTER;
      [ec, eclock] = this._itemAt(root, pos + n - 1);
    } else if (pos + n < len) {
      ek = REL_BEFORE;
      [ec, eclock] = this._itemAt(root, pos + n);
    }
    const rt = root.rich ?? (root.rich = new RichState());
    const m = new MarkEntry(this._id, me.next, root, sk, sc, sclock, ek, ec, eclock, mark, rt.lamport + 1, json);
    me.push(m);
    this._contentVer++;
    rt.addMark(m);
  }

  /**
   * @param {string} name
   * @param {number} pos
   * @param {string} key
   * @param {string} json
   */
  _setAttr(name, pos, key, json) {
    if (!checkKey(key)) throw new CrdtError('name', 'invalid attribute key');
    if (!checkJSON(json)) throw new CrdtError('json', 'invalid json value');
    const root = this._texts.get(name);
    const len = root === undefined ? 0 : root.length;
    if (!Number.isInteger(pos) || pos < 0 || pos >= len) throw new CrdtError('range', `attribute at ${pos} in a text of ${len}`);
    const r = /** @type {TextState} */ (root);
    const p = r.seq.findVis(pos);
    if (p.run.embed === null) throw new CrdtError('embed', `position ${pos} holds no embed`);
    const me = this._client(this._id);
    if (me.next + 1 >= LIMIT) throw new CrdtError('clock', 'clock overflow');
    const rt = r.rich ?? (r.rich = new RichState());
    const a = new AttrEntry(this._id, me.next, r, p.client, p.clock, key, rt.lamport + 1, json);
    me.push(a);
    this._contentVer++;
    rt.addAttr(a);
  }

  /**
   * _spans returns the spans of the visible positions [from, to) of a Text root, values as JSON text.
   * @param {string} name
   * @param {number} from
   * @param {number} to
   * @returns {import('./handles.js').RawSpan[]}
   */
  _spans(name, from, to) {
    const r = this._texts.get(name);
    if (r === undefined) return [];
    return spans(this, r, from, to);
  }

  /**
   * _hasRich reports whether a Text root holds a mark, an attribute or a
   * visible embed, which makes a snapshot a version 3 one.
   * @returns {boolean}
   */
  _hasRich() {
    for (const r of this._texts.values()) {
      if (r.rich !== null && (r.rich.nMarks > 0 || r.rich.attrs.size > 0)) return true;
    }
    for (const cs of this._clients.values()) {
      for (const e of cs.entries) if (e.kind === TEXT && e.embed !== null && !e.first.deleted) return true;
    }
    return false;
  }

  // ---- internal: encoding ----

  /**
   * _collect returns the ops of client cs from clock `from` on, one per piece,
   * map assignment or skip (the encoder merges them into canonical form).
   * @param {ClientState} cs
   * @param {number} from
   * @returns {Op[]}
   */
  _collect(cs, from) {
    /** @type {Op[]} */
    const out = [];
    const es = cs.entries;
    const client = cs.id;
    for (let i = cs.find(from); i < es.length; i++) {
      const e = es[i];
      if (e.kind === TEXT) {
        const n = e.count;
        for (let j = e.clock >= from || e.pieces === null ? 0 : e.pieceIndex(from); j < n; j++) {
          const p = e.piece(j);
          let clock = p.clock;
          let len = p.len;
          let str = p.str;
          if (clock < from) {
            if (!p.deleted) str = cpSlice(str, len, from - clock, len);
            len -= from - clock;
            clock = from;
          }
          const op = new Op(TEXT, client, clock, len);
          op.root = e.root.name;
          if (clock === e.clock) {
            op.lc = e.lc;
            op.lk = e.lk;
          } else {
            op.lc = client;
            op.lk = clock - 1;
          }
          op.rc = e.rc;
          op.rk = e.rk;
          op.deleted = p.deleted;
          op.str = str;
          if (e.embed !== null && !p.deleted) op.embed = e.embed;
          out.push(op);
        }
      } else if (e.kind === MARK) {
        const op = new Op(MARK, client, e.clock, 1);
        op.root = e.root.name;
        op.sk = e.skind;
        op.lc = e.sc;
        op.lk = e.sk;
        op.ek = e.ekind;
        op.rc = e.ec;
        op.rk = e.ek;
        op.key = e.name;
        op.lamport = e.lamport;
        op.value = e.value;
        out.push(op);
      } else if (e.kind === ATTR && !e.lost) {
        const op = new Op(ATTR, client, e.clock, 1);
        op.root = e.root.name;
        op.lc = e.tc;
        op.lk = e.tk;
        op.key = e.key;
        op.lamport = e.lamport;
        op.value = e.value;
        out.push(op);
      } else if (e.kind === MAP && !e.lost) {
        const op = new Op(MAP, client, e.clock, 1);
        op.root = e.root.name;
        op.key = e.key;
        op.lamport = e.lamport;
        op.value = e.value;
        out.push(op);
      } else {
        const clock = Math.max(e.clock, from);
        out.push(new Op(SKIP, client, clock, e.clock + e.len - clock));
      }
    }
    return out;
  }

  /**
   * _deleteSet returns the delete set: per client, the clocks of its deleted
   * text items.
   * @returns {DeleteSet}
   */
  _deleteSet() {
    /** @type {DeleteSet} */
    const ds = new Map();
    for (const cs of this._clients.values()) {
      /** @type {number[]} */
      const r = [];
      for (const e of cs.entries) {
        if (e.kind !== TEXT) continue;
        for (let j = 0, n = e.count; j < n; j++) {
          const p = e.piece(j);
          if (p.deleted) addRange(r, p.clock, p.clock + p.len);
        }
      }
      if (r.length > 0) ds.set(cs.id, r);
    }
    return ds;
  }

  // ---- internal: applying updates ----

  /**
   * _applyUpdate works out what of u integrates now and what waits, refuses
   * it if the pending buffer would overflow, and only then changes the
   * document. It visits the clients u names and those whose
   * waits the integrated ops release, never the whole pending set.
   * @param {Update} u
   * @returns {Change[]}
   */
  _applyUpdate(u) {
    const fresh = this._fresh(u.ops);
    /** @type {Map<number, number>} */
    const vsv = new Map();
    /** @type {Map<number, Lane>} */
    const lanes = new Map();
    /** @type {Undo} */
    const undo = { popped: [], waitOf: [] };
    const order = this._plan(fresh, vsv, lanes, undo);
    const at = (/** @type {number} */ c) => vsv.get(c) ?? this._next(c);
    // The bound after this update: ops taken out, ops left to wait counted in.
    const bound = this._bound.clone();
    for (const lane of lanes.values()) {
      if (lane.cur.taken > 0) {
        const c = new Cursor(lane.cur.q);
        for (let i = 0; i < lane.cur.taken; i++) {
          bound.addOp(/** @type {Op} */ (c.peek()), -1);
          c.next();
        }
      }
      for (let i = lane.fi; i < lane.fresh.length; i++) bound.addOp(lane.fresh[i], 1);
    }
    // Delete ranges below the new state vector apply, the rest wait. Only the
    // clients u deletes from and those whose clock moved are looked at.
    /** @type {DeleteSet} */
    const nowDs = new Map();
    /** @type {Map<number, DsStep>} */
    const dsSteps = new Map();
    /** @type {Set<number>} */
    const dsClients = new Set(u.ds.keys());
    for (const c of vsv.keys()) if (this._pds.has(c)) dsClients.add(c);
    for (const client of dsClients) {
      const v = at(client);
      const p = this._pds.get(client);
      let k = 0;
      let split = -1;
      if (p !== undefined) {
        // The ranges below v apply and go (each looked at once), the one
        // that holds v is cut there.
        for (const c of p.chunks) {
          let j = 0;
          for (; j < c.length; j += 2) {
            const s = c[j];
            const e = c[j + 1];
            if (e > v) {
              if (s < v) {
                addTo(nowDs, client, s, v);
                bound.fixed += rangeBound(v, e) - rangeBound(s, e);
                split = v;
              }
              break;
            }
            addTo(nowDs, client, s, e);
            bound.fixed -= rangeBound(s, e);
            k++;
          }
          if (j < c.length) break;
        }
      }
      /** @type {number[]} */
      const add = [];
      const r = u.ds.get(client);
      if (r !== undefined) {
        for (let j = 0; j < r.length; j += 2) {
          const s = r[j];
          const e = r[j + 1];
          if (s < v) addTo(nowDs, client, s, Math.min(e, v));
          if (e > v) {
            add.push(Math.max(s, v), e);
            bound.fixed += rangeBound(Math.max(s, v), e);
          }
        }
      }
      const had = p !== undefined;
      const has = (p !== undefined && k < p.count) || add.length > 0;
      if (had && !has) bound.addDsClient(client, -1);
      else if (!had && has) bound.addDsClient(client, 1);
      dsSteps.set(client, { k, split, add });
    }
    // The bound decides while it is under the limit; above it, the exact size
    // kept near the limit plus what this update may add at most; above that
    // too, the pending set is encoded to decide.
    /** @type {Uint8Array | null | undefined} */
    let enc;
    if (bound.value() > this._maxPending && (this._exact === null || this._exactAfter(lanes, dsSteps) > this._maxPending)) {
      enc = this._encodeRest(lanes, dsSteps);
      if (enc !== null && enc.length > this._maxPending) {
        // Past the limit, an update is refused when it makes what waits larger: one that brings
        // (some of) what waits the units it waits for is taken, or nothing would leave a pending
        // set that is past the limit already (raised for updates accepted elsewhere, or lowered
        // since: setMaxPendingBytes).
        const before = this._pendingEnc;
        if (before === undefined) {
          // Not encoded yet: encoded as it was, the plan undone, then planned again.
          this._rollback(undo);
          this._pendingEncoded();
          return this._applyUpdate(u);
        }
        if (enc.length > (before === null ? 0 : before.length)) {
          this._rollback(undo);
          throw new CrdtError('pending-overflow', `pending buffer would hold ${enc.length} bytes, more than ${this._maxPending}`);
        }
      }
    }
    // Commit: nothing below throws.
    const log = new ChangeLog();
    const me = this._clients.get(this._id);
    const myNext = me === undefined ? 0 : me.next;
    for (const op of order) this._integrate(op, log);
    for (const [client, r] of nowDs) this._deleteRanges(client, r, log);
    this._richChanges(log);
    let changed = false;
    const ex = this._exact;
    for (const [client, lane] of lanes) {
      if (lane.cur.taken > 0 || lane.fi < lane.fresh.length) changed = true;
      let q = this._pq.get(client);
      if (q !== undefined) {
        if (ex !== null && lane.cur.taken > 0) {
          const c = new Cursor(q);
          for (let i = 0; i < lane.cur.taken; i++) {
            const op = /** @type {Op} */ (c.peek());
            c.next();
            ex.removeFirst(op, c.peek());
          }
        }
        q.dropFront(lane.cur.taken);
      }
      if (lane.fi < lane.fresh.length) {
        if (q === undefined) this._pq.set(client, (q = new OpQueue()));
        for (let i = lane.fi; i < lane.fresh.length; i++) {
          const op = lane.fresh[i];
          q.insert(op);
          if (ex !== null) {
            const [prev, next] = q.around(op);
            ex.insert(op, prev, next);
          }
        }
      }
      if (q !== undefined && q.size === 0) this._pq.delete(client);
    }
    for (const [client, st] of dsSteps) {
      if (st.k > 0 || st.split !== -1 || st.add.length > 0) changed = true;
      let l = this._pds.get(client);
      if (l === undefined) {
        if (st.add.length === 0) continue;
        this._pds.set(client, (l = new RangeList()));
      }
      l.dropFront(st.k);
      if (st.split !== -1) l.cutFirst(st.split);
      for (let j = 0; j < st.add.length; j += 2) l.add(st.add[j], st.add[j + 1]);
      if (ex !== null) ex.setRanges(client, l.count, l.bytes);
      if (l.count === 0) this._pds.delete(client);
    }
    if (enc === undefined) {
      this._bound = bound;
    } else {
      this._bound = this._recount();
    }
    const b = this._bound.value();
    if (this._exact === null && b > this._maxPending / 2) this._exact = this._exactFromScratch();
    else if (this._exact !== null && b < this._maxPending / 4) this._exact = null;
    if (changed) {
      this._pendingEnc = enc;
      this._pendingVer++;
    }
    if (this._taken === myNext) this._taken = this._next(this._id);
    return log.result();
  }

  /**
   * _fresh returns, per client, the parts of ops neither integrated nor
   * pending (a clock already pending keeps its first version).
   * @param {Map<number, Op[]>} ops
   * @returns {Map<number, Op[]>}
   */
  _fresh(ops) {
    /** @type {Map<number, Op[]>} */
    const fresh = new Map();
    for (const [client, list] of ops) {
      const v = this._next(client);
      const q = this._pq.get(client);
      /** @type {Op[]} */
      const out = [];
      for (const op of list) {
        const end = op.clock + op.len;
        let s = Math.max(op.clock, v);
        while (s < end) {
          const p = q === undefined ? null : q.ceil(s);
          if (p !== null && p.clock <= s) {
            s = p.clock + p.len;
            continue;
          }
          const t = p !== null ? Math.min(end, p.clock) : end;
          out.push(sliceOp(op, s, t));
          s = t;
        }
      }
      if (out.length > 0) fresh.set(client, out);
    }
    return fresh;
  }

  /**
   * _plan returns the ops that can be integrated now, in an order that respects
   * their dependencies (a client's previous clock, the origins), and leaves in
   * vsv the state vector they lead to and in lanes how far each visited
   * client's pending and fresh ops were taken. It starts from the clients with
   * fresh ops; a client whose clock moves wakes the clients waiting for its
   * clocks below the new one; a client whose next op waits for an origin is
   * put in the waits of the origin's client (changes recorded in undo). An op
   * whose origins turn out not to be text items of its root (an origin that
   * arrived later as something else) becomes a skip: its clocks are used, and
   * it carries nothing.
   * @param {Map<number, Op[]>} fresh
   * @param {Map<number, number>} vsv
   * @param {Map<number, Lane>} lanes
   * @param {Undo} undo
   * @returns {Op[]}
   */
  _plan(fresh, vsv, lanes, undo) {
    /** @type {Op[]} */
    const order = [];
    /** @type {Map<number, Op[]>} */
    const planned = new Map();
    const at = (/** @type {number} */ c) => vsv.get(c) ?? this._next(c);
    const work = [...fresh.keys()];
    for (let wi = 0; wi < work.length; wi++) {
      const client = work[wi];
      let lane = lanes.get(client);
      if (lane === undefined) {
        lane = { cur: new Cursor(this._pq.get(client)), fresh: fresh.get(client) ?? [], fi: 0 };
        lanes.set(client, lane);
      }
      const v0 = at(client);
      let v = v0;
      let steps = planned.get(client);
      let on = 0;
      let onClock = 0;
      for (;;) {
        const a = lane.cur.peek();
        const b = lane.fi < lane.fresh.length ? lane.fresh[lane.fi] : null;
        const fromFresh = b !== null && (a === null || b.clock < a.clock);
        const op = fromFresh ? b : a;
        if (op === null || op.clock !== v) break;
        let step = op;
        if (hasOrigins(op)) {
          if (op.lc !== 0 && op.lk >= at(op.lc)) {
            on = op.lc;
            onClock = op.lk;
            break;
          }
          if (op.rc !== 0 && op.rk >= at(op.rc)) {
            on = op.rc;
            onClock = op.rk;
            break;
          }
          if ((op.lc !== 0 && !this._plannedText(planned, op.lc, op.lk, op.root)) || (op.rc !== 0 && !this._plannedText(planned, op.rc, op.rk, op.root))) {
            step = new Op(SKIP, op.client, op.clock, op.len);
          }
        }
        if (fromFresh) lane.fi++;
        else lane.cur.next();
        order.push(step);
        if (steps === undefined) planned.set(client, (steps = []));
        steps.push(step);
        v = op.clock + op.len;
      }
      const old = this._waitOf.get(client);
      if (on !== 0) {
        if (old === undefined || old.on !== on || old.clock !== onClock) {
          /** @type {Wait} */
          const w = { waiter: client, on, clock: onClock };
          undo.waitOf.push([client, old]);
          this._waitOf.set(client, w);
          this._heap(on).push(w);
        }
      } else if (old !== undefined) {
        undo.waitOf.push([client, old]);
        this._waitOf.delete(client);
      }
      if (v > v0) {
        vsv.set(client, v);
        const h = this._waits.get(client);
        if (h !== undefined) {
          for (let w = h.popBelow(v); w !== null; w = h.popBelow(v)) {
            undo.popped.push(w);
            if (this._waitOf.get(w.waiter) === w) work.push(w.waiter);
          }
          if (h.a.length === 0) this._waits.delete(client);
        }
      }
    }
    return order;
  }

  /**
   * _heap returns the waits for clocks of client, made if need be.
   * @param {number} client
   * @returns {WaitHeap}
   */
  _heap(client) {
    let h = this._waits.get(client);
    if (h === undefined) this._waits.set(client, (h = new WaitHeap()));
    return h;
  }

  /**
   * _rollback undoes what a refused plan changed in the waits.
   * @param {Undo} undo
   */
  _rollback(undo) {
    for (let i = undo.waitOf.length - 1; i >= 0; i--) {
      const [c, w] = undo.waitOf[i];
      if (w === undefined) this._waitOf.delete(c);
      else this._waitOf.set(c, w);
    }
    for (const w of undo.popped) this._heap(w.on).push(w);
  }

  /**
   * _encodeRest encodes the pending set as the plan would leave it (null when
   * empty).
   * @param {Map<number, Lane>} lanes
   * @param {Map<number, DsStep>} dsSteps
   * @returns {Uint8Array | null}
   */
  _encodeRest(lanes, dsSteps) {
    /** @type {Map<number, Op[]>} */
    const ops = new Map();
    for (const [client, q] of this._pq) {
      if (!lanes.has(client)) ops.set(client, q.toArray());
    }
    for (const [client, lane] of lanes) {
      const q = this._pq.get(client);
      const kept = q === undefined ? [] : q.toArray().slice(lane.cur.taken);
      const left = lane.fresh.slice(lane.fi);
      /** @type {Op[]} */
      const both = [];
      let i = 0;
      let j = 0;
      while (i < kept.length || j < left.length) {
        if (j === left.length || (i < kept.length && kept[i].clock < left[j].clock)) both.push(kept[i++]);
        else both.push(left[j++]);
      }
      if (both.length > 0) ops.set(client, both);
    }
    /** @type {DeleteSet} */
    const ds = new Map();
    for (const [client, l] of this._pds) if (!dsSteps.has(client)) ds.set(client, l.toFlat());
    for (const [client, st] of dsSteps) {
      const r = restRanges(this._pds.get(client), st);
      if (r.length > 0) ds.set(client, r);
    }
    return ops.size === 0 && ds.size === 0 ? null : encodeUpdate(ops, ds);
  }

  /**
   * _exactAfter returns an upper bound of the encoded pending set after an
   * apply with lanes and dsSteps: its exact size now (this._exact) plus what
   * the apply may add at most. The ops that wait are counted as the bound
   * counts them, with indices of 8 bytes; each client whose first ops or
   * delete ranges go may write its block start, group head or first gap up
   * to 24 bytes longer; and each count of the update one byte longer. Only
   * when that passes the limit is the pending set encoded to decide.
   * @param {Map<number, Lane>} lanes
   * @param {Map<number, DsStep>} dsSteps
   * @returns {number}
   */
  _exactAfter(lanes, dsSteps) {
    const ex = /** @type {Exact} */ (this._exact);
    const e = ex.size();
    let add = 6;
    // Table entries the apply may add: the indices of every table get as
    // wide as the larger table then needs.
    let names = dsSteps.size;
    let roots = 0;
    for (const lane of lanes.values()) {
      if (lane.cur.taken > 0) add += 24;
      for (let i = lane.fi; i < lane.fresh.length; i++) {
        const op = lane.fresh[i];
        const b = opBound(op);
        add += b.fixed + 8 * b.idx;
        names += 1 + (op.lc !== 0 ? 1 : 0) + (op.rc !== 0 ? 1 : 0);
        if (op.kind !== SKIP) roots++;
      }
    }
    for (const [client, st] of dsSteps) {
      add += 24 + 8 + varLen(client);
      for (let j = 0; j < st.add.length; j += 2) add += rangeBound(st.add[j], st.add[j + 1]);
    }
    const w = varLen(Math.max(ex.clients.size + names, ex.roots() + roots, 1) - 1);
    return e.size + ex.idx * (w - 1) + add;
  }

  /**
   * _exactFromScratch computes the exact size of the pending set: O(n), when
   * its bound first passes half maxPendingBytes.
   * @returns {Exact}
   */
  _exactFromScratch() {
    const ex = new Exact();
    for (const q of this._pq.values()) {
      /** @type {Op | null} */
      let prev = null;
      for (const c of q.chunks) {
        for (const op of c) {
          ex.insert(op, prev, null);
          prev = op;
        }
      }
    }
    for (const [client, l] of this._pds) ex.setRanges(client, l.count, l.bytes);
    return ex;
  }

  /**
   * _recount computes the pending bound afresh from the pending set.
   * @returns {Bound}
   */
  _recount() {
    const b = new Bound();
    for (const q of this._pq.values()) for (const c of q.chunks) for (const op of c) b.addOp(op, 1);
    for (const [client, l] of this._pds) {
      b.addDsClient(client, 1);
      for (const r of l.chunks) for (let j = 0; j < r.length; j += 2) b.fixed += rangeBound(r[j], r[j + 1]);
    }
    return b;
  }

  /**
   * _pendingEncoded returns the pending set encoded as an update (null when
   * empty), encoding it if it changed since the last call.
   * @returns {Uint8Array | null}
   */
  _pendingEncoded() {
    if (this._pendingEnc === undefined) {
      if (this._bound.entries === 0) {
        this._pendingEnc = null;
      } else {
        /** @type {Map<number, Op[]>} */
        const ops = new Map();
        for (const [client, q] of this._pq) ops.set(client, q.toArray());
        /** @type {DeleteSet} */
        const ds = new Map();
        for (const [client, l] of this._pds) ds.set(client, l.toFlat());
        this._pendingEnc = encodeUpdate(ops, ds);
      }
    }
    return this._pendingEnc;
  }

  /**
   * @param {number} client
   * @returns {number} the client's next clock
   */
  _next(client) {
    const cs = this._clients.get(client);
    return cs === undefined ? 0 : cs.next;
  }

  /**
   * _plannedText reports whether the integrated origin (client, clock) is a
   * text item of root, in the document or among the planned ops. An op whose
   * origins are not is integrated as a skip: this is decided here, when the
   * op is integrated, and never when it arrives (docs/crdt.md 1.6 rule 4), so
   * that every arrival order gives the same document and the pending set is
   * always an update that any replica accepts.
   * @param {Map<number, Op[]>} planned
   * @param {number} client
   * @param {number} clock
   * @param {string} root
   * @returns {boolean}
   */
  _plannedText(planned, client, clock, root) {
    const cs = this._clients.get(client);
    if (cs !== undefined && clock < cs.next) {
      const e = cs.entries[cs.find(clock)];
      return e.kind === TEXT && e.root.name === root;
    }
    const list = planned.get(client);
    const op = list === undefined ? null : findOp(list, clock);
    return op !== null && op.kind === TEXT && op.root === root;
  }

  /**
   * _integrate adds one op whose dependencies are all integrated.
   * @param {Op} op
   * @param {ChangeLog} log
   */
  _integrate(op, log) {
    const cs = this._client(op.client);
    if (op.kind === TEXT) {
      const root = this._textRoot(op.root);
      const run = new Run(op.client, op.clock, op.len, root, op.lc, op.lk, op.rc, op.rk);
      run.embed = op.embed;
      const piece = new Piece(run, op.clock, op.len, op.deleted ? '' : op.str, op.deleted);
      run.first = piece;
      root.integrate(this, run, piece);
      cs.push(run);
      if (!op.deleted) log.insert(root, root.seq.visBefore(piece), piece.str, piece.len);
    } else if (op.kind === MAP) {
      const root = this._mapRoot(op.root);
      const a = new Assign(op.client, op.clock, root, op.key, op.lamport, op.value);
      cs.push(a);
      if (root.integrate(a)) log.key(root, op.key);
    } else if (op.kind === MARK) {
      const root = this._textRoot(op.root);
      const rt = root.rich ?? (root.rich = new RichState());
      const m = new MarkEntry(op.client, op.clock, root, op.sk, op.lc, op.lk, op.ek, op.rc, op.rk, op.key, op.lamport, op.value);
      cs.push(m);
      rt.addMark(m);
      log.rich.push(m);
    } else if (op.kind === ATTR) {
      const root = this._textRoot(op.root);
      const rt = root.rich ?? (root.rich = new RichState());
      const a = new AttrEntry(op.client, op.clock, root, op.lc, op.lk, op.key, op.lamport, /** @type {string} */ (op.value));
      cs.push(a);
      if (rt.addAttr(a)) log.rich.push(a);
    } else {
      cs.push(new SkipEntry(op.clock, op.len));
    }
  }

  /**
   * _richChanges adds to log the format and attribute edits of the marks and
   * attributes it recorded (docs/crdt.md section 4.5).
   * @param {ChangeLog} log
   */
  _richChanges(log) {
    if (log.rich.length === 0) return;
    richEdits(this, log.rich, (root, f, a) => {
      if (f !== null) log.format(root, f.pos, f.len, f.name, f.value);
      else if (a !== null) log.attr(root, a.pos, a.key, a.value);
    });
    log.rich = [];
  }

  /**
   * _deleteRanges deletes the integrated text items of client in ranges.
   * @param {number} client
   * @param {number[]} ranges flat [start, end, ...]
   * @param {ChangeLog} log
   */
  _deleteRanges(client, ranges, log) {
    const cs = this._clients.get(client);
    if (cs === undefined) return;
    for (let j = 0; j < ranges.length; j += 2) {
      const s = ranges[j];
      const end = ranges[j + 1];
      for (let i = cs.find(s); i < cs.entries.length; i++) {
        const e = cs.entries[i];
        if (e.clock >= end) break;
        if (e.kind !== TEXT) continue;
        /** @type {TextState} */
        const root = e.root;
        root.deleteClocks(e, s, end, (pos, n) => log.delete(root, pos, n));
      }
    }
  }
}

/**
 * firstAtOrAbove returns the index of the first op of list whose clock is at
 * least clock (list ascending).
 * @param {Op[]} list
 * @param {number} clock
 * @returns {number}
 */
function firstAtOrAbove(list, clock) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].clock < clock) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * findOp returns the op of list (ascending, not overlapping) that holds clock, or null.
 * @param {Op[]} list
 * @param {number} clock
 * @returns {Op | null}
 */
function findOp(list, clock) {
  const i = firstAtOrAbove(list, clock + 1) - 1;
  return i >= 0 && clock < list[i].clock + list[i].len ? list[i] : null;
}

/**
 * sliceOp returns the part [s, t) of op (a copy unless it is the whole op).
 * @param {Op} op
 * @param {number} s
 * @param {number} t
 * @returns {Op}
 */
export function sliceOp(op, s, t) {
  if (s === op.clock && t === op.clock + op.len) return op;
  const o = Object.assign(new Op(op.kind, op.client, s, t - s), op);
  o.clock = s;
  o.len = t - s;
  if (op.kind === TEXT) {
    if (s > op.clock) {
      o.lc = op.client;
      o.lk = s - 1;
    }
    if (!op.deleted) o.str = cpSlice(op.str, op.len, s - op.clock, t - op.clock);
  }
  return o;
}

/**
 * @param {DeleteSet} ds
 * @param {number} client
 * @param {number} s
 * @param {number} e
 */
function addTo(ds, client, s, e) {
  let r = ds.get(client);
  if (r === undefined) ds.set(client, (r = []));
  addRange(r, s, e);
}

/**
 * restRanges returns a client's pending delete ranges l after step, as a
 * new flat array: the first k taken, the next cut at split (if not -1), the
 * added ones merged in.
 * @param {RangeList | undefined} l
 * @param {DsStep} st
 * @returns {number[]}
 */
function restRanges(l, st) {
  const r = l === undefined ? [] : l.toFlat(st.k);
  if (st.split !== -1) r[0] = st.split;
  for (let j = 0; j < st.add.length; j += 2) addRange(r, st.add[j], st.add[j + 1]);
  return r;
}

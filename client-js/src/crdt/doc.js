// @ts-check
// Doc: a replica of one document (docs/crdt.md). Calls are synchronous: a local
// edit changes the replica, takeUpdate returns the bytes to send, apply takes
// bytes from elsewhere and returns what changed. The Doc reads no clock and no
// random source; it is not meant to be shared between concurrent callers.

import { LIMIT } from './encoding.js';
import { CrdtError, malformed } from './errors.js';
import { Run, Piece, SkipEntry, TEXT, MAP, SKIP } from './seq.js';
import { TextState } from './text.js';
import { MapState, Assign } from './map.js';
import { Op, decodeUpdate, encodeUpdate, addRange } from './update.js';
import { ChangeLog } from './changes.js';
import { isWellFormed, cpLength, cpSlice, compareUtf8 } from './utf.js';
import { checkName, checkKey, checkJSON } from './names.js';
import { validClient } from './statevector.js';
import { REL_BEFORE, REL_AFTER, REL_START, REL_END } from './relpos.js';
import { encodeSnapshot, decodeSnapshot, snapshotToUpdate, loadSnapshot, FORMAT_SNAPSHOT, FORMAT_SNAPSHOT_V1 } from './snapshot.js';
import { Text, MapRoot } from './handles.js';

/** DEFAULT_MAX_PENDING_BYTES bounds the pending buffer when no other bound is given. */
export const DEFAULT_MAX_PENDING_BYTES = 8 << 20;

/**
 * @typedef {import('./update.js').DeleteSet} DeleteSet
 * @typedef {import('./update.js').Update} Update
 * @typedef {import('./changes.js').Change} Change
 * @typedef {import('./relpos.js').RelPos} RelPos
 * @typedef {import('./statevector.js').StateVector} StateVector
 * @typedef {Run | Assign | SkipEntry} Entry
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
    /** @type {Update} units and delete ranges waiting for their dependencies */
    this._pending = { ops: new Map(), ds: new Map() };
    /** @type {Uint8Array | null} the pending buffer, encoded (null when empty) */
    this._pendingBytes = null;
    this._maxPending = maxPendingBytes > 0 ? maxPendingBytes : DEFAULT_MAX_PENDING_BYTES;
    /** this client's clock at the last takeUpdate */
    this._taken = 0;
    /** @type {DeleteSet} local deletions since the last takeUpdate */
    this._localDs = new Map();
    /** records a local deletion (one function for the Doc's life: no closure per edit) */
    this._recordDelete = (/** @type {number} */ client, /** @type {number} */ clock, /** @type {number} */ len) => {
      let r = this._localDs.get(client);
      if (r === undefined) this._localDs.set(client, (r = []));
      addRange(r, clock, clock + len);
    };
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
    return this._pendingBytes === null ? 0 : this._pendingBytes.length;
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
    const bytes = encodeUpdate(ops, this._localDs);
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
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw malformed('empty input');
    if (bytes[0] === 0x01) return this._applyUpdate(decodeUpdate(bytes));
    if (bytes[0] === FORMAT_SNAPSHOT || bytes[0] === FORMAT_SNAPSHOT_V1) {
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
      }
    }
    this._clients = n._clients;
    this._texts = n._texts;
    this._maps = n._maps;
    this._pending = n._pending;
    this._pendingBytes = n._pendingBytes;
    this._taken = this._next(this._id);
    return log.result();
  }

  /** @returns {boolean} whether nothing is integrated and nothing pending */
  _isEmpty() {
    if (this._pendingBytes !== null) return false;
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
    if (typeof str !== 'string' || !isWellFormed(str)) throw new CrdtError('text', 'invalid text: not encodable as utf-8');
    if (str.length === 0) return;
    const n = cpLength(str);
    const me = this._client(this._id);
    if (me.next + n >= LIMIT) throw new CrdtError('clock', 'clock overflow');
    (root ?? this._textRoot(name)).localInsert(me, pos, str, n);
  }

  /**
   * @param {string} name
   * @param {RelPos} rp
   * @param {string} str
   */
  _insertAt(name, rp, str) {
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
    if (typeof str !== 'string' || !isWellFormed(str)) throw new CrdtError('text', 'invalid text: not encodable as utf-8');
    if (str.length === 0) return;
    const n = cpLength(str);
    const me = this._client(this._id);
    if (me.next + n >= LIMIT) throw new CrdtError('clock', 'clock overflow');
    (root ?? this._textRoot(name)).insertAt(me, p, rp.clock, rp.kind === REL_BEFORE || rp.kind === REL_END, str, n);
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
    root.localDelete(pos, n, this._recordDelete);
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
    root.integrate(a);
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
          out.push(op);
        }
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
   * _applyUpdate checks u against the document, works out what integrates now
   * and what waits, refuses it if the pending buffer would overflow, and only
   * then changes the document.
   * @param {Update} u
   * @returns {Change[]}
   */
  _applyUpdate(u) {
    this._validate(u);
    const merged = this._mergePending(u.ops);
    /** @type {Map<number, number>} */
    const vsv = new Map();
    const order = this._plan(merged, vsv);
    /** @type {Map<number, Op[]>} */
    const restOps = new Map();
    for (const [client, list] of merged) {
      const v = vsv.get(client) ?? this._next(client);
      const i = firstAtOrAbove(list, v);
      if (i < list.length) restOps.set(client, i === 0 ? list : list.slice(i));
    }
    // Delete ranges: those below the new state vector apply, the rest wait.
    /** @type {DeleteSet} */
    const nowDs = new Map();
    /** @type {DeleteSet} */
    const restDs = new Map();
    const dsClients = new Set([...this._pending.ds.keys(), ...u.ds.keys()]);
    for (const client of dsClients) {
      const v = vsv.get(client) ?? this._next(client);
      for (const r of [this._pending.ds.get(client), u.ds.get(client)]) {
        if (r === undefined) continue;
        for (let j = 0; j < r.length; j += 2) {
          const s = r[j];
          const e = r[j + 1];
          if (s < v) addTo(nowDs, client, s, Math.min(e, v));
          if (e > v) addTo(restDs, client, Math.max(s, v), e);
        }
      }
    }
    const pendingBytes = restOps.size === 0 && restDs.size === 0 ? null : encodeUpdate(restOps, restDs);
    if (pendingBytes !== null && pendingBytes.length > this._maxPending) {
      throw new CrdtError('pending-overflow', `pending buffer would hold ${pendingBytes.length} bytes, more than ${this._maxPending}`);
    }
    // Commit: nothing below throws.
    const log = new ChangeLog();
    const me = this._clients.get(this._id);
    const myNext = me === undefined ? 0 : me.next;
    for (const op of order) this._integrate(op, log);
    for (const [client, r] of nowDs) this._deleteRanges(client, r, log);
    this._pending = { ops: restOps, ds: restDs };
    this._pendingBytes = pendingBytes;
    if (this._taken === myNext) this._taken = this._next(this._id);
    return log.result();
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
   * _validate refuses updates that contradict the document (docs/crdt.md 1.6
   * rule 4): an origin that is the item itself or a later clock of its client,
   * or that names a known unit that is not a text item of the same root: the
   * origins an op writes, and the left origin of each part of a run that
   * starts after clocks the document already has (integrated or pending),
   * which is the previous clock of the run's client (section 1.2).
   * @param {Update} u
   */
  _validate(u) {
    for (const list of u.ops.values()) {
      for (const op of list) {
        if (op.kind !== TEXT) continue;
        let bad = (op.lc !== 0 && !this._originOk(u.ops, op.lc, op.lk, op.root)) || (op.rc !== 0 && !this._originOk(u.ops, op.rc, op.rk, op.root)) ? op.clock : -1;
        if (bad < 0) bad = this._badCut(u.ops, op);
        if (bad >= 0) throw malformed(`origin of (${op.client},${bad}) is not a text item of ${JSON.stringify(op.root)}`);
      }
    }
  }

  /**
   * _badCut returns the first clock at which a part of text op starts that
   * survives the clocks the document already has, after op's start, and
   * whose left origin (the unit before it, which the document has) is not a
   * text item of op's root; -1 if there is none.
   * @param {Map<number, Op[]>} ops
   * @param {Op} op
   * @returns {number}
   */
  _badCut(ops, op) {
    const end = op.clock + op.len;
    const pend = this._pending.ops.get(op.client) ?? [];
    let s = Math.max(op.clock, this._next(op.client));
    let i = Math.max(0, firstAtOrAbove(pend, s + 1) - 1);
    while (s < end) {
      while (i < pend.length && pend[i].clock + pend[i].len <= s) i++;
      if (i < pend.length && pend[i].clock <= s) {
        s = pend[i].clock + pend[i].len;
        continue;
      }
      if (s > op.clock && !this._originOk(ops, op.client, s - 1, op.root)) return s;
      if (i === pend.length) break;
      s = pend[i].clock + pend[i].len;
    }
    return -1;
  }

  /**
   * _originOk reports whether origin (client, clock) of a text op of root is
   * either unknown or a text item of root, where known means integrated,
   * pending, or among ops.
   * @param {Map<number, Op[]>} ops
   * @param {number} client
   * @param {number} clock
   * @param {string} root
   * @returns {boolean}
   */
  _originOk(ops, client, clock, root) {
    const cs = this._clients.get(client);
    if (cs !== undefined && clock < cs.next) {
      const e = cs.entries[cs.find(clock)];
      return e.kind === TEXT && e.root.name === root;
    }
    for (const list of [this._pending.ops.get(client), ops.get(client)]) {
      const op = list === undefined ? null : findOp(list, clock);
      if (op !== null) return op.kind === TEXT && op.root === root;
    }
    return true;
  }

  /**
   * _mergePending returns the pending ops plus the unknown parts of ops, per
   * client, ascending and without overlap. A clock already pending keeps its
   * first version. Neither input is modified.
   * @param {Map<number, Op[]>} ops
   * @returns {Map<number, Op[]>}
   */
  _mergePending(ops) {
    /** @type {Map<number, Op[]>} */
    const out = new Map(this._pending.ops);
    for (const [client, list] of ops) {
      const v = this._next(client);
      const pend = this._pending.ops.get(client) ?? [];
      /** @type {Op[]} */
      const fresh = [];
      let pi = 0;
      for (const op of list) {
        const end = op.clock + op.len;
        let s = Math.max(op.clock, v);
        while (s < end) {
          while (pi < pend.length && pend[pi].clock + pend[pi].len <= s) pi++;
          if (pi < pend.length && pend[pi].clock <= s) {
            s = pend[pi].clock + pend[pi].len;
            continue;
          }
          const t = pi < pend.length ? Math.min(end, pend[pi].clock) : end;
          fresh.push(sliceOp(op, s, t));
          s = t;
        }
      }
      if (fresh.length === 0) continue;
      if (pend.length === 0) {
        out.set(client, fresh);
        continue;
      }
      /** @type {Op[]} */
      const both = [];
      let i = 0;
      let j = 0;
      while (i < pend.length || j < fresh.length) {
        if (j === fresh.length || (i < pend.length && pend[i].clock < fresh[j].clock)) both.push(pend[i++]);
        else both.push(fresh[j++]);
      }
      out.set(client, both);
    }
    return out;
  }

  /**
   * _plan returns the ops that can be integrated now, in an order that respects
   * their dependencies (a client's previous clock, the origins), and leaves in
   * vsv the state vector they lead to. An op whose origins turn out not to be
   * text items of its root (an origin that arrived later as something else)
   * becomes a skip: its clocks are used, and it carries nothing.
   * @param {Map<number, Op[]>} merged
   * @param {Map<number, number>} vsv
   * @returns {Op[]}
   */
  _plan(merged, vsv) {
    /** @type {Op[]} */
    const order = [];
    /** @type {Map<number, number>} */
    const ptr = new Map();
    const at = (/** @type {number} */ c) => vsv.get(c) ?? this._next(c);
    let progress = true;
    while (progress) {
      progress = false;
      for (let [client, list] of merged) {
        let i = ptr.get(client) ?? 0;
        let v = at(client);
        while (i < list.length) {
          const op = list[i];
          if (op.clock !== v) break;
          let step = op;
          if (op.kind === TEXT) {
            if (op.lc !== 0 && op.lk >= at(op.lc)) break;
            if (op.rc !== 0 && op.rk >= at(op.rc)) break;
            if ((op.lc !== 0 && !this._plannedText(merged, op.lc, op.lk, op.root)) || (op.rc !== 0 && !this._plannedText(merged, op.rc, op.rk, op.root))) {
              step = new Op(SKIP, op.client, op.clock, op.len);
              if (list === this._pending.ops.get(client)) merged.set(client, (list = list.slice()));
              list[i] = step;
            }
          }
          order.push(step);
          v = op.clock + op.len;
          vsv.set(client, v);
          i++;
          progress = true;
        }
        ptr.set(client, i);
      }
    }
    return order;
  }

  /**
   * _plannedText reports whether the integrated origin (client, clock) is a
   * text item of root, in the document or among the planned ops.
   * @param {Map<number, Op[]>} merged
   * @param {number} client
   * @param {number} clock
   * @param {string} root
   * @returns {boolean}
   */
  _plannedText(merged, client, clock, root) {
    const cs = this._clients.get(client);
    if (cs !== undefined && clock < cs.next) {
      const e = cs.entries[cs.find(clock)];
      return e.kind === TEXT && e.root.name === root;
    }
    const list = merged.get(client);
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
    } else {
      cs.push(new SkipEntry(op.clock, op.len));
    }
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

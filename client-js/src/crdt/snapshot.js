// @ts-check
// The snapshot format (0x02, docs/crdt.md 2.4): the whole state, text in
// document order split into columns, so that loading into an empty document is
// a linear build with no integration.

import { CrdtDecoder, Encoder, LIMIT, decoding, bytesOf } from './encoding.js';
import { malformed } from './errors.js';
import { Run, Piece, SkipEntry, TEXT, MAP, SKIP } from './seq.js';
import { TextRoot } from './text.js';
import { MapRoot, Assign } from './map.js';
import { Op, readClients, readRoots, readUpdateBody, addRange, KIND_TEXT, KIND_MAP } from './update.js';
import { ChangeLog } from './changes.js';
import { compareUtf8, cpLength, cpToUtf16 } from './utf.js';
import { checkKey, checkJSON } from './names.js';

export const FORMAT_SNAPSHOT = 0x02;

// Run flags in a snapshot.
const F_DELETED = 1;
const F_LEFT = 2;
const F_LEFT_PREV = 4;
const F_RIGHT = 8;
const F_RIGHT_NEXT = 16;

/**
 * SnapText is one decoded text root: its runs in document order, as columns.
 * @typedef {{name: string, n: number, del: Uint8Array, client: number[], clock: number[], len: number[],
 *   lc: number[], lk: number[], rc: number[], rk: number[], str: string[], content: string, visible: number}} SnapText
 */

/**
 * Snapshot is a decoded snapshot.
 * @typedef {{sv: Map<number, number>, texts: SnapText[],
 *   assigns: {client: number, clock: number, root: string, key: string, lamport: number, value: string | null}[],
 *   pending: import('./update.js').Update | null}} Snapshot
 */

/**
 * encodeSnapshot writes the whole state of doc.
 * @param {import('./doc.js').Doc} doc
 * @returns {Uint8Array}
 */
export function encodeSnapshot(doc) {
  const clients = [];
  for (const cs of doc._clients.values()) if (cs.next > 0) clients.push(cs.id);
  clients.sort((a, b) => a - b);
  /** @type {Map<number, number>} */
  const ci = new Map();
  for (let i = 0; i < clients.length; i++) ci.set(clients[i], i);
  const texts = [...doc._texts.values()].filter((r) => r.seq.tot > 0).sort((a, b) => compareUtf8(a.name, b.name));
  const maps = [...doc._maps.values()].filter((r) => r.winners.size > 0).sort((a, b) => compareUtf8(a.name, b.name));

  const e = new Encoder(1024);
  e.writeUint8(FORMAT_SNAPSHOT);
  e.writeVarUint(clients.length);
  for (const c of clients) e.writeVarUint(c);
  e.writeVarUint(texts.length + maps.length);
  for (const r of texts) {
    e.writeUint8(KIND_TEXT);
    e.writeString(r.name);
  }
  for (const r of maps) {
    e.writeUint8(KIND_MAP);
    e.writeString(r.name);
  }
  e.writeVarUint(clients.length);
  for (let i = 0; i < clients.length; i++) {
    e.writeVarUint(i);
    e.writeVarUint(/** @type {import('./doc.js').ClientState} */ (doc._clients.get(clients[i])).next);
  }
  e.writeVarUint(texts.length);
  for (let i = 0; i < texts.length; i++) writeText(e, texts[i], i, ci);

  /** @type {Assign[]} */
  const assigns = [];
  /** @type {Map<MapRoot, number>} */
  const ri = new Map();
  for (let i = 0; i < maps.length; i++) {
    ri.set(maps[i], texts.length + i);
    for (const a of maps[i].winners.values()) assigns.push(a);
  }
  assigns.sort((a, b) => a.client - b.client || a.clock - b.clock);
  e.writeVarUint(assigns.length);
  for (const a of assigns) {
    e.writeVarUint(/** @type {number} */ (ci.get(a.client)));
    e.writeVarUint(a.clock);
    e.writeUint8(a.value === null ? 1 : 0);
    e.writeVarUint(/** @type {number} */ (ri.get(a.root)));
    e.writeString(a.key);
    e.writeVarUint(a.lamport);
    if (a.value !== null) e.writeString(a.value);
  }
  const pending = doc._pendingBytes;
  if (pending === null) e.writeVarUint(0);
  else {
    e.writeVarUint(pending.length);
    e.writeRaw(pending);
  }
  return bytesOf(e);
}

/**
 * writeText writes one text root: its pieces merged into maximal runs.
 * @param {Encoder} e
 * @param {TextRoot} root
 * @param {number} ri
 * @param {Map<number, number>} ci
 */
function writeText(e, root, ri, ci) {
  /** @type {number[]} */ const client = [];
  /** @type {number[]} */ const clock = [];
  /** @type {number[]} */ const len = [];
  /** @type {boolean[]} */ const del = [];
  /** @type {number[]} */ const lc = [];
  /** @type {number[]} */ const lk = [];
  /** @type {number[]} */ const rc = [];
  /** @type {number[]} */ const rk = [];
  /** @type {string[]} */ const parts = [];
  let n = 0;
  for (let p = root.seq.first; p !== null; p = p.next) {
    const run = p.run;
    const first = p.clock === run.clock;
    const plc = first ? run.lc : p.client;
    const plk = first ? run.lk : p.clock - 1;
    if (!p.deleted) parts.push(p.str);
    if (n > 0) {
      const j = n - 1;
      const end = clock[j] + len[j];
      if (p.client === client[j] && p.clock === end && plc === client[j] && plk === end - 1 && run.rc === rc[j] && run.rk === rk[j] && p.deleted === del[j]) {
        len[j] += p.len;
        continue;
      }
    }
    client.push(p.client);
    clock.push(p.clock);
    len.push(p.len);
    del.push(p.deleted);
    lc.push(plc);
    lk.push(plk);
    rc.push(run.rc);
    rk.push(run.rk);
    n++;
  }
  e.writeVarUint(ri);
  e.writeVarUint(n);
  const flags = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    let f = del[j] ? F_DELETED : 0;
    if (lc[j] !== 0) {
      f |= F_LEFT;
      if (j > 0 && lc[j] === client[j - 1] && lk[j] === clock[j - 1] + len[j - 1] - 1) f |= F_LEFT_PREV;
    }
    if (rc[j] !== 0) {
      f |= F_RIGHT;
      if (j < n - 1 && rc[j] === client[j + 1] && rk[j] === clock[j + 1]) f |= F_RIGHT_NEXT;
    }
    flags[j] = f;
  }
  e.writeRaw(flags);
  for (let j = 0; j < n; ) {
    let k = j + 1;
    while (k < n && client[k] === client[j]) k++;
    e.writeVarUint(/** @type {number} */ (ci.get(client[j])));
    e.writeVarUint(k - j);
    j = k;
  }
  let expected = 0;
  for (let j = 0; j < n; j++) {
    e.writeVarInt(clock[j] - expected);
    expected = clock[j] + len[j];
  }
  for (let j = 0; j < n; j++) e.writeVarUint(len[j]);
  for (let j = 0; j < n; j++) {
    if ((flags[j] & (F_LEFT | F_LEFT_PREV)) === F_LEFT) {
      e.writeVarUint(/** @type {number} */ (ci.get(lc[j])));
      e.writeVarUint(lk[j]);
    }
  }
  for (let j = 0; j < n; j++) {
    if ((flags[j] & (F_RIGHT | F_RIGHT_NEXT)) === F_RIGHT) {
      e.writeVarUint(/** @type {number} */ (ci.get(rc[j])));
      e.writeVarUint(rk[j]);
    }
  }
  e.writeString(parts.join(''));
}

/**
 * decodeSnapshot decodes and checks a snapshot.
 * @param {Uint8Array} bytes
 * @returns {Snapshot}
 */
export function decodeSnapshot(bytes) {
  if (!(bytes instanceof Uint8Array)) throw malformed('not bytes');
  return decoding(() => decodeSnapshotBody(bytes));
}

/**
 * @param {Uint8Array} bytes
 */
function decodeSnapshotBody(bytes) {
  const d = new CrdtDecoder(bytes);
  if (d.readUint8() !== FORMAT_SNAPSHOT) throw malformed('not a snapshot');
  const clients = readClients(d);
  const roots = readRoots(d);
  const rootUsed = new Uint8Array(roots.length);
  /** @type {Map<number, number>} */
  const sv = new Map();
  const nsv = d.readCount(2);
  if (nsv !== clients.length) throw malformed('state vector does not cover the clients table');
  for (let i = 0; i < nsv; i++) {
    if (d.readVarUint() !== i) throw malformed('state vector out of order');
    const next = d.readVarUint();
    if (next === 0) throw malformed('state vector clock 0');
    sv.set(clients[i], next);
  }
  /** @type {Map<number, {clock: number, end: number, root: number}[]>} units per client, for the overlap and origin checks */
  const units = new Map();
  const unit = (/** @type {number} */ c, /** @type {number} */ clock, /** @type {number} */ len, /** @type {number} */ root) => {
    let u = units.get(c);
    if (u === undefined) units.set(c, (u = []));
    u.push({ clock, end: clock + len, root });
  };

  /** @type {SnapText[]} */
  const texts = [];
  const nTexts = d.readCount(3);
  let prevRi = -1;
  for (let t = 0; t < nTexts; t++) {
    const ri = d.readVarUint();
    if (ri >= roots.length || roots[ri].kind !== KIND_TEXT) throw malformed('bad text root index');
    if (ri <= prevRi) throw malformed('texts out of order');
    prevRi = ri;
    rootUsed[ri] = 1;
    const st = readText(d, clients, sv, roots[ri].name);
    for (let j = 0; j < st.n; j++) unit(st.client[j], st.clock[j], st.len[j], ri);
    texts.push(st);
  }

  /** @type {Snapshot['assigns']} */
  const assigns = [];
  const nAssign = d.readCount(5);
  let pc = -1;
  let pk = -1;
  /** @type {Set<string>} */
  const seen = new Set();
  for (let i = 0; i < nAssign; i++) {
    const ci = d.readVarUint();
    if (ci >= clients.length) throw malformed('bad client index');
    const clock = d.readVarUint();
    if (ci < pc || (ci === pc && clock <= pk)) throw malformed('assignments out of order');
    pc = ci;
    pk = clock;
    const client = clients[ci];
    if (clock >= /** @type {number} */ (sv.get(client))) throw malformed('assignment above the state vector');
    const tag = d.readUint8();
    if (tag > 1) throw malformed('bad assignment tag');
    const ri = d.readVarUint();
    if (ri >= roots.length || roots[ri].kind !== KIND_MAP) throw malformed('bad map root index');
    rootUsed[ri] = 1;
    const key = d.readString();
    if (!checkKey(key)) throw malformed('bad map key');
    const lamport = d.readVarUint();
    if (lamport === 0) throw malformed('lamport 0');
    let value = null;
    if (tag === 0) {
      value = d.readString();
      if (!checkJSON(value)) throw malformed('bad json value');
    }
    const k = ri + '\u0000' + key;
    if (seen.has(k)) throw malformed('two assignments of one key');
    seen.add(k);
    unit(client, clock, 1, -1);
    assigns.push({ client, clock, root: roots[ri].name, key, lamport, value });
  }
  let pending = null;
  const plen = d.readVarUint();
  if (plen > d.remaining) throw malformed('truncated pending');
  if (plen > 0) {
    const pd = new CrdtDecoder(d.buf.subarray(d.pos, d.pos + plen));
    if (pd.readUint8() !== 0x01) throw malformed('pending is not an update');
    pending = readUpdateBody(pd);
    pd.end();
    d.pos += plen;
  }
  d.end();
  for (let i = 0; i < roots.length; i++) if (!rootUsed[i]) throw malformed('unused root');

  // No clock claimed twice; every origin a text item of the same root.
  for (const u of units.values()) {
    u.sort((a, b) => a.clock - b.clock);
    for (let i = 1; i < u.length; i++) if (u[i].clock < u[i - 1].end) throw malformed('clock claimed twice');
  }
  const textRoot = (/** @type {number} */ c, /** @type {number} */ k) => {
    const u = units.get(c);
    if (u === undefined) return -2;
    let lo = 0;
    let hi = u.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (u[mid].clock <= k) lo = mid;
      else hi = mid - 1;
    }
    return u[lo].clock <= k && k < u[lo].end ? u[lo].root : -2;
  };
  for (let t = 0; t < texts.length; t++) {
    const st = texts[t];
    const ri = roots.findIndex((r) => r.kind === KIND_TEXT && r.name === st.name);
    for (let j = 0; j < st.n; j++) {
      if (st.lc[j] !== 0) {
        if (st.lc[j] === st.client[j] && st.lk[j] >= st.clock[j]) throw malformed('left origin is not before its item');
        if ((j === 0 || st.lc[j] !== st.client[j - 1] || st.lk[j] !== st.clock[j - 1] + st.len[j - 1] - 1) && textRoot(st.lc[j], st.lk[j]) !== ri) {
          throw malformed('left origin is not a text item of the same root');
        }
      }
      if (st.rc[j] !== 0) {
        if (st.rc[j] === st.client[j] && st.rk[j] >= st.clock[j]) throw malformed('right origin is not before its item');
        if ((j === st.n - 1 || st.rc[j] !== st.client[j + 1] || st.rk[j] !== st.clock[j + 1]) && textRoot(st.rc[j], st.rk[j]) !== ri) {
          throw malformed('right origin is not a text item of the same root');
        }
      }
    }
  }
  return { sv, texts, assigns, pending };
}

/**
 * readText reads the columns of one text root and checks them.
 * @param {CrdtDecoder} d
 * @param {number[]} clients
 * @param {Map<number, number>} sv
 * @param {string} name
 * @returns {SnapText}
 */
function readText(d, clients, sv, name) {
  const n = d.readVarUint();
  if (n === 0) throw malformed('text without runs');
  if (n > d.remaining) throw malformed('count exceeds input');
  const flags = d.buf.subarray(d.pos, d.pos + n);
  d.pos += n;
  const del = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const f = flags[j];
    if (f & 0xe0) throw malformed('bad run flags');
    if (f & F_LEFT_PREV && (!(f & F_LEFT) || j === 0)) throw malformed('bad run flags');
    if (f & F_RIGHT_NEXT && (!(f & F_RIGHT) || j === n - 1)) throw malformed('bad run flags');
    del[j] = f & F_DELETED;
  }
  /** @type {number[]} */
  const client = new Array(n);
  let covered = 0;
  let prevCi = -1;
  while (covered < n) {
    const ci = d.readVarUint();
    if (ci >= clients.length) throw malformed('bad client index');
    if (ci === prevCi) throw malformed('run clients not run-length encoded');
    prevCi = ci;
    const count = d.readVarUint();
    if (count === 0 || count > n - covered) throw malformed('bad run client count');
    for (let j = covered; j < covered + count; j++) client[j] = clients[ci];
    covered += count;
  }
  if (2 * n > d.remaining) throw malformed('count exceeds input');
  /** @type {number[]} */
  const clock = new Array(n);
  for (let j = 0; j < n; j++) clock[j] = d.readVarInt();
  /** @type {number[]} */
  const len = new Array(n);
  let expected = 0;
  let visible = 0;
  for (let j = 0; j < n; j++) {
    const l = d.readVarUint();
    if (l === 0) throw malformed('empty run');
    const c = expected + clock[j];
    if (c < 0 || c + l > /** @type {number} */ (sv.get(client[j]))) throw malformed('run outside the state vector');
    clock[j] = c;
    len[j] = l;
    expected = c + l;
    if (!del[j]) visible += l;
  }
  /** @type {number[]} */ const lc = new Array(n).fill(0);
  /** @type {number[]} */ const lk = new Array(n).fill(0);
  /** @type {number[]} */ const rc = new Array(n).fill(0);
  /** @type {number[]} */ const rk = new Array(n).fill(0);
  for (let j = 0; j < n; j++) {
    const f = flags[j];
    if (f & F_LEFT_PREV) {
      lc[j] = client[j - 1];
      lk[j] = clock[j - 1] + len[j - 1] - 1;
    } else if (f & F_LEFT) {
      const ci = d.readVarUint();
      if (ci >= clients.length) throw malformed('bad client index');
      lc[j] = clients[ci];
      lk[j] = d.readVarUint();
      if (j > 0 && lc[j] === client[j - 1] && lk[j] === clock[j - 1] + len[j - 1] - 1) throw malformed('left origin not written as the previous run');
    }
  }
  for (let j = 0; j < n; j++) {
    const f = flags[j];
    if (f & F_RIGHT_NEXT) {
      rc[j] = client[j + 1];
      rk[j] = clock[j + 1];
    } else if (f & F_RIGHT) {
      const ci = d.readVarUint();
      if (ci >= clients.length) throw malformed('bad client index');
      rc[j] = clients[ci];
      rk[j] = d.readVarUint();
      if (j < n - 1 && rc[j] === client[j + 1] && rk[j] === clock[j + 1]) throw malformed('right origin not written as the next run');
    }
  }
  for (let j = 1; j < n; j++) {
    const i = j - 1;
    if (client[j] === client[i] && clock[j] === clock[i] + len[i] && lc[j] === client[i] && lk[j] === clock[j] - 1 && rc[j] === rc[i] && rk[j] === rk[i] && del[j] === del[i]) {
      throw malformed('runs not maximal');
    }
  }
  const content = d.readString();
  const cps = cpLength(content);
  if (cps !== visible) throw malformed('content length mismatch');
  /** @type {string[]} */
  const str = new Array(n);
  const ascii = content.length === cps;
  let off = 0;
  for (let j = 0; j < n; j++) {
    if (del[j]) {
      str[j] = '';
      continue;
    }
    const end = ascii ? off + len[j] : off + cpToUtf16(content.slice(off), -1, len[j]);
    str[j] = content.slice(off, end);
    off = end;
  }
  return { name, n, del, client, clock, len, lc, lk, rc, rk, str, content, visible };
}

/**
 * loadSnapshot builds the units of a snapshot (not its pending units) into the
 * new, empty doc, in one linear pass per text root, and logs everything as
 * changed.
 * @param {import('./doc.js').Doc} doc
 * @param {Snapshot} snap
 * @param {ChangeLog} log
 */
export function loadSnapshot(doc, snap, log) {
  /** @type {Map<number, any[]>} */
  const entries = new Map();
  for (const c of snap.sv.keys()) entries.set(c, []);
  for (const st of snap.texts) {
    const root = doc._textRoot(st.name);
    /** @type {Piece[]} */
    const pieces = new Array(st.n);
    for (let j = 0; j < st.n; j++) {
      const run = new Run(st.client[j], st.clock[j], st.len[j], root, st.lc[j], st.lk[j], st.rc[j], st.rk[j]);
      const p = new Piece(run, st.clock[j], st.len[j], st.str[j], st.del[j] === 1);
      run.pieces.push(p);
      pieces[j] = p;
      /** @type {any[]} */ (entries.get(st.client[j])).push(run);
    }
    root.seq.build(pieces);
    if (st.visible > 0) log.insert(root, 0, st.content, st.visible);
  }
  for (const a of snap.assigns) {
    const root = doc._mapRoot(a.root);
    const as = new Assign(a.client, a.clock, root, a.key, a.lamport, a.value);
    root.winners.set(a.key, as);
    /** @type {any[]} */ (entries.get(a.client)).push(as);
    if (a.value !== null) log.key(root, a.key);
  }
  for (const [c, list] of entries) {
    list.sort((a, b) => a.clock - b.clock);
    const cs = doc._client(c);
    let clock = 0;
    for (const e of list) {
      if (e.clock > clock) cs.push(new SkipEntry(clock, e.clock - clock));
      cs.push(e);
      clock = e.clock + e.len;
    }
    const next = /** @type {number} */ (snap.sv.get(c));
    if (next > clock) cs.push(new SkipEntry(clock, next - clock));
  }
}

/**
 * snapshotToUpdate turns a snapshot into an update holding the same units and
 * delete set (and its pending units), to merge it into a non-empty document.
 * @param {Snapshot} snap
 * @returns {import('./update.js').Update}
 */
export function snapshotToUpdate(snap) {
  /** @type {Map<number, Op[]>} */
  const ops = new Map();
  /** @type {import('./update.js').DeleteSet} */
  const ds = new Map();
  for (const c of snap.sv.keys()) ops.set(c, []);
  for (const st of snap.texts) {
    for (let j = 0; j < st.n; j++) {
      const op = new Op(TEXT, st.client[j], st.clock[j], st.len[j]);
      op.root = st.name;
      op.lc = st.lc[j];
      op.lk = st.lk[j];
      op.rc = st.rc[j];
      op.rk = st.rk[j];
      op.deleted = st.del[j] === 1;
      op.str = st.str[j];
      /** @type {Op[]} */ (ops.get(op.client)).push(op);
      if (op.deleted) {
        let r = ds.get(op.client);
        if (r === undefined) ds.set(op.client, (r = []));
        addRange(r, op.clock, op.clock + op.len);
      }
    }
  }
  for (const a of snap.assigns) {
    const op = new Op(MAP, a.client, a.clock, 1);
    op.root = a.root;
    op.key = a.key;
    op.lamport = a.lamport;
    op.value = a.value;
    /** @type {Op[]} */ (ops.get(a.client)).push(op);
  }
  for (const [c, list] of ops) {
    list.sort((a, b) => a.clock - b.clock);
    /** @type {Op[]} */
    const full = [];
    let clock = 0;
    for (const op of list) {
      if (op.clock > clock) full.push(new Op(SKIP, c, clock, op.clock - clock));
      full.push(op);
      clock = op.clock + op.len;
    }
    const next = /** @type {number} */ (snap.sv.get(c));
    if (next > clock) full.push(new Op(SKIP, c, clock, next - clock));
    ops.set(c, full);
  }
  if (snap.pending !== null) {
    for (const [c, list] of snap.pending.ops) {
      const have = ops.get(c);
      ops.set(c, have === undefined ? list : have.concat(list.filter((op) => op.clock >= (snap.sv.get(c) ?? 0))));
    }
    for (const [c, r] of snap.pending.ds) {
      let to = ds.get(c);
      if (to === undefined) ds.set(c, (to = []));
      for (let j = 0; j < r.length; j += 2) addRange(to, r[j], r[j + 1]);
    }
  }
  return { ops, ds };
}


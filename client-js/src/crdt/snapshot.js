// @ts-check
// The snapshot format (0x05, docs/crdt.md 2.4; 0x02 of format version 1 is
// still read): the whole state, text in document order split into columns,
// so that loading into an empty document is a linear build with no
// integration.

import { CrdtDecoder, Encoder, decoding, bytesOf } from './encoding.js';
import { malformed } from './errors.js';
import { Run, Piece, SkipEntry, TEXT, MARK, ATTR } from './seq.js';
import { MarkEntry, AttrEntry, RichState } from './rich.js';
import { REL_BEFORE, REL_AFTER, REL_START, REL_END } from './relpos.js';
import { TextState } from './text.js';
import { MapState, Assign } from './map.js';
import { readClients, readRoots, readUpdateBody, addRange, KIND_TEXT, KIND_MAP } from './update.js';
/** @typedef {import('./update.js').Op} Op */
import { ChangeLog } from './changes.js';
import { compareUtf8, cpLength, cpToUtf16 } from './utf.js';
import { checkKey, checkJSON } from './names.js';
import { writeContent, readContent } from './contentcode.js';

/** FORMAT_SNAPSHOT is the format byte of a snapshot (format version 2). */
export const FORMAT_SNAPSHOT = 0x05;
/** FORMAT_SNAPSHOT_V1 is the format byte of a snapshot of format version 1, still read. */
export const FORMAT_SNAPSHOT_V1 = 0x02;
/** FORMAT_SNAPSHOT_V3 is the format byte of a snapshot with rich text (format version 3, docs/crdt.md 4.6). */
export const FORMAT_SNAPSHOT_V3 = 0x06;

// Origin kinds of a run in a version 2 snapshot, the first that applies.
const O_NONE = 0;
const O_NEAR = 1;
const O_SAME = 2;
const O_ID = 3;
const LONG_LEN = 2 ** 40 - 1;
const MAX_REPEAT = 128;
const MAX_RUNS_PER_BYTE = MAX_REPEAT / 2;
const CLOCKS = 2 ** 53;
const HALF = 2 ** 52;

/**
 * clockDelta returns to - from modulo 2^53, in [-2^52, 2^52).
 * @param {number} from
 * @param {number} to
 */
function clockDelta(from, to) {
  let d = to - from;
  if (d >= HALF) d -= CLOCKS;
  else if (d < -HALF) d += CLOCKS;
  return d;
}

/**
 * addClock returns from + d modulo 2^53, exactly.
 * @param {number} from in [0, 2^53]
 * @param {number} d in [-2^52, 2^52)
 */
function addClock(from, d) {
  if (d >= 0) return from >= CLOCKS - d ? from - CLOCKS + d : from + d;
  const c = from + d;
  return c < 0 ? c + CLOCKS : c;
}

/**
 * writeSigned writes n (|n| <= 2^52) zigzag-encoded.
 * @param {Encoder} e
 * @param {number} n
 */
function writeSigned(e, n) {
  e.writeVarUint(n >= 0 ? n * 2 : -n * 2 - 1);
}

/**
 * readSigned reads a zigzag-encoded varint.
 * @param {CrdtDecoder} d
 */
function readSigned(d) {
  const u = d.readVarUint();
  return u % 2 === 1 ? -(u + 1) / 2 : u / 2;
}

// Run flags in a snapshot.
const F_DELETED = 1;
const F_LEFT = 2;
const F_LEFT_PREV = 4;
const F_RIGHT = 8;
const F_RIGHT_NEXT = 16;

/**
 * SnapText is one decoded text root: its runs in document order, as columns.
 * @typedef {{name: string, n: number, del: Uint8Array, client: Float64Array, clock: Float64Array, len: Float64Array,
 *   lc: Float64Array, lk: Float64Array, rc: Float64Array, rk: Float64Array, str: string[], content: string, visible: number}} SnapText
 */

/**
 * Snapshot is a decoded snapshot.
 * @typedef {{sv: Map<number, number>, texts: SnapText[],
 *   assigns: {client: number, clock: number, root: string, key: string, lamport: number, value: string | null}[],
 *   pending: import('./update.js').Update | null, rich: SnapRich | null}} Snapshot
 */

/**
 * SnapRich is the rich section of a version 3 snapshot (docs/crdt.md 4.6).
 * @typedef {{embeds: {client: number, clock: number, value: string}[],
 *   marks: {client: number, clock: number, root: string, sk: number, sc: number, sclock: number, ek: number, ec: number, eclock: number, name: string, lamport: number, value: string | null}[],
 *   attrs: {client: number, clock: number, root: string, tc: number, tk: number, key: string, lamport: number, value: string}[]}} SnapRich
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
  // A root with marks only is in the roots table, not in the texts (docs/crdt.md 4.6).
  const texts = [...doc._texts.values()].filter((r) => r.seq.tot > 0 || r.rich !== null).sort((a, b) => compareUtf8(a.name, b.name));
  const rich = doc._hasRich();
  const maps = [...doc._maps.values()].filter((r) => r.winners.size > 0).sort((a, b) => compareUtf8(a.name, b.name));

  const e = new Encoder(1024);
  e.writeUint8(rich ? FORMAT_SNAPSHOT_V3 : FORMAT_SNAPSHOT);
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
  e.writeVarUint(texts.filter((r) => r.seq.tot > 0).length);
  for (let i = 0; i < texts.length; i++) if (texts[i].seq.tot > 0) writeText(e, collectRuns(texts[i]), i, ci, clients.length > 1);

  /** @type {Assign[]} */
  const assigns = [];
  /** @type {Map<MapState, number>} */
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
  const pending = doc._pendingEncoded();
  if (pending === null) e.writeVarUint(0);
  else {
    e.writeVarUint(pending.length);
    e.writeRaw(pending);
  }
  if (rich) writeRich(e, doc, clients, ci, texts);
  return bytesOf(e);
}

/**
 * writeTable writes a table of distinct strings, ascending by bytes, and
 * returns the index of each.
 * @param {Encoder} e
 * @param {Iterable<string>} values
 * @returns {Map<string, number>}
 */
function writeTable(e, values) {
  const list = [...new Set(values)].sort(compareUtf8);
  e.writeVarUint(list.length);
  /** @type {Map<string, number>} */
  const idx = new Map();
  for (let i = 0; i < list.length; i++) {
    e.writeString(list[i]);
    idx.set(list[i], i);
  }
  return idx;
}

/**
 * writeClientRuns writes the client indexes of n units as pairs (ci, count).
 * @param {Encoder} e
 * @param {number[]} cis
 */
function writeClientRuns(e, cis) {
  for (let i = 0; i < cis.length; ) {
    let j = i + 1;
    while (j < cis.length && cis[j] === cis[i]) j++;
    e.writeVarUint(cis[i]);
    e.writeVarUint(j - i);
    i = j;
  }
}

/**
 * writeRich writes the rich section of a version 3 snapshot (docs/crdt.md
 * 4.6): the visible embeds, every mark, the winning attributes, each list
 * ascending by (client, clock).
 * @param {Encoder} e
 * @param {import('./doc.js').Doc} doc
 * @param {number[]} clients sorted
 * @param {Map<number, number>} ci
 * @param {TextState[]} texts the text roots, in the order of the roots table
 */
function writeRich(e, doc, clients, ci, texts) {
  /** @type {Map<TextState, number>} */
  const ri = new Map();
  for (let i = 0; i < texts.length; i++) ri.set(texts[i], i);
  /** @type {Run[]} */
  const embeds = [];
  /** @type {MarkEntry[]} */
  const marks = [];
  /** @type {AttrEntry[]} */
  const attrs = [];
  for (const c of clients) {
    for (const x of /** @type {import('./doc.js').ClientState} */ (doc._clients.get(c)).entries) {
      if (x.kind === TEXT) {
        if (x.embed !== null && !x.first.deleted) embeds.push(x);
      } else if (x.kind === MARK) marks.push(x);
      else if (x.kind === ATTR && !x.lost) attrs.push(x);
    }
  }
  const ev = writeTable(e, embeds.map((r) => /** @type {string} */ (r.embed)));
  e.writeVarUint(embeds.length);
  writeClientRuns(e, embeds.map((r) => /** @type {number} */ (ci.get(r.client))));
  for (let i = 0; i < embeds.length; i++) {
    const r = embeds[i];
    e.writeVarUint(i > 0 && embeds[i - 1].client === r.client ? r.clock - embeds[i - 1].clock - 1 : r.clock);
    e.writeVarUint(/** @type {number} */ (ev.get(/** @type {string} */ (r.embed))));
  }
  const names = writeTable(e, marks.map((m) => m.name));
  /** @type {string[]} */
  const mv = [];
  for (const m of marks) if (m.value !== null) mv.push(m.value);
  const mvals = writeTable(e, mv);
  e.writeVarUint(marks.length);
  writeClientRuns(e, marks.map((m) => /** @type {number} */ (ci.get(m.client))));
  const multi = clients.length > 1;
  let lamport = 0;
  for (let i = 0; i < marks.length; i++) {
    const m = marks[i];
    e.writeVarUint(i > 0 && marks[i - 1].client === m.client ? m.clock - marks[i - 1].clock - 1 : m.clock);
    e.writeUint8((m.value === null ? 1 : 0) | (m.skind << 1) | (m.ekind << 3));
    e.writeVarUint(/** @type {number} */ (ri.get(m.root)));
    e.writeVarUint(/** @type {number} */ (names.get(m.name)));
    if (m.value !== null) e.writeVarUint(/** @type {number} */ (mvals.get(m.value)));
    writeSigned(e, m.lamport - lamport);
    lamport = m.lamport;
    for (const [kind, c, clock] of [[m.skind, m.sc, m.sk], [m.ekind, m.ec, m.ek]]) {
      if (kind !== REL_BEFORE && kind !== REL_AFTER) continue;
      if (multi) e.writeVarUint(/** @type {number} */ (ci.get(c)));
      writeSigned(e, clock - m.clock);
    }
  }
  e.writeVarUint(attrs.length);
  for (const a of attrs) {
    e.writeVarUint(/** @type {number} */ (ci.get(a.client)));
    e.writeVarUint(a.clock);
    e.writeVarUint(/** @type {number} */ (ri.get(a.root)));
    e.writeVarUint(/** @type {number} */ (ci.get(a.tc)));
    e.writeVarUint(a.tk);
    e.writeString(a.key);
    e.writeVarUint(a.lamport);
    e.writeString(/** @type {string} */ (a.value));
  }
}

/**
 * Runs are the maximal runs of a text root in document order, as columns.
 * @typedef {{n: number, client: number[], clock: number[], len: number[], del: boolean[], lc: number[], lk: number[], rc: number[], rk: number[], content: string}} Runs
 */

/**
 * collectRuns merges the pieces of a text root into maximal runs.
 * @param {TextState} root
 * @returns {Runs}
 */
function collectRuns(root) {
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
  return { n, client, clock, len, del, lc, lk, rc, rk, content: parts.join('') };
}

/**
 * leftKind returns the kind of run j's left origin (docs/crdt.md 2.4.1).
 * @param {{client: ArrayLike<number>, clock: ArrayLike<number>, len: ArrayLike<number>, lc: ArrayLike<number>, lk: ArrayLike<number>}} r
 * @param {number} j
 */
function leftKind(r, j) {
  if (r.lc[j] === 0) return O_NONE;
  if (j > 0 && r.lc[j] === r.client[j - 1] && r.lk[j] === r.clock[j - 1] + r.len[j - 1] - 1) return O_NEAR;
  if (j > 0 && r.lc[j] === r.lc[j - 1] && r.lk[j] === r.lk[j - 1]) return O_SAME;
  return O_ID;
}

/**
 * rightKind returns the kind of run j's right origin (docs/crdt.md 2.4.1).
 * @param {{n: number, client: ArrayLike<number>, clock: ArrayLike<number>, rc: ArrayLike<number>, rk: ArrayLike<number>}} r
 * @param {number} j
 */
function rightKind(r, j) {
  if (r.rc[j] === 0) return O_NONE;
  if (j < r.n - 1 && r.rc[j] === r.client[j + 1] && r.rk[j] === r.clock[j + 1]) return O_NEAR;
  if (j > 0 && r.rc[j] === r.rc[j - 1] && r.rk[j] === r.rk[j - 1]) return O_SAME;
  return O_ID;
}

/**
 * writeText writes one text root in the version 2 columns.
 * @param {Encoder} e
 * @param {Runs} r
 * @param {number} ri
 * @param {Map<number, number>} ci
 * @param {boolean} withCI whether explicit origins carry a client index
 */
function writeText(e, r, ri, ci, withCI) {
  const n = r.n;
  e.writeVarUint(ri);
  e.writeVarUint(n);
  const shape = new Float64Array(n);
  const kinds = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const lk = leftKind(r, j);
    const rk = rightKind(r, j);
    kinds[j] = (rk << 2) | lk;
    shape[j] = Math.min(r.len[j] - 1, LONG_LEN) * 32 + rk * 8 + lk * 2 + (r.del[j] ? 1 : 0);
  }
  let expected = 0;
  for (let i = 0; i < n; ) {
    const delta = clockDelta(expected, r.clock[i]);
    expected = r.clock[i] + r.len[i];
    let j = i + 1;
    while (j < n && j - i < MAX_REPEAT && shape[j] === shape[i] && clockDelta(expected, r.clock[j]) === delta) {
      expected = r.clock[j] + r.len[j];
      j++;
    }
    if (j - i === 1) {
      e.writeVarUint(shape[i] * 2);
      writeSigned(e, delta);
    } else {
      e.writeVarUint(shape[i] * 2 + 1);
      writeSigned(e, delta);
      e.writeVarUint(j - i - 2);
    }
    i = j;
  }
  for (let j = 0; j < n; j++) if (r.len[j] - 1 >= LONG_LEN) e.writeVarUint(r.len[j]);
  for (let j = 0; j < n; ) {
    let k = j + 1;
    while (k < n && r.client[k] === r.client[j]) k++;
    e.writeVarUint(/** @type {number} */ (ci.get(r.client[j])));
    e.writeVarUint(k - j);
    j = k;
  }
  for (let j = 0; j < n; j++) {
    if ((kinds[j] & 3) === O_ID) {
      if (withCI) e.writeVarUint(/** @type {number} */ (ci.get(r.lc[j])));
      writeSigned(e, clockDelta(r.clock[j], r.lk[j]));
    }
  }
  for (let j = 0; j < n; j++) {
    if (kinds[j] >> 2 === O_ID) {
      if (withCI) e.writeVarUint(/** @type {number} */ (ci.get(r.rc[j])));
      writeSigned(e, clockDelta(r.clock[j], r.rk[j]));
    }
  }
  writeContent(e, r.content);
}

/**
 * decodeSnapshot decodes a snapshot and checks everything but two things that
 * need the units sorted by clock, which loadSnapshot checks as it builds: that
 * no clock is claimed twice and that every origin is a text item of its root.
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
  const format = d.readUint8();
  if (format !== FORMAT_SNAPSHOT && format !== FORMAT_SNAPSHOT_V1 && format !== FORMAT_SNAPSHOT_V3) throw malformed('not a snapshot');
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
    texts.push(format !== FORMAT_SNAPSHOT_V1 ? readText(d, clients, sv, roots[ri].name) : readTextV1(d, clients, sv, roots[ri].name));
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
  const rich = format === FORMAT_SNAPSHOT_V3 ? readRich(d, clients, roots, rootUsed, sv) : null;
  d.end();
  for (let i = 0; i < roots.length; i++) if (!rootUsed[i]) throw malformed('unused root');

  return { sv, texts, assigns, pending, rich };
}

/**
 * readTable reads a table of strings, strictly ascending by bytes; json: each
 * must be a JSON value, else a name of at most MAX_KEY_BYTES.
 * @param {CrdtDecoder} d
 * @param {boolean} json
 * @returns {string[]}
 */
function readTable(d, json) {
  const n = d.readCount(1);
  /** @type {string[]} */
  const out = [];
  for (let i = 0; i < n; i++) {
    const v = d.readString();
    if (json ? !checkJSON(v) : !checkKey(v)) throw malformed('bad table entry');
    if (i > 0 && compareUtf8(v, out[i - 1]) <= 0) throw malformed('table not ascending');
    out.push(v);
  }
  return out;
}

/**
 * readClientRuns reads the clients of n units.
 * @param {CrdtDecoder} d
 * @param {number[]} clients
 * @param {number} n
 * @returns {number[]}
 */
function readClientRuns(d, clients, n) {
  /** @type {number[]} */
  const out = [];
  let prev = -1;
  while (out.length < n) {
    const c = d.readVarUint();
    if (c >= clients.length) throw malformed('bad client index');
    const k = d.readVarUint();
    if (k === 0 || k > n - out.length) throw malformed('unit client count');
    if (c <= prev) throw malformed('unit clients not ascending or not merged');
    prev = c;
    for (let j = 0; j < k; j++) out.push(clients[c]);
  }
  return out;
}

/**
 * readRunClients reads the clients of n text runs: pairs of a client index and a count, no two
 * neighbouring pairs of one client.
 * @param {CrdtDecoder} d
 * @param {number[]} clients
 * @param {number} n
 * @returns {Float64Array}
 */
function readRunClients(d, clients, n) {
  const client = new Float64Array(n);
  let covered = 0;
  let prevCi = -1;
  while (covered < n) {
    const ci = d.readVarUint();
    if (ci >= clients.length) throw malformed('bad client index');
    if (ci === prevCi) throw malformed('run clients not run-length encoded');
    prevCi = ci;
    const count = d.readVarUint();
    if (count === 0 || count > n - covered) throw malformed('bad run client count');
    client.fill(clients[ci], covered, covered + count);
    covered += count;
  }
  return client;
}

/**
 * readRich reads the rich section of a version 3 snapshot (docs/crdt.md 4.6).
 * The references are checked when it is loaded.
 * @param {CrdtDecoder} d
 * @param {number[]} clients
 * @param {{kind: number, name: string}[]} roots
 * @param {Uint8Array} rootUsed
 * @param {Map<number, number>} sv
 * @returns {SnapRich}
 */
function readRich(d, clients, roots, rootUsed, sv) {
  /** @type {SnapRich} */
  const sr = { embeds: [], marks: [], attrs: [] };
  const textRoot = () => {
    const ri = d.readVarUint();
    if (ri >= roots.length || roots[ri].kind !== KIND_TEXT) throw malformed('bad text root index');
    rootUsed[ri] = 1;
    return roots[ri].name;
  };
  const clientOf = () => {
    const c = d.readVarUint();
    if (c >= clients.length) throw malformed('bad client index');
    return clients[c];
  };
  const below = (/** @type {number} */ client, /** @type {number} */ clock) => {
    if (clock >= /** @type {number} */ (sv.get(client))) throw malformed('rich unit beyond the state vector');
  };
  const evals = readTable(d, true);
  const usedE = new Uint8Array(evals.length);
  let n = d.readCount(2);
  const ecl = readClientRuns(d, clients, n);
  for (let i = 0; i < n; i++) {
    const client = ecl[i];
    let clock = d.readVarUint();
    if (i > 0 && ecl[i - 1] === client) clock += sr.embeds[i - 1].clock + 1;
    const k = d.readVarUint();
    if (k >= evals.length) throw malformed('embed value out of range');
    below(client, clock);
    usedE[k] = 1;
    sr.embeds.push({ client, clock, value: evals[k] });
  }
  if (usedE.includes(0)) throw malformed('embed value in the table not used');
  const names = readTable(d, false);
  const mvals = readTable(d, true);
  const usedN = new Uint8Array(names.length);
  const usedV = new Uint8Array(mvals.length);
  n = d.readCount(6);
  const mcl = readClientRuns(d, clients, n);
  const multi = clients.length > 1;
  let lamport = 0;
  for (let i = 0; i < n; i++) {
    const client = mcl[i];
    let clock = d.readVarUint();
    if (i > 0 && mcl[i - 1] === client) clock += sr.marks[i - 1].clock + 1;
    const head = d.readUint8();
    const sk = (head >> 1) & 3;
    const ek = (head >> 3) & 3;
    const root = textRoot();
    const ni = d.readVarUint();
    if (ni >= names.length) throw malformed('mark name out of range');
    usedN[ni] = 1;
    /** @type {string | null} */
    let value = null;
    if ((head & 1) === 0) {
      const vi = d.readVarUint();
      if (vi >= mvals.length) throw malformed('mark value out of range');
      usedV[vi] = 1;
      value = mvals[vi];
    }
    lamport += readSigned(d);
    const ids = [0, 0, 0, 0];
    for (let a = 0; a < 2; a++) {
      const kind = a === 0 ? sk : ek;
      if (kind !== REL_BEFORE && kind !== REL_AFTER) continue;
      ids[2 * a] = multi ? clientOf() : clients[0];
      const c = clock + readSigned(d);
      if (c < 0 || c >= 2 ** 53) throw malformed('anchor clock');
      ids[2 * a + 1] = c;
    }
    if (head >> 5 !== 0) throw malformed('bad mark head');
    if (sk === REL_END || ek === REL_START) throw malformed('mark from its end or to its start');
    if (names[ni] === '') throw malformed('empty mark name');
    if (lamport < 1 || lamport >= 2 ** 53) throw malformed('bad lamport');
    below(client, clock);
    sr.marks.push({ client, clock, root, sk, sc: ids[0], sclock: ids[1], ek, ec: ids[2], eclock: ids[3], name: names[ni], lamport, value });
  }
  if (usedN.includes(0) || usedV.includes(0)) throw malformed('mark name or value in the table not used');
  n = d.readCount(6);
  /** @type {Set<string>} */
  const seen = new Set();
  for (let i = 0; i < n; i++) {
    const client = clientOf();
    const clock = d.readVarUint();
    const root = textRoot();
    const tc = clientOf();
    const tk = d.readVarUint();
    const key = d.readString();
    if (!checkKey(key)) throw malformed('bad attribute key');
    const lamport = d.readVarUint();
    if (lamport === 0) throw malformed('lamport 0');
    const value = d.readString();
    if (!checkJSON(value)) throw malformed('bad json value');
    const k = `${tc}:${tk}:${key}`;
    if (seen.has(k)) throw malformed('two attributes of one key on one item');
    seen.add(k);
    if (i > 0) {
      const p = sr.attrs[i - 1];
      if (!(client > p.client || (client === p.client && clock > p.clock))) throw malformed('attributes not ascending');
    }
    below(client, clock);
    sr.attrs.push({ client, clock, root, tc, tk, key, lamport, value });
  }
  if (sr.embeds.length + sr.marks.length + sr.attrs.length === 0) throw malformed('version 3 snapshot without rich units');
  return sr;
}

/**
 * readTextV1 reads the columns of one text root of a version 1 snapshot and checks them.
 * @param {CrdtDecoder} d
 * @param {number[]} clients
 * @param {Map<number, number>} sv
 * @param {string} name
 * @returns {SnapText}
 */
function readTextV1(d, clients, sv, name) {
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
  const client = readRunClients(d, clients, n);
  if (2 * n > d.remaining) throw malformed('count exceeds input');
  const clock = new Float64Array(n);
  for (let j = 0; j < n; j++) clock[j] = d.readVarInt();
  const len = new Float64Array(n);
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
  const lc = new Float64Array(n);
  const lk = new Float64Array(n);
  const rc = new Float64Array(n);
  const rk = new Float64Array(n);
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
  for (let j = 0; j < n; j++) {
    if ((lc[j] === client[j] && lk[j] >= clock[j]) || (rc[j] === client[j] && rk[j] >= clock[j])) throw malformed('origin names its item or a later clock');
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
  return { name, n, del, client, clock, len, lc, lk, rc, rk, str: splitContent(content, cps, n, del, len), content, visible };
}

/**
 * splitContent cuts the visible text of a root into its runs' strings.
 * @param {string} content
 * @param {number} cps its length in code points
 * @param {number} n
 * @param {Uint8Array} del
 * @param {Float64Array} len
 * @returns {string[]}
 */
function splitContent(content, cps, n, del, len) {
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
  return str;
}

/**
 * readText reads the columns of one text root of a version 2 snapshot
 * (docs/crdt.md 2.4.1) and checks that they are canonical.
 * @param {CrdtDecoder} d
 * @param {number[]} clients
 * @param {Map<number, number>} sv
 * @param {string} name
 * @returns {SnapText}
 */
function readText(d, clients, sv, name) {
  const n = d.readVarUint();
  if (n === 0) throw malformed('text without runs');
  if (n > d.remaining * MAX_RUNS_PER_BYTE) throw malformed('count exceeds input');
  const shape = new Float64Array(n);
  const delta = new Float64Array(n);
  let prevShape = -1;
  let prevDelta = 0;
  let prevCount = 0;
  for (let i = 0; i < n; ) {
    const v = d.readVarUint();
    const dl = readSigned(d);
    const count = v % 2 === 1 ? Math.min(d.readVarUint(), MAX_REPEAT) + 2 : 1;
    const sh = Math.floor(v / 2);
    if (count > MAX_REPEAT || count > n - i) throw malformed('bad run entry count');
    if (Math.floor(sh / 32) > LONG_LEN) throw malformed('bad run length field');
    if (i > 0 && sh === prevShape && dl === prevDelta && prevCount < MAX_REPEAT) throw malformed('run entries not merged');
    shape.fill(sh, i, i + count);
    delta.fill(dl, i, i + count);
    prevShape = sh;
    prevDelta = dl;
    prevCount = count;
    i += count;
  }
  const del = new Uint8Array(n);
  const clock = new Float64Array(n);
  const len = new Float64Array(n);
  let expected = 0;
  let visible = 0;
  for (let j = 0; j < n; j++) {
    let l = Math.floor(shape[j] / 32) + 1;
    if (l - 1 === LONG_LEN) {
      l = d.readVarUint();
      if (l - 1 < LONG_LEN) throw malformed('bad long run length');
    }
    const c = addClock(expected, delta[j]);
    if (c + l > CLOCKS - 1) throw malformed('run clock out of range');
    clock[j] = c;
    len[j] = l;
    expected = c + l;
    del[j] = shape[j] % 2;
    if (!del[j]) visible += l;
  }
  const client = readRunClients(d, clients, n);
  for (let j = 0; j < n; j++) if (clock[j] + len[j] > /** @type {number} */ (sv.get(client[j]))) throw malformed('run outside the state vector');
  const withCI = clients.length > 1;
  const lc = new Float64Array(n);
  const lk = new Float64Array(n);
  const rc = new Float64Array(n);
  const rk = new Float64Array(n);
  /**
   * @param {number} j
   * @returns {number} the origin's client
   */
  const readClient = (j) => {
    if (!withCI) return client[j];
    const ci = d.readVarUint();
    if (ci >= clients.length) throw malformed('bad client index');
    return clients[ci];
  };
  for (let j = 0; j < n; j++) {
    switch (Math.floor(shape[j] / 2) % 4) {
      case O_NEAR:
        if (j === 0) throw malformed('left origin of the first run names the previous run');
        lc[j] = client[j - 1];
        lk[j] = clock[j - 1] + len[j - 1] - 1;
        break;
      case O_SAME:
        if (j === 0) throw malformed('left origin of the first run names the previous run');
        lc[j] = lc[j - 1];
        lk[j] = lk[j - 1];
        break;
      case O_ID:
        lc[j] = readClient(j);
        lk[j] = addClock(clock[j], readSigned(d));
    }
  }
  for (let j = 0; j < n; j++) {
    switch (Math.floor(shape[j] / 8) % 4) {
      case O_NEAR:
        if (j === n - 1) throw malformed('right origin of the last run names the next run');
        rc[j] = client[j + 1];
        rk[j] = clock[j + 1];
        break;
      case O_SAME:
        if (j === 0) throw malformed('right origin of the first run names the previous run');
        rc[j] = rc[j - 1];
        rk[j] = rk[j - 1];
        break;
      case O_ID:
        rc[j] = readClient(j);
        rk[j] = addClock(clock[j], readSigned(d));
    }
  }
  const cols = { n, client, clock, len, lc, lk, rc, rk };
  for (let j = 0; j < n; j++) {
    if (Math.floor(shape[j] / 2) % 4 !== leftKind(cols, j) || Math.floor(shape[j] / 8) % 4 !== rightKind(cols, j)) throw malformed('origins not written in their first kind');
    if ((lc[j] === client[j] && lk[j] >= clock[j]) || (rc[j] === client[j] && rk[j] >= clock[j])) throw malformed('origin names its item or a later clock');
    if (j > 0) {
      const i = j - 1;
      if (client[j] === client[i] && clock[j] === clock[i] + len[i] && lc[j] === client[i] && lk[j] === clock[j] - 1 && rc[j] === rc[i] && rk[j] === rk[i] && del[j] === del[i]) {
        throw malformed('runs not maximal');
      }
    }
  }
  const content = readContent(d, visible);
  const cps = cpLength(content);
  if (cps !== visible) throw malformed('content length mismatch');
  return { name, n, del, client, clock, len, lc, lk, rc, rk, str: splitContent(content, cps, n, del, len), content, visible };
}

/**
 * loadSnapshot builds the units of a snapshot (not its pending units) into the
 * new, empty doc, in one linear pass per text root, and logs everything as
 * changed. It throws CrdtError 'malformed' if a clock is claimed twice or an
 * origin is not a text item of its root; doc is then to be dropped.
 * @param {import('./doc.js').Doc} doc
 * @param {Snapshot} snap
 * @param {ChangeLog} log
 */
export function loadSnapshot(doc, snap, log) {
  /** @type {Map<number, any[]>} */
  const entries = new Map();
  for (const c of snap.sv.keys()) entries.set(c, []);
  /** @type {Map<number, {clock: number, value: string}[]>} per client, the embeds ascending by clock */
  const embeds = new Map();
  if (snap.rich !== null) {
    for (const em of snap.rich.embeds) {
      let m = embeds.get(em.client);
      if (m === undefined) embeds.set(em.client, (m = []));
      m.push(em);
    }
  }
  /** how many embeds were found in visible runs */
  let found = 0;
  for (const st of snap.texts) {
    const root = doc._textRoot(st.name);
    /** @type {Piece[]} */
    const pieces = [];
    for (let j = 0; j < st.n; j++) {
      const es = st.del[j] === 1 ? undefined : embeds.get(st.client[j]);
      if (es !== undefined) {
        // A visible run holding embeds: each embed a run of its own.
        let str = st.str[j];
        let from = st.clock[j];
        let lc = st.lc[j];
        let lk = st.lk[j];
        const end = st.clock[j] + st.len[j];
        let rem = st.len[j]; // the code points of str
        const cut = (/** @type {number} */ to, /** @type {string | null} */ embed) => {
          const u = cpToUtf16(str, rem, to - from);
          rem -= to - from;
          const run = new Run(st.client[j], from, to - from, root, lc, lk, st.rc[j], st.rk[j]);
          run.embed = embed;
          if (embed !== null && str.slice(0, u) !== '\uFFFC') throw malformed('embed is not a visible item holding U+FFFC');
          const p = new Piece(run, from, to - from, str.slice(0, u), false);
          run.first = p;
          pieces.push(p);
          /** @type {any[]} */ (entries.get(st.client[j])).push(run);
          str = str.slice(u);
          lc = st.client[j];
          lk = to - 1;
          from = to;
        };
        let lo = 0;
        let hi = es.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (es[mid].clock < from) lo = mid + 1;
          else hi = mid;
        }
        if (lo < es.length && es[lo].clock < end) {
          for (let i = lo; i < es.length && es[i].clock < end; i++) {
            const k = es[i].clock;
            found++;
            if (k > from) cut(k, null);
            cut(k + 1, es[i].value);
          }
          if (from < end) cut(end, null);
          continue;
        }
      }
      const run = new Run(st.client[j], st.clock[j], st.len[j], root, st.lc[j], st.lk[j], st.rc[j], st.rk[j]);
      const p = new Piece(run, st.clock[j], st.len[j], st.str[j], st.del[j] === 1);
      run.first = p;
      pieces.push(p);
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
  if (snap.rich !== null) {
    if (found !== snap.rich.embeds.length) throw malformed('embed is not a visible item holding U+FFFC');
    for (const m of snap.rich.marks) {
      const root = doc._textRoot(m.root);
      const rt = root.rich ?? (root.rich = new RichState());
      const e = new MarkEntry(m.client, m.clock, root, m.sk, m.sc, m.sclock, m.ek, m.ec, m.eclock, m.name, m.lamport, m.value);
      rt.addMark(e);
      /** @type {any[]} */ (entries.get(m.client)).push(e);
      log.rich.push(e);
    }
    for (const a of snap.rich.attrs) {
      const root = doc._textRoot(a.root);
      const rt = root.rich ?? (root.rich = new RichState());
      const e = new AttrEntry(a.client, a.clock, root, a.tc, a.tk, a.key, a.lamport, a.value);
      rt.addAttr(e);
      /** @type {any[]} */ (entries.get(a.client)).push(e);
      log.rich.push(e);
    }
  }
  for (const [c, list] of entries) {
    list.sort((a, b) => a.clock - b.clock);
    const cs = doc._client(c);
    let clock = 0;
    for (const e of list) {
      if (e.clock < clock) throw malformed('clock claimed twice');
      if (e.clock > clock) cs.push(new SkipEntry(clock, e.clock - clock));
      cs.push(e);
      clock = e.clock + e.len;
    }
    const next = /** @type {number} */ (snap.sv.get(c));
    if (next > clock) cs.push(new SkipEntry(clock, next - clock));
  }
  for (const root of doc._texts.values()) {
    for (let p = root.seq.first; p !== null; p = p.next) {
      const run = p.run;
      if (run.lc !== 0 && !isItemOf(doc, run.lc, run.lk, root, p.prev)) throw malformed('left origin is not a text item of its root');
      if (run.rc !== 0 && !isItemOf(doc, run.rc, run.rk, root, p.next)) throw malformed('right origin is not a text item of its root');
    }
  }
  if (snap.rich !== null) {
    for (const m of snap.rich.marks) {
      const root = /** @type {TextState} */ (doc._texts.get(m.root));
      if ((m.sk === REL_BEFORE || m.sk === REL_AFTER) && !isItemOf(doc, m.sc, m.sclock, root, null)) throw malformed('anchor is not an item of its root');
      if ((m.ek === REL_BEFORE || m.ek === REL_AFTER) && !isItemOf(doc, m.ec, m.eclock, root, null)) throw malformed('anchor is not an item of its root');
    }
    for (const a of snap.rich.attrs) {
      if (!isItemOf(doc, a.tc, a.tk, /** @type {TextState} */ (doc._texts.get(a.root)), null)) throw malformed('target is not an item of its root');
    }
  }
}

/**
 * isItemOf reports whether (client, clock) is a text item of root, looking at
 * the neighbour first (the common case: an origin written with bit 2 or 4).
 * @param {import('./doc.js').Doc} doc
 * @param {number} client
 * @param {number} clock
 * @param {TextState} root
 * @param {Piece | null} near
 * @returns {boolean}
 */
function isItemOf(doc, client, clock, root, near) {
  if (near !== null && near.client === client && near.clock <= clock && clock < near.clock + near.len) return true;
  const p = doc.findPiece(client, clock);
  return p !== null && p.run.root === root;
}

/**
 * snapshotToUpdate returns an update holding the same units and delete set as
 * the snapshot loaded into doc (a fresh Doc), plus the snapshot's pending
 * units, to merge the snapshot into a document that is not empty.
 * @param {import('./doc.js').Doc} doc
 * @param {Snapshot} snap
 * @returns {import('./update.js').Update}
 */
export function snapshotToUpdate(doc, snap) {
  /** @type {Map<number, Op[]>} */
  const ops = new Map();
  for (const cs of doc._clients.values()) if (cs.next > 0) ops.set(cs.id, doc._collect(cs, 0));
  const ds = doc._deleteSet();
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

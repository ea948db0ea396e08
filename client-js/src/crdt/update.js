// @ts-check
// The update format (0x01, docs/crdt.md 2.1 to 2.3): decoding with every check
// of the specification, and canonical encoding from clock-ordered ops.

import { CrdtDecoder, Encoder, LIMIT, decoding, bytesOf } from './encoding.js';
import { malformed } from './errors.js';
import { TEXT, MAP, SKIP, MARK, ATTR } from './seq.js';
import { compareUtf8, cpLength, utf8Length } from './utf.js';
import { REL_BEFORE, REL_AFTER, REL_START, REL_END } from './relpos.js';
import { checkName, checkKey, checkJSON } from './names.js';

export const FORMAT_UPDATE = 0x01;
export const KIND_TEXT = 1;
export const KIND_MAP = 2;

/**
 * Op is one decoded unit range of an update: a text run (kind TEXT), a map
 * assignment (MAP), a skip (SKIP), or a rich-text unit (docs/crdt.md section
 * 4.4): an embed (a TEXT op of one item with embed set), a mark (MARK: anchors
 * in lc/lk and rc/rk with their kinds sk and ek, name in key, value null for a
 * remove) or an attribute (ATTR: target in lc/lk). A client of 0 in an origin
 * means none.
 */
export class Op {
  /**
   * @param {number} kind
   * @param {number} client
   * @param {number} clock
   * @param {number} len
   */
  constructor(kind, client, clock, len) {
    this.kind = kind;
    this.client = client;
    this.clock = clock;
    this.len = len;
    /** root name (text and map) */
    this.root = '';
    this.lc = 0;
    this.lk = 0;
    this.rc = 0;
    this.rk = 0;
    this.deleted = false;
    /** text content, '' when deleted */
    this.str = '';
    this.key = '';
    this.lamport = 0;
    /** @type {string | null} JSON text, null for a tombstone (map) or a remove (mark) */
    this.value = null;
    /** @type {string | null} the JSON text of an embed (TEXT, len 1, str U+FFFC) */
    this.embed = null;
    /** the kinds of a mark's start and end anchors (relpos.js) */
    this.sk = 0;
    this.ek = 0;
    /** @type {import('./pending.js').Group | null} while pending, near maxPendingBytes: the group it starts or ends (pending.js, Exact) */
    this.g = null;
    /** @type {import('./pending.js').Block | null} likewise, the block */
    this.b = null;
  }
}

/**
 * isRich reports whether op is written as a rich op (an embed, a mark or an attribute).
 * @param {Op} op
 * @returns {boolean}
 */
export function isRich(op) {
  return op.kind === MARK || op.kind === ATTR || (op.kind === TEXT && op.embed !== null);
}

/**
 * hasOrigins reports whether op names items it depends on in lc/lk and rc/rk.
 * @param {Op} op
 * @returns {boolean}
 */
export function hasOrigins(op) {
  return op.kind === TEXT || op.kind === MARK || op.kind === ATTR;
}

/**
 * richOpSize returns the encoded size of a rich op but its table indexes, and
 * calls ref with every client it names but its own (Go's richOpSize).
 * @param {Op} op
 * @param {((client: number) => void) | null} ref
 * @returns {number}
 */
export function richOpSize(op, ref) {
  let n = 1;
  const id = (/** @type {number} */ c, /** @type {number} */ k) => {
    if (ref !== null) ref(c);
    n += varLen(k);
  };
  if (op.kind === TEXT) {
    if (op.lc !== 0) id(op.lc, op.lk);
    if (op.rc !== 0) id(op.rc, op.rk);
    const b = utf8Length(/** @type {string} */ (op.embed));
    n += varLen(b) + b;
  } else if (op.kind === MARK) {
    n += 2;
    if (op.sk === REL_BEFORE || op.sk === REL_AFTER) id(op.lc, op.lk);
    if (op.ek === REL_BEFORE || op.ek === REL_AFTER) id(op.rc, op.rk);
    const kb = utf8Length(op.key);
    n += varLen(kb) + kb + varLen(op.lamport);
    if (op.value !== null) {
      const vb = utf8Length(op.value);
      n += varLen(vb) + vb;
    }
  } else {
    id(op.lc, op.lk);
    const kb = utf8Length(op.key);
    const vb = utf8Length(/** @type {string} */ (op.value));
    n += varLen(kb) + kb + varLen(op.lamport) + varLen(vb) + vb;
  }
  return n;
}

/**
 * varLen returns the length of x as a varint.
 * @param {number} x
 * @returns {number}
 */
function varLen(x) {
  let n = 1;
  while (x >= 128) {
    x = Math.floor(x / 128);
    n++;
  }
  return n;
}

/**
 * DeleteSet maps a client to its deleted clock ranges, flat [start, end, ...],
 * ascending, non-overlapping and non-adjacent.
 * @typedef {Map<number, number[]>} DeleteSet
 */

/**
 * Update is a decoded update: ops per client ascending by clock (ops of a client
 * may leave gaps only in a pending buffer), and a delete set.
 * @typedef {{ops: Map<number, Op[]>, ds: DeleteSet}} Update
 */

/**
 * readClients reads the clients table.
 * @param {CrdtDecoder} d
 * @returns {number[]}
 */
export function readClients(d) {
  const n = d.readCount();
  const clients = new Array(n);
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = d.readVarUint();
    if (c <= prev) throw malformed(c === 0 ? 'client id 0' : 'clients out of order');
    clients[i] = prev = c;
  }
  return clients;
}

/**
 * readRoots reads the roots table.
 * @param {CrdtDecoder} d
 * @returns {{kind: number, name: string}[]}
 */
export function readRoots(d) {
  const n = d.readCount(2);
  const roots = new Array(n);
  for (let i = 0; i < n; i++) {
    const kind = d.readUint8();
    if (kind !== KIND_TEXT && kind !== KIND_MAP) throw malformed('bad root kind');
    const name = d.readString();
    if (!checkName(name)) throw malformed('bad root name');
    if (i > 0) {
      const p = roots[i - 1];
      if (p.kind > kind || (p.kind === kind && compareUtf8(p.name, name) >= 0)) throw malformed('roots out of order');
    }
    roots[i] = { kind, name };
  }
  return roots;
}

/**
 * readDeleteSet reads a delete set; used marks the clients it names.
 * @param {CrdtDecoder} d
 * @param {number[]} clients
 * @param {Uint8Array} used
 * @returns {DeleteSet}
 */
export function readDeleteSet(d, clients, used) {
  /** @type {DeleteSet} */
  const ds = new Map();
  const n = d.readCount(3);
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const ci = d.readVarUint();
    if (ci >= clients.length) throw malformed('bad client index');
    if (ci <= prev) throw malformed('delete set out of order');
    prev = ci;
    used[ci] = 1;
    const nr = d.readCount(2);
    if (nr === 0) throw malformed('empty delete set entry');
    const ranges = new Array(nr * 2);
    let end = 0;
    for (let j = 0; j < nr; j++) {
      const gap = d.readVarUint();
      const len = d.readVarUint();
      if (len === 0) throw malformed('empty delete range');
      if (j > 0 && gap === 0) throw malformed('adjacent delete ranges');
      const start = end + gap;
      end = start + len;
      if (end >= LIMIT) throw malformed('delete range reaches 2^53');
      ranges[2 * j] = start;
      ranges[2 * j + 1] = end;
    }
    ds.set(clients[ci], ranges);
  }
  return ds;
}

/**
 * readId reads an ID (client index, clock).
 * @param {CrdtDecoder} d
 * @param {number[]} clients
 * @param {Uint8Array} used
 * @returns {number} the client; the clock is left in d.idClock
 */
function readIdClient(d, clients, used) {
  const ci = d.readVarUint();
  if (ci >= clients.length) throw malformed('bad client index');
  used[ci] = 1;
  return clients[ci];
}

/**
 * readOrigins reads a text unit's origins, left when tag has bit 8 and right
 * when it has bit 16 (the text run and the embed share them), into op.
 * @param {CrdtDecoder} d
 * @param {number} tag
 * @param {Op} op
 * @param {number[]} clients
 * @param {Uint8Array} used
 */
function readOrigins(d, tag, op, clients, used) {
  if (tag & 8) {
    op.lc = readIdClient(d, clients, used);
    op.lk = d.readVarUint();
  }
  if (tag & 16) {
    op.rc = readIdClient(d, clients, used);
    op.rk = d.readVarUint();
  }
}

/**
 * decodeUpdate decodes and checks an update (format byte 0x01).
 * @param {Uint8Array} bytes
 * @returns {Update}
 */
export function decodeUpdate(bytes) {
  if (!(bytes instanceof Uint8Array)) throw malformed('not bytes');
  return decoding(() => decodeUpdateBody(bytes));
}

/**
 * @param {Uint8Array} bytes
 */
function decodeUpdateBody(bytes) {
  const d = new CrdtDecoder(bytes);
  if (d.readUint8() !== FORMAT_UPDATE) throw malformed('not an update');
  const u = readUpdateBody(d);
  d.end();
  return u;
}

/**
 * readUpdateBody reads an update after its format byte. Blocks are ascending
 * by client then clock; a client may have several blocks, neither overlapping
 * nor adjacent (only a pending buffer needs that: its units can have gaps).
 * Ops must be in canonical form: two ops of a block that would merge are refused.
 * @param {CrdtDecoder} d
 * @returns {Update}
 */
export function readUpdateBody(d) {
  const clients = readClients(d);
  const roots = readRoots(d);
  const used = new Uint8Array(clients.length);
  const rootUsed = new Uint8Array(roots.length);
  /** @type {Map<number, Op[]>} */
  const all = new Map();
  const nBlocks = d.readCount(3);
  let prevCi = -1;
  let prevEnd = 0;
  for (let b = 0; b < nBlocks; b++) {
    const ci = d.readVarUint();
    if (ci >= clients.length) throw malformed('bad client index');
    let clock = d.readVarUint();
    if (ci < prevCi || (ci === prevCi && clock <= prevEnd)) throw malformed('blocks out of order or adjacent');
    prevCi = ci;
    used[ci] = 1;
    const client = clients[ci];
    const nOps = d.readCount(2);
    if (nOps === 0) throw malformed('empty block');
    /** @type {Op[]} */
    const ops = new Array(nOps);
    for (let i = 0; i < nOps; i++) {
      const tag = d.readUint8();
      const kind = tag & 7;
      let op;
      if (kind === 0) {
        if (tag & 0xc0) throw malformed('bad op tag');
        const ri = readRoot(d, roots, KIND_TEXT, rootUsed);
        op = new Op(TEXT, client, clock, 0);
        op.root = roots[ri].name;
        readOrigins(d, tag, op, clients, used);
        op.len = d.readVarUint();
        if (op.len === 0) throw malformed('empty text run');
        if (tag & 32) op.deleted = true;
        else {
          op.str = d.readString();
          if (op.str.length < op.len || cpLength(op.str) !== op.len) throw malformed('text length mismatch');
        }
      } else if (kind === 1) {
        if (tag & 0xf0) throw malformed('bad op tag');
        const ri = readRoot(d, roots, KIND_MAP, rootUsed);
        op = new Op(MAP, client, clock, 1);
        op.root = roots[ri].name;
        op.key = d.readString();
        if (!checkKey(op.key)) throw malformed('bad map key');
        op.lamport = d.readVarUint();
        if (op.lamport === 0) throw malformed('lamport 0');
        if (!(tag & 8)) {
          const v = d.readString();
          if (!checkJSON(v)) throw malformed('bad json value');
          op.value = v;
        }
      } else if (kind === 2) {
        if (tag & 0xf8) throw malformed('bad op tag');
        op = new Op(SKIP, client, clock, d.readVarUint());
        if (op.len === 0) throw malformed('empty skip');
      } else if (kind === 3) {
        if (tag & 0xe0) throw malformed('bad op tag');
        const ri = readRoot(d, roots, KIND_TEXT, rootUsed);
        op = new Op(TEXT, client, clock, 1);
        op.root = roots[ri].name;
        readOrigins(d, tag, op, clients, used);
        const v = d.readString();
        if (!checkJSON(v)) throw malformed('bad json value');
        op.embed = v;
        op.str = OBJECT_REPLACEMENT;
      } else if (kind === 4) {
        if (tag & 0xf0) throw malformed('bad op tag');
        const ri = readRoot(d, roots, KIND_TEXT, rootUsed);
        op = new Op(MARK, client, clock, 1);
        op.root = roots[ri].name;
        op.sk = readAnchor(d, clients, used, op, true);
        op.ek = readAnchor(d, clients, used, op, false);
        op.key = d.readString();
        if (!checkKey(op.key)) throw malformed('bad mark name');
        op.lamport = d.readVarUint();
        if (op.sk === REL_END || op.ek === REL_START) throw malformed('mark from its end or to its start');
        if (op.key === '') throw malformed('empty mark name');
        if (op.lamport === 0) throw malformed('lamport 0');
        if (!(tag & 8)) {
          const v = d.readString();
          if (!checkJSON(v)) throw malformed('bad json value');
          op.value = v;
        }
      } else if (kind === 5) {
        if (tag !== 5) throw malformed('bad op tag');
        const ri = readRoot(d, roots, KIND_TEXT, rootUsed);
        op = new Op(ATTR, client, clock, 1);
        op.root = roots[ri].name;
        op.lc = readIdClient(d, clients, used);
        op.lk = d.readVarUint();
        op.key = d.readString();
        if (!checkKey(op.key)) throw malformed('bad attribute key');
        op.lamport = d.readVarUint();
        if (op.lamport === 0) throw malformed('lamport 0');
        const v = d.readString();
        if (!checkJSON(v)) throw malformed('bad json value');
        op.value = v;
      } else {
        throw malformed('bad op kind');
      }
      if (op.kind !== MAP && op.kind !== SKIP && ((op.lc === client && op.lk >= op.clock) || (op.rc === client && op.rk >= op.clock))) {
        throw malformed('origin names its item or a later clock');
      }
      if (i > 0) {
        const prev = ops[i - 1];
        if ((op.kind === SKIP && prev.kind === SKIP) || continues(prev, op)) throw malformed('ops not merged');
      }
      clock += op.len;
      if (clock >= LIMIT) throw malformed('clock range reaches 2^53');
      ops[i] = op;
    }
    prevEnd = clock;
    const before = all.get(client);
    all.set(client, before === undefined ? ops : before.concat(ops));
  }
  const ds = readDeleteSet(d, clients, used);
  for (let i = 0; i < used.length; i++) if (!used[i]) throw malformed('unused client');
  for (let i = 0; i < rootUsed.length; i++) if (!rootUsed[i]) throw malformed('unused root');
  return { ops: all, ds };
}

/** OBJECT_REPLACEMENT is what an embed reads as in the text (U+FFFC). */
export const OBJECT_REPLACEMENT = '\uFFFC';

/**
 * readAnchor reads a mark's anchor into op (lc/lk for the start, rc/rk for
 * the end) and returns its kind.
 * @param {CrdtDecoder} d
 * @param {number[]} clients
 * @param {Uint8Array} used
 * @param {Op} op
 * @param {boolean} start
 * @returns {number}
 */
function readAnchor(d, clients, used, op, start) {
  const k = d.readUint8();
  if (k > REL_END) throw malformed('bad anchor kind');
  if (k === REL_BEFORE || k === REL_AFTER) {
    const c = readIdClient(d, clients, used);
    const clock = d.readVarUint();
    if (start) {
      op.lc = c;
      op.lk = clock;
    } else {
      op.rc = c;
      op.rk = clock;
    }
  }
  return k;
}

/**
 * @param {CrdtDecoder} d
 * @param {{kind: number, name: string}[]} roots
 * @param {number} kind
 * @param {Uint8Array} used
 * @returns {number}
 */
function readRoot(d, roots, kind, used) {
  const ri = d.readVarUint();
  if (ri >= roots.length) throw malformed('bad root index');
  if (roots[ri].kind !== kind) throw malformed('root of the wrong kind');
  used[ri] = 1;
  return ri;
}

/**
 * continues reports whether text op b continues text op a, so that canonical
 * form merges them.
 * @param {Op} a
 * @param {Op} b
 * @returns {boolean}
 */
export function continues(a, b) {
  return (
    b.kind === TEXT &&
    a.kind === TEXT &&
    a.client === b.client &&
    b.clock === a.clock + a.len &&
    b.root === a.root &&
    b.lc === a.client &&
    b.lk === a.clock + a.len - 1 &&
    b.rc === a.rc &&
    b.rk === a.rk &&
    b.deleted === a.deleted &&
    a.embed === null &&
    b.embed === null
  );
}

/**
 * canonical returns a client's ops (ascending by clock) in canonical form: text
 * runs that continue each other and consecutive skips merged. The ops given are
 * never modified; merged ones are copies.
 * @param {Op[]} list
 * @returns {Op[]}
 */
export function canonical(list) {
  /** @type {Op[]} */
  const out = [];
  let owned = false;
  for (const op of list) {
    let last = out.length > 0 ? out[out.length - 1] : null;
    if (last !== null && last.clock + last.len === op.clock && ((op.kind === SKIP && last.kind === SKIP) || continues(last, op))) {
      if (!owned) {
        last = Object.assign(new Op(last.kind, last.client, last.clock, last.len), last);
        out[out.length - 1] = last;
        owned = true;
      }
      last.len += op.len;
      last.str += op.str;
      continue;
    }
    out.push(op);
    owned = false;
  }
  return out;
}

/**
 * encodeUpdate writes an update. ops holds, per client, canonical ops ascending
 * by clock; a gap between two ops of a client starts a new block (only a pending
 * buffer has gaps).
 * @param {Map<number, Op[]>} ops
 * @param {DeleteSet} ds
 * @returns {Uint8Array}
 */
export function encodeUpdate(ops, ds) {
  const e = new Encoder(64);
  e.writeUint8(FORMAT_UPDATE);
  writeUpdateBody(e, ops, ds);
  return bytesOf(e);
}

/**
 * writeUpdateBody writes an update after its format byte.
 * @param {Encoder} e
 * @param {Map<number, Op[]>} ops
 * @param {DeleteSet} ds
 */
export function writeUpdateBody(e, ops, ds) {
  /** @type {Set<number>} */
  const clientSet = new Set();
  /** @type {Map<string, {kind: number, name: string}>} */
  const rootSet = new Map();
  /** @type {Map<number, Op[]>} */
  const canon = new Map();
  for (const [client, raw] of ops) {
    if (raw.length === 0) continue;
    const list = canonical(raw);
    canon.set(client, list);
    clientSet.add(client);
    for (const op of list) {
      if (op.kind === TEXT || op.kind === MARK || op.kind === ATTR) {
        if (op.lc !== 0) clientSet.add(op.lc);
        if (op.rc !== 0) clientSet.add(op.rc);
        const k = 't' + op.root;
        if (!rootSet.has(k)) rootSet.set(k, { kind: KIND_TEXT, name: op.root });
      } else if (op.kind === MAP) {
        const k = 'm' + op.root;
        if (!rootSet.has(k)) rootSet.set(k, { kind: KIND_MAP, name: op.root });
      }
    }
  }
  for (const [client, r] of ds) if (r.length > 0) clientSet.add(client);
  const clients = [...clientSet].sort((a, b) => a - b);
  /** @type {Map<number, number>} */
  const ci = new Map();
  e.writeVarUint(clients.length);
  for (let i = 0; i < clients.length; i++) {
    e.writeVarUint(clients[i]);
    ci.set(clients[i], i);
  }
  const roots = [...rootSet.values()].sort((a, b) => a.kind - b.kind || compareUtf8(a.name, b.name));
  /** @type {Map<string, number>} */
  const ri = new Map();
  e.writeVarUint(roots.length);
  for (let i = 0; i < roots.length; i++) {
    e.writeUint8(roots[i].kind);
    e.writeString(roots[i].name);
    ri.set((roots[i].kind === KIND_TEXT ? 't' : 'm') + roots[i].name, i);
  }
  // Blocks: split each client's ops at gaps.
  /** @type {{client: number, from: number, to: number, list: Op[]}[]} */
  const blocks = [];
  for (const client of clients) {
    const list = canon.get(client);
    if (list === undefined) continue;
    let from = 0;
    for (let i = 1; i <= list.length; i++) {
      if (i === list.length || list[i].clock !== list[i - 1].clock + list[i - 1].len) {
        blocks.push({ client, from, to: i, list });
        from = i;
      }
    }
  }
  e.writeVarUint(blocks.length);
  for (const b of blocks) {
    e.writeVarUint(/** @type {number} */ (ci.get(b.client)));
    e.writeVarUint(b.list[b.from].clock);
    e.writeVarUint(b.to - b.from);
    for (let i = b.from; i < b.to; i++) {
      const op = b.list[i];
      if (isRich(op)) {
        writeRichOp(e, op, ci, /** @type {number} */ (ri.get('t' + op.root)));
      } else if (op.kind === TEXT) {
        e.writeUint8((op.lc !== 0 ? 8 : 0) | (op.rc !== 0 ? 16 : 0) | (op.deleted ? 32 : 0));
        e.writeVarUint(/** @type {number} */ (ri.get('t' + op.root)));
        if (op.lc !== 0) {
          e.writeVarUint(/** @type {number} */ (ci.get(op.lc)));
          e.writeVarUint(op.lk);
        }
        if (op.rc !== 0) {
          e.writeVarUint(/** @type {number} */ (ci.get(op.rc)));
          e.writeVarUint(op.rk);
        }
        e.writeVarUint(op.len);
        if (!op.deleted) e.writeString(op.str);
      } else if (op.kind === MAP) {
        e.writeUint8(op.value === null ? 1 | 8 : 1);
        e.writeVarUint(/** @type {number} */ (ri.get('m' + op.root)));
        e.writeString(op.key);
        e.writeVarUint(op.lamport);
        if (op.value !== null) e.writeString(op.value);
      } else {
        e.writeUint8(2);
        e.writeVarUint(op.len);
      }
    }
  }
  writeDeleteSet(e, ds, ci);
}

/**
 * writeRichOp writes an embed, a mark or an attribute op (docs/crdt.md section 4.4).
 * @param {Encoder} e
 * @param {Op} op
 * @param {Map<number, number>} ci
 * @param {number} root the root's index
 */
function writeRichOp(e, op, ci, root) {
  const id = (/** @type {number} */ c, /** @type {number} */ k) => {
    e.writeVarUint(/** @type {number} */ (ci.get(c)));
    e.writeVarUint(k);
  };
  if (op.kind === TEXT) {
    e.writeUint8(3 | (op.lc !== 0 ? 8 : 0) | (op.rc !== 0 ? 16 : 0));
    e.writeVarUint(root);
    if (op.lc !== 0) id(op.lc, op.lk);
    if (op.rc !== 0) id(op.rc, op.rk);
    e.writeString(/** @type {string} */ (op.embed));
  } else if (op.kind === MARK) {
    e.writeUint8(op.value === null ? 4 | 8 : 4);
    e.writeVarUint(root);
    e.writeUint8(op.sk);
    if (op.sk === REL_BEFORE || op.sk === REL_AFTER) id(op.lc, op.lk);
    e.writeUint8(op.ek);
    if (op.ek === REL_BEFORE || op.ek === REL_AFTER) id(op.rc, op.rk);
    e.writeString(op.key);
    e.writeVarUint(op.lamport);
    if (op.value !== null) e.writeString(op.value);
  } else {
    e.writeUint8(5);
    e.writeVarUint(root);
    id(op.lc, op.lk);
    e.writeString(op.key);
    e.writeVarUint(op.lamport);
    e.writeString(/** @type {string} */ (op.value));
  }
}

/**
 * writeDeleteSet writes a delete set with client indexes from ci.
 * @param {Encoder} e
 * @param {DeleteSet} ds
 * @param {Map<number, number>} ci
 */
export function writeDeleteSet(e, ds, ci) {
  const clients = [...ds.keys()].filter((c) => /** @type {number[]} */ (ds.get(c)).length > 0).sort((a, b) => a - b);
  e.writeVarUint(clients.length);
  for (const c of clients) {
    const r = /** @type {number[]} */ (ds.get(c));
    e.writeVarUint(/** @type {number} */ (ci.get(c)));
    e.writeVarUint(r.length / 2);
    let end = 0;
    for (let j = 0; j < r.length; j += 2) {
      e.writeVarUint(r[j] - end);
      e.writeVarUint(r[j + 1] - r[j]);
      end = r[j + 1];
    }
  }
}

/**
 * sortRanges returns flat [start, end) ranges given in any order as sorted
 * ranges, overlaps and neighbours merged (a new array; r is kept).
 * @param {number[]} r
 * @returns {number[]}
 */
export function sortRanges(r) {
  const n = r.length;
  let p = r;
  for (let j = 2; j < n; j += 2) {
    if (r[j] < r[j - 1]) {
      /** @type {number[]} */
      const at = [];
      for (let k = 0; k < n; k += 2) at.push(k);
      at.sort((a, b) => r[a] - r[b]);
      p = [];
      for (const k of at) p.push(r[k], r[k + 1]);
      break;
    }
  }
  /** @type {number[]} */
  const out = [];
  for (let j = 0; j < n; j += 2) {
    const m = out.length;
    if (m > 0 && out[m - 1] >= p[j]) {
      if (p[j + 1] > out[m - 1]) out[m - 1] = p[j + 1];
    } else {
      out.push(p[j], p[j + 1]);
    }
  }
  return out;
}

/**
 * addRange adds [start, end) to flat sorted ranges, merging overlaps and
 * neighbours, and returns the array.
 * @param {number[]} r
 * @param {number} start
 * @param {number} end
 * @returns {number[]}
 */
export function addRange(r, start, end) {
  const n = r.length;
  if (n === 0 || r[n - 1] < start) {
    r.push(start, end);
    return r;
  }
  if (r[n - 1] === start) {
    r[n - 1] = end > r[n - 1] ? end : r[n - 1];
    return r;
  }
  if (end === r[n - 2] && (n === 2 || r[n - 3] < start)) {
    r[n - 2] = start; // backspacing: the range just before the last one
    return r;
  }
  // General case: find the first range whose end >= start.
  let lo = 0;
  let hi = n / 2;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (r[2 * mid + 1] < start) lo = mid + 1;
    else hi = mid;
  }
  let j = lo;
  let s = start;
  let t = end;
  let k = j;
  while (k < n / 2 && r[2 * k] <= t) {
    if (r[2 * k] < s) s = r[2 * k];
    if (r[2 * k + 1] > t) t = r[2 * k + 1];
    k++;
  }
  // Ranges j..k-1 become [s, t), in place (splice would make an array of
  // the removed ranges on every call).
  const gone = k - j;
  if (gone === 0) {
    r.push(0, 0);
    for (let i = n + 1; i >= 2 * j + 2; i--) r[i] = r[i - 2];
  } else if (gone > 1) {
    const gap = 2 * (gone - 1);
    for (let i = 2 * j + 2; i + gap < n; i++) r[i] = r[i + gap];
    r.length = n - gap;
  }
  r[2 * j] = s;
  r[2 * j + 1] = t;
  return r;
}

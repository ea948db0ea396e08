// @ts-check
// Cutting an update into smaller ones (docs/crdt.md section 2.6), the twin of crdt/split.go:
// the same cuts, the same bytes.

import { decodeUpdate, encodeUpdate, Op, richOpSize } from './update.js';
import { TEXT, MAP, SKIP, MARK, ATTR } from './seq.js';
import { utf8Length } from './utf.js';
import { varUintLength as uvLen } from '../varint.js';

/** MIN_SPLIT_BYTES is the smallest maximum splitUpdate accepts (Go: crdt.MinSplitBytes). */
export const MIN_SPLIT_BYTES = 64;

/**
 * unsplittable returns the error splitUpdate throws when it cannot cut an update to the size
 * asked: a RangeError of kind 'unsplittable' (Go: crdt.ErrUnsplittable).
 * @param {string} detail
 */
function unsplittable(detail) {
  const err = new RangeError(`crdt: update cannot be split to that size: ${detail}`);
  /** @type {any} */ (err).kind = 'unsplittable';
  return err;
}

/**
 * splitUpdate cuts an update into updates of at most max encoded bytes each. Applying them in
 * order to any replica gives the same document as applying the update, so that an update larger
 * than a server accepts in one message can be sent as several.
 *
 * An update of at most max bytes is returned as is, as the only part, without being decoded. A
 * larger one is decoded (a CrdtError of kind 'malformed' if it does not) and its units are laid
 * out in order, each block's ops then the delete ranges, filling each part as far as max allows:
 * a text run that does not fit is cut between code points, its first part finishing the current
 * update and the rest starting the next. Every part is a canonical update, byte for byte what
 * crdt.SplitUpdate writes.
 *
 * Throws a RangeError of kind 'unsplittable' when max is below MIN_SPLIT_BYTES, or when one unit
 * that cannot be cut (a map assignment, or one code point with its origins and root name) does
 * not fit in max bytes on its own.
 * @param {Uint8Array} update
 * @param {number} max
 * @returns {Uint8Array[]}
 */
export function splitUpdate(update, max) {
  if (!Number.isSafeInteger(max) || max < MIN_SPLIT_BYTES) throw unsplittable(`maximum of ${max} bytes is below ${MIN_SPLIT_BYTES}`);
  if (update.byteLength <= max) return [update];
  const u = decodeUpdate(update);
  const s = new Splitter(max);
  for (const client of [...u.ops.keys()].sort((a, b) => a - b)) {
    for (const op of /** @type {Op[]} */ (u.ops.get(client))) s.addOp(op);
  }
  for (const client of [...u.ds.keys()].sort((a, b) => a - b)) {
    const r = /** @type {number[]} */ (u.ds.get(client));
    for (let i = 0; i < r.length; i += 2) s.addDel(client, r[i], r[i + 1] - r[i]);
  }
  s.flush();
  return s.parts;
}

/**
 * indexWidth is the bytes counted for each index into a table of n entries.
 * @param {number} n
 */
function indexWidth(n) {
  return n === 0 ? 0 : uvLen(n - 1);
}

/**
 * Growth is what adding one unit adds to the part being built.
 * @typedef {object} Growth
 * @property {number[]} clients clients new to the table
 * @property {string} rootKey the op's root ('t' or 'm' then the name), '' for none
 * @property {boolean} root the root is new to the table
 * @property {boolean} block the op starts a block
 * @property {boolean} delClient the range starts a delete-set client
 * @property {boolean} op an op (else a delete range)
 * @property {number} fixed bytes that depend on neither a count nor an index width
 * @property {number} refsC client indexes written
 * @property {number} refsR root indexes written
 */

/**
 * utf8Width returns the UTF-8 length and UTF-16 length of the code point at s[i].
 * @param {string} s
 * @param {number} i
 * @returns {[number, number]}
 */
function utf8Width(s, i) {
  const c = s.charCodeAt(i);
  if (c < 0x80) return [1, 1];
  if (c < 0x800) return [2, 1];
  if (c >= 0xd800 && c <= 0xdbff) return [4, 2];
  return [3, 1];
}

/**
 * Splitter builds the parts one at a time, keeping the exact encoded size of the part being built
 * as counters (docs/crdt.md section 2.3 term by term): adding a unit costs O(1), cutting a run
 * O(code points cut). A client or root index is counted as wide as the largest index of its
 * table: exact up to 128 entries, an upper bound beyond. Mirrors crdt/split.go step by step.
 */
class Splitter {
  /** @type {Map<number, Op[]>} ops of the part, per client */
  ops = new Map();
  /** @type {Map<number, number[]>} delete ranges of the part, per client */
  ds = new Map();
  units = 0;
  nBlocks = 0;
  lastClient = 0; // the last block's client and end clock
  lastEnd = 0;
  /** @type {Set<number>} */
  clients = new Set();
  /** @type {Set<string>} */
  roots = new Set();
  fixed = 0; // bytes that depend on neither a count nor an index width
  refsC = 0; // client indexes written
  refsR = 0; // root indexes written
  blockOps = 0; // ops of the last block (its count is not yet in fixed)
  ranges = 0; // ranges of the last delete-set client (likewise)
  delCs = 0; // clients of the delete set
  delClient = 0; // the last delete range's client and end
  delEnd = 0;

  /** @param {number} max */
  constructor(max) {
    this.max = max;
    /** @type {Uint8Array[]} */
    this.parts = [];
  }

  /** reset starts a new part. */
  reset() {
    this.ops = new Map();
    this.ds = new Map();
    this.units = this.nBlocks = this.lastClient = this.lastEnd = 0;
    this.clients = new Set();
    this.roots = new Set();
    this.fixed = this.refsC = this.refsR = this.blockOps = this.ranges = 0;
    this.delCs = this.delClient = this.delEnd = 0;
  }

  /**
   * @param {Growth} g
   * @param {number} c
   */
  addClient(g, c) {
    if (c === 0 || this.clients.has(c) || g.clients.includes(c)) return;
    g.clients.push(c);
    g.fixed += uvLen(c);
  }

  /**
   * size returns the encoded size of the part with g added.
   * @param {Growth} g
   */
  size(g) {
    const nc = this.clients.size + g.clients.length;
    const nr = this.roots.size + (g.root ? 1 : 0);
    let nb = this.nBlocks;
    let ops = this.blockOps;
    let closed = 0;
    if (g.block) {
      nb++;
      if (ops > 0) closed = uvLen(ops);
      ops = 1;
    } else if (g.op) ops++;
    let nd = this.delCs;
    let ranges = this.ranges;
    if (g.delClient) {
      nd++;
      if (ranges > 0) closed = uvLen(ranges);
      ranges = 1;
    } else if (!g.op) ranges++;
    let n = 1 + uvLen(nc) + uvLen(nr) + uvLen(nb) + uvLen(nd);
    if (ops > 0) n += uvLen(ops);
    if (ranges > 0) n += uvLen(ranges);
    n += this.fixed + closed + g.fixed;
    n += (this.refsC + g.refsC) * indexWidth(nc);
    n += (this.refsR + g.refsR) * indexWidth(nr);
    return n;
  }

  /** @param {Growth} g */
  commit(g) {
    for (const c of g.clients) this.clients.add(c);
    if (g.root) this.roots.add(g.rootKey);
    if (g.block) {
      if (this.blockOps > 0) this.fixed += uvLen(this.blockOps);
      this.blockOps = 1;
      this.nBlocks++;
    } else if (g.op) this.blockOps++;
    if (g.delClient) {
      if (this.ranges > 0) this.fixed += uvLen(this.ranges);
      this.delCs++;
      this.ranges = 1;
    } else if (!g.op) this.ranges++;
    this.fixed += g.fixed;
    this.refsC += g.refsC;
    this.refsR += g.refsR;
    this.units++;
  }

  /**
   * opGrowth returns what op adds to the part, leaving out, for a text run, its length and
   * content (which depend on where it is cut).
   * @param {Op} op
   * @returns {Growth}
   */
  opGrowth(op) {
    /** @type {Growth} */
    const g = { clients: [], rootKey: '', root: false, block: false, delClient: false, op: true, fixed: 1, refsC: 0, refsR: 0 };
    if (this.nBlocks === 0 || this.lastClient !== op.client || this.lastEnd !== op.clock) {
      g.block = true;
      g.refsC++;
      g.fixed += uvLen(op.clock);
      this.addClient(g, op.client);
    }
    if (op.kind === TEXT) {
      g.rootKey = 't' + op.root;
      g.refsR++;
      if (op.lc !== 0) {
        this.addClient(g, op.lc);
        g.refsC++;
        g.fixed += uvLen(op.lk);
      }
      if (op.rc !== 0) {
        this.addClient(g, op.rc);
        g.refsC++;
        g.fixed += uvLen(op.rk);
      }
    } else if (op.kind === MAP) {
      g.rootKey = 'm' + op.root;
      g.refsR++;
      const k = utf8Length(op.key);
      g.fixed += uvLen(k) + k + uvLen(op.lamport);
      if (op.value !== null) {
        const v = utf8Length(op.value);
        g.fixed += uvLen(v) + v;
      }
    } else if (op.kind === SKIP) {
      g.fixed += uvLen(op.len);
    } else if (op.kind === MARK || op.kind === ATTR) {
      g.rootKey = 't' + op.root;
      g.refsR++;
      const size = richOpSize(op, (c) => {
        this.addClient(g, c);
        g.refsC++;
      });
      g.fixed += size - 1; // the tag is counted
    }
    if (op.kind === TEXT && op.embed !== null) {
      // The origins are counted above.
      const v = utf8Length(op.embed);
      g.fixed += uvLen(v) + v;
    }
    if (g.rootKey !== '' && !this.roots.has(g.rootKey)) {
      g.root = true;
      const n = utf8Length(op.root);
      g.fixed += 1 + uvLen(n) + n;
    }
    return g;
  }

  /**
   * @param {Op} op
   * @param {Growth} g
   */
  appendOp(op, g) {
    this.commit(g);
    const list = this.ops.get(op.client);
    if (list === undefined) this.ops.set(op.client, [op]);
    else list.push(op);
    this.lastClient = op.client;
    this.lastEnd = op.clock + op.len;
  }

  /**
   * addOp adds op to the parts, cutting it if it is a text run with content that does not fit.
   * @param {Op} op
   */
  addOp(op) {
    let contentBytes = -1;
    for (;;) {
      let g = this.opGrowth(op);
      if (op.kind === TEXT && op.embed === null) {
        g.fixed += uvLen(op.len);
        if (!op.deleted) {
          if (contentBytes < 0) contentBytes = utf8Length(op.str);
          g.fixed += uvLen(contentBytes) + contentBytes;
        }
      }
      if (this.size(g) <= this.max) {
        this.appendOp(op, g);
        return;
      }
      if (op.kind === TEXT && !op.deleted && op.embed === null) {
        // The largest prefix of k code points that fits.
        g = this.opGrowth(op);
        const budget = this.max - this.size(g);
        const s = op.str;
        let k = 0;
        let nb = 0;
        let i = 0;
        while (i < s.length) {
          const [w, units] = utf8Width(s, i);
          const next = nb + w;
          if (uvLen(k + 1) + uvLen(next) + next > budget) break;
          k++;
          nb = next;
          i += units;
        }
        if (k > 0) {
          const head = Object.assign(new Op(op.kind, op.client, op.clock, k), op);
          head.len = k;
          head.str = s.slice(0, i);
          g.fixed += uvLen(k) + uvLen(nb) + nb;
          this.appendOp(head, g);
          const rest = Object.assign(new Op(op.kind, op.client, op.clock + k, op.len - k), op);
          rest.clock = op.clock + k;
          rest.len = op.len - k;
          rest.lc = op.client;
          rest.lk = op.clock + k - 1;
          rest.str = s.slice(i);
          op = rest;
          contentBytes -= nb;
        }
      }
      if (this.units === 0) throw unsplittable(`op of client ${op.client} at clock ${op.clock} needs more than ${this.max} bytes`);
      this.flush();
    }
  }

  /**
   * addDel adds the delete range [clock, clock+n) of client to the parts.
   * @param {number} client
   * @param {number} clock
   * @param {number} n
   */
  addDel(client, clock, n) {
    for (;;) {
      /** @type {Growth} */
      const g = { clients: [], rootKey: '', root: false, block: false, delClient: false, op: false, fixed: 0, refsC: 0, refsR: 0 };
      let gap = clock - this.delEnd;
      if (this.delCs === 0 || this.delClient !== client) {
        g.delClient = true;
        g.refsC++;
        this.addClient(g, client);
        gap = clock;
      }
      g.fixed += uvLen(gap) + uvLen(n);
      if (this.size(g) <= this.max) {
        this.commit(g);
        const r = this.ds.get(client);
        if (r === undefined) this.ds.set(client, [clock, clock + n]);
        else r.push(clock, clock + n);
        this.delClient = client;
        this.delEnd = clock + n;
        return;
      }
      if (this.units === 0) throw unsplittable(`delete range of client ${client} needs more than ${this.max} bytes`);
      this.flush();
    }
  }

  /** flush encodes the part being built, if any, and starts a new one. */
  flush() {
    if (this.units === 0) return;
    const b = encodeUpdate(this.ops, this.ds);
    // The counters are exact or an upper bound: a larger part is a bug, reported rather than sent.
    if (b.byteLength > this.max) throw new Error(`crdt: split: part of ${b.byteLength} bytes exceeds ${this.max}`);
    this.parts.push(b);
    this.reset();
  }
}

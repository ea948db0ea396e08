// @ts-check
// The pending set's structures (docs/crdt.md 1.6): per client, the ops that
// wait, in a sorted list of chunks of at most 64 (O(log n) to find, insert
// or cut from the front, but for moving the array of chunks, n/64 entries,
// when a chunk splits or whole chunks are cut off); per origin client, the
// clients whose next pending op waits for one of its clocks, in a binary
// heap by clock; and the size bound that lets an apply decide against
// maxPendingBytes without encoding the pending set while it is far under the
// limit.

import { TEXT, MAP } from './seq.js';
import { utf8Length } from './utf.js';

/** CHUNK is the most ops a chunk of an OpQueue holds. */
const CHUNK = 64;

/**
 * @typedef {import('./update.js').Op} Op
 */

/**
 * OpQueue holds one client's pending ops, ascending by clock and disjoint, in
 * chunks of at most CHUNK ops.
 */
export class OpQueue {
  constructor() {
    /** @type {Op[][]} */
    this.chunks = [];
    this.size = 0;
  }

  /**
   * _chunkOf returns the index of the last chunk whose first op starts at or
   * below clock (0 when none does).
   * @param {number} clock
   * @returns {number}
   */
  _chunkOf(clock) {
    const cs = this.chunks;
    let lo = 0;
    let hi = cs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (cs[mid][0].clock <= clock) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * ceil returns the first op that ends above clock, or null.
   * @param {number} clock
   * @returns {Op | null}
   */
  ceil(clock) {
    if (this.size === 0) return null;
    let ci = this._chunkOf(clock);
    for (; ci < this.chunks.length; ci++) {
      const c = this.chunks[ci];
      let lo = 0;
      let hi = c.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (c[mid].clock + c[mid].len <= clock) lo = mid + 1;
        else hi = mid;
      }
      if (lo < c.length) return c[lo];
    }
    return null;
  }

  /**
   * find returns the op that holds clock, or null.
   * @param {number} clock
   * @returns {Op | null}
   */
  find(clock) {
    const op = this.ceil(clock);
    return op !== null && op.clock <= clock ? op : null;
  }

  /**
   * insert adds op, which overlaps no op of the queue.
   * @param {Op} op
   */
  insert(op) {
    this.size++;
    const cs = this.chunks;
    if (cs.length === 0) {
      cs.push([op]);
      return;
    }
    const ci = this._chunkOf(op.clock);
    const c = cs[ci];
    let lo = 0;
    let hi = c.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[mid].clock < op.clock) lo = mid + 1;
      else hi = mid;
    }
    if (lo === c.length) c.push(op);
    else c.splice(lo, 0, op);
    if (c.length > CHUNK) cs.splice(ci + 1, 0, c.splice(CHUNK >>> 1));
  }

  /**
   * dropFront removes the first n ops.
   * @param {number} n
   */
  dropFront(n) {
    if (n === 0) return;
    this.size -= n;
    const cs = this.chunks;
    let whole = 0;
    while (whole < cs.length && n >= cs[whole].length) n -= cs[whole++].length;
    if (whole > 0) cs.splice(0, whole);
    if (n > 0) cs[0].splice(0, n);
  }

  /** @returns {Op[]} the ops in order */
  toArray() {
    /** @type {Op[]} */
    const out = [];
    for (const c of this.chunks) for (const op of c) out.push(op);
    return out;
  }
}

/**
 * Cursor walks an OpQueue from the front without changing it.
 */
export class Cursor {
  /** @param {OpQueue | undefined} q */
  constructor(q) {
    this.q = q;
    this.ci = 0;
    this.j = 0;
    /** ops passed */
    this.taken = 0;
  }

  /** @returns {Op | null} the op under the cursor */
  peek() {
    const q = this.q;
    if (q === undefined || this.ci >= q.chunks.length) return null;
    return q.chunks[this.ci][this.j];
  }

  next() {
    const c = /** @type {OpQueue} */ (this.q).chunks[this.ci];
    this.taken++;
    if (++this.j === c.length) {
      this.ci++;
      this.j = 0;
    }
  }
}

/**
 * Wait records that client waiter's next pending op waits for clock of client
 * on (in whose heap it sits). It is current while the document's wait map
 * holds this very object for waiter.
 * @typedef {{waiter: number, on: number, clock: number}} Wait
 */

/** WaitHeap is a binary min-heap of waits by clock. */
export class WaitHeap {
  constructor() {
    /** @type {Wait[]} */
    this.a = [];
  }

  /** @param {Wait} w */
  push(w) {
    const a = this.a;
    let i = a.length;
    a.push(w);
    while (i > 0) {
      const p = (i - 1) >>> 1;
      if (a[p].clock <= w.clock) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = w;
  }

  /**
   * popBelow removes and returns the wait with the smallest clock if that
   * clock is below v, else null.
   * @param {number} v
   * @returns {Wait | null}
   */
  popBelow(v) {
    const a = this.a;
    if (a.length === 0 || a[0].clock >= v) return null;
    const top = a[0];
    const last = /** @type {Wait} */ (a.pop());
    if (a.length > 0) {
      let i = 0;
      const n = a.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const m = l + 1 < n && a[l + 1].clock < a[l].clock ? l + 1 : l;
        if (a[m].clock >= last.clock) break;
        a[i] = a[m];
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}

/**
 * varLen returns the length of x as a varint.
 * @param {number} x
 * @returns {number}
 */
export function varLen(x) {
  let n = 1;
  while (x >= 128) {
    x = Math.floor(x / 128);
    n++;
  }
  return n;
}

/**
 * opBound returns the bytes an op takes encoded alone, as a block of its own
 * with table entries of its own, but for its table indices, which it counts
 * (idx): merging ops, blocks and table entries only makes an encoding shorter.
 * @param {Op} op
 * @returns {{fixed: number, idx: number}}
 */
export function opBound(op) {
  // Block header (clock, count of one) and the client's table entry.
  let fixed = varLen(op.clock) + 1 + varLen(op.client);
  let idx = 1;
  if (op.kind === TEXT) {
    const rb = utf8Length(op.root);
    fixed += 1 + varLen(rb) + rb + 1 + varLen(op.len);
    idx++;
    if (op.lc !== 0) {
      fixed += varLen(op.lc) + varLen(op.lk);
      idx++;
    }
    if (op.rc !== 0) {
      fixed += varLen(op.rc) + varLen(op.rk);
      idx++;
    }
    if (!op.deleted) {
      const sb = utf8Length(op.str);
      fixed += varLen(sb) + sb;
    }
  } else if (op.kind === MAP) {
    const rb = utf8Length(op.root);
    const kb = utf8Length(op.key);
    fixed += 1 + varLen(rb) + rb + 1 + varLen(kb) + kb + varLen(op.lamport);
    idx++;
    if (op.value !== null) {
      const vb = utf8Length(op.value);
      fixed += varLen(vb) + vb;
    }
  } else {
    fixed += 1 + varLen(op.len);
  }
  return { fixed, idx };
}

/**
 * rangeBound bounds the bytes of a delete range [s, e): its gap from the
 * previous range is at most s.
 * @param {number} s
 * @param {number} e
 * @returns {number}
 */
export function rangeBound(s, e) {
  return varLen(s) + varLen(e - s);
}

/**
 * DS_CLIENT bounds the bytes of a delete-set client entry but for its ID and
 * index: its range count.
 */
export const DS_CLIENT = 8;

/**
 * HEADER bounds the format byte and the four counts of an update.
 */
export const HEADER = 1 + 4 * 8;

/**
 * Bound is an upper bound of the encoded pending set, kept in O(1) per op or
 * range added or taken: fixed bytes, plus indices counted at the widest a
 * table of the counted entries can need.
 */
export class Bound {
  constructor() {
    this.fixed = 0;
    this.idx = 0;
    /** table entries the ops and delete-set clients can name at most */
    this.entries = 0;
  }

  /** @returns {Bound} a copy */
  clone() {
    const b = new Bound();
    b.fixed = this.fixed;
    b.idx = this.idx;
    b.entries = this.entries;
    return b;
  }

  /**
   * addOp counts op in (sign 1) or out (sign -1).
   * @param {Op} op
   * @param {number} sign
   */
  addOp(op, sign) {
    const b = opBound(op);
    this.fixed += sign * b.fixed;
    this.idx += sign * b.idx;
    this.entries += sign * (1 + (op.lc !== 0 ? 1 : 0) + (op.rc !== 0 ? 1 : 0) + 1);
  }

  /**
   * addDsClient counts a delete-set client entry in or out.
   * @param {number} client
   * @param {number} sign
   */
  addDsClient(client, sign) {
    this.fixed += sign * (varLen(client) + DS_CLIENT);
    this.idx += sign * 2;
    this.entries += sign;
  }

  /** @returns {number} the bound in bytes (0 for an empty set) */
  value() {
    if (this.entries === 0) return 0;
    return HEADER + this.fixed + this.idx * varLen(this.entries);
  }
}

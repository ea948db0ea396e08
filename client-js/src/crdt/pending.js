// @ts-check
// The pending set's structures (docs/crdt.md 1.6): per client, the ops that
// wait, in a sorted list of chunks of at most 64 (O(log n) to find, insert
// or cut from the front, but for moving the array of chunks, n/64 entries,
// when a chunk splits or whole chunks are cut off); per client, its delete
// ranges in the same kind of chunked list (RangeList); per origin client, the
// clients whose next pending op waits for one of its clocks, in a binary
// heap by clock; the size bound that lets an apply decide against
// maxPendingBytes without encoding the pending set while it is far under the
// limit; and, near the limit, the exact encoded size (Exact), kept in O(1)
// per op or delete range that comes or goes, so that an apply there does not
// encode the pending set either.

import { TEXT, MAP, SKIP, MARK, ATTR } from './seq.js';
import { isRich, richOpSize } from './update.js';
import { utf8Length } from './utf.js';

/** CHUNK is the most ops a chunk of an OpQueue holds. */
const CHUNK = 64;

/**
 * @typedef {import('./update.js').Op} Op
 */

/**
 * OpQueue holds one client's pending ops, ascending by clock and disjoint, in
 * chunks of at most CHUNK ops. The first clock of every chunk is also kept in
 * one array of numbers (firsts), and the end clock of every op in an array of
 * numbers beside its chunk (ends), which the searches read instead of
 * reaching through each chunk and op: out of order, a queue of hundreds of
 * thousands of ops is searched on every op that arrives, and ops scattered
 * in memory made each step of a search a cache miss.
 */
export class OpQueue {
  constructor() {
    /** @type {Op[][]} */
    this.chunks = [];
    /** @type {number[]} the clock of each chunk's first op */
    this.firsts = [];
    /** @type {number[][]} per chunk, the end clock (clock + len) of each op */
    this.ends = [];
    this.size = 0;
  }

  /**
   * _chunkOf returns the index of the last chunk whose first op starts at or
   * below clock (0 when none does).
   * @param {number} clock
   * @returns {number}
   */
  _chunkOf(clock) {
    const fs = this.firsts;
    let lo = 0;
    let hi = fs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (fs[mid] <= clock) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * _above returns the index in chunk ci of its first op that ends above
   * clock (the chunk's length when none does).
   * @param {number} ci
   * @param {number} clock
   * @returns {number}
   */
  _above(ci, clock) {
    const es = this.ends[ci];
    let lo = 0;
    let hi = es.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (es[mid] <= clock) lo = mid + 1;
      else hi = mid;
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
    const j = this._above(ci, clock);
    if (j < this.chunks[ci].length) return this.chunks[ci][j];
    // Every op of chunk ci ends at or below clock: the next chunk's first
    // op starts above it.
    return ci + 1 < this.chunks.length ? this.chunks[ci + 1][0] : null;
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
    const end = op.clock + op.len;
    if (cs.length === 0) {
      cs.push([op]);
      this.firsts.push(op.clock);
      this.ends.push([end]);
      return;
    }
    const ci = this._chunkOf(op.clock);
    const c = cs[ci];
    const es = this.ends[ci];
    // No op overlaps op: the first that ends above its clock starts after it.
    const lo = this._above(ci, op.clock);
    if (lo === c.length) {
      c.push(op);
      es.push(end);
    } else {
      c.splice(lo, 0, op);
      es.splice(lo, 0, end);
    }
    if (lo === 0) this.firsts[ci] = op.clock;
    if (c.length > CHUNK) {
      const rest = c.splice(CHUNK >>> 1);
      cs.splice(ci + 1, 0, rest);
      this.ends.splice(ci + 1, 0, es.splice(CHUNK >>> 1));
      this.firsts.splice(ci + 1, 0, rest[0].clock);
    }
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
    if (whole > 0) {
      cs.splice(0, whole);
      this.firsts.splice(0, whole);
      this.ends.splice(0, whole);
    }
    if (n > 0) {
      cs[0].splice(0, n);
      this.ends[0].splice(0, n);
      this.firsts[0] = cs[0][0].clock;
    }
  }

  /**
   * around returns the ops before and after op, which is in the queue (null
   * where there is none).
   * @param {Op} op
   * @returns {[Op | null, Op | null]}
   */
  around(op) {
    const cs = this.chunks;
    const ci = this._chunkOf(op.clock);
    const c = cs[ci];
    const j = c.indexOf(op);
    const prev = j > 0 ? c[j - 1] : ci > 0 ? cs[ci - 1][cs[ci - 1].length - 1] : null;
    const next = j + 1 < c.length ? c[j + 1] : ci + 1 < cs.length ? cs[ci + 1][0] : null;
    return [prev, next];
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
  if (isRich(op)) {
    const rb = utf8Length(op.root);
    fixed += 1 + varLen(rb) + rb;
    idx++;
    fixed += richOpSize(op, (c) => {
      fixed += varLen(c);
      idx++;
    });
  } else if (op.kind === TEXT) {
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

/**
 * Group is a maximal run of a client's pending ops that the encoder writes as
 * one op (each continues the previous, or all are skips): the op that starts
 * it (head), the op that ends it (tail) and its end clock, and the length and
 * UTF-8 bytes of its content. Its head and tail ops point to it (Op.g).
 */
export class Group {
  /**
   * @param {Op} op its only op
   * @param {number} bytes the UTF-8 bytes of op's content
   */
  constructor(op, bytes) {
    this.head = op;
    this.tail = op;
    this.end = op.clock + op.len;
    this.len = op.len;
    this.bytes = bytes;
  }
}

/**
 * Block is a maximal run of a client's pending ops with consecutive clocks
 * [start, end), written as one block of groups; its first and last ops point
 * to it (Op.b).
 */
export class Block {
  /**
   * @param {Op} op its only op
   * @param {number} groups
   */
  constructor(op, groups) {
    this.start = op.clock;
    this.end = op.clock + op.len;
    this.tail = op;
    this.groups = groups;
  }
}

/**
 * contentBytes returns the UTF-8 bytes of the content a group of text ops
 * writes for op (0 for a deleted run, an embed or an op of another kind).
 * @param {Op} op
 * @returns {number}
 */
function contentBytes(op) {
  return op.kind === TEXT && !op.deleted && op.embed === null ? utf8Length(op.str) : 0;
}

/**
 * merges reports whether the encoder writes b, which follows a, as part of
 * a's op: a text run that continues a, or a skip after a skip.
 * @param {Op} a
 * @param {Op} b
 * @returns {boolean}
 */
function merges(a, b) {
  if (a.clock + a.len !== b.clock) return false;
  if (a.kind === SKIP) return b.kind === SKIP;
  return (
    a.kind === TEXT &&
    b.kind === TEXT &&
    b.root === a.root &&
    b.lc === a.client &&
    b.lk === b.clock - 1 &&
    b.rc === a.rc &&
    b.rk === a.rk &&
    b.deleted === a.deleted &&
    a.embed === null &&
    b.embed === null
  );
}

/**
 * rangeBytes returns what ranges [from, to) of the flat ranges r take in a
 * delete set: each its gap since the previous range's end (0 for the first)
 * and its length.
 * @param {number[]} r
 * @param {number} from
 * @param {number} to
 * @returns {number}
 */
export function rangeBytes(r, from, to) {
  let n = 0;
  for (let i = from; i < to; i++) n += varLen(r[2 * i] - (i === 0 ? 0 : r[2 * i - 1])) + varLen(r[2 * i + 1] - r[2 * i]);
  return n;
}

/**
 * Exact is the encoded size of the pending set, kept up to date as ops and
 * delete ranges come and go, so that a pending set near maxPendingBytes is
 * not encoded on every apply to decide (as the Go core keeps it in its tree
 * nodes). Its parts: per client, its blocks and the groups in them, which an
 * op that comes or goes changes only at its ends, found from the ops there
 * (each group's and block's end ops point to it, Op.g and Op.b, so that
 * neither a lookup nor a new object is needed when one grows or shrinks);
 * the tables, from how many ops and delete-set clients name each client and
 * root; per client, its delete ranges. Indices count one byte, which is
 * exact while both tables have at most 128 entries (size says otherwise).
 */
export class Exact {
  constructor() {
    /** @type {Map<number, number>} per client, the ops and delete-set entries that name it */
    this.clients = new Map();
    this.clientBytes = 0;
    /** @type {Map<string, number>} per text root, the ops that name it */
    this.texts = new Map();
    /** @type {Map<string, number>} per map root, the ops that name it */
    this.maps = new Map();
    this.rootBytes = 0;
    this.blocks = 0;
    /** the blocks and groups, indices at one byte */
    this.opsBytes = 0;
    /** the table indices that opsBytes and dsBytes hold */
    this.idx = 0;
    /** @type {Map<number, number>} per client with delete ranges, its entry's bytes (index, count, ranges) */
    this.ranges = new Map();
    this.dsClients = 0;
    /** the delete set's client entries: index, count and ranges */
    this.dsBytes = 0;
  }

  /** @returns {number} the entries of the roots table */
  roots() {
    return this.texts.size + this.maps.size;
  }

  /**
   * size returns the encoded size of the pending set, exact when exact is
   * set, else a lower bound, with wide an upper one (a table of more than
   * 128 entries writes wider indices).
   * @returns {{size: number, wide: number, exact: boolean}}
   */
  size() {
    const nc = this.clients.size;
    const nr = this.roots();
    if (this.blocks === 0 && this.dsClients === 0) return { size: 0, wide: 0, exact: true };
    const size =
      1 + varLen(nc) + this.clientBytes + varLen(nr) + this.rootBytes + varLen(this.blocks) + this.opsBytes + varLen(this.dsClients) + this.dsBytes;
    if (nc <= 128 && nr <= 128) return { size, wide: size, exact: true };
    return { size, wide: size + this.idx * (varLen(Math.max(nc, nr) - 1) - 1), exact: false };
  }

  /**
   * _name counts a name of client c in (sign 1) or out (-1).
   * @param {number} c
   * @param {number} sign
   */
  _name(c, sign) {
    const n = (this.clients.get(c) ?? 0) + sign;
    if (n === 0) {
      this.clients.delete(c);
      this.clientBytes -= varLen(c);
    } else {
      if (n === 1 && sign > 0) this.clientBytes += varLen(c);
      this.clients.set(c, n);
    }
  }

  /**
   * _root counts a name of root name in m (texts or maps) in or out.
   * @param {Map<string, number>} m
   * @param {string} name
   * @param {number} sign
   */
  _root(m, name, sign) {
    const n = (m.get(name) ?? 0) + sign;
    if (n === 0) {
      m.delete(name);
      const b = utf8Length(name);
      this.rootBytes -= 1 + varLen(b) + b;
    } else {
      if (n === 1 && sign > 0) {
        const b = utf8Length(name);
        this.rootBytes += 1 + varLen(b) + b;
      }
      m.set(name, n);
    }
  }

  /**
   * _refs counts the names op holds (its client, origins and root) in or out.
   * @param {Op} op
   * @param {number} sign
   */
  _refs(op, sign) {
    this._name(op.client, sign);
    if (op.kind === TEXT || op.kind === MARK || op.kind === ATTR) {
      if (op.lc !== 0) this._name(op.lc, sign);
      if (op.rc !== 0) this._name(op.rc, sign);
      this._root(this.texts, op.root, sign);
    } else if (op.kind === MAP) {
      this._root(this.maps, op.root, sign);
    }
  }

  /**
   * _group counts group g in (sign 1) or out (-1) of the blocks' bytes, as
   * the encoder writes it with one-byte table indices.
   * @param {Group} g
   * @param {number} sign
   */
  _group(g, sign) {
    const op = g.head;
    let bytes = 0;
    let idx = 0;
    if (isRich(op)) {
      idx = 1;
      bytes = richOpSize(op, () => idx++);
      bytes += idx;
    } else if (op.kind === TEXT) {
      bytes = 2 + varLen(g.len);
      idx = 1;
      if (op.lc !== 0) {
        bytes += 1 + varLen(op.lk);
        idx++;
      }
      if (op.rc !== 0) {
        bytes += 1 + varLen(op.rk);
        idx++;
      }
      if (!op.deleted) bytes += varLen(g.bytes) + g.bytes;
    } else if (op.kind === MAP) {
      const kb = utf8Length(op.key);
      bytes = 2 + varLen(kb) + kb + varLen(op.lamport);
      if (op.value !== null) {
        const vb = utf8Length(op.value);
        bytes += varLen(vb) + vb;
      }
      idx = 1;
    } else {
      bytes = 1 + varLen(g.len);
      idx = 0;
    }
    this.opsBytes += sign * bytes;
    this.idx += sign * idx;
  }

  /**
   * _block counts block b in or out.
   * @param {Block} b
   * @param {number} sign
   */
  _block(b, sign) {
    this.opsBytes += sign * (1 + varLen(b.start) + varLen(b.groups));
    this.idx += sign;
    this.blocks += sign;
  }

  /**
   * insert counts op in, which was put between prev and next of its client's
   * pending ops (null: none). prev ends its group and block, next starts
   * its own: op lies between them.
   * @param {Op} op
   * @param {Op | null} prev
   * @param {Op | null} next
   */
  insert(op, prev, next) {
    this._refs(op, 1);
    const end = op.clock + op.len;
    const bytes = contentBytes(op);
    const mp = prev !== null && merges(prev, op);
    const mn = next !== null && merges(op, next);
    // The group: prev's grown, next's grown at its start, both joined, or
    // a new one.
    let g = mp ? /** @type {Group} */ (/** @type {Op} */ (prev).g) : null;
    const gn = mn ? /** @type {Group} */ (/** @type {Op} */ (next).g) : null;
    if (g !== null) {
      this._group(g, -1);
      g.tail = op;
      g.end = end;
      g.len += op.len;
      g.bytes += bytes;
    }
    if (gn !== null) {
      this._group(gn, -1);
      if (g === null) {
        g = gn;
        g.head = op;
        g.len += op.len;
        g.bytes += bytes;
      } else {
        g.tail = gn.tail;
        g.end = gn.end;
        g.len += gn.len;
        g.bytes += gn.bytes;
        gn.tail.g = g;
      }
    }
    if (g === null) g = new Group(op, bytes);
    op.g = g;
    this._group(g, 1);
    // The block, likewise.
    let b = prev !== null && prev.clock + prev.len === op.clock ? /** @type {Block} */ (prev.b) : null;
    const bn = next !== null && next.clock === end ? /** @type {Block} */ (next.b) : null;
    const groups = 1 - (mp ? 1 : 0) - (mn ? 1 : 0);
    if (b !== null) {
      this._block(b, -1);
      b.tail = op;
      b.end = end;
      b.groups += groups;
    }
    if (bn !== null) {
      this._block(bn, -1);
      if (b === null) {
        b = bn;
        b.start = op.clock;
        b.groups += groups;
      } else {
        b.tail = bn.tail;
        b.end = bn.end;
        b.groups += bn.groups;
        bn.tail.b = b;
      }
    }
    if (b === null) b = new Block(op, groups);
    op.b = b;
    this._block(b, 1);
  }

  /**
   * removeFirst counts out op, the first of its client's pending ops, which
   * next follows (null: none).
   * @param {Op} op
   * @param {Op | null} next
   */
  removeFirst(op, next) {
    this._refs(op, -1);
    const end = op.clock + op.len;
    const g = /** @type {Group} */ (op.g);
    const gEnd = g.end;
    this._group(g, -1);
    if (gEnd !== end) {
      // The rest of the group starts at next.
      const n = /** @type {Op} */ (next);
      g.head = n;
      g.len -= op.len;
      g.bytes -= contentBytes(op);
      n.g = g;
      this._group(g, 1);
    }
    const b = /** @type {Block} */ (op.b);
    this._block(b, -1);
    if (b.end !== end) {
      const n = /** @type {Op} */ (next);
      b.start = end;
      b.groups -= gEnd === end ? 1 : 0;
      n.b = b;
      this._block(b, 1);
    }
    op.g = null;
    op.b = null;
  }

  /**
   * setRanges records that client c's delete ranges take bytes (rangeBytes)
   * in n ranges (0: none left).
   * @param {number} c
   * @param {number} n
   * @param {number} bytes
   */
  setRanges(c, n, bytes) {
    const old = this.ranges.get(c);
    if (old !== undefined && n > 0) {
      const all = 1 + varLen(n) + bytes;
      this.ranges.set(c, all);
      this.dsBytes += all - old;
      return;
    }
    if (old !== undefined) {
      this.dsBytes -= old;
      this.dsClients--;
      this.idx--;
      this._name(c, -1);
      this.ranges.delete(c);
    }
    if (n > 0) {
      const all = 1 + varLen(n) + bytes;
      this.ranges.set(c, all);
      this.dsBytes += all;
      this.dsClients++;
      this.idx++;
      this._name(c, 1);
    }
  }
}

/**
 * rangeAt returns what range [s, e) takes in a delete set after a range that
 * ends at prev (0 for the first): its gap and its length.
 * @param {number} prev
 * @param {number} s
 * @param {number} e
 * @returns {number}
 */
function rangeAt(prev, s, e) {
  return varLen(s - prev) + varLen(e - s);
}

/**
 * RangeList holds one client's pending delete ranges, ascending, disjoint
 * and non-adjacent, in chunks of at most `chunk` ranges (flat [start, end,
 * ...]), like an OpQueue's ops: a range that arrives early is merged into its
 * chunk (a move of at most `chunk` ranges) where a flat array moved all the
 * ranges after it; finding its chunk is a binary search. It keeps count and
 * bytes, what its ranges take in a delete set (rangeBytes), in O(1) per
 * range that comes, goes or merges.
 */
export class RangeList {
  /** @param {number} [chunk] the most ranges a chunk holds */
  constructor(chunk = CHUNK) {
    /** @type {number[][]} */
    this.chunks = [];
    this.count = 0;
    this.bytes = 0;
    this._max = 2 * chunk;
  }

  /** @returns {number} the start of the first range (the list is not empty) */
  firstStart() {
    return this.chunks[0][0];
  }

  /** @returns {number} the end of the first range (the list is not empty) */
  firstEnd() {
    return this.chunks[0][1];
  }

  /**
   * _endBefore returns the end of the range before range j of chunk ci (0
   * when there is none).
   * @param {number} ci
   * @param {number} j
   * @returns {number}
   */
  _endBefore(ci, j) {
    if (j > 0) return this.chunks[ci][2 * j - 1];
    if (ci === 0) return 0;
    const p = this.chunks[ci - 1];
    return p[p.length - 1];
  }

  /**
   * add adds [s, e) (s < e), merging it with the ranges it overlaps or
   * touches.
   * @param {number} s
   * @param {number} e
   */
  add(s, e) {
    const cs = this.chunks;
    const nc = cs.length;
    if (nc === 0) {
      cs.push([s, e]);
      this.count = 1;
      this.bytes = rangeAt(0, s, e);
      return;
    }
    const last = cs[nc - 1];
    const lastEnd = last[last.length - 1];
    if (lastEnd < s) {
      // Typing order: after every range.
      if (last.length < this._max) last.push(s, e);
      else cs.push([s, e]);
      this.count++;
      this.bytes += rangeAt(lastEnd, s, e);
      return;
    }
    // The first chunk whose last range ends at or above s, then the first
    // range in it that does: the first range that [s, e) merges with or
    // comes before.
    let lo = 0;
    let hi = nc - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = cs[mid];
      if (c[c.length - 1] < s) lo = mid + 1;
      else hi = mid;
    }
    const ci = lo;
    const c = cs[ci];
    lo = 0;
    hi = (c.length >>> 1) - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[2 * mid + 1] < s) lo = mid + 1;
      else hi = mid;
    }
    const j = lo;
    const prev = this._endBefore(ci, j);
    if (c[2 * j] > e) {
      // Between two ranges, touching neither: insert it, and the next
      // range's gap shrinks.
      const ns = c[2 * j];
      const ne = c[2 * j + 1];
      this.bytes += rangeAt(prev, s, e) + rangeAt(e, ns, ne) - rangeAt(prev, ns, ne);
      this.count++;
      const n = c.length;
      c.push(0, 0);
      for (let i = n + 1; i >= 2 * j + 2; i--) c[i] = c[i - 2];
      c[2 * j] = s;
      c[2 * j + 1] = e;
      if (c.length > this._max) cs.splice(ci + 1, 0, c.splice((c.length >>> 2) << 1));
      return;
    }
    // [s, e) merges with range j and every later range that starts at or
    // below e, in this chunk and maybe the next ones.
    const S = Math.min(s, c[2 * j]);
    let T = e;
    let old = 0;
    let gone = 0;
    let pe = prev;
    let ck = ci;
    let k = j;
    for (;;) {
      const d = cs[ck];
      if (2 * k === d.length) {
        if (ck + 1 === cs.length) break;
        ck++;
        k = 0;
        continue;
      }
      const rs = d[2 * k];
      const re = d[2 * k + 1];
      if (rs > T) break;
      old += rangeAt(pe, rs, re);
      pe = re;
      if (re > T) T = re;
      gone++;
      k++;
    }
    // (ck, k) is the first range kept after the merged one, if any.
    const after = ck < cs.length && 2 * k < cs[ck].length;
    if (after) old += rangeAt(pe, cs[ck][2 * k], cs[ck][2 * k + 1]);
    this.bytes += rangeAt(prev, S, T) - old + (after ? rangeAt(T, cs[ck][2 * k], cs[ck][2 * k + 1]) : 0);
    this.count -= gone - 1;
    c[2 * j] = S;
    c[2 * j + 1] = T;
    if (ck === ci) {
      // All in one chunk: ranges j+1 .. k-1 go.
      const gap = 2 * (k - j - 1);
      if (gap > 0) {
        for (let i = 2 * j + 2; i + gap < c.length; i++) c[i] = c[i + gap];
        c.length -= gap;
      }
      return;
    }
    // Across chunks: chunk ci ends with the merged range, the chunks in
    // between go, and the first k ranges of chunk ck.
    c.length = 2 * j + 2;
    const d = cs[ck];
    if (2 * k === d.length) cs.splice(ci + 1, ck - ci);
    else {
      if (k > 0) {
        d.copyWithin(0, 2 * k);
        d.length -= 2 * k;
      }
      if (ck > ci + 1) cs.splice(ci + 1, ck - ci - 1);
    }
  }

  /**
   * dropFront removes the first n ranges.
   * @param {number} n
   */
  dropFront(n) {
    if (n === 0) return;
    const cs = this.chunks;
    let pe = 0;
    let whole = 0;
    let left = n;
    while (left > 0) {
      const c = cs[whole];
      const m = Math.min(left, c.length >>> 1);
      for (let k = 0; k < m; k++) {
        this.bytes -= rangeAt(pe, c[2 * k], c[2 * k + 1]);
        pe = c[2 * k + 1];
      }
      left -= m;
      if (2 * m < c.length) {
        c.copyWithin(0, 2 * m);
        c.length -= 2 * m;
        break;
      }
      whole++;
    }
    if (whole > 0) cs.splice(0, whole);
    this.count -= n;
    // The first range kept had its gap from the last one gone.
    if (cs.length > 0) this.bytes += rangeAt(0, cs[0][0], cs[0][1]) - rangeAt(pe, cs[0][0], cs[0][1]);
  }

  /**
   * cutFirst makes the first range start at s, inside it.
   * @param {number} s
   */
  cutFirst(s) {
    const c = this.chunks[0];
    this.bytes += rangeAt(0, s, c[1]) - rangeAt(0, c[0], c[1]);
    c[0] = s;
  }

  /**
   * toFlat returns the ranges as one flat array, from range `from` on.
   * @param {number} [from]
   * @returns {number[]}
   */
  toFlat(from = 0) {
    /** @type {number[]} */
    const out = [];
    let skip = 2 * from;
    for (const c of this.chunks) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      for (let i = skip; i < c.length; i++) out.push(c[i]);
      skip = 0;
    }
    return out;
  }
}

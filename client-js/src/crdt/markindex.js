// @ts-check
// An index of the mark operations of one Text root by position (docs/crdt.md
// section 4.5), so that the spans of a range look at the operations that
// overlap it rather than at every operation of the text.
//
// Why no positions are stored: an anchor's gap moves whenever items are
// inserted before it, so cached gaps would need updating on every keystroke.
// Their order does not move, though. Give each anchor the key 2*gap + r,
// where r is 0 for Start and After(x) and 1 for Before(x) and End. Inserting
// L items at gap g adds 2L to every key >= 2g+1 and leaves the others: the
// anchors at gap g that stay (Start, After the item before g) have key 2g,
// those that move (Before the item at g, End) have 2g+1. That map never
// swaps two keys, so operations sorted by start key stay sorted, operations
// sorted by end key too, and the operation of latest end of a group stays
// its latest, however the text grows (deletions leave tombstones: no gap
// changes). Keys are computed when compared: the item's piece, then a walk up
// the B-tree (rich.js gap).
//
// Shape: the operations sorted by start key, cut into chunks of at most
// CHUNK_MAX, each also holding its operations by end key, latest first, and
// a tournament tree over the chunks that holds, per subtree, its operation
// of latest end. A range [s, e) of gaps (absolute indexes) needs the
// operations that start before e and end after s: a binary search over the
// chunks' first starts bounds the chunks that start before e; the tree skips
// every subtree of them that ends before s; of each chunk left, the
// operations that end after s are the first ones by end key. That is
// O((log M + C log C + K) log n) for M operations, C chunks read and K
// operations returned, instead of every operation's gaps: a slice in
// formatted prose reads one or two chunks, and a mark over the whole text
// costs its path in the tree and its two keys, not its chunk.
//
// New operations are kept aside and filed at the next query (their anchors'
// items are all integrated by then); many at once (a snapshot, a peer's
// history) rebuild the index in one sort.

import { REL_BEFORE, REL_AFTER, REL_START } from './relpos.js';

/**
 * @typedef {import('./rich.js').MarkEntry} MarkEntry
 * @typedef {import('./text.js').TextState} TextState
 * @typedef {import('./seq.js').Piece} Piece
 */

/**
 * The document services the index needs (implemented by Doc).
 * @typedef {object} Index
 * @property {(client: number, clock: number) => Piece | null} findPiece the piece holding a text item
 */

/** CHUNK_MAX is the most operations a chunk holds; a full chunk splits in two. */
const CHUNK_MAX = 64;

/**
 * A Chunk is a run of operations in start-key order, and the same operations
 * in end-key order, latest first: reading what of a chunk ends after a gap
 * costs the operations that do, plus one.
 */
class Chunk {
  /**
   * @param {MarkEntry[]} marks
   * @param {MarkEntry[]} byEnd
   */
  constructor(marks, byEnd) {
    this.marks = marks;
    this.byEnd = byEnd;
  }
}

/**
 * Overlap is an operation that overlaps a range, with the gaps of its anchors.
 * @typedef {object} Overlap
 * @property {MarkEntry} m
 * @property {number} s the start anchor's gap
 * @property {number} e the end anchor's gap
 */

/** MarkIndex files the mark operations of one Text root by their start anchors. */
export class MarkIndex {
  /**
   * @param {Index} ix
   * @param {TextState} root
   * @param {Iterable<MarkEntry>} marks the root's operations so far
   */
  constructor(ix, root, marks) {
    this.ix = ix;
    this.root = root;
    /** @type {Chunk[]} */
    this.chunks = [];
    this.size = 0;
    /** @type {MarkEntry[]} operations added since the last query, not filed yet */
    this.fresh = [...marks];
    /**
     * A tournament tree over the chunks: node 1 is the root, node k has
     * children 2k and 2k+1, chunk i is leaf cap+i, and each node holds the
     * operation of latest end of its chunks (null: none). Remade at the next
     * query after chunks were cut or rebuilt (stale).
     * @type {(MarkEntry | null)[]}
     */
    this.latest = [];
    this.cap = 0;
    this.stale = true;
  }

  /**
   * add records a new operation of the root.
   * @param {MarkEntry} m
   */
  add(m) {
    this.fresh.push(m);
  }

  /**
   * key returns the key of an anchor: twice its gap, plus one for Before and End.
   * @param {number} kind
   * @param {number} client
   * @param {number} clock
   * @returns {number}
   */
  key(kind, client, clock) {
    if (kind === REL_START) return 0;
    const seq = this.root.seq;
    if (kind !== REL_BEFORE && kind !== REL_AFTER) return 2 * seq.tot + 1;
    const p = /** @type {Piece} */ (this.ix.findPiece(client, clock));
    const i = seq.totBefore(p) + (clock - p.clock);
    return kind === REL_AFTER ? 2 * i + 2 : 2 * i + 1;
  }

  /**
   * @param {MarkEntry} m
   * @returns {number}
   */
  startKey(m) {
    return this.key(m.skind, m.sc, m.sk);
  }

  /**
   * @param {MarkEntry} m
   * @returns {number}
   */
  endKey(m) {
    return this.key(m.ekind, m.ec, m.ek);
  }

  /**
   * overlapping returns the operations whose anchors' gaps s and e satisfy
   * s < to and e > from (empty ones, s >= e, included), with those gaps, in
   * no particular order.
   * @param {number} from
   * @param {number} to
   * @returns {Overlap[]}
   */
  overlapping(from, to) {
    this.file();
    /** @type {Overlap[]} */
    const out = [];
    const chunks = this.chunks;
    // Keys below hi start before gap to; keys above lo end after gap from.
    const hi = 2 * to;
    const lo = 2 * from + 1;
    // The chunks [0, n) are those whose first operation starts before to.
    let a = 0;
    let b = chunks.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (this.startKey(chunks[mid].marks[0]) < hi) a = mid + 1;
      else b = mid;
    }
    if (this.stale) this.tournament();
    const latest = this.latest;
    const cap = this.cap;
    /**
     * visit reads the chunks of node k (chunks [from, to)) that start before
     * to and end after from, skipping every subtree whose latest end does not.
     * @param {number} k
     * @param {number} c0
     * @param {number} c1
     */
    const visit = (k, c0, c1) => {
      if (c0 >= a) return;
      const w = latest[k];
      if (w === null || this.endKey(w) <= lo) return;
      if (k < cap) {
        const mid = (c0 + c1) >>> 1;
        visit(2 * k, c0, mid);
        visit(2 * k + 1, mid, c1);
        return;
      }
      // Every operation of a chunk before the last of them starts before the next chunk: before to.
      const last = c0 === a - 1;
      for (const m of chunks[c0].byEnd) {
        const ek = this.endKey(m);
        if (ek <= lo) break;
        const sk = this.startKey(m);
        if (!last || sk < hi) out.push({ m, s: sk >>> 1, e: ek >>> 1 });
      }
    };
    if (a > 0) visit(1, 0, cap);
    return out;
  }

  /** tournament remakes the tree of latest ends over the chunks: one key per chunk. */
  tournament() {
    const n = this.chunks.length;
    let cap = 1;
    while (cap < n) cap *= 2;
    /** @type {(MarkEntry | null)[]} */
    const latest = new Array(2 * cap).fill(null);
    const keys = new Float64Array(2 * cap).fill(-1);
    for (let i = 0; i < n; i++) {
      const m = this.chunks[i].byEnd[0];
      latest[cap + i] = m;
      keys[cap + i] = this.endKey(m);
    }
    for (let k = cap - 1; k >= 1; k--) {
      const j = keys[2 * k] >= keys[2 * k + 1] ? 2 * k : 2 * k + 1;
      latest[k] = latest[j];
      keys[k] = keys[j];
    }
    this.latest = latest;
    this.cap = cap;
    this.stale = false;
  }

  /** file puts the fresh operations in their chunks, or rebuilds the index when they are many. */
  file() {
    const fresh = this.fresh;
    if (fresh.length === 0) return;
    this.fresh = [];
    if (fresh.length > 8 + (this.size >>> 3)) {
      this.rebuild(fresh);
      return;
    }
    for (const m of fresh) this.insert(m);
  }

  /**
   * rebuild files every operation again, with more: one key per anchor and one sort.
   * @param {MarkEntry[]} more
   */
  rebuild(more) {
    /** @type {{ m: MarkEntry, s: number, e: number }[]} */
    const all = [];
    for (const c of this.chunks) for (const m of c.marks) all.push({ m, s: this.startKey(m), e: this.endKey(m) });
    for (const m of more) all.push({ m, s: this.startKey(m), e: this.endKey(m) });
    all.sort((x, y) => x.s - y.s);
    const fill = (CHUNK_MAX * 3) >>> 2;
    /** @type {Chunk[]} */
    const chunks = [];
    for (let i = 0; i < all.length; i += fill) {
      const part = all.slice(i, Math.min(all.length, i + fill));
      const marks = part.map((x) => x.m);
      chunks.push(new Chunk(marks, part.sort((x, y) => y.e - x.e).map((x) => x.m)));
    }
    this.chunks = chunks;
    this.size = all.length;
    this.stale = true;
  }

  /**
   * insert files one operation.
   * @param {MarkEntry} m
   */
  insert(m) {
    const chunks = this.chunks;
    this.size++;
    if (chunks.length === 0) {
      chunks.push(new Chunk([m], [m]));
      this.stale = true;
      return;
    }
    const sk = this.startKey(m);
    // The last chunk whose first operation starts at or before m (the first chunk if none does).
    let a = 1;
    let b = chunks.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (this.startKey(chunks[mid].marks[0]) <= sk) a = mid + 1;
      else b = mid;
    }
    const c = chunks[a - 1];
    const ms = c.marks;
    let lo = 0;
    let hi = ms.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.startKey(ms[mid]) <= sk) lo = mid + 1;
      else hi = mid;
    }
    ms.splice(lo, 0, m);
    const ek = this.endKey(m);
    const be = c.byEnd;
    lo = 0;
    hi = be.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.endKey(be[mid]) >= ek) lo = mid + 1;
      else hi = mid;
    }
    be.splice(lo, 0, m);
    if (!this.stale && lo === 0) {
      // m ends latest in its chunk: it goes up the tree as far as it ends latest.
      for (let k = this.cap + a - 1; k >= 1; k >>>= 1) {
        const w = this.latest[k];
        if (w !== null && this.endKey(w) >= ek) break;
        this.latest[k] = m;
      }
    }
    if (ms.length > CHUNK_MAX) {
      this.stale = true;
      // Split in two; each half keeps its operations' end order.
      const upper = ms.splice(ms.length >>> 1);
      const up = new Set(upper);
      c.byEnd = be.filter((x) => !up.has(x));
      chunks.splice(a, 0, new Chunk(upper, be.filter((x) => up.has(x))));
    }
  }
}

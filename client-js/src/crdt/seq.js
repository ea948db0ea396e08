// @ts-check
// The sequence S of a Text root (docs/crdt.md section 1.2): every integrated item,
// deleted or not, in document order, stored as pieces of runs.
//
// Why this shape: typing makes long chains of items with implied origins, so the
// unit of storage is a run (one client's consecutive clocks, each the left origin
// of the next, one shared right origin), never a character. A run that something
// is later inserted into, or that is partly deleted, is split into pieces; a
// piece is a contiguous clock range of one run with one deleted flag. Pieces are
// linked in document order (prev/next) and are the leaves' children of a B-tree
// whose nodes cache the visible and total (deleted included) lengths of their
// subtrees, so that a visible index or an absolute index is found in O(log n).
// Nodes never shrink: items are never removed from S. Two cursor caches make
// the next edit near the last one cheap: the last piece found and its visible
// start (typing and backspacing stay in one piece: no scan at all), and the
// last leaf found and its visible start (a scan of one leaf).

import { cpLength, cpToUtf16 } from './utf.js';

/** TEXT, MAP and SKIP are the kinds of a client's clock-ordered entries. */
export const TEXT = 0;
export const MAP = 1;
export const SKIP = 2;
/** MARK and ATTR are the kinds of rich-text units (docs/crdt.md section 4), the kinds of their ops in updates. */
export const MARK = 4;
export const ATTR = 5;

const LEAF_MAX = 64;
// TAIL_MAX bounds the strings a piece holds apart (Piece.append).
const TAIL_MAX = 1024;
const NODE_MAX = 32;

/**
 * Run is a client's text clocks [clock, clock+len), integrated as one unit: item
 * k > 0 has left origin (client, clock+k-1), item 0 has (lc, lk), and every item
 * has right origin (rc, rk). A client ID of 0 means START (left) or END (right).
 * first is the run's first piece; pieces, all of them ordered by clock, exists
 * only once the run has been split (most runs never are: one allocation less).
 */
export class Run {
  /**
   * @param {number} client
   * @param {number} clock
   * @param {number} len
   * @param {any} root the TextState
   * @param {number} lc
   * @param {number} lk
   * @param {number} rc
   * @param {number} rk
   */
  constructor(client, clock, len, root, lc, lk, rc, rk) {
    /** @type {0} */
    this.kind = TEXT;
    this.client = client;
    this.clock = clock;
    this.len = len;
    this.root = root;
    this.lc = lc;
    this.lk = lk;
    this.rc = rc;
    this.rk = rk;
    /** @type {Piece} */
    this.first = /** @type {any} */ (null);
    /** @type {Piece[] | null} */
    this.pieces = null;
    /**
     * The JSON text of an embed (a run of one item, docs/crdt.md section
     * 4.1), null for code points; it means nothing once the item is deleted.
     * @type {string | null}
     */
    this.embed = null;
  }

  /**
   * pieceAt returns the piece holding clock (in the run).
   * @param {number} clock
   * @returns {Piece}
   */
  pieceAt(clock) {
    return this.pieces === null ? this.first : this.pieces[this.pieceIndex(clock)];
  }

  /** @returns {number} the number of pieces */
  get count() {
    return this.pieces === null ? 1 : this.pieces.length;
  }

  /**
   * piece returns the i-th piece by clock.
   * @param {number} i
   * @returns {Piece}
   */
  piece(i) {
    return this.pieces === null ? this.first : this.pieces[i];
  }

  /**
   * addAfter records q, just split off the end of p, as the piece after p.
   * @param {Piece} p
   * @param {Piece} q
   */
  addAfter(p, q) {
    const ps = this.pieces;
    if (ps === null) this.pieces = [p, q];
    else if (ps[ps.length - 1] === p) ps.push(q);
    else insertAt(ps, this.pieceIndex(p.clock) + 1, q);
  }

  /**
   * drop forgets piece q (never the first), merged into its predecessor.
   * @param {Piece} q
   */
  drop(q) {
    const ps = /** @type {Piece[]} */ (this.pieces);
    removeAt(ps, this.pieceIndex(q.clock));
  }

  /**
   * pieceIndex returns the index in pieces (which exists) of the piece holding clock.
   * @param {number} clock
   * @returns {number}
   */
  pieceIndex(clock) {
    const ps = /** @type {Piece[]} */ (this.pieces);
    let lo = 0;
    let hi = ps.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (ps[mid].clock <= clock) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/**
 * insertAt puts x at index i of a (0 <= i <= a.length), moving what follows
 * up by one: unlike splice, it makes no array for the removed elements.
 * @template T
 * @param {T[]} a
 * @param {number} i
 * @param {T} x
 */
function insertAt(a, i, x) {
  let j = a.length;
  a.push(x);
  for (; j > i; j--) a[j] = a[j - 1];
  a[i] = x;
}

/**
 * removeAt drops the element at index i of a, moving what follows down by one.
 * @template T
 * @param {T[]} a
 * @param {number} i
 */
function removeAt(a, i) {
  const n = a.length - 1;
  for (let j = i; j < n; j++) a[j] = a[j + 1];
  a.pop();
}

/** SkipEntry is a range of a client's clocks that carry nothing. */
export class SkipEntry {
  /**
   * @param {number} clock
   * @param {number} len
   */
  constructor(clock, len) {
    /** @type {2} */
    this.kind = SKIP;
    this.clock = clock;
    this.len = len;
  }
}

/** Piece is a contiguous clock range of a run with one deleted flag. */
export class Piece {
  /**
   * @param {Run} run
   * @param {number} clock
   * @param {number} len code points
   * @param {string} str content (UTF-16), '' once deleted
   * @param {boolean} deleted
   */
  constructor(run, clock, len, str, deleted) {
    this.run = run;
    this.client = run.client;
    this.clock = clock;
    this.len = len;
    /** The content, but for what tail holds. */
    this.flat = str;
    /**
     * Text typed at the end of the piece and not yet joined to flat, in
     * order: typing extends a piece a keystroke at a time, and joining once
     * when the content is read makes one flat string instead of a chain of
     * concatenations that the garbage collector copies and keeps.
     * @type {string[] | null}
     */
    this.tail = null;
    this.deleted = deleted;
    /** @type {Node} */
    this.parent = /** @type {any} */ (null);
    /** @type {Piece | null} */
    this.prev = null;
    /** @type {Piece | null} */
    this.next = null;
  }

  /** @returns {string} the content (UTF-16), '' once deleted */
  get str() {
    if (this.tail !== null) {
      this.flat += this.tail.join('');
      this.tail = null;
    }
    return this.flat;
  }

  set str(s) {
    this.flat = s;
    this.tail = null;
  }

  /**
   * keep cuts the content to its first n code points (of len, its length
   * before the cut; the caller sets the new length): a keystroke typed and
   * then erased leaves tail without being joined.
   * @param {number} len
   * @param {number} n
   */
  keep(len, n) {
    const t = this.tail;
    if (t !== null) {
      const last = t[t.length - 1];
      if (last.length === len - n && cpLength(last) === len - n) {
        if (t.length === 1) this.tail = null;
        else t.pop();
        return;
      }
    }
    const s = this.str;
    this.flat = s.slice(0, cpToUtf16(s, len, n));
  }

  /**
   * append adds s at the end of the content (the caller adds its length).
   * @param {string} s
   */
  append(s) {
    if (this.tail === null) this.tail = [s];
    else if (this.tail.length < TAIL_MAX) this.tail.push(s);
    else {
      this.flat += this.tail.join('') + s;
      this.tail = null;
    }
  }

  /** @returns {number} the visible length */
  get vis() {
    return this.deleted ? 0 : this.len;
  }
}

/** Node is a B-tree node; a leaf's kids are pieces, an inner node's are nodes. */
export class Node {
  /** @param {boolean} leaf */
  constructor(leaf) {
    this.leaf = leaf;
    /** @type {Node | null} */
    this.parent = null;
    /** @type {any[]} */
    this.kids = [];
    this.vis = 0;
    this.tot = 0;
  }
}

/** Seq is the ordered sequence of one Text root. */
export class Seq {
  constructor() {
    this.root = new Node(true);
    /** @type {Piece | null} */
    this.first = null;
    /** @type {Piece | null} */
    this.last = null;
    /** The offset inside the piece returned by the last find. */
    this.off = 0;
    /** @type {Node | null} the cursor cache: a leaf and its visible start */
    this.cLeaf = null;
    this.cStart = 0;
    /**
     * The piece cache: the last piece findVis returned and its visible start,
     * valid while no visible length before it changes (adjust and remove
     * drop it; a change of the piece's own length keeps its start).
     * @type {Piece | null}
     */
    this.cPiece = null;
    this.cPieceStart = 0;
  }

  /** @returns {number} the visible length */
  get vis() {
    return this.root.vis;
  }

  /** @returns {number} the number of items, deleted ones included */
  get tot() {
    return this.root.tot;
  }

  /**
   * findVis returns the visible piece holding visible index pos (0 <= pos < vis)
   * and sets this.off to the offset in it.
   * @param {number} pos
   * @returns {Piece}
   */
  findVis(pos) {
    const cp = this.cPiece;
    if (cp !== null && !cp.deleted && pos >= this.cPieceStart && pos < this.cPieceStart + cp.len) {
      this.off = pos - this.cPieceStart;
      return cp;
    }
    /** @type {Node} */
    let node;
    let start;
    const c = this.cLeaf;
    if (c !== null && pos >= this.cStart && pos < this.cStart + c.vis) {
      node = c;
      start = this.cStart;
    } else {
      node = this.root;
      start = 0;
      while (!node.leaf) {
        const kids = node.kids;
        let i = 0;
        for (;;) {
          const k = kids[i];
          if (pos < start + k.vis) break;
          start += k.vis;
          i++;
        }
        node = kids[i];
      }
      this.cLeaf = node;
      this.cStart = start;
    }
    const kids = node.kids;
    for (let i = 0; ; i++) {
      const p = kids[i];
      if (!p.deleted) {
        if (pos < start + p.len) {
          this.off = pos - start;
          this.cPiece = p;
          this.cPieceStart = start;
          return p;
        }
        start += p.len;
      }
    }
  }

  /**
   * findTot returns the piece holding absolute index pos (0 <= pos < tot),
   * deleted items counted, and sets this.off.
   * @param {number} pos
   * @returns {Piece}
   */
  findTot(pos) {
    /** @type {Node} */
    let node = this.root;
    let start = 0;
    while (!node.leaf) {
      const kids = node.kids;
      let i = 0;
      for (;;) {
        const k = kids[i];
        if (pos < start + k.tot) break;
        start += k.tot;
        i++;
      }
      node = kids[i];
    }
    const kids = node.kids;
    for (let i = 0; ; i++) {
      const p = kids[i];
      if (pos < start + p.len) {
        this.off = pos - start;
        return p;
      }
      start += p.len;
    }
  }

  /**
   * visBefore returns the number of visible items before piece p.
   * @param {Piece} p
   * @returns {number}
   */
  visBefore(p) {
    let n = 0;
    const leaf = p.parent;
    const kids = leaf.kids;
    for (let i = 0; kids[i] !== p; i++) n += kids[i].vis;
    if (leaf === this.cLeaf) return n + this.cStart;
    let node = leaf;
    while (node.parent !== null) {
      const sib = node.parent.kids;
      for (let i = 0; sib[i] !== node; i++) n += sib[i].vis;
      node = node.parent;
    }
    return n;
  }

  /**
   * totBefore returns the number of items (deleted included) before piece p.
   * @param {Piece} p
   * @returns {number}
   */
  totBefore(p) {
    let n = 0;
    let node = p.parent;
    const kids = node.kids;
    for (let i = 0; kids[i] !== p; i++) n += kids[i].len;
    while (node.parent !== null) {
      const sib = node.parent.kids;
      for (let i = 0; sib[i] !== node; i++) n += sib[i].tot;
      node = node.parent;
    }
    return n;
  }

  /**
   * adjust adds dvis and dtot to the sums of p's leaf and its ancestors.
   * @param {Piece} p
   * @param {number} dvis
   * @param {number} dtot
   */
  adjust(p, dvis, dtot) {
    /** @type {Node | null} */
    let node = p.parent;
    if (dvis !== 0) {
      if (node !== this.cLeaf) this.cLeaf = null;
      if (p !== this.cPiece) this.cPiece = null;
    }
    while (node !== null) {
      node.vis += dvis;
      node.tot += dtot;
      node = node.parent;
    }
  }

  /**
   * insertAfter puts piece p right after ref in S (at the start if ref is null)
   * and adds its lengths to the sums.
   * @param {Piece | null} ref
   * @param {Piece} p
   */
  insertAfter(ref, p) {
    let leaf;
    let idx;
    if (ref === null) {
      p.next = this.first;
      p.prev = null;
      if (this.first !== null) this.first.prev = p;
      else this.last = p;
      this.first = p;
      leaf = this.root;
      while (!leaf.leaf) leaf = leaf.kids[0];
      idx = 0;
    } else {
      p.prev = ref;
      p.next = ref.next;
      if (ref.next !== null) ref.next.prev = p;
      else this.last = p;
      ref.next = p;
      leaf = ref.parent;
      idx = leaf.kids.indexOf(ref) + 1;
    }
    insertAt(leaf.kids, idx, p);
    p.parent = leaf;
    this.adjust(p, p.vis, p.len);
    if (leaf.kids.length > LEAF_MAX) this.splitNode(leaf);
  }

  /**
   * splitInsert puts q, just split off the end of p, right after p in p's leaf;
   * the sums do not change because p already gave q its lengths.
   * @param {Piece} p
   * @param {Piece} q
   */
  splitInsert(p, q) {
    q.prev = p;
    q.next = p.next;
    if (p.next !== null) p.next.prev = q;
    else this.last = q;
    p.next = q;
    const leaf = p.parent;
    const kids = leaf.kids;
    const idx = kids.indexOf(p) + 1;
    insertAt(kids, idx, q);
    q.parent = leaf;
    if (kids.length > LEAF_MAX) this.splitNode(leaf);
  }

  /**
   * remove takes piece p out of S; the caller moves its lengths to a neighbour
   * of the same leaf first, so the sums do not change.
   * @param {Piece} p
   */
  remove(p) {
    if (p === this.cPiece) this.cPiece = null;
    if (p.prev !== null) p.prev.next = p.next;
    else this.first = p.next;
    if (p.next !== null) p.next.prev = p.prev;
    else this.last = p.prev;
    const kids = p.parent.kids;
    removeAt(kids, kids.indexOf(p));
  }

  /**
   * splitNode moves the upper half of an overfull node into a new sibling.
   * @param {Node} node
   */
  splitNode(node) {
    const half = node.kids.length >>> 1;
    const sib = new Node(node.leaf);
    sib.kids = node.kids.splice(half);
    let vis = 0;
    let tot = 0;
    for (const k of sib.kids) {
      k.parent = sib;
      if (node.leaf) {
        vis += k.vis;
        tot += k.len;
      } else {
        vis += k.vis;
        tot += k.tot;
      }
    }
    sib.vis = vis;
    sib.tot = tot;
    node.vis -= vis;
    node.tot -= tot;
    const parent = node.parent;
    if (parent === null) {
      const root = new Node(false);
      root.kids = [node, sib];
      root.vis = node.vis + vis;
      root.tot = node.tot + tot;
      node.parent = root;
      sib.parent = root;
      this.root = root;
      return;
    }
    sib.parent = parent;
    insertAt(parent.kids, parent.kids.indexOf(node) + 1, sib);
    if (parent.kids.length > NODE_MAX) this.splitNode(parent);
  }

  /**
   * build replaces an empty sequence with pieces given in document order, bottom
   * up in one linear pass (loading a snapshot into an empty document).
   * @param {Piece[]} pieces
   */
  build(pieces) {
    if (pieces.length === 0) return;
    /** @type {Node[]} */
    let level = [];
    let prev = null;
    const fill = Math.max(2, (LEAF_MAX * 3) >>> 2);
    for (let i = 0; i < pieces.length; i += fill) {
      const leaf = new Node(true);
      const end = Math.min(pieces.length, i + fill);
      for (let j = i; j < end; j++) {
        const p = pieces[j];
        p.parent = leaf;
        p.prev = prev;
        if (prev !== null) prev.next = p;
        prev = p;
        leaf.kids.push(p);
        leaf.vis += p.vis;
        leaf.tot += p.len;
      }
      level.push(leaf);
    }
    this.first = pieces[0];
    this.last = pieces[pieces.length - 1];
    const nfill = Math.max(2, (NODE_MAX * 3) >>> 2);
    while (level.length > 1) {
      /** @type {Node[]} */
      const up = [];
      for (let i = 0; i < level.length; i += nfill) {
        const node = new Node(false);
        const end = Math.min(level.length, i + nfill);
        for (let j = i; j < end; j++) {
          const k = level[j];
          k.parent = node;
          node.kids.push(k);
          node.vis += k.vis;
          node.tot += k.tot;
        }
        up.push(node);
      }
      level = up;
    }
    this.root = level[0];
    this.cLeaf = null;
    this.cPiece = null;
  }
}

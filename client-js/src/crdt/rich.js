// @ts-check
// Rich text (docs/crdt.md section 4): marks and attributes of a Text root, and
// what is read from them: the gaps of anchors, spans, and the format and
// attribute changes of an apply. Embeds are runs of one item with their JSON
// (Run.embed, seq.js).

import { MARK, ATTR } from './seq.js';
import { REL_BEFORE, REL_AFTER, REL_START, REL_END } from './relpos.js';
import { compareUtf8, cpLength } from './utf.js';
import { MarkIndex } from './markindex.js';

/**
 * @typedef {import('./seq.js').Piece} Piece
 * @typedef {import('./text.js').TextState} TextState
 * @typedef {import('./handles.js').RawSpan} RawSpan
 * @typedef {import('./changes.js').FormatEdit} FormatEdit
 * @typedef {import('./changes.js').AttrEdit} AttrEdit
 */

/**
 * The document services rich text needs (implemented by Doc).
 * @typedef {object} Index
 * @property {(client: number, clock: number) => Piece | null} findPiece the piece holding a text item
 */

/**
 * MarkEntry is a mark operation (docs/crdt.md section 4.2): value over the
 * items between its start and end anchors, or the removal of the mark name
 * there (value null). An anchor is a relative position's kind and, for Before
 * and After, an item (sc/sk for the start, ec/ek for the end).
 */
export class MarkEntry {
  /**
   * @param {number} client
   * @param {number} clock
   * @param {TextState} root
   * @param {number} skind
   * @param {number} sc
   * @param {number} sk
   * @param {number} ekind
   * @param {number} ec
   * @param {number} ek
   * @param {string} name
   * @param {number} lamport
   * @param {string | null} value JSON text, null for a remove
   */
  constructor(client, clock, root, skind, sc, sk, ekind, ec, ek, name, lamport, value) {
    /** @type {4} */
    this.kind = MARK;
    this.client = client;
    this.clock = clock;
    this.len = 1;
    this.root = root;
    this.skind = skind;
    this.sc = sc;
    this.sk = sk;
    this.ekind = ekind;
    this.ec = ec;
    this.ek = ek;
    this.name = name;
    this.lamport = lamport;
    this.value = value;
  }
}

/**
 * AttrEntry is an attribute assignment on an item (docs/crdt.md section 4.3);
 * lost once another assignment of its target and key wins (its clock then
 * encodes as a skip).
 */
export class AttrEntry {
  /**
   * @param {number} client
   * @param {number} clock
   * @param {TextState} root
   * @param {number} tc the target's client
   * @param {number} tk the target's clock
   * @param {string} key
   * @param {number} lamport
   * @param {string} value JSON text
   */
  constructor(client, clock, root, tc, tk, key, lamport, value) {
    /** @type {5} */
    this.kind = ATTR;
    this.client = client;
    this.clock = clock;
    this.len = 1;
    this.root = root;
    this.tc = tc;
    this.tk = tk;
    this.key = key;
    this.lamport = lamport;
    /** @type {string | null} */
    this.value = value;
    this.lost = false;
  }
}

/**
 * compareMarks orders mark operations (and attributes) by (lamport, client, clock).
 * @param {{lamport: number, client: number, clock: number}} a
 * @param {{lamport: number, client: number, clock: number}} b
 * @returns {number}
 */
export function compareMarks(a, b) {
  return a.lamport - b.lamport || a.client - b.client || a.clock - b.clock;
}

/**
 * idKey is the key of an item in maps.
 * @param {number} client
 * @param {number} clock
 * @returns {string}
 */
function idKey(client, clock) {
  return client + ':' + clock;
}

/** RichState is the rich state of a Text root, made on its first mark or attribute. */
export class RichState {
  constructor() {
    /** the largest lamport of the root's marks and attributes */
    this.lamport = 0;
    /** @type {Map<string, MarkEntry[]>} every mark operation, per name, in the total order */
    this.byName = new Map();
    this.nMarks = 0;
    /** @type {Map<string, Map<string, AttrEntry>>} the winning attributes, per target and key */
    this.attrs = new Map();
    /** @type {MarkIndex | null} the operations by position, made by the first spans that needs it */
    this.index = null;
  }

  /**
   * byPosition returns the index of the root's mark operations by position.
   * @param {Index} ix
   * @param {TextState} root
   * @returns {MarkIndex}
   */
  byPosition(ix, root) {
    if (this.index === null) this.index = new MarkIndex(ix, root, [...this.byName.values()].flat());
    return this.index;
  }

  /**
   * addMark records m.
   * @param {MarkEntry} m
   */
  addMark(m) {
    let ops = this.byName.get(m.name);
    if (ops === undefined) this.byName.set(m.name, (ops = []));
    let i = ops.length;
    while (i > 0 && compareMarks(ops[i - 1], m) > 0) i--;
    ops.splice(i, 0, m);
    this.nMarks++;
    if (m.lamport > this.lamport) this.lamport = m.lamport;
    if (this.index !== null) this.index.add(m);
  }

  /**
   * addAttr records a and reports whether it wins its target and key.
   * @param {AttrEntry} a
   * @returns {boolean}
   */
  addAttr(a) {
    if (a.lamport > this.lamport) this.lamport = a.lamport;
    const id = idKey(a.tc, a.tk);
    let keys = this.attrs.get(id);
    if (keys === undefined) this.attrs.set(id, (keys = new Map()));
    const w = keys.get(a.key);
    if (w !== undefined) {
      if (compareMarks(a, w) <= 0) {
        a.lost = true;
        a.value = null;
        return false;
      }
      w.lost = true;
      w.value = null;
    }
    keys.set(a.key, a);
    return true;
  }

  /**
   * attrsOf returns the winning attributes of an item, or undefined.
   * @param {number} client
   * @param {number} clock
   * @returns {Map<string, AttrEntry> | undefined}
   */
  attrsOf(client, clock) {
    return this.attrs.get(idKey(client, clock));
  }
}

/**
 * indexOf returns the absolute index (deleted items counted) of an item of root.
 * @param {Index} ix
 * @param {TextState} root
 * @param {number} client
 * @param {number} clock
 * @returns {number}
 */
function indexOf(ix, root, client, clock) {
  const p = /** @type {Piece} */ (ix.findPiece(client, clock));
  return root.seq.totBefore(p) + (clock - p.clock);
}

/**
 * gap returns the gap an anchor designates in root's sequence (docs/crdt.md
 * section 4.2): the index of the item after it, deleted items counted.
 * @param {Index} ix
 * @param {TextState} root
 * @param {number} kind
 * @param {number} client
 * @param {number} clock
 * @returns {number}
 */
export function gap(ix, root, kind, client, clock) {
  if (kind === REL_START) return 0;
  if (kind === REL_END) return root.seq.tot;
  const g = indexOf(ix, root, client, clock);
  return kind === REL_AFTER ? g + 1 : g;
}

/**
 * visAt returns the number of visible items before absolute index tot of root.
 * @param {TextState} root
 * @param {number} tot
 * @returns {number}
 */
export function visAt(root, tot) {
  const seq = root.seq;
  if (tot >= seq.tot) return seq.vis;
  const p = seq.findTot(tot);
  const off = seq.off;
  return seq.visBefore(p) + (p.deleted ? 0 : off);
}

/**
 * isEmbed reports whether piece p is a visible embed.
 * @param {Piece} p
 * @returns {boolean}
 */
export function isEmbed(p) {
  return !p.deleted && p.run.embed !== null;
}

/**
 * Overlaps returns the mark operations of root whose anchors' gaps s and e
 * satisfy s < to and e > from, with those gaps (others may be included: they
 * are filtered), in any order.
 * @typedef {(ix: Index, root: TextState, from: number, to: number) => import('./markindex.js').Overlap[]} Overlaps
 */

/**
 * indexedOverlaps asks the root's index of marks by position.
 * @type {Overlaps}
 */
function indexedOverlaps(ix, root, from, to) {
  const rt = root.rich;
  return rt === null ? [] : rt.byPosition(ix, root).overlapping(from, to);
}

/**
 * spans returns the spans of the visible positions [from, to) of root
 * (docs/crdt.md section 4.5). It takes the mark operations that overlap the
 * range from the root's index (markindex.js: never every operation of the
 * text), keeps those that start or stop covering inside the range as
 * boundaries sorted by gap, and sweeps the pieces of the range only, from
 * the piece holding from; per name it keeps the covering operations in the
 * total order, so the winner is the last one. Never a scan per character,
 * and a slice does not walk the text before it. overlaps replaces the index
 * (the tests give a scan of every operation, the oracle).
 * @param {Index} ix
 * @param {TextState} root
 * @param {number} from
 * @param {number} to
 * @param {Overlaps} [overlaps]
 * @returns {RawSpan[]}
 */
export function spans(ix, root, from, to, overlaps = indexedOverlaps) {
  /** @type {RawSpan[]} */
  const out = [];
  if (from >= to) return out;
  const seq = root.seq;
  const p0 = seq.findVis(from);
  const off0 = seq.off;
  const vis0 = from - off0;
  const tot0 = seq.totBefore(p0);
  const startTot = tot0 + off0;
  const pe = seq.findVis(to - 1);
  const endTot = seq.totBefore(pe) + seq.off + 1;
  const rt = root.rich;
  /** @type {Map<string, MarkEntry[]>} */
  const active = new Map();
  /** @type {{gap: number, m: MarkEntry, start: boolean}[]} */
  const bs = [];
  /** @param {MarkEntry} m */
  const enter = (m) => {
    let ops = active.get(m.name);
    if (ops === undefined) active.set(m.name, (ops = []));
    let i = ops.length;
    while (i > 0 && compareMarks(ops[i - 1], m) > 0) i--;
    ops.splice(i, 0, m);
  };
  for (const { m, s, e } of overlaps(ix, root, startTot, endTot)) {
    if (s >= e || e <= startTot || s >= endTot) continue;
    if (s <= startTot) enter(m);
    else bs.push({ gap: s, m, start: true });
    if (e < endTot) bs.push({ gap: e, m, start: false });
  }
  bs.sort((a, b) => a.gap - b.gap);
  /** @type {Map<string, string>} */
  let marks = new Map();
  let changed = true;
  const apply = (/** @type {{gap: number, m: MarkEntry, start: boolean}} */ b) => {
    if (b.start) enter(b.m);
    else {
      const o = /** @type {MarkEntry[]} */ (active.get(b.m.name));
      o.splice(o.lastIndexOf(b.m), 1);
      if (o.length === 0) active.delete(b.m.name);
    }
    changed = true;
  };
  const current = () => {
    if (!changed) return marks;
    changed = false;
    /** @type {Map<string, string>} */
    const ms = new Map();
    for (const [name, ops] of active) {
      const w = ops[ops.length - 1];
      if (w.value !== null) ms.set(name, w.value);
    }
    marks = ms;
    return ms;
  };
  /** @type {string[]} */
  let parts = [];
  /** @type {Map<string, string> | null} */
  let textMarks = null;
  const flush = () => {
    if (textMarks !== null) {
      out.push({ insert: parts.join(''), marks: textMarks });
      parts = [];
      textMarks = null;
    }
  };
  let bi = 0;
  let tot = tot0;
  let vis = vis0;
  for (let p = /** @type {Piece | null} */ (p0); p !== null && vis < to; p = p.next) {
    if (p.deleted) {
      tot += p.len;
      continue;
    }
    const embed = p.run.embed !== null;
    const str = p.str;
    let k = p === p0 ? off0 : 0;
    // u is the UTF-16 offset of code point k in str.
    let u = k > 0 ? advance(str, 0, k) : 0;
    vis += k;
    while (k < p.len && vis < to) {
      while (bi < bs.length && bs[bi].gap <= tot + k) apply(bs[bi++]);
      let end = p.len;
      if (bi < bs.length && bs[bi].gap < tot + end) end = bs[bi].gap - tot;
      end = Math.min(end, k + to - vis);
      const wasChanged = changed;
      const ms = current();
      if (embed) {
        flush();
        /** @type {Map<string, string>} */
        const attrs = new Map();
        const keys = rt === null ? undefined : rt.attrsOf(p.client, p.clock);
        if (keys !== undefined) for (const [key, a] of keys) attrs.set(key, /** @type {string} */ (a.value));
        out.push({ embed: /** @type {string} */ (p.run.embed), attrs, marks: ms });
      } else {
        if (textMarks !== null && wasChanged && !sameMarks(textMarks, ms)) flush();
        if (textMarks === null) textMarks = ms;
        const v = advance(str, u, end - k);
        parts.push(str.slice(u, v));
        u = v;
      }
      vis += end - k;
      k = end;
    }
    vis += p.len - k;
    tot += p.len;
  }
  flush();
  return out;
}

/**
 * advance returns the UTF-16 offset n code points after offset u of s.
 * @param {string} s
 * @param {number} u
 * @param {number} n
 * @returns {number}
 */
function advance(s, u, n) {
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(u);
    u += c >= 0xd800 && c < 0xdc00 ? 2 : 1;
  }
  return u;
}

/**
 * @param {Map<string, string>} a
 * @param {Map<string, string>} b
 * @returns {boolean}
 */
function sameMarks(a, b) {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** BULK_MARKS is how many marks of one root an apply reports one by one; above it, the names they touch are reported over the whole text. */
const BULK_MARKS = 32;

/**
 * richEdits returns the format and attribute edits of the marks and
 * attributes an apply integrated, per root, in terms of the final text
 * (docs/crdt.md section 4.5); values are JSON texts (null: no mark).
 * @param {Index} ix
 * @param {(MarkEntry | AttrEntry)[]} units
 * @param {(root: TextState, f: {pos: number, len: number, name: string, value: string | null} | null, a: {pos: number, key: string, value: string} | null) => void} emit
 */
export function richEdits(ix, units, emit) {
  /** @type {Map<TextState, Set<string>>} */
  const perRoot = new Map();
  /** @type {Map<TextState, number>} */
  const count = new Map();
  for (const u of units) {
    if (u.kind !== MARK) continue;
    let names = perRoot.get(u.root);
    if (names === undefined) perRoot.set(u.root, (names = new Set()));
    names.add(u.name);
    count.set(u.root, (count.get(u.root) ?? 0) + 1);
  }
  /** @type {Set<TextState>} */
  const bulk = new Set();
  for (const [root, names] of perRoot) {
    if (/** @type {number} */ (count.get(root)) > BULK_MARKS) {
      bulk.add(root);
      formatsOf(ix, root, names, (f) => emit(root, f, null));
    }
  }
  /** @type {Set<string>} */
  const seen = new Set();
  for (const u of units) {
    if (u.kind === ATTR) {
      const k = idKey(u.tc, u.tk) + ':' + u.key;
      if (u.lost || seen.has(k)) continue;
      seen.add(k);
      const p = ix.findPiece(u.tc, u.tk);
      if (p === null || !isEmbed(p) || p.run.root !== u.root) continue;
      emit(u.root, null, { pos: u.root.seq.visBefore(p), key: u.key, value: /** @type {string} */ (u.value) });
      continue;
    }
    const root = u.root;
    if (bulk.has(root)) continue;
    const s = gap(ix, root, u.skind, u.sc, u.sk);
    const e = gap(ix, root, u.ekind, u.ec, u.ek);
    if (s >= e) continue;
    let pieces = [[s, e]];
    // Where a later operation of the same name covers, u does not win.
    const ops = /** @type {import('./rich.js').RichState} */ (root.rich).byName.get(u.name) ?? [];
    for (let i = ops.lastIndexOf(u) + 1; i < ops.length && pieces.length > 0; i++) {
      const o = ops[i];
      const os = gap(ix, root, o.skind, o.sc, o.sk);
      const oe = gap(ix, root, o.ekind, o.ec, o.ek);
      if (os >= oe) continue;
      /** @type {number[][]} */
      const next = [];
      for (const p of pieces) {
        if (oe <= p[0] || os >= p[1]) {
          next.push(p);
          continue;
        }
        if (p[0] < os) next.push([p[0], os]);
        if (oe < p[1]) next.push([oe, p[1]]);
      }
      pieces = next;
    }
    for (const p of pieces) {
      const vs = visAt(root, p[0]);
      const ve = visAt(root, p[1]);
      if (vs < ve) emit(root, { pos: vs, len: ve - vs, name: u.name, value: u.value }, null);
    }
  }
}

/**
 * formatsOf reports, for every name of names, the value of the mark over the
 * whole visible text of root, as maximal ranges (value null where the text
 * does not have it). It sweeps the boundaries of those names' operations
 * sorted by gap, grouped by the visible position they fall at (a gap's
 * position is one B-tree descent), and never reads the text:
 * O(M log n + M log M) for M operations.
 * @param {Index} ix
 * @param {TextState} root
 * @param {Set<string>} names
 * @param {(f: {pos: number, len: number, name: string, value: string | null}) => void} emit
 */
function formatsOf(ix, root, names, emit) {
  const rt = /** @type {RichState} */ (root.rich);
  /** @type {{gap: number, m: MarkEntry, start: boolean}[]} */
  const bs = [];
  for (const name of names) {
    for (const m of rt.byName.get(name) ?? []) {
      const s = gap(ix, root, m.skind, m.sc, m.sk);
      const e = gap(ix, root, m.ekind, m.ec, m.ek);
      if (s < e) bs.push({ gap: s, m, start: true }, { gap: e, m, start: false });
    }
  }
  bs.sort((a, b) => a.gap - b.gap);
  /** @type {Map<string, MarkEntry[]>} */
  const active = new Map();
  /** @type {Map<string, {pos: number, value: string | null}>} the open range of each name */
  const cur = new Map();
  const sorted = [...names].sort(compareUtf8);
  for (const name of sorted) cur.set(name, { pos: 0, value: null });
  const vis = root.seq.vis;
  for (let i = 0; i < bs.length; ) {
    const pos = visAt(root, bs[i].gap);
    if (pos >= vis) break;
    /** @type {Set<string>} */
    const touched = new Set();
    for (; i < bs.length && (bs[i].gap === bs[i - 1]?.gap || visAt(root, bs[i].gap) === pos); i++) {
      const b = bs[i];
      const name = b.m.name;
      touched.add(name);
      let ops = active.get(name);
      if (b.start) {
        if (ops === undefined) active.set(name, (ops = []));
        let j = ops.length;
        while (j > 0 && compareMarks(ops[j - 1], b.m) > 0) j--;
        ops.splice(j, 0, b.m);
      } else {
        const o = /** @type {MarkEntry[]} */ (ops);
        o.splice(o.lastIndexOf(b.m), 1);
        if (o.length === 0) active.delete(name);
      }
    }
    for (const name of touched) {
      const ops = active.get(name);
      const v = ops === undefined ? null : ops[ops.length - 1].value;
      const o = /** @type {{pos: number, value: string | null}} */ (cur.get(name));
      if (o.value === v) continue;
      if (pos > o.pos) emit({ pos: o.pos, len: pos - o.pos, name, value: o.value });
      cur.set(name, { pos, value: v });
    }
  }
  for (const name of sorted) {
    const o = /** @type {{pos: number, value: string | null}} */ (cur.get(name));
    if (vis > o.pos) emit({ pos: o.pos, len: vis - o.pos, name, value: o.value });
  }
}

export { REL_BEFORE, REL_AFTER, REL_START, REL_END };

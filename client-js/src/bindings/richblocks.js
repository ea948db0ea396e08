// @ts-check
import { cpLength } from '../utf16.js';
/**
 * Blocks of a rich Text root (docs/richtext.md section 1): the flat sequence of spans cut at block
 * markers, each block with its effective value and the positions its content occupies. A pure
 * function of the spans, so that every replica draws the same blocks; the demo's DOM binding
 * (richdom.js) renders them, and positions map between the two through `start` and `end`.
 */

/** @typedef {import('../crdt/handles.js').Span} Span */

/**
 * @typedef {object} Block
 * @property {number | null} marker  the position of the block's marker; null for the implicit paragraph
 * @property {string} type           the block type: paragraph, heading, list_item, blockquote, code_block, or another
 * @property {Record<string, unknown>} attrs  the marker's effective value without block and parents, null values left out
 * @property {string[]} parents      the containers around the block, outermost first
 * @property {number} start          the position of the block's first content position (after the marker)
 * @property {number} end            the position after its content (the next marker, or the text's length)
 * @property {Span[]} inline         the spans of its content: text, and embeds that are not block markers
 */

/**
 * effectiveValue returns an embed's JSON object with each winning attribute replacing its key
 * (docs/crdt.md section 4.3), or null for an embed whose value is not an object.
 * @param {{ embed: unknown, attrs: Record<string, unknown> }} s
 * @returns {Record<string, unknown> | null}
 */
export function effectiveValue(s) {
  if (s.embed === null || typeof s.embed !== 'object' || Array.isArray(s.embed)) return null;
  return { .../** @type {Record<string, unknown>} */ (s.embed), ...s.attrs };
}

/**
 * blockMarker returns the block type of a span that is a block marker, else null.
 * @param {Span} s
 */
export function blockMarker(s) {
  if (!('embed' in s)) return null;
  const v = effectiveValue(s);
  return v !== null && typeof v.block === 'string' && v.block !== '' ? v.block : null;
}

/**
 * blocksOf cuts spans into blocks. Content before the first marker is an implicit paragraph,
 * present when it is not empty or when there is no marker at all.
 * @param {Span[]} spans
 * @returns {Block[]}
 */
export function blocksOf(spans) {
  /** @type {Block[]} */
  const blocks = [];
  /** @type {Block} */
  let cur = { marker: null, type: 'paragraph', attrs: {}, parents: [], start: 0, end: 0, inline: [] };
  let pos = 0;
  for (const s of spans) {
    const type = blockMarker(s);
    if (type !== null && 'embed' in s) {
      cur.end = pos;
      if (cur.marker !== null || cur.inline.length > 0) blocks.push(cur);
      const v = /** @type {Record<string, unknown>} */ (effectiveValue(s));
      /** @type {Record<string, unknown>} */
      const attrs = {};
      for (const [k, x] of Object.entries(v)) if (k !== 'block' && k !== 'parents' && x !== null) attrs[k] = x;
      const parents = Array.isArray(v.parents) && v.parents.every((p) => typeof p === 'string') ? /** @type {string[]} */ (v.parents) : [];
      cur = { marker: pos, type, attrs, parents, start: pos + 1, end: pos + 1, inline: [] };
      pos++;
      continue;
    }
    const n = 'insert' in s ? cpLength(s.insert) : 1;
    if (n === 0) continue;
    cur.inline.push(s);
    pos += n;
  }
  cur.end = pos;
  blocks.push(cur);
  return blocks;
}

/**
 * blockAt returns the index of the block whose content holds position pos (its start to its end,
 * both included; a position at a marker is the end of the block before it, or the start of the
 * first block).
 * @param {Block[]} blocks
 * @param {number} pos
 */
export function blockAt(blocks, pos) {
  let lo = 0;
  let hi = blocks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (blocks[mid].start <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * clampToContent moves pos into the content of its block: a position before the first block's
 * marker becomes the block's start, so that nothing is typed in front of a marker.
 * @param {Block[]} blocks
 * @param {number} pos
 */
export function clampToContent(blocks, pos) {
  const b = blocks[blockAt(blocks, pos)];
  return Math.min(Math.max(pos, b.start), b.end);
}

/**
 * Dirty is what a change touched, for updateBlocks: the positions from lo to hi of the text after
 * it, and how much longer the text became (negative: shorter). Everything outside [lo, hi] held
 * the same units before the change, shifted by delta after hi.
 * @typedef {{ lo: number, hi: number, delta: number }} Dirty
 */

/**
 * newDirty returns an empty Dirty, to grow with dirtyInsert, dirtyDelete and dirtyTouch.
 * @returns {Dirty}
 */
export function newDirty() {
  return { lo: Infinity, hi: -Infinity, delta: 0 };
}

/**
 * dirtyInsert records that n positions were inserted at pos (of the text as it was then).
 * @param {Dirty} d
 * @param {number} pos
 * @param {number} n
 */
export function dirtyInsert(d, pos, n) {
  if (d.lo >= pos) d.lo += n;
  if (d.hi >= pos) d.hi += n;
  d.lo = Math.min(d.lo, pos);
  d.hi = Math.max(d.hi, pos + n);
  d.delta += n;
}

/**
 * dirtyDelete records that n positions were deleted at pos.
 * @param {Dirty} d
 * @param {number} pos
 * @param {number} n
 */
export function dirtyDelete(d, pos, n) {
  const map = (/** @type {number} */ x) => (x > pos + n ? x - n : x > pos ? pos : x);
  d.lo = map(d.lo);
  d.hi = map(d.hi);
  d.lo = Math.min(d.lo, pos);
  d.hi = Math.max(d.hi, pos);
  d.delta -= n;
}

/**
 * dirtyTouch records that positions [pos, pos+n) changed in place (marks, attributes).
 * @param {Dirty} d
 * @param {number} pos
 * @param {number} n
 */
export function dirtyTouch(d, pos, n) {
  d.lo = Math.min(d.lo, pos);
  d.hi = Math.max(d.hi, pos + n);
}

/**
 * dirtyOf returns the Dirty of a change event of a Text root (docs/crdt.md section 4.5).
 * @param {import('../crdt/changes.js').Change} c
 */
export function dirtyOf(c) {
  const d = newDirty();
  for (const e of c.edits) {
    if (e.delete > 0) dirtyDelete(d, e.pos, e.delete);
    const n = cpLength(e.insert);
    if (n > 0) dirtyInsert(d, e.pos, n);
  }
  for (const f of c.formats) dirtyTouch(d, f.pos, f.len);
  for (const a of c.attrs) dirtyTouch(d, a.pos, 1);
  return d;
}

/**
 * updateBlocks returns the blocks of the text after a change, given those before it and what the
 * change touched: the blocks around the touched positions are recomputed from a slice of the text
 * (from the marker of the block before the first touched one), the others kept, shifted by delta
 * after it. It equals blocksOf(text.spans()) at the cost of the touched blocks alone. `from` and
 * `count` say which old blocks were replaced, `added` how many new ones took their place.
 * @param {Block[]} old
 * @param {{ length: number, slice: (pos: number, n: number) => Span[] }} text
 * @param {Dirty} d
 * @returns {{ blocks: Block[], from: number, count: number, added: number }}
 */
export function updateBlocks(old, text, d) {
  if (d.lo > d.hi) return { blocks: old, from: 0, count: 0, added: 0 };
  const lo = Math.max(0, d.lo);
  const i = Math.max(0, blockAt(old, lo) - 1);
  const j = blockAt(old, Math.max(lo, d.hi - d.delta));
  const start = old[i].marker ?? 0;
  const end = j === old.length - 1 ? text.length : old[j].end + d.delta;
  const fresh = blocksOf(text.slice(start, end - start)).map((b) => shift(b, start));
  if (end < text.length && fresh.length === 1 && fresh[0].marker === null && fresh[0].inline.length === 0) {
    // An empty slice before a marker: the text has markers, so no implicit paragraph here.
    fresh.length = 0;
  }
  if (start > 0 && (fresh.length === 0 || fresh[0].marker === null)) {
    // The slice did not start at a marker (it was deleted): recompute everything.
    const all = blocksOf(text.slice(0, text.length));
    return { blocks: all, from: 0, count: old.length, added: all.length };
  }
  const after = old.slice(j + 1).map((b) => shift(b, d.delta));
  return { blocks: [...old.slice(0, i), ...fresh, ...after], from: i, count: j + 1 - i, added: fresh.length };
}

/**
 * shift returns b with its positions moved by delta.
 * @param {Block} b
 * @param {number} delta
 * @returns {Block}
 */
function shift(b, delta) {
  if (delta === 0) return b;
  return { ...b, marker: b.marker === null ? null : b.marker + delta, start: b.start + delta, end: b.end + delta };
}

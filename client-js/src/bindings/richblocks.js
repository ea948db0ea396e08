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

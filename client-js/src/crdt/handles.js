// @ts-check
// Handles on the roots of a Doc: cheap views that name a root; the root itself
// exists once something has been written to it.

import { CrdtError } from './errors.js';
import { REL_BEFORE, REL_AFTER, REL_START, REL_END } from './relpos.js';
import { compareUtf8 } from './utf.js';

/** Text is a handle on the Text root of a document with a given name. Positions count code points. */
export class Text {
  /**
   * @param {import('./doc.js').Doc} doc
   * @param {string} name
   */
  constructor(doc, name) {
    this.doc = doc;
    this.name = name;
  }

  /**
   * insert inserts str at code point pos; it throws CrdtError 'range' for a
   * position outside [0, length] and 'text' for a string with a lone surrogate.
   * @param {number} pos
   * @param {string} str
   */
  insert(pos, str) {
    this.doc._insert(this.name, pos, str);
  }

  /**
   * insertAt inserts str at the place that a relative position names, deleted
   * items included: right before its item (Before), right after it (After), at
   * the very start or end. Unlike insert, which puts text right after the
   * visible item before an index (before any deleted ones), it can put text
   * anywhere among deleted items: an undo that puts deleted text back lands
   * exactly where the text was. It throws CrdtError 'unknown' for a position of another root or
   * an item the text does not have, and 'text' for a string with a lone surrogate.
   * @param {import('./relpos.js').RelPos} rp
   * @param {string} str
   */
  insertAt(rp, str) {
    this.doc._insertAt(this.name, rp, str);
  }

  /**
   * delete deletes n code points at pos; it throws CrdtError 'range' if they
   * are not all in the text.
   * @param {number} pos
   * @param {number} n
   */
  delete(pos, n) {
    this.doc._delete(this.name, pos, n);
  }

  /**
   * insertEmbed inserts an embed holding value at code point pos (docs/crdt.md
   * section 4.1): one position, read as U+FFFC in toString and in change
   * events. value is stored as JSON.stringify(value), the bytes Go's
   * InsertEmbed would be given. It throws CrdtError 'range' as insert does and
   * 'json' for a value without a JSON form or of more than MAX_VALUE_BYTES.
   * @param {number} pos
   * @param {unknown} value
   */
  insertEmbed(pos, value) {
    this.doc._insertEmbed(this.name, pos, jsonText(value));
  }

  /**
   * insertEmbedAt inserts an embed holding value at the place a relative
   * position names, deleted items included, as insertAt places text. It throws
   * as insertAt does, or CrdtError 'json'.
   * @param {import('./relpos.js').RelPos} rp
   * @param {unknown} value
   */
  insertEmbedAt(rp, value) {
    this.doc._insertEmbedAt(this.name, rp, jsonText(value));
  }

  /**
   * format sets the mark name to value over the n code points from pos, or
   * removes the mark there when value is null (docs/crdt.md section 4.2).
   * expand says at which ends the mark grows when text is typed there later:
   * 'after' for bold, italic and the like, 'none' for links and comments; a
   * removal is written with the expand of the mark it removes. The numbers of
   * Go's Expand (0 none, 1 before, 2 after, 3 both) are accepted too. value is
   * stored as JSON.stringify(value). n = 0 does nothing. It throws CrdtError
   * 'range', 'name' (name not 1 to MAX_KEY_BYTES of UTF-8), 'json' or 'clock'.
   * @param {number} pos
   * @param {number} n
   * @param {string} name
   * @param {unknown} value
   * @param {Expand} expand
   */
  format(pos, n, name, value, expand) {
    this.doc._format(this.name, pos, n, name, value === null ? null : jsonText(value), expandBits(expand));
  }

  /**
   * setAttr assigns value to key of the embed at code point pos, last writer
   * wins (docs/crdt.md section 4.3); null unsets by convention. value is
   * stored as JSON.stringify(value). It throws CrdtError 'range', 'embed' (pos
   * holds no embed), 'name', 'json' or 'clock'.
   * @param {number} pos
   * @param {string} key
   * @param {unknown} value
   */
  setAttr(pos, key, value) {
    this.doc._setAttr(this.name, pos, key, jsonText(value));
  }

  /**
   * spans returns the visible content in document order (docs/crdt.md section
   * 4.5): maximal runs of code points with the same marks, and each embed with
   * its winning attributes. Values are JSON.parse of the bytes as written.
   * @returns {Span[]}
   */
  spans() {
    return this.doc._spans(this.name, 0, this.length).map(parseSpan);
  }

  /**
   * slice returns the spans of the n code points from pos; it throws CrdtError
   * 'range' unless they are all in the text.
   * @param {number} pos
   * @param {number} n
   * @returns {Span[]}
   */
  slice(pos, n) {
    const len = this.length;
    if (!Number.isInteger(pos) || !Number.isInteger(n) || pos < 0 || n < 0 || pos + n > len) {
      throw new CrdtError('range', `slice ${pos}+${n} in a text of ${len}`);
    }
    return this.doc._spans(this.name, pos, pos + n).map(parseSpan);
  }

  /** @returns {string} the text */
  toString() {
    const r = this.doc._texts.get(this.name);
    return r === undefined ? '' : r.toString();
  }

  /** @returns {number} the length in code points */
  get length() {
    const r = this.doc._texts.get(this.name);
    return r === undefined ? 0 : r.length;
  }

  /**
   * relPos returns a relative position for index pos: with assoc >= 0 it sticks
   * to the item at pos (Before), with assoc < 0 to the item at pos-1 (After).
   * @param {number} pos
   * @param {number} [assoc]
   * @returns {import('./relpos.js').RelPos}
   */
  relPos(pos, assoc = 0) {
    const r = this.doc._texts.get(this.name);
    const len = r === undefined ? 0 : r.length;
    if (!Number.isInteger(pos) || pos < 0 || pos > len) throw new CrdtError('range', `position ${pos} out of range [0, ${len}]`);
    if (assoc >= 0) {
      if (r === undefined || pos === len) return { root: this.name, kind: REL_END, client: 0, clock: 0 };
      const p = r.seq.findVis(pos);
      return { root: this.name, kind: REL_BEFORE, client: p.client, clock: p.clock + r.seq.off };
    }
    if (r === undefined || pos === 0) return { root: this.name, kind: REL_START, client: 0, clock: 0 };
    const p = r.seq.findVis(pos - 1);
    return { root: this.name, kind: REL_AFTER, client: p.client, clock: p.clock + r.seq.off };
  }
}

/**
 * Expand says at which ends a mark grows (docs/crdt.md section 4.2): a name,
 * or Go's Expand number (0 none, 1 before, 2 after, 3 both).
 * @typedef {'none'|'before'|'after'|'both'|0|1|2|3} Expand
 */

/**
 * Span is a piece of a Text's visible content: code points with the same
 * marks, or one embed with its winning attributes. marks and attrs map names
 * to values (JSON.parse of the bytes as written), keys in the order of their
 * UTF-8 bytes; they are empty objects when there are none.
 * @typedef {{insert: string, marks: Record<string, unknown>} | {embed: unknown, attrs: Record<string, unknown>, marks: Record<string, unknown>}} Span
 */

/**
 * RawSpan is a Span whose values are the JSON texts as written.
 * @typedef {{insert: string, marks: Map<string, string>} | {embed: string, attrs: Map<string, string>, marks: Map<string, string>}} RawSpan
 */

/** EXPAND maps the names of Expand to Go's numbers. */
export const EXPAND = Object.freeze({ none: 0, before: 1, after: 2, both: 3 });

/**
 * expandBits returns the number of an Expand; it throws a TypeError for
 * anything else.
 * @param {Expand} e
 * @returns {number}
 */
export function expandBits(e) {
  if (typeof e === 'string' && Object.hasOwn(EXPAND, e)) return EXPAND[e];
  if (e === 0 || e === 1 || e === 2 || e === 3) return e;
  throw new TypeError(`crdt: expand ${String(e)} is not none, before, after or both`);
}

/**
 * jsonText returns JSON.stringify(value); it throws CrdtError 'json' for a value without a JSON form.
 * @param {unknown} value
 * @returns {string}
 */
function jsonText(value) {
  const s = JSON.stringify(value);
  if (s === undefined) throw new CrdtError('json', 'value has no JSON form');
  return s;
}

/**
 * parseMap returns the object of the parsed values of m, keys in the order of their UTF-8 bytes.
 * @param {Map<string, string>} m
 * @returns {Record<string, unknown>}
 */
function parseMap(m) {
  /** @type {Record<string, unknown>} */
  const o = {};
  const keys = [...m.keys()];
  if (keys.length > 1) keys.sort(compareUtf8);
  for (const k of keys) o[k] = JSON.parse(/** @type {string} */ (m.get(k)));
  return o;
}

/**
 * @param {RawSpan} s
 * @returns {Span}
 */
function parseSpan(s) {
  if ('insert' in s) return { insert: s.insert, marks: parseMap(s.marks) };
  return { embed: JSON.parse(s.embed), attrs: parseMap(s.attrs), marks: parseMap(s.marks) };
}

/** MapRoot is a handle on the Map root of a document with a given name. */
export class MapRoot {
  /**
   * @param {import('./doc.js').Doc} doc
   * @param {string} name
   */
  constructor(doc, name) {
    this.doc = doc;
    this.name = name;
  }

  /**
   * set assigns a JSON text to key, kept exactly as given; it throws CrdtError
   * 'json' if json is not one valid JSON value of at most 1 MiB.
   * @param {string} key
   * @param {string} json
   */
  set(key, json) {
    this.doc._assign(this.name, key, json);
  }

  /**
   * setValue assigns JSON.stringify(value) to key.
   * @param {string} key
   * @param {unknown} value
   */
  setValue(key, value) {
    const json = JSON.stringify(value);
    if (json === undefined) throw new CrdtError('json', 'value has no JSON form');
    this.doc._assign(this.name, key, json);
  }

  /**
   * delete removes key (a tombstone assignment).
   * @param {string} key
   */
  delete(key) {
    this.doc._assign(this.name, key, null);
  }

  /**
   * get returns the JSON text of key, or undefined if it has none.
   * @param {string} key
   * @returns {string | undefined}
   */
  get(key) {
    const w = this.doc._maps.get(this.name)?.winners.get(key);
    return w === undefined || w.value === null ? undefined : w.value;
  }

  /**
   * getValue returns JSON.parse of the value of key, or undefined.
   * @param {string} key
   * @returns {unknown}
   */
  getValue(key) {
    const s = this.get(key);
    return s === undefined ? undefined : JSON.parse(s);
  }

  /** @returns {string[]} the keys that have a value, sorted as their UTF-8 bytes */
  keys() {
    const r = this.doc._maps.get(this.name);
    if (r === undefined) return [];
    /** @type {string[]} */
    const out = [];
    for (const [k, w] of r.winners) if (w.value !== null) out.push(k);
    return out.sort(compareUtf8);
  }
}

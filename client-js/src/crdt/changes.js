// @ts-check
// What one Doc.apply changed, per root, in index terms (docs/crdt.md section 1.8).

import { compareUtf8 } from './utf.js';

/**
 * TextEdit deletes `delete` code points at `pos`, then inserts `insert` there.
 * @typedef {{pos: number, delete: number, insert: string}} TextEdit
 */

/**
 * FormatEdit says that the mark `name` now has `value` (JSON.parse of the
 * bytes as written; null where the text no longer has the mark) over the
 * `len` code points from `pos`, in terms of the text after all of the
 * change's edits (docs/crdt.md section 4.5).
 * @typedef {{pos: number, len: number, name: string, value: unknown}} FormatEdit
 */

/**
 * AttrEdit says that the embed at `pos` (after the change's edits) now has
 * `value` (JSON.parse of the bytes as written) for `key`.
 * @typedef {{pos: number, key: string, value: unknown}} AttrEdit
 */

/**
 * Change is what one apply changed in one root: for a Text, edits that turn the
 * old text into the new one when applied in order, then the formats and
 * attributes to apply in order after them (rich text, docs/crdt.md section
 * 4.5; empty for plain text); for a Map, the changed keys. Inserted embeds
 * appear in edits as U+FFFC and inserted text carries no marks there: a binding
 * reads the inserted ranges with Text.slice.
 * @typedef {{root: string, kind: 'text'|'map', edits: TextEdit[], formats: FormatEdit[], attrs: AttrEdit[], keys: string[]}} Change
 */

/** ChangeLog collects the changes of one apply, in the order roots first changed. */
export class ChangeLog {
  constructor() {
    /** @type {Map<object, {change: Change, keys: Set<string> | null, last: TextEdit | null, lastLen: number}>} */
    this.roots = new Map();
    /** @type {(import('./rich.js').MarkEntry | import('./rich.js').AttrEntry)[]} the marks and winning attributes integrated, in order */
    this.rich = [];
  }

  /**
   * format records that the mark name has value (JSON text, null: none) over
   * [pos, pos+len) of the final text.
   * @param {{name: string}} root
   * @param {number} pos
   * @param {number} len
   * @param {string} name
   * @param {string | null} value
   */
  format(root, pos, len, name, value) {
    const e = this.entry(root, root.name, 'text');
    e.change.formats.push({ pos, len, name, value: value === null ? null : JSON.parse(value) });
  }

  /**
   * attr records that the embed at pos of the final text has value (JSON text) for key.
   * @param {{name: string}} root
   * @param {number} pos
   * @param {string} key
   * @param {string} value
   */
  attr(root, pos, key, value) {
    const e = this.entry(root, root.name, 'text');
    e.change.attrs.push({ pos, key, value: JSON.parse(value) });
  }

  /**
   * @param {object} root
   * @param {string} name
   * @param {'text'|'map'} kind
   */
  entry(root, name, kind) {
    let e = this.roots.get(root);
    if (e === undefined) {
      e = { change: { root: name, kind, edits: [], formats: [], attrs: [], keys: [] }, keys: kind === 'map' ? new Set() : null, last: null, lastLen: 0 };
      this.roots.set(root, e);
    }
    return e;
  }

  /**
   * insert records an insertion of str (n code points) at visible pos.
   * @param {{name: string}} root
   * @param {number} pos
   * @param {string} str
   * @param {number} n
   */
  insert(root, pos, str, n) {
    const e = this.entry(root, root.name, 'text');
    const last = e.last;
    if (last !== null && pos === last.pos + e.lastLen) {
      last.insert += str;
      e.lastLen += n;
      return;
    }
    e.last = { pos, delete: 0, insert: str };
    e.lastLen = n;
    e.change.edits.push(e.last);
  }

  /**
   * delete records a deletion of n code points at visible pos.
   * @param {{name: string}} root
   * @param {number} pos
   * @param {number} n
   */
  delete(root, pos, n) {
    const e = this.entry(root, root.name, 'text');
    const last = e.last;
    if (last !== null && last.insert === '' && pos === last.pos) {
      last.delete += n;
      return;
    }
    e.last = { pos, delete: n, insert: '' };
    e.lastLen = 0;
    e.change.edits.push(e.last);
  }

  /**
   * key records that the value of key changed.
   * @param {{name: string}} root
   * @param {string} key
   */
  key(root, key) {
    const e = this.entry(root, root.name, 'map');
    /** @type {Set<string>} */ (e.keys).add(key);
  }

  /** @returns {Change[]} */
  result() {
    /** @type {Change[]} */
    const out = [];
    for (const e of this.roots.values()) {
      if (e.keys !== null) e.change.keys = [...e.keys].sort(compareUtf8);
      out.push(e.change);
    }
    return out;
  }
}

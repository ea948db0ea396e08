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

// @ts-check
import { Emitter } from './emitter.js';

/**
 * Undo and redo of the local user's own rich-text edits (text, embeds, marks, attributes) in one
 * Text root, never another editor's.
 *
 * Every change goes through the manager's editing methods, which apply it to the CRDT and record
 * its inverse by relative positions (docs/crdt.md section 1.7), not by indices: an insertion
 * remembers the items it created (Before its first, After its last), a deletion the spans it
 * removed (text with marks, embeds with attributes) and the item before them, a format the previous
 * value of the mark over each run it changed, an attribute its previous value. Undoing resolves the
 * positions where the items are now, so it does the right thing after concurrent remote edits:
 * what others typed meanwhile stays (except what they typed inside a range this user inserted,
 * which undo removes with it). Undoing a step records the inverse of the inverse, which is redo.
 *
 * Changes within `captureTimeoutMs` (500 ms) of each other form one step, as do the changes between
 * begin() and end(); each step restores the selection it had before (undo) or after (redo), in code
 * points, as relative positions.
 *
 * Re-inserted content gets new item IDs; the manager remembers which deleted items became which
 * new ones, so that an older step that inserted them still finds them (deletions of more than
 * `maxTrackedDeletion` positions, 10,000, are put back without that link).
 */

/** @typedef {import('./crdt/relpos.js').RelPos} RelPos */
/** @typedef {import('./crdt/handles.js').Text} Text */
/** @typedef {import('./crdt/handles.js').Span} Span */
/** @typedef {{ anchor: number, head: number }} Selection */
/** @typedef {'none' | 'before' | 'after' | 'both'} Expand */

/**
 * @typedef {{ kind: 'ins', start: RelPos, end: RelPos }
 *   | { kind: 'del', at: RelPos, spans: Span[], ids: RelPos[] | null }
 *   | { kind: 'fmt', name: string, expand: Expand, runs: { start: RelPos, end: RelPos, old: unknown }[] }
 *   | { kind: 'attr', at: RelPos, key: string, old: unknown }} Inverse
 */

/**
 * @typedef {object} Step
 * @property {Inverse[]} ops           in the order they were recorded
 * @property {RelPos[] | null} selBefore
 * @property {RelPos[] | null} selAfter
 * @property {number} at               when the last op was recorded (ms)
 */

/**
 * Changed is what an undo or redo did to the text, in the terms of a change event (docs/crdt.md
 * 1.8 and 4.5): edits in order, each on the text the previous left (inserted units appear as
 * U+FFFC), then the ranges whose marks or attributes changed, on the final text; so that an editor
 * can show it in part.
 * @typedef {{ edits: { pos: number, delete: number, insert: string }[], ranges: { pos: number, len: number, after?: number }[] }} Changed
 */

/**
 * @extends {Emitter<{ 'stack-change': { canUndo: boolean, canRedo: boolean } }>}
 */
export class RichUndoManager extends Emitter {
  /** @type {Step[]} */
  #undo = [];
  /** @type {Step[]} */
  #redo = [];
  #doc;
  #text;
  #transact;
  #captureMs;
  #now;
  #maxSteps;
  #capturing = true;
  /** @type {Step | null} the step being recorded into */
  #cur = null;
  /** @type {Changed | null} what an undo or redo changed, while it runs */
  #log = null;
  /** @type {Map<string, RelPos>} deleted item (client:clock) to the item that re-inserted it */
  #redirects = new Map();
  #maxTracked;

  /**
   * @param {{ text: (name: string) => Text, resolve: (rp: RelPos) => number }} doc
   * @param {object} [opts]
   * @param {string} [opts.root]                 the Text root (default 'body')
   * @param {number} [opts.captureTimeoutMs]     merge changes closer than this (default 500)
   * @param {() => number} [opts.now]
   * @param {(fn: () => void) => void} [opts.transact]  wraps every change (the provider's transact)
   * @param {number} [opts.maxSteps]             steps kept on the undo stack (default 500)
   * @param {number} [opts.maxTrackedDeletion]   see the module comment (default 10,000)
   */
  constructor(doc, opts = {}) {
    super();
    this.#doc = doc;
    this.#text = doc.text(opts.root ?? 'body');
    this.#transact = opts.transact ?? ((fn) => fn());
    this.#captureMs = opts.captureTimeoutMs ?? 500;
    this.#now = opts.now ?? (() => Date.now());
    this.#maxSteps = opts.maxSteps ?? 500;
    this.#maxTracked = opts.maxTrackedDeletion ?? 10_000;
  }

  get canUndo() {
    return this.#undo.length > 0;
  }

  get canRedo() {
    return this.#redo.length > 0;
  }

  /** stopCapturing makes the next change start a new step. */
  stopCapturing() {
    this.#capturing = false;
  }

  /** clear empties both stacks. */
  clear() {
    this.#undo = [];
    this.#redo = [];
    this.#changed();
  }

  /**
   * change runs fn, whose edits (made through this manager's methods) join the current step or
   * start a new one; selBefore and selAfter are the editor's selections around it, in code points.
   * @param {Selection | null} selBefore
   * @param {() => void} fn
   * @param {() => Selection | null} selAfter  asked once fn has run
   */
  change(selBefore, fn, selAfter) {
    const now = this.#now();
    const last = this.#undo[this.#undo.length - 1];
    const join = this.#capturing && last !== undefined && now - last.at < this.#captureMs;
    const step = join ? last : { ops: [], selBefore: this.#rel(selBefore), selAfter: null, at: now };
    this.#cur = step;
    try {
      this.#transact(fn);
    } finally {
      this.#cur = null;
    }
    this.#capturing = true;
    if (step.ops.length === 0) return;
    step.at = now;
    step.selAfter = this.#rel(selAfter());
    if (!join) {
      this.#undo.push(step);
      if (this.#undo.length > this.#maxSteps) this.#undo.shift();
    }
    this.#redo = [];
    this.#changed();
  }

  /**
   * insert inserts text at pos.
   * @param {number} pos
   * @param {string} s
   */
  insert(pos, s) {
    if (s === '') return;
    this.#text.insert(pos, s);
    this.#logInsert(pos, [...s].length);
    this.#recordInsert(pos, [...s].length);
  }

  /**
   * insertEmbed inserts an embed at pos.
   * @param {number} pos
   * @param {unknown} value
   */
  insertEmbed(pos, value) {
    this.#text.insertEmbed(pos, value);
    this.#logInsert(pos, 1);
    this.#recordInsert(pos, 1);
  }

  /**
   * delete deletes the n positions at pos.
   * @param {number} pos
   * @param {number} n
   */
  delete(pos, n) {
    if (n <= 0) return;
    const spans = this.#text.slice(pos, n);
    const at = this.#text.relPos(pos, -1);
    /** @type {RelPos[] | null} */
    let ids = null;
    if (n <= this.#maxTracked) {
      ids = [];
      for (let i = 0; i < n; i++) ids.push(this.#text.relPos(pos + i, 1));
    }
    this.#text.delete(pos, n);
    this.#log?.edits.push({ pos, delete: n, insert: '' });
    this.#record({ kind: 'del', at, spans, ids });
  }

  /**
   * format sets (or with value null removes) the mark name over the n positions at pos.
   * @param {number} pos
   * @param {number} n
   * @param {string} name
   * @param {unknown} value
   * @param {Expand} expand
   */
  format(pos, n, name, value, expand) {
    if (n <= 0) return;
    /** @type {{ start: RelPos, end: RelPos, old: unknown }[]} */
    const runs = [];
    let p = pos;
    for (const s of this.#text.slice(pos, n)) {
      const len = 'insert' in s ? [...s.insert].length : 1;
      const old = Object.hasOwn(s.marks, name) ? s.marks[name] : null;
      const last = runs[runs.length - 1];
      if (last && JSON.stringify(last.old) === JSON.stringify(old)) last.end = this.#text.relPos(p + len, -1);
      else runs.push({ start: this.#text.relPos(p, 1), end: this.#text.relPos(p + len, -1), old });
      p += len;
    }
    this.#text.format(pos, n, name, value, expand);
    this.#logRange(pos, n);
    this.#record({ kind: 'fmt', name, expand, runs });
  }

  /**
   * setAttr assigns value to key of the embed at pos.
   * @param {number} pos
   * @param {string} key
   * @param {unknown} value
   */
  setAttr(pos, key, value) {
    const [s] = this.#text.slice(pos, 1);
    let old = null;
    if (s && 'embed' in s) {
      if (Object.hasOwn(s.attrs, key)) old = s.attrs[key];
      else if (s.embed !== null && typeof s.embed === 'object' && Object.hasOwn(s.embed, key)) old = /** @type {Record<string, unknown>} */ (s.embed)[key];
    }
    this.#text.setAttr(pos, key, value);
    this.#logRange(pos, 1);
    this.#record({ kind: 'attr', at: this.#text.relPos(pos, 1), key, old });
  }

  /**
   * undo reverts the last step; it returns the selection to restore (code points; null when the
   * step had none) and what it changed, or null when there was nothing to undo.
   * @returns {{ selection: Selection | null, changed: Changed } | null}
   */
  undo() {
    return this.#pop(this.#undo, this.#redo);
  }

  /**
   * redo reapplies the last undone step.
   * @returns {{ selection: Selection | null, changed: Changed } | null}
   */
  redo() {
    return this.#pop(this.#redo, this.#undo);
  }

  /**
   * @param {Step[]} from
   * @param {Step[]} to
   */
  #pop(from, to) {
    const step = from.pop();
    if (!step) return null;
    /** @type {Step} */
    const inverse = { ops: [], selBefore: step.selAfter, selAfter: step.selBefore, at: 0 };
    this.#cur = inverse;
    /** @type {Changed} */
    const changed = { edits: [], ranges: [] };
    this.#log = changed;
    try {
      this.#transact(() => {
        for (let i = step.ops.length - 1; i >= 0; i--) this.#revert(step.ops[i]);
      });
    } finally {
      this.#cur = null;
      this.#log = null;
    }
    to.push(inverse);
    this.#capturing = false;
    this.#changed();
    // An undo step's selBefore goes with the state it returns to; so does a redo step's (the
    // inverse of an undo, whose selBefore is the selection after the change undone).
    const anchors = step.selBefore;
    // Ranges were logged in the terms of the text at their time: map them over the later edits.
    for (const r of changed.ranges) {
      for (let i = /** @type {number} */ (r.after); i < changed.edits.length; i++) {
        const e = changed.edits[i];
        const ins = [...e.insert].length;
        const map = (/** @type {number} */ x) => (x < e.pos ? x : x >= e.pos + e.delete ? x + ins - e.delete : e.pos);
        const end = map(r.pos + r.len);
        r.pos = map(r.pos);
        r.len = Math.max(0, end - r.pos);
      }
      delete r.after;
    }
    return { selection: this.#resolveSel(anchors), changed };
  }

  /**
   * @param {number} pos
   * @param {number} n
   */
  #logRange(pos, n) {
    this.#log?.ranges.push({ pos, len: n, after: this.#log.edits.length });
  }

  /**
   * @param {number} pos
   * @param {number} n
   */
  #logInsert(pos, n) {
    this.#log?.edits.push({ pos, delete: 0, insert: '\ufffc'.repeat(n) });
  }

  /** @param {Inverse} op */
  #revert(op) {
    const r = (/** @type {RelPos} */ rp) => this.#doc.resolve(this.#follow(rp));
    switch (op.kind) {
      case 'ins': {
        const s = r(op.start);
        const e = r(op.end);
        if (e > s) this.delete(s, e - s);
        return;
      }
      case 'del': {
        let p = r(op.at);
        const start = p;
        for (const s of op.spans) {
          if ('insert' in s) {
            this.#text.insert(p, s.insert);
            this.#logInsert(p, [...s.insert].length);
            p += [...s.insert].length;
          } else {
            this.#text.insertEmbed(p, effective(s.embed, s.attrs));
            this.#logInsert(p, 1);
            p += 1;
          }
        }
        if (p > start) this.#recordInsert(start, p - start);
        if (op.ids && op.ids.length === p - start) {
          for (let i = 0; i < op.ids.length; i++) this.#redirects.set(idKey(op.ids[i]), this.#text.relPos(start + i, 1));
        }
        // The marks come back as they were: whatever the neighbours' marks gave the new items is
        // set right, name by name.
        let q = start;
        for (const s of op.spans) {
          const len = 'insert' in s ? [...s.insert].length : 1;
          const now = this.#text.slice(q, len);
          const names = new Set([...Object.keys(s.marks)]);
          for (const n of now) for (const k of Object.keys(n.marks)) names.add(k);
          for (const name of names) {
            const want = Object.hasOwn(s.marks, name) ? s.marks[name] : null;
            const same = now.every((n) => JSON.stringify(Object.hasOwn(n.marks, name) ? n.marks[name] : null) === JSON.stringify(want));
            if (!same) {
              this.#text.format(q, len, name, want, 'none');
              this.#logRange(q, len);
            }
          }
          q += len;
        }
        return;
      }
      case 'fmt':
        for (const run of op.runs) {
          const s = r(run.start);
          const e = r(run.end);
          if (e > s) this.format(s, e - s, op.name, run.old, op.expand);
        }
        return;
      case 'attr': {
        const p = r(op.at);
        const [s] = p < this.#text.length ? this.#text.slice(p, 1) : [];
        if (s && 'embed' in s) this.setAttr(p, op.key, op.old);
        return;
      }
    }
  }

  /**
   * follow returns rp with its item replaced by the item that re-inserted it, if one did.
   * @param {RelPos} rp
   * @returns {RelPos}
   */
  #follow(rp) {
    let cur = rp;
    for (let i = 0; i < 1000; i++) {
      const to = this.#redirects.get(idKey(cur));
      if (!to) break;
      cur = { ...cur, client: to.client, clock: to.clock };
    }
    return cur;
  }

  /**
   * @param {number} pos
   * @param {number} n
   */
  #recordInsert(pos, n) {
    this.#record({ kind: 'ins', start: this.#text.relPos(pos, 1), end: this.#text.relPos(pos + n, -1) });
  }

  /** @param {Inverse} op */
  #record(op) {
    if (this.#cur) this.#cur.ops.push(op);
  }

  /**
   * @param {Selection | null} s
   * @returns {RelPos[] | null}
   */
  #rel(s) {
    if (!s) return null;
    try {
      return [this.#text.relPos(s.anchor, s.anchor <= s.head ? 1 : -1), this.#text.relPos(s.head, s.head < s.anchor ? 1 : -1)];
    } catch {
      return null;
    }
  }

  /**
   * @param {RelPos[] | null} anchors
   * @returns {Selection | null}
   */
  #resolveSel(anchors) {
    if (!anchors) return null;
    try {
      return { anchor: this.#doc.resolve(this.#follow(anchors[0])), head: this.#doc.resolve(this.#follow(anchors[1])) };
    } catch {
      return null;
    }
  }

  #changed() {
    this.emit('stack-change', { canUndo: this.canUndo, canRedo: this.canRedo });
  }
}

/**
 * idKey names the item of a relative position.
 * @param {RelPos} rp
 */
function idKey(rp) {
  return `${rp.client}:${rp.clock}`;
}

/**
 * effective returns an embed's value with its attributes applied (null unsets a key).
 * @param {unknown} embed
 * @param {Record<string, unknown>} attrs
 * @returns {unknown}
 */
function effective(embed, attrs) {
  if (embed === null || typeof embed !== 'object' || Array.isArray(embed)) return embed;
  /** @type {Record<string, unknown>} */
  const v = { .../** @type {Record<string, unknown>} */ (embed) };
  for (const [k, x] of Object.entries(attrs)) {
    if (x === null) delete v[k];
    else v[k] = x;
  }
  return v;
}

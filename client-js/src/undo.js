// @ts-check
import { Emitter } from './emitter.js';
import { REL_BEFORE as BEFORE, REL_AFTER as AFTER } from './crdt/index.js';
import { cpLength } from './utf16.js';

/**
 * Undo and redo of the local user's own edits, never another editor's.
 *
 * Every local edit that goes through the manager is recorded by the IDs of the characters it
 * touched, not by indices: an insertion remembers the IDs of the inserted characters, a deletion
 * the deleted text and the IDs of the deleted characters. Undoing looks the characters up where
 * they are now, so it does the right thing after any number of concurrent remote edits: it
 * deletes only the characters this user inserted that are still visible, and puts deleted text
 * back where it was, between whatever now surrounds it.
 *
 * Re-inserted text gets new IDs; the manager remembers which old IDs became which new ones, so that
 * an older entry that inserted those characters can still remove them.
 *
 * Edits that follow each other within `captureTimeoutMs` (500 ms) form one undo step, as do the
 * edits of one call to `group()`. Each step restores the selection it had before (undo) or after
 * (redo). Positions given to and returned by the manager are code points.
 *
 * Deletions of more than `maxTrackedDeletion` code points (200,000) are recorded with the ID of their
 * first character only: undo puts their text back in the right place, but characters re-inserted
 * this way are not linked to older insertion entries.
 */

/** @typedef {{ client: number, clock: number }} ID */
/** @typedef {import('./crdt/relpos.js').RelPos} RelPos */
/** @typedef {{ client: number, clock: number, len: number }} IdRange */
/** @typedef {{ pos: number, delete: number, insert: string }} Edit */
/** @typedef {{ anchor: number, head: number }} Selection */

/**
 * @typedef {{ kind: 'insert', ranges: IdRange[] }
 *   | { kind: 'delete', text: string, at: ID, ranges: IdRange[] | null }} Op
 */

/**
 * @typedef {object} StackItem
 * @property {Op[]} ops           in the order they were applied
 * @property {RelPos[] | null} selBefore  anchor and head as relative positions
 * @property {RelPos[] | null} selAfter
 * @property {number} at          when the last op was recorded (ms)
 */

/**
 * @typedef {object} TextLike
 * @property {(pos: number, s: string) => void} insert
 * @property {(rp: RelPos, s: string) => void} insertAt
 * @property {(pos: number, n: number) => void} delete
 * @property {() => string} toString
 * @property {number} length
 * @property {(pos: number, assoc?: number) => RelPos} relPos
 */

/**
 * @typedef {object} DocLike
 * @property {(name: string) => TextLike} text
 * @property {(rp: RelPos) => number} resolve
 */

/** @typedef {{ edits: Edit[], selection: Selection | null }} UndoResult */

/**
 * @extends {Emitter<{ 'stack-change': { canUndo: boolean, canRedo: boolean } }>}
 */
export class UndoManager extends Emitter {
  /** @type {StackItem[]} */
  #undo = [];
  /** @type {StackItem[]} */
  #redo = [];
  /** @type {{ client: number, clock: number, len: number, to: ID }[]} */
  #redirects = [];
  #doc;
  #root;
  #text;
  #captureMs;
  #now;
  #transact;
  #maxTracked;
  #maxSteps;
  #capturing = true;
  #groupDepth = 0;
  /** @type {StackItem | null} the step the current group's edits join */
  #groupItem = null;
  #undoing = false;

  /**
   * @param {DocLike} doc
   * @param {object} [opts]
   * @param {string} [opts.root]                 the Text root (default 'body')
   * @param {number} [opts.captureTimeoutMs]     merge edits closer than this (default 500)
   * @param {() => number} [opts.now]
   * @param {(fn: () => void) => void} [opts.transact]  wraps every change (the provider's transact)
   * @param {number} [opts.maxTrackedDeletion]   see the module comment (default 200,000)
   * @param {number} [opts.maxSteps]             steps kept on the undo stack (default 500)
   */
  constructor(doc, opts = {}) {
    super();
    this.#doc = doc;
    this.#root = opts.root ?? 'body';
    this.#text = doc.text(this.#root);
    this.#captureMs = opts.captureTimeoutMs ?? 500;
    this.#now = opts.now ?? (() => Date.now());
    this.#transact = opts.transact ?? ((fn) => fn());
    this.#maxTracked = opts.maxTrackedDeletion ?? 200_000;
    this.#maxSteps = opts.maxSteps ?? 500;
  }

  get canUndo() {
    return this.#undo.length > 0;
  }

  get canRedo() {
    return this.#redo.length > 0;
  }

  /** stopCapturing makes the next edit start a new undo step. */
  stopCapturing() {
    this.#capturing = false;
  }

  /**
   * group runs fn, and every edit it makes through the manager becomes one undo step.
   * @param {() => void} fn
   */
  group(fn) {
    if (this.#groupDepth === 0) this.stopCapturing();
    this.#together(fn);
    if (this.#groupDepth === 0) this.stopCapturing();
  }

  /**
   * #together runs fn so that every edit it makes joins the step its first edit joined or started.
   * @param {() => void} fn
   */
  #together(fn) {
    this.#groupDepth++;
    try {
      fn();
    } finally {
      this.#groupDepth--;
      if (this.#groupDepth === 0) this.#groupItem = null;
    }
  }

  /** clear empties both stacks. */
  clear() {
    this.#undo = [];
    this.#redo = [];
    this.#redirects = [];
    this.#changed();
  }

  /**
   * insert inserts s at pos (code points) as a local edit and records it.
   * @param {number} pos
   * @param {string} s
   * @param {{ before?: Selection, after?: Selection }} [sel]
   */
  insert(pos, s, sel) {
    if (s.length === 0) return;
    const item = this.#begin(sel?.before);
    this.#transact(() => {
      this.#text.insert(pos, s);
      const first = this.#idAt(pos);
      if (first) this.#pushOp(item, { kind: 'insert', ranges: [{ ...first, len: cpLength(s) }] });
    });
    this.#end(item, sel?.after ?? { anchor: pos + cpLength(s), head: pos + cpLength(s) });
  }

  /**
   * delete removes n code points at pos as a local edit and records it. deleted (optional) is the
   * text being removed, when the caller has it at hand (it saves reading the document).
   * @param {number} pos
   * @param {number} n
   * @param {{ before?: Selection, after?: Selection }} [sel]
   * @param {string} [deleted]
   */
  delete(pos, n, sel, deleted) {
    if (n <= 0) return;
    const item = this.#begin(sel?.before);
    this.#transact(() => {
      const op = this.#captureDeletion(pos, n, deleted);
      this.#text.delete(pos, n);
      if (op) this.#pushOp(item, op);
    });
    this.#end(item, sel?.after ?? { anchor: pos, head: pos });
  }

  /**
   * replace deletes n code points at pos and inserts s there, as one step.
   * @param {number} pos
   * @param {number} n
   * @param {string} s
   * @param {{ before?: Selection, after?: Selection }} [sel]
   * @param {string} [deleted]
   */
  replace(pos, n, s, sel, deleted) {
    const after = sel?.after ?? { anchor: pos + cpLength(s), head: pos + cpLength(s) };
    this.#together(() => {
      if (n > 0) this.delete(pos, n, { before: sel?.before, after: s.length > 0 ? { anchor: pos, head: pos } : after }, deleted);
      if (s.length > 0) this.insert(pos, s, { before: sel?.before, after });
    });
  }

  /**
   * undo reverts the latest step of the local user. It returns the edits it made (in order, each
   * relative to the text left by the previous one) and the selection to restore, or null when
   * there is nothing to undo.
   * @returns {UndoResult | null}
   */
  undo() {
    return this.#pop(this.#undo, this.#redo, 'before');
  }

  /**
   * redo re-applies the latest undone step. Same result as undo.
   * @returns {UndoResult | null}
   */
  redo() {
    return this.#pop(this.#redo, this.#undo, 'after');
  }

  // --- recording ---

  /**
   * #begin returns the stack item the next op goes into, starting one if needed.
   * @param {Selection | undefined} before
   * @returns {StackItem}
   */
  #begin(before) {
    const now = this.#now();
    const last = this.#undo.at(-1);
    if (!this.#undoing) this.#redo = [];
    // Inside group() or replace(), every edit after the first joins the first one's step.
    if (this.#groupDepth > 0 && this.#groupItem && last === this.#groupItem) return last;
    const merge = last !== undefined && this.#capturing && now - last.at < this.#captureMs;
    this.#capturing = true;
    if (merge && last) {
      if (this.#groupDepth > 0) this.#groupItem = last;
      return last;
    }
    /** @type {StackItem} */
    const item = { ops: [], selBefore: before ? this.#selAnchors(before) : null, selAfter: null, at: now };
    if (this.#groupDepth > 0) this.#groupItem = item;
    this.#undo.push(item);
    if (this.#undo.length > this.#maxSteps) this.#undo.shift();
    return item;
  }

  /**
   * @param {StackItem} item
   * @param {Selection} after
   */
  #end(item, after) {
    item.at = this.#now();
    item.selAfter = this.#selAnchors(after);
    if (item.ops.length === 0) {
      const i = this.#undo.indexOf(item);
      if (i >= 0) this.#undo.splice(i, 1);
    }
    this.#changed();
  }

  /**
   * #pushOp appends op to item, extending the previous op when it continues it (typing).
   * @param {StackItem} item
   * @param {Op} op
   */
  #pushOp(item, op) {
    const prev = item.ops.at(-1);
    if (prev && prev.kind === 'insert' && op.kind === 'insert') {
      const a = prev.ranges.at(-1);
      const b = op.ranges[0];
      if (a && a.client === b.client && a.clock + a.len === b.clock) {
        a.len += b.len;
        return;
      }
      prev.ranges.push(...op.ranges);
      return;
    }
    item.ops.push(op);
  }

  /**
   * #captureDeletion records what deleting n code points at pos will remove.
   * @param {number} pos
   * @param {number} n
   * @param {string | undefined} deleted
   * @returns {Op | null}
   */
  #captureDeletion(pos, n, deleted) {
    const at = this.#idAt(pos);
    if (!at) return null;
    const text = deleted ?? [...this.#text.toString()].slice(pos, pos + n).join('');
    /** @type {IdRange[] | null} */
    let ranges = null;
    if (n <= this.#maxTracked) {
      ranges = [];
      for (let k = 0; k < n; k++) {
        const id = k === 0 ? at : this.#idAt(pos + k);
        if (!id) {
          ranges = null;
          break;
        }
        addId(ranges, id);
      }
    }
    return { kind: 'delete', text, at, ranges };
  }

  /**
   * #idAt returns the ID of the visible character at pos, or null past the end.
   * @param {number} pos
   * @returns {ID | null}
   */
  #idAt(pos) {
    const rp = this.#text.relPos(pos, 1);
    return rp.kind === BEFORE ? { client: rp.client, clock: rp.clock } : null;
  }

  /** @param {Selection} s */
  #selAnchors(s) {
    return [this.#text.relPos(s.anchor, 1), this.#text.relPos(s.head, 1)];
  }

  /**
   * @param {RelPos[] | null} anchors
   * @returns {Selection | null}
   */
  #resolveSel(anchors) {
    if (!anchors) return null;
    try {
      // An anchor on a character that undo or redo re-inserted follows it to its new ID.
      const follow = (/** @type {RelPos} */ rp) =>
        rp.kind === BEFORE || rp.kind === AFTER ? { ...rp, ...this.#follow({ client: rp.client, clock: rp.clock }) } : rp;
      return { anchor: this.#doc.resolve(follow(anchors[0])), head: this.#doc.resolve(follow(anchors[1])) };
    } catch {
      return null;
    }
  }

  /**
   * #resolve returns the index of the item id with the given side, or null if unknown.
   * @param {number} kind
   * @param {ID} id
   */
  #resolve(kind, id) {
    try {
      return this.#doc.resolve({ root: this.#root, kind, client: id.client, clock: id.clock });
    } catch {
      return null;
    }
  }

  /**
   * #visibleIndex returns the index of id if its character is visible, else null.
   * @param {ID} id
   */
  #visibleIndex(id) {
    const b = this.#resolve(BEFORE, id);
    const a = this.#resolve(AFTER, id);
    return b !== null && a !== null && a - b === 1 ? b : null;
  }

  /**
   * #follow maps an ID through the redirects (characters re-inserted by undo or redo).
   * @param {ID} id
   * @returns {ID}
   */
  #follow(id) {
    for (let hops = 0; hops < 64; hops++) {
      const r = this.#redirects.find((r) => r.client === id.client && id.clock >= r.clock && id.clock < r.clock + r.len);
      if (!r) return id;
      id = { client: r.to.client, clock: r.to.clock + (id.clock - r.clock) };
    }
    return id;
  }

  /**
   * #holds reports whether the visible characters from pos on are exactly range's, in order.
   * @param {number} pos
   * @param {IdRange} range
   */
  #holds(pos, range) {
    for (let k = 0; k < range.len; k++) {
      const rp = this.#text.relPos(pos + k, 1);
      if (rp.kind !== BEFORE || rp.client !== range.client || rp.clock !== range.clock + k) return false;
    }
    return true;
  }

  /** @param {IdRange} range */
  #redirected(range) {
    return this.#redirects.some((r) => r.client === range.client && r.clock < range.clock + range.len && range.clock < r.clock + r.len);
  }

  // --- undoing ---

  /**
   * @param {StackItem[]} from
   * @param {StackItem[]} to
   * @param {'before' | 'after'} restore
   * @returns {UndoResult | null}
   */
  #pop(from, to, restore) {
    const item = from.pop();
    if (!item) return null;
    /** @type {Edit[]} */
    const edits = [];
    /** @type {StackItem} */
    const inverse = { ops: [], selBefore: item.selAfter, selAfter: item.selBefore, at: 0 };
    this.#undoing = true;
    try {
      this.#transact(() => {
        for (let i = item.ops.length - 1; i >= 0; i--) {
          const op = item.ops[i];
          if (op.kind === 'insert') this.#removeInserted(op.ranges, inverse, edits);
          else this.#reinsert(op, inverse, edits);
        }
      });
    } finally {
      this.#undoing = false;
    }
    this.#capturing = false;
    const selection = this.#resolveSel(restore === 'before' ? item.selBefore : item.selAfter);
    if (inverse.ops.length > 0) to.push(inverse);
    else if (edits.length === 0 && from.length > 0) {
      // Everything this step did was already undone by others: skip to the next step.
      this.#changed();
      return this.#pop(from, to, restore);
    }
    this.#changed();
    return { edits, selection };
  }

  /**
   * #removeInserted deletes the still visible characters among ranges.
   * @param {IdRange[]} ranges
   * @param {StackItem} inverse
   * @param {Edit[]} edits
   */
  #removeInserted(ranges, inverse, edits) {
    /** @type {{ pos: number, id: ID }[]} */
    const found = [];
    for (const r of ranges) {
      if (!this.#redirected(r)) {
        // Fast path: the range is still one visible block. The span from its first to its last
        // character holding len characters is not enough: another editor may have replaced one of
        // ours inside it (deleted one, typed one), so every character in the span must be ours.
        const a = this.#resolve(BEFORE, r);
        const b = this.#resolve(AFTER, { client: r.client, clock: r.clock + r.len - 1 });
        if (a !== null && b !== null && b - a === r.len && this.#holds(a, r)) {
          for (let k = 0; k < r.len; k++) found.push({ pos: a + k, id: { client: r.client, clock: r.clock + k } });
          continue;
        }
      }
      for (let k = 0; k < r.len; k++) {
        const id = this.#follow({ client: r.client, clock: r.clock + k });
        const pos = this.#visibleIndex(id);
        if (pos !== null) found.push({ pos, id });
      }
    }
    if (found.length === 0) return;
    found.sort((x, y) => x.pos - y.pos);
    const chars = [...this.#text.toString()];
    // Delete maximal blocks of consecutive positions, from the end so earlier positions hold.
    /** @type {{ pos: number, ids: ID[] }[]} */
    const blocks = [];
    for (const f of found) {
      const last = blocks.at(-1);
      if (last && last.pos + last.ids.length === f.pos) last.ids.push(f.id);
      else if (!last || last.pos + last.ids.length < f.pos) blocks.push({ pos: f.pos, ids: [f.id] });
    }
    for (let i = blocks.length - 1; i >= 0; i--) {
      const { pos, ids } = blocks[i];
      const text = chars.slice(pos, pos + ids.length).join('');
      /** @type {IdRange[]} */
      const rs = [];
      for (const id of ids) addId(rs, id);
      this.#text.delete(pos, ids.length);
      edits.push({ pos, delete: ids.length, insert: '' });
      inverse.ops.push({ kind: 'delete', text, at: ids[0], ranges: rs });
    }
  }

  /**
   * #reinsert puts deleted text back before the first character it had.
   * @param {{ kind: 'delete', text: string, at: ID, ranges: IdRange[] | null }} op
   * @param {StackItem} inverse
   * @param {Edit[]} edits
   */
  #reinsert(op, inverse, edits) {
    const pos = this.#resolve(BEFORE, op.at);
    if (pos === null || op.text.length === 0) return;
    // Right before the item the text had after it, deleted or not: an index would put it after
    // the deleted items there, which may include text that was before it.
    this.#text.insertAt({ root: this.#root, kind: BEFORE, client: op.at.client, clock: op.at.clock }, op.text);
    const first = this.#idAt(pos);
    if (!first) return;
    const len = cpLength(op.text);
    edits.push({ pos, delete: 0, insert: op.text });
    inverse.ops.push({ kind: 'insert', ranges: [{ ...first, len }] });
    if (op.ranges) {
      let off = 0;
      for (const r of op.ranges) {
        this.#redirects.push({ client: r.client, clock: r.clock, len: r.len, to: { client: first.client, clock: first.clock + off } });
        off += r.len;
      }
      if (this.#redirects.length > 10_000) this.#redirects.splice(0, this.#redirects.length - 10_000);
    }
  }

  #changed() {
    this.emit('stack-change', { canUndo: this.canUndo, canRedo: this.canRedo });
  }
}

/**
 * addId appends id to a list of ID ranges, extending the last range when it continues it.
 * @param {IdRange[]} ranges
 * @param {ID} id
 */
function addId(ranges, id) {
  const last = ranges.at(-1);
  if (last && last.client === id.client && last.clock + last.len === id.clock) last.len++;
  else ranges.push({ client: id.client, clock: id.clock, len: 1 });
}

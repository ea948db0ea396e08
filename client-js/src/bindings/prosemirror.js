// @ts-check
import { Plugin, PluginKey, TextSelection } from 'prosemirror-state';
import { Decoration, DecorationSet } from 'prosemirror-view';
import { Mark, Fragment } from 'prosemirror-model';
import { ReplaceStep, AddMarkStep, RemoveMarkStep } from 'prosemirror-transform';
import { Mapping, isMarker, effective } from './prosemirror-mapping.js';
import { deferred } from './deferred.js';
import { RichUndoManager } from '../richundo.js';
import { encodeCursorRel, remoteCursors, selectionTint } from '../cursor.js';
import { afterPaint } from '../frame.js';
import { cpLength } from '../utf16.js';

/**
 * The ProseMirror binding (prosemirror-model, -state, -view and -transform are peer dependencies).
 *
 *   const binding = prosemirrorBinding(provider);
 *   new EditorView(parent, { state: EditorState.create({ schema, plugins: [binding.plugin, keymap(binding.keymap)] }) });
 *
 * The document lives in one Text root as flat rich text (docs/crdt.md section 4), mapped to and
 * from the editor's schema as docs/prosemirror.md says.
 *
 * Local transactions become CRDT operations step by step: each step's changed range, widened to
 * the top-level blocks it touches, is read as flat units before and after the step, and only the
 * difference is written (inserts and deletes in the middle; mark operations where only marks
 * changed, with the mark type's expand; attribute assignments where a block marker or an inline
 * embed changed, which is what wrapping, lifting and setting a block type come to). Text typed
 * where the CRDT's marks would give it other formatting than the editor shows (a boundary on a
 * deleted character) gets corrective mark operations.
 *
 * Remote changes are rendered from the CRDT (a pure function of its spans: schema normalisation
 * happens there and is never written back) and applied as one minimal replace step, the
 * difference between the old and the new document (never a whole-document replacement). The
 * selection is kept as relative positions and restored after every remote change, so a remote
 * Enter before the caret leaves the caret on its word.
 *
 * Undo and redo (Mod-z, Mod-y, Mod-Shift-z through `binding.keymap`) revert only this user's
 * changes (text, marks and blocks) and restore the selection: leave prosemirror-history out.
 *
 * A keystroke's path to the screen holds only the CRDT write and the editor's update: the binding
 * asks the provider to store and send after the frame is painted (provider.scheduleFlush, one
 * update for the keystrokes of a frame), and publishes this user's cursor once per frame.
 */

/** bindingKey is the key of the binding's plugin; a transaction with its meta set came from the CRDT. */
export const bindingKey = new PluginKey('tandem');

/** @typedef {import('prosemirror-model').Node} PMNode */
/** @typedef {import('prosemirror-state').EditorState} EditorState */
/** @typedef {import('prosemirror-state').Transaction} Transaction */
/** @typedef {import('prosemirror-view').EditorView} EditorView */
/** @typedef {import('./prosemirror-mapping.js').Unit} Unit */
/** @typedef {import('../crdt/changes.js').Change} Change */

/**
 * @typedef {object} ProseMirrorBindingOptions
 * @property {string} [root]                        the Text root (default 'body')
 * @property {RichUndoManager | false} [undo]       an undo manager, or false for none (default: a new one)
 * @property {boolean} [cursors]                    draw the other editors' cursors (default true)
 */

/**
 * @typedef {object} ProviderLike
 * @property {import('../crdt/doc.js').Doc} doc
 * @property {<T>(fn: () => T) => T} transact
 * @property {() => void} [scheduleFlush]  flush after the frame is painted (else transact flushes at once)
 * @property {(ev: 'change' | 'local' | 'status' | 'refused', fn: (e: any) => void) => () => void} on
 * @property {import('../awareness.js').Awareness | null} [awareness]
 * @property {boolean} [deleted]
 */

/**
 * @typedef {object} PluginState
 * @property {{ tr: Transaction, sel: import('prosemirror-state').Selection }[]} trs  local transactions
 *   not yet written to the CRDT, each with the selection before it
 * @property {DecorationSet} cursors
 */

/**
 * prosemirrorBinding returns the plugin that binds an editor to the provider's document, its undo
 * manager and the commands for the keymap.
 * @param {ProviderLike} provider
 * @param {ProseMirrorBindingOptions} [opts]
 */
export function prosemirrorBinding(provider, opts = {}) {
  const root = opts.root ?? 'body';
  const text = provider.doc.text(root);
  const undoManager =
    opts.undo === false ? null : (opts.undo ?? new RichUndoManager(provider.doc, { root, transact: (fn) => deferred(provider, fn) }));
  /** @type {Sync | null} */
  let sync = null;
  /** the local transactions already written to the CRDT */
  const done = new WeakSet();

  const plugin = new Plugin({
    key: bindingKey,
    state: {
      init: () => /** @type {PluginState} */ ({ trs: [], cursors: DecorationSet.empty }),
      apply(tr, value, oldState) {
        const meta = tr.getMeta(bindingKey);
        let { trs, cursors } = value;
        if (meta?.cursors) cursors = meta.cursors;
        else if (tr.docChanged) cursors = cursors.map(tr.mapping, tr.doc);
        if (trs.length > 0 && done.has(trs[0].tr)) trs = trs.filter((t) => !done.has(t.tr));
        if (tr.docChanged && !meta?.remote) trs = [...trs, { tr, sel: oldState.selection }];
        return trs === value.trs && cursors === value.cursors ? value : { trs, cursors };
      },
    },
    props: {
      decorations(state) {
        return /** @type {PluginState} */ (bindingKey.getState(state)).cursors;
      },
      editable: () => !provider.deleted,
    },
    view(view) {
      sync = new Sync(view, provider, text, root, undoManager, opts.cursors !== false, done);
      const s = sync;
      return {
        update: (v) => s.update(v),
        destroy: () => {
          s.destroy();
          if (sync === s) sync = null;
        },
      };
    },
  });

  /**
   * @param {'undo' | 'redo'} which
   * @returns {import('prosemirror-state').Command}
   */
  const command = (which) => (_state, dispatch) => {
    if (!undoManager || !sync) return false;
    if (which === 'undo' ? !undoManager.canUndo : !undoManager.canRedo) return false;
    if (dispatch) sync.step(which);
    return true;
  };
  const undo = command('undo');
  const redo = command('redo');
  return {
    plugin,
    undoManager,
    undo,
    redo,
    /** keymap binds Mod-z, Mod-y and Mod-Shift-z (give it to prosemirror-keymap's keymap()). */
    keymap: { 'Mod-z': undo, 'Mod-y': redo, 'Mod-Shift-z': redo },
  };
}

/**
 * writeDoc writes a ProseMirror document into an empty Text root (seeding a new document, or a
 * test's round trip): one marker per textblock, then its text, embeds and marks.
 * @param {import('../crdt/handles.js').Text} text
 * @param {PMNode} doc
 */
export function writeDoc(text, doc) {
  const mp = new Mapping(doc.type.schema);
  writeUnits(mp, text, text.length, mp.units(doc, 0, doc.childCount, false), null);
}

/**
 * Sync keeps one editor and the CRDT in step.
 */
class Sync {
  /**
   * @param {EditorView} view
   * @param {ProviderLike} provider
   * @param {import('../crdt/handles.js').Text} text
   * @param {string} root
   * @param {RichUndoManager | null} undo
   * @param {boolean} drawCursors
   * @param {WeakSet<Transaction>} done  where written transactions are noted
   */
  constructor(view, provider, text, root, undo, drawCursors, done) {
    this.done = done;
    this.view = view;
    this.provider = provider;
    this.text = text;
    this.root = root;
    this.undo = undo;
    this.drawCursors = drawCursors;
    this.mp = new Mapping(view.state.schema);
    /** whether the text does not start with a block marker (its first block is implicit) */
    this.implicit = true;
    /** >0 while the binding writes to the CRDT: its own `local` events are no news */
    this.writing = 0;
    /**
     * the replica's content version (Doc.contentVersion) that the editor shows: another editor on
     * the same provider writes to the replica too, which this one learns only from the flush
     */
    this.shown = -1;
    /** @type {{ anchor: import('../crdt/relpos.js').RelPos, head: import('../crdt/relpos.js').RelPos } | null} */
    this.selRel = null;
    this.published = '';
    /** @type {(() => void) | null} cancels the cursor publication waiting for the frame */
    this.cancelPublish = null;
    /** @type {{ lo: number, hi: number } | null} the flat range that structural writes touched */
    this.touched = null;
    /** whether the document was rendered whole once (after that, changes render in part) */
    this.rendered = false;
    this.queued = false;
    this.destroyed = false;
    /** @type {(() => void)[]} */
    this.cleanup = [
      provider.on('change', (ev) => {
        // An editor that showed the replica up to this change shows the change alone; one that
        // was behind it already (another editor's writes not flushed yet) shows it all.
        const v = provider.doc.contentVersion();
        if (this.shown !== v - 1) return this.render();
        const mine = ev.changes.filter((/** @type {Change} */ c) => c.root === root && c.kind === 'text');
        if (mine.length > 0) this.renderChanges(mine);
        else this.queueCursors();
        this.shown = v;
      }),
      // The binding's own writes come back as deferred flushes (or while it writes): no news,
      // unless another editor on the provider wrote too.
      provider.on('local', (ev) => {
        if (this.writing === 0 && (!ev.deferred || this.shown !== provider.doc.contentVersion())) this.render();
      }),
      // Once the server says the document was deleted the editor is read-only (nothing would keep
      // what is typed), and writable again if it comes back: `editable` is asked on every update.
      provider.on('refused', () => this.followDeleted()),
      provider.on('status', () => this.followDeleted()),
    ];
    this.deleted = false;
    if (provider.awareness) this.cleanup.push(provider.awareness.on('change', () => this.queueCursors()));
    queueMicrotask(() => this.render());
  }

  /** @param {EditorView} view */
  update(view) {
    if (this.destroyed) return;
    const st = /** @type {PluginState} */ (bindingKey.getState(view.state));
    const trs = st.trs.filter((t) => !this.done.has(t.tr));
    for (const t of trs) this.done.add(t.tr);
    if (trs.length > 0) this.writeLocal(trs);
    this.remember();
  }

  /**
   * writeLocal writes local transactions to the CRDT, step by step.
   * @param {{ tr: Transaction, sel: import('prosemirror-state').Selection }[]} trs
   */
  writeLocal(trs) {
    const current = this.shown === this.provider.doc.contentVersion();
    this.writing++;
    this.touched = null;
    try {
      for (const { tr, sel } of trs) {
        const before = this.flatSel(tr.before, sel);
        const run = () => {
          for (let i = 0; i < tr.steps.length; i++) {
            const a = tr.docs[i];
            const b = i + 1 < tr.docs.length ? tr.docs[i + 1] : tr.doc;
            this.writeStep(tr.steps[i], a, b);
          }
        };
        if (this.undo) this.undo.change(before, run, () => this.flatSel(tr.doc, tr.selection));
        else deferred(this.provider, run);
      }
    } finally {
      this.writing--;
    }
    if (current) this.shown = this.provider.doc.contentVersion();
    if (this.touched) {
      // Blocks changed: what the editor shows must be what the CRDT renders to (a marker may hold
      // what the schema normalised away, a merge may have left what it cannot hold).
      const { lo, hi } = this.touched;
      this.touched = null;
      // The selection to keep is this transaction's, not the one remembered before it.
      this.remember();
      const len = this.text.length;
      this.renderChanges([{ root: this.root, kind: 'text', edits: [], formats: [{ pos: Math.min(lo, len), len: Math.max(0, Math.min(hi, len) - Math.min(lo, len)), name: '', value: null }], attrs: [], keys: [] }]);
    }
  }

  /**
   * flatSel returns a selection in flat positions.
   * @param {PMNode} doc
   * @param {import('prosemirror-state').Selection | null} sel
   */
  flatSel(doc, sel) {
    if (!sel) return null;
    return { anchor: this.mp.toFlat(doc, sel.anchor, this.implicit), head: this.mp.toFlat(doc, sel.head, this.implicit) };
  }

  /**
   * writeStep writes one step: the difference between a and b over the top-level blocks it touched.
   * @param {import('prosemirror-transform').Step} step
   * @param {PMNode} a
   * @param {PMNode} b
   */
  writeStep(step, a, b) {
    if (this.writeInline(step, a, b)) return;
    let lo = Infinity;
    let hi = -Infinity;
    step.getMap().forEach((oldStart, oldEnd) => {
      lo = Math.min(lo, oldStart);
      hi = Math.max(hi, oldEnd);
    });
    if (lo === Infinity) {
      const s = /** @type {any} */ (step);
      if (typeof s.from === 'number' && typeof s.to === 'number') {
        lo = s.from;
        hi = s.to;
      } else if (typeof s.pos === 'number') {
        lo = s.pos;
        hi = s.pos + 1;
      } else {
        lo = 0;
        hi = a.content.size;
      }
    }
    const offsets = this.mp.offsetsOf(a, 0);
    const i0 = childAt(offsets, lo);
    let i1 = childEnd(offsets, hi);
    if (i1 < i0) i1 = i0;
    const tail = a.childCount - i1;
    let j1 = b.childCount - tail;
    // One more block on each side: the markers around a change depend on their neighbours.
    const e = tail > 0 ? 1 : 0;
    let flat = offsets.flat[i0];
    const implicit0 = this.implicit;
    if (i0 === 0 && this.implicit && !plainFirst(this.mp, b)) {
      // The first block became something else than a plain paragraph: it needs a marker now.
      this.write(0, [], [{ t: 'm', value: { block: 'paragraph' } }]);
      this.implicit = false;
    }
    if (i0 > 0 && implicit0) flat -= 1;
    const oldU = this.mp.units(a, i0, i1 + e, i0 === 0 && this.implicit);
    const newU = this.mp.units(b, i0, j1 + e, i0 === 0 && this.implicit);
    this.write(flat, oldU, newU);
    if (flat === 0) this.keepFirst(b);
  }

  /**
   * writeInline writes a step that changed the inside of one textblock only (typing, deleting
   * within a block, a mark over part of it) from that block's content alone: a keystroke costs the
   * size of its block, not of the top-level node around it (a long list). It returns false for
   * any other step.
   * @param {import('prosemirror-transform').Step} step
   * @param {PMNode} a
   * @param {PMNode} b
   */
  writeInline(step, a, b) {
    const s = /** @type {any} */ (step);
    if (typeof s.from !== 'number' || typeof s.to !== 'number' || s.structure) return false;
    if (!(step instanceof ReplaceStep || step instanceof AddMarkStep || step instanceof RemoveMarkStep)) return false;
    if (step instanceof ReplaceStep) {
      const sl = step.slice;
      if (sl.openStart !== 0 || sl.openEnd !== 0) return false;
      let inline = true;
      sl.content.forEach((n) => {
        if (!n.isInline) inline = false;
      });
      if (!inline) return false;
    }
    const $from = a.resolve(s.from);
    if (!$from.parent.isTextblock || !$from.sameParent(a.resolve(s.to))) return false;
    const start = $from.start();
    const $b = b.resolve(start);
    if (!$b.parent.isTextblock || $b.start() !== start) return false;
    const flat = this.mp.toFlat(a, start, this.implicit);
    this.write(flat, this.mp.inlineUnits($from.parent), this.mp.inlineUnits($b.parent));
    if (flat === 0) this.keepFirst(b);
    return true;
  }

  /**
   * keepFirst follows a write at the start of the text. The editor's first block has no marker
   * while the text does not start with one; a write that emptied it leaves a text that starts with
   * the next block's marker, which would render without that block: it gets a marker of its own,
   * so that the block the editor shows (and the caret is in) stays.
   * @param {PMNode} b  the document after the step
   */
  keepFirst(b) {
    const [first] = this.text.length > 0 ? this.text.slice(0, 1) : [];
    if (!this.implicit || !isMarker(first)) {
      this.implicit = !isMarker(first);
      return;
    }
    const m = this.mp.markerOf([b, /** @type {PMNode} */ (b.firstChild)], [0], []).value;
    this.write(0, [], [{ t: 'm', value: m }]);
    this.implicit = false;
  }

  /**
   * write turns oldU into newU at flat position at in the CRDT.
   * @param {number} at
   * @param {Unit[]} oldU
   * @param {Unit[]} newU
   */
  write(at, oldU, newU) {
    if (writeUnits(this.mp, this.text, at, newU, oldU, this.undo)) {
      const t = this.touched;
      // Later steps of a transaction may move the range: it is widened to the end then.
      this.touched = t ? { lo: Math.min(t.lo, at), hi: Infinity } : { lo: at, hi: at + newU.length };
    }
  }

  /**
   * render brings the editor in line with the CRDT: the document rendered from the CRDT's spans,
   * applied as the smallest replace step, and the selection restored from its relative positions.
   */
  render() {
    if (this.destroyed) return;
    this.shown = this.provider.doc.contentVersion();
    const spans = this.text.spans();
    this.implicit = !isMarker(spans[0]);
    const next = this.mp.render(spans);
    this.rendered = true;
    const tr = this.view.state.tr;
    replaceDiff(tr, 0, this.view.state.doc.content, next.content);
    this.finish(tr);
  }

  /**
   * renderChanges shows the changes that an update made to the text: only the top-level blocks
   * that they touched (and one on each side, whose grouping may change with them) are read from
   * the CRDT and rendered, and the difference is applied. A document out of step (the first
   * render still to come) is rendered whole.
   * @param {Change[]} changes
   */
  renderChanges(changes) {
    if (this.destroyed) return;
    if (!this.rendered) return this.render();
    // The range the changes touched, in the new text's terms, and the net change of length.
    let a = Infinity;
    let b = -Infinity;
    let delta = 0;
    for (const c of changes) {
      for (const e of c.edits) {
        const ins = cpLength(e.insert);
        if (a !== Infinity) {
          // Map the range so far through this edit.
          const map = (/** @type {number} */ x) => (x < e.pos ? x : x >= e.pos + e.delete ? x + ins - e.delete : e.pos);
          a = map(a);
          b = Math.max(map(b), a);
        }
        a = Math.min(a, e.pos);
        b = Math.max(b, e.pos + ins);
        delta += ins - e.delete;
      }
    }
    for (const c of changes) {
      for (const f of c.formats ?? []) {
        a = Math.min(a, f.pos);
        b = Math.max(b, f.pos + f.len);
      }
      for (const t of c.attrs ?? []) {
        a = Math.min(a, t.pos);
        b = Math.max(b, t.pos + 1);
      }
    }
    if (a === Infinity) return this.finish(this.view.state.tr);
    const cur = this.view.state.doc;
    const implicit = this.implicit;
    if (this.renderInline(changes, a, b, delta)) return;
    // The top-level children of the old document around [a - 1, b - delta].
    let i0 = -1;
    let i1 = cur.childCount;
    let flat = implicit ? -1 : 0;
    /** @type {number[]} the flat start of each child */
    const starts = [];
    for (let i = 0; i < cur.childCount; i++) {
      starts.push(Math.max(0, flat));
      const len = this.mp.flatLen(cur.child(i));
      if (i0 < 0 && a - 1 < flat + len) i0 = i;
      flat += len;
      if (b - delta < flat) {
        i1 = i + 1;
        break;
      }
    }
    if (i0 < 0) i0 = cur.childCount - 1;
    i0 = Math.max(0, i0 - 1);
    i1 = Math.min(cur.childCount, i1 + 1);
    const f0 = starts[i0];
    let f1 = f0;
    for (let i = i0; i < i1; i++) f1 += this.mp.flatLen(cur.child(i));
    if (i0 === 0) f1 -= implicit ? 1 : 0;
    const to = f1 + delta;
    if (to > this.text.length || to < f0) return this.render();
    const spans = this.text.slice(f0, to - f0);
    if (f0 === 0) this.implicit = !isMarker(spans[0]);
    else if (!isMarker(spans[0])) return this.render();
    const nodes = this.mp.renderBlocks(spans);
    let posA = 0;
    for (let i = 0; i < i0; i++) posA += cur.child(i).nodeSize;
    let posB = posA;
    for (let i = i0; i < i1; i++) posB += cur.child(i).nodeSize;
    const tr = this.view.state.tr;
    replaceDiff(tr, posA, cur.content.cut(posA, posB), Fragment.fromArray(nodes));
    if (this.mp.docFlatLen(tr.doc, this.implicit) !== this.text.length) return this.render();
    this.finish(tr);
  }

  /**
   * renderInline shows changes that stayed inside one textblock's content (no marker, no embed
   * inserted or deleted): only that block is read from the CRDT and rebuilt. It returns false when
   * the changes are not of that kind.
   * @param {Change[]} changes
   * @param {number} a      the touched range's start, in the new text
   * @param {number} b      its end, in the new text
   * @param {number} delta  the net change of length
   */
  renderInline(changes, a, b, delta) {
    for (const c of changes) {
      for (const e of c.edits) if (e.insert.includes('\ufffc')) return false;
      if ((c.attrs ?? []).length > 0) return false;
    }
    const cur = this.view.state.doc;
    const pos = this.mp.fromFlat(cur, a, this.implicit);
    const $p = cur.resolve(pos);
    const block = $p.parent;
    if (!block.isTextblock || block.isLeaf) return false;
    const start = $p.start();
    const fs = this.mp.toFlat(cur, start, this.implicit);
    const fe = fs + this.mp.flatLen(block) - 1;
    // The implicit first block exists only while the text does not start with a marker: emptied,
    // it may be gone.
    if (this.implicit && fs === 0) return false;
    // The old range [a, b - delta] must lie in this block's content; deletions that took a marker
    // with them show as a shorter text past the block's end.
    if (a < fs || b - delta > fe || fe + delta < fs) return false;
    const spans = this.text.slice(fs, fe + delta - fs);
    /** @type {any[]} */
    const inline = [];
    for (const sp of spans) {
      if ('insert' in sp) inline.push(sp);
      else if (isMarker(sp)) return false;
      else inline.push({ embed: effective(sp.embed, sp.attrs), marks: sp.marks });
    }
    const next = this.mp.buildTextblock(block.type, block.attrs, inline);
    const tr = this.view.state.tr;
    replaceDiff(tr, start, block.content, next.content);
    if (this.mp.docFlatLen(tr.doc, this.implicit) !== this.text.length) return false;
    this.finish(tr);
    return true;
  }

  /**
   * finish restores the selection and dispatches a transaction that shows the CRDT's state.
   * @param {Transaction} tr
   */
  finish(tr) {
    const view = this.view;
    const before = view.state;
    let sel = this.restoredSelection(tr.doc);
    if (sel && !tr.docChanged && sel.eq(before.selection)) sel = null;
    if (sel) tr.setSelection(sel);
    if (!tr.docChanged && !sel) {
      // Nothing to dispatch; the remote carets may still have moved in the CRDT.
      if (this.selRel) this.queueCursors();
      return;
    }
    // Steps and a set selection drop the stored marks (a mark toggled at the caret, waiting for the
    // next keystroke); a caret that stays where it was keeps them.
    const caret = tr.selection;
    if (before.storedMarks && caret.empty && before.selection.empty && caret.head === tr.mapping.map(before.selection.head)) tr.setStoredMarks(before.storedMarks);
    tr.setMeta(bindingKey, { remote: true });
    tr.setMeta('addToHistory', false);
    view.dispatch(tr);
    this.queueCursors();
  }

  /**
   * restoredSelection returns the selection that the relative positions of the last local
   * selection resolve to in doc, or null when there is none to restore.
   * @param {PMNode} doc
   */
  restoredSelection(doc) {
    if (!this.selRel || !(this.view.state.selection instanceof TextSelection)) return null;
    try {
      const a = this.provider.doc.resolve(this.selRel.anchor);
      const h = this.provider.doc.resolve(this.selRel.head);
      return TextSelection.create(doc, this.mp.fromFlat(doc, a, this.implicit), this.mp.fromFlat(doc, h, this.implicit));
    } catch {
      return null;
    }
  }

  /** followDeleted updates the view when provider.deleted changed. */
  followDeleted() {
    const d = this.provider.deleted === true;
    if (d === this.deleted || this.destroyed) return;
    this.deleted = d;
    this.view.dispatch(this.view.state.tr.setMeta(bindingKey, { remote: true }));
  }

  /** remember stores the selection as relative positions and publishes it as this user's cursor. */
  remember() {
    const s = this.flatSel(this.view.state.doc, this.view.state.selection);
    if (!s) return;
    try {
      const lo = Math.min(s.anchor, s.head);
      const hi = Math.max(s.anchor, s.head);
      const rel = (/** @type {number} */ p) => this.text.relPos(p, p === hi && lo !== hi ? -1 : 1);
      const a = rel(s.anchor);
      this.selRel = { anchor: a, head: s.head === s.anchor ? a : rel(s.head) };
      if (this.provider.awareness && !this.cancelPublish) this.cancelPublish = afterPaint(() => this.publish());
    } catch {
      // The text is catching up: the next update remembers.
    }
  }

  /** publish sends the last remembered selection as this user's cursor, if it moved. */
  publish() {
    this.cancelPublish = null;
    const aw = this.provider.awareness;
    if (!aw || !this.selRel || this.destroyed) return;
    const cursor = encodeCursorRel(this.root, this.selRel.anchor, this.selRel.head);
    const json = JSON.stringify(cursor);
    if (json !== this.published) {
      this.published = json;
      aw.setLocalStateField('cursor', cursor);
    }
  }

  /**
   * step undoes or redoes one step and shows the result.
   * @param {'undo' | 'redo'} which
   */
  step(which) {
    if (!this.undo) return;
    const current = this.shown === this.provider.doc.contentVersion();
    this.writing++;
    let r;
    try {
      r = which === 'undo' ? this.undo.undo() : this.undo.redo();
    } finally {
      this.writing--;
    }
    if (!r) return;
    if (r.selection) {
      try {
        const sel = r.selection;
        this.selRel = { anchor: this.text.relPos(sel.anchor, 1), head: this.text.relPos(sel.head, sel.head > sel.anchor ? -1 : 1) };
      } catch {
        // keep the old one
      }
    }
    const c = r.changed;
    const formats = c.ranges.map((f) => ({ pos: f.pos, len: f.len, name: '', value: null }));
    this.renderChanges([{ root: this.root, kind: 'text', edits: c.edits, formats, attrs: [], keys: [] }]);
    if (current) this.shown = this.provider.doc.contentVersion();
  }

  queueCursors() {
    if (!this.drawCursors || !this.provider.awareness || this.queued || this.destroyed) return;
    this.queued = true;
    const raf = globalThis.requestAnimationFrame ?? ((/** @type {() => void} */ f) => setTimeout(f, 16));
    raf(() => {
      this.queued = false;
      if (!this.destroyed) this.showCursors();
    });
  }

  /** showCursors draws the other editors' carets and selections as decorations. */
  showCursors() {
    const aw = this.provider.awareness;
    if (!aw) return;
    const doc = this.view.state.doc;
    /** @type {Decoration[]} */
    const decos = [];
    for (const c of remoteCursors(aw, this.provider.doc, this.root)) {
      const a = this.mp.fromFlat(doc, c.anchor, this.implicit);
      const h = this.mp.fromFlat(doc, c.head, this.implicit);
      const key = `tandem-${c.clientId}-${c.name}-${c.color}`;
      if (a !== h) {
        decos.push(
          Decoration.inline(Math.min(a, h), Math.max(a, h), { style: `background-color: ${selectionTint(c.color)}`, class: 'tandem-selection' }, { key: `${key}-sel` }),
        );
      }
      // On the first block the label goes below the caret: above, the editor's edge would clip it.
      const below = doc.resolve(h).index(0) === 0;
      decos.push(Decoration.widget(h, () => caret(c.name, c.color, c.clientId, below), { key: `${key}${below ? '-below' : ''}`, side: 10 }));
    }
    // Most changes (this user's typing, which the decorations were mapped through) leave them where
    // they are: no transaction then.
    const sig = (/** @type {Decoration[]} */ ds) => ds.map((d) => `${d.from}:${d.to}:${d.spec.key}`).sort().join('|');
    const shown = /** @type {PluginState} */ (bindingKey.getState(this.view.state)).cursors;
    if (sig(shown.find()) === sig(decos)) return;
    this.view.dispatch(this.view.state.tr.setMeta(bindingKey, { cursors: DecorationSet.create(doc, decos), remote: true }));
  }

  destroy() {
    this.destroyed = true;
    this.cancelPublish?.();
    this.cancelPublish = null;
    for (const fn of this.cleanup) fn();
    this.cleanup = [];
    const aw = this.provider.awareness;
    if (aw && this.published && JSON.stringify(aw.getLocalState()?.cursor) === this.published) aw.setLocalStateField('cursor', null);
  }
}

/**
 * caret returns the DOM of a remote caret with its name label.
 * @param {string} name
 * @param {string} color
 * @param {number} clientId
 * @param {boolean} below  the label below the caret rather than above
 */
function caret(name, color, clientId, below) {
  const el = document.createElement('span');
  el.className = 'tandem-caret';
  el.dataset.clientId = String(clientId);
  Object.assign(el.style, { position: 'relative', borderLeft: `2px solid ${color}`, marginLeft: '-1px', marginRight: '-1px', pointerEvents: 'none' });
  el.textContent = '\u2060';
  const label = document.createElement('span');
  label.className = 'tandem-caret-label';
  label.textContent = name;
  Object.assign(label.style, {
    position: 'absolute', left: '-2px', ...(below ? { top: '100%' } : { bottom: '100%' }), background: color, color: '#fff', font: '11px/1.3 system-ui, sans-serif',
    padding: '0 3px', whiteSpace: 'nowrap', userSelect: 'none',
  });
  el.appendChild(label);
  return el;
}

/**
 * replaceDiff adds to tr the smallest replace step that turns the fragment `from` (at position at
 * of tr's document) into `to`: their common start and end are left alone.
 * @param {Transaction} tr
 * @param {number} at
 * @param {Fragment} from
 * @param {Fragment} to
 */
function replaceDiff(tr, at, from, to) {
  const start = from.findDiffStart(to);
  if (start === null || start === undefined) return;
  const end = /** @type {{ a: number, b: number }} */ (from.findDiffEnd(to));
  let endA = end.a;
  let endB = end.b;
  const overlap = start - Math.min(endA, endB);
  if (overlap > 0) {
    endA += overlap;
    endB += overlap;
  }
  const holder = tr.doc.type.create(null, to);
  tr.replace(at + start, at + endA, holder.slice(start, endB));
}

/**
 * childAt returns the index of the top-level child that holds position pos (the one after it when
 * pos is between two), or childCount at the end: the first child that ends after pos.
 * @param {import('./prosemirror-mapping.js').Offsets} o  the document's offsets
 * @param {number} pos
 */
function childAt(o, pos) {
  let lo = 0;
  let hi = o.kids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pos < o.pos[mid + 1]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * childEnd returns the index after the last top-level child that position pos is inside of (a
 * position at the start of a child does not touch it): the first child that starts at or after pos.
 * @param {import('./prosemirror-mapping.js').Offsets} o  the document's offsets
 * @param {number} pos
 */
function childEnd(o, pos) {
  let lo = 0;
  let hi = o.kids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pos <= o.pos[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * plainFirst reports whether the first textblock of doc is a plain top-level paragraph, which is
 * what a text without a leading marker renders to.
 * @param {Mapping} mp
 * @param {PMNode} doc
 */
function plainFirst(mp, doc) {
  const f = doc.firstChild;
  if (!f) return true;
  if (f.type !== mp.paragraph) return false;
  const m = mp.markerOf([doc, f], [0], []);
  return Object.keys(m.value).length === 1;
}

/**
 * sameIdentity reports whether two units stand for the same item: a unit kept (perhaps with other
 * marks or attributes) rather than deleted and inserted.
 * @param {Unit} a
 * @param {Unit} b
 */
function sameIdentity(a, b) {
  if (a.t !== b.t) return false;
  if (a.t === 'c') return a.ch === /** @type {{ ch: string }} */ (b).ch;
  if (a.t === 'e') return a.value.inline === /** @type {{ value: Record<string, unknown> }} */ (b).value.inline;
  return true;
}

/**
 * writeUnits writes the difference between oldU (the flat units at `at`, null for nothing) and
 * newU to the text: attribute and mark changes on kept units, a delete and an insert between them.
 * @param {Mapping} mp
 * @param {import('../crdt/handles.js').Text} text
 * @param {number} at
 * @param {Unit[]} newU
 * @param {Unit[] | null} oldU
 * @param {RichUndoManager | null} [undo]
 * @returns {boolean} whether a block marker or an embed was written (inserted, deleted, changed)
 */
function writeUnits(mp, text, at, newU, oldU, undo = null) {
  const w = undo ?? text;
  oldU = oldU ?? [];
  let p = 0;
  const max = Math.min(oldU.length, newU.length);
  while (p < max && sameIdentity(oldU[p], newU[p])) p++;
  let s = 0;
  while (s < max - p && sameIdentity(oldU[oldU.length - 1 - s], newU[newU.length - 1 - s])) s++;
  // Kept units before the change: positions are the same in old and new.
  let structural = fixKept(mp, text, w, at, oldU.slice(0, p), newU.slice(0, p));
  const del = oldU.length - s - p;
  for (let i = p; i < oldU.length - s; i++) if (oldU[i].t !== 'c') structural = true;
  if (del > 0) w.delete(at + p, del);
  const ins = newU.slice(p, newU.length - s);
  let q = at + p;
  let str = '';
  const flush = () => {
    if (str) {
      // A position inside a surrogate pair can split it (from code: browsers do not put the caret
      // there); the CRDT holds only whole code points, so a lone half is written as U+FFFD.
      const whole = str.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
      if (whole !== str) {
        str = whole;
        structural = true;
      }
      w.insert(q, str);
      q += [...str].length;
      str = '';
    }
  };
  for (const u of ins) {
    if (u.t === 'c') {
      str += u.ch;
      continue;
    }
    flush();
    w.insertEmbed(q, u.value);
    structural = true;
    q += 1;
  }
  flush();
  // The marks of new units go straight to the text: undoing their insertion removes them anyway.
  if (ins.length > 0) fixInserted(mp, text, text, at + p, ins);
  if (fixKept(mp, text, w, at + p + ins.length, oldU.slice(oldU.length - s), newU.slice(newU.length - s))) structural = true;
  return structural;
}

/**
 * @typedef {object} Writer
 * @property {(pos: number, n: number, name: string, value: unknown, expand: 'none' | 'before' | 'after' | 'both') => void} format
 * @property {(pos: number, key: string, value: unknown) => void} setAttr
 */

/**
 * fixKept writes the attribute and mark changes between kept units (same items, in order). A
 * marker or an embed that changed gets the new value key by key, compared with what the CRDT holds
 * (which may differ from what the editor showed: the schema may have normalised it); it returns
 * whether one did.
 * @param {Mapping} mp
 * @param {import('../crdt/handles.js').Text} text
 * @param {Writer} w
 * @param {number} at
 * @param {Unit[]} oldU
 * @param {Unit[]} newU
 */
function fixKept(mp, text, w, at, oldU, newU) {
  let structural = false;
  /** @type {{ start: number, end: number, name: string, value: unknown, expand: 'none' | 'after' }[]} */
  const runs = [];
  for (let i = 0; i < newU.length; i++) {
    const o = oldU[i];
    const n = newU[i];
    if (o.t !== 'c' && n.t !== 'c' && JSON.stringify(o.value) !== JSON.stringify(n.value)) {
      structural = true;
      const [span] = text.slice(at + i, 1);
      const ov = span && 'embed' in span ? (effective(span.embed, span.attrs) ?? {}) : o.value;
      const nv = n.value;
      for (const k of new Set([...Object.keys(ov), ...Object.keys(nv)])) {
        if (JSON.stringify(ov[k]) !== JSON.stringify(nv[k])) w.setAttr(at + i, k, nv[k] ?? null);
      }
    }
    if (o.t === 'm' || n.t === 'm') continue;
    if (Mark.sameSet(o.marks, n.marks)) continue;
    const om = mp.marksRecord(o.marks);
    const nm = mp.marksRecord(n.marks);
    for (const name of new Set([...Object.keys(om), ...Object.keys(nm)])) {
      const v = Object.hasOwn(nm, name) ? nm[name] : null;
      if (JSON.stringify(Object.hasOwn(om, name) ? om[name] : null) === JSON.stringify(v)) continue;
      const last = runs.find((r) => r.name === name && r.end === i && JSON.stringify(r.value) === JSON.stringify(v));
      if (last) last.end = i + 1;
      else runs.push({ start: i, end: i + 1, name, value: v, expand: expandOf(mp, [...o.marks, ...n.marks], name) });
    }
  }
  for (const r of runs) w.format(at + r.start, r.end - r.start, r.name, r.value, r.expand);
  return structural;
}

/**
 * fixInserted gives inserted units the marks the editor gave them, where the CRDT's anchors gave
 * them others (corrective mark operations, docs/prosemirror.md).
 * @param {Mapping} mp
 * @param {import('../crdt/handles.js').Text} text
 * @param {Writer} w
 * @param {number} at
 * @param {Unit[]} ins
 */
function fixInserted(mp, text, w, at, ins) {
  /** @type {Record<string, unknown>[]} */
  const have = [];
  for (const s of text.slice(at, ins.length)) {
    const n = 'insert' in s ? [...s.insert].length : 1;
    for (let i = 0; i < n; i++) have.push(s.marks);
  }
  /** @type {{ start: number, end: number, name: string, value: unknown, expand: 'none' | 'after' }[]} */
  const runs = [];
  for (let i = 0; i < ins.length; i++) {
    const u = ins[i];
    const want = u.t === 'm' ? {} : mp.marksRecord(u.marks);
    const got = have[i] ?? {};
    for (const name of new Set([...Object.keys(want), ...Object.keys(got)])) {
      // Marks the schema does not know, or that the block cannot show (bold in a code block), are
      // left as they are: the editor did not choose to leave them out.
      const mt = mp.marks.get(name.split(':')[0]);
      if (!Object.hasOwn(want, name) && (!mt || u.t === 'm' || !u.block.allowsMarkType(mt))) continue;
      const v = Object.hasOwn(want, name) ? want[name] : null;
      if (JSON.stringify(Object.hasOwn(got, name) ? got[name] : null) === JSON.stringify(v)) continue;
      const last = runs.find((r) => r.name === name && r.end === i && JSON.stringify(r.value) === JSON.stringify(v));
      if (last) last.end = i + 1;
      else runs.push({ start: i, end: i + 1, name, value: v, expand: u.t === 'm' ? 'none' : expandOf(mp, u.marks, name) });
    }
  }
  for (const r of runs) w.format(at + r.start, r.end - r.start, r.name, r.value, r.expand);
}

/**
 * expandOf returns the expand of the mark called name among marks (its type's), 'after' if none is.
 * @param {Mapping} mp
 * @param {readonly Mark[]} marks
 * @param {string} name
 */
function expandOf(mp, marks, name) {
  for (const m of marks) if (mp.markName(m) === name) return mp.expandOf(m.type);
  const t = mp.marks.get(name.split(':')[0]);
  return t ? mp.expandOf(t) : 'after';
}

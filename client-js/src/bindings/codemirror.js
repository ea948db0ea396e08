// @ts-check
import { Annotation, ChangeSet, EditorSelection, EditorState, Prec, StateEffect, StateField, Transaction } from '@codemirror/state';
import { Decoration, EditorView, ViewPlugin, WidgetType, keymap } from '@codemirror/view';
import { UndoManager } from '../undo.js';
import { PosMapper, hasSurrogates, toOffset16, diff16 } from '../utf16.js';
import { encodeCursor, remoteCursors, selectionTint } from '../cursor.js';
import { Flush } from './deferred.js';

/**
 * The CodeMirror 6 binding (CodeMirror is a peer dependency: @codemirror/state and
 * @codemirror/view).
 *
 *   const { extension } = codemirrorBinding(provider);
 *   new EditorView({ parent, state: EditorState.create({ doc: provider.doc.text('body').toString(), extensions: [extension] }) });
 *
 * A ViewPlugin turns local transactions into CRDT edits and publishes the main selection as the
 * user's cursor; remote changes become CodeMirror transactions annotated with `remoteAnnotation`,
 * so they are never sent back. Remote cursors and selections are decorations held in a
 * StateField. Undo and redo (Mod-z, Mod-y, Mod-Shift-z) go through an UndoManager and revert only
 * this user's edits: leave CodeMirror's own history extension out.
 *
 * CodeMirror counts UTF-16 units and the CRDT code points; conversions happen here, with a fast
 * path for text without surrogate pairs.
 *
 * What the user types (a transaction with a user event: typing, deleting, pasting, dropping) is
 * stored and sent after the frame that shows it is painted (provider.scheduleFlush: the keystrokes
 * of one frame become one update); undo, redo, transactions dispatched from code without a user
 * event, and edits made from code are stored and sent at once. An UndoManager passed in as `undo`
 * stores and sends through its own `transact`.
 *
 * Edits made from code (provider.transact) and undo steps taken through the UndoManager directly
 * reach the editor through the provider's `local` event. Destroying the editor withdraws this
 * user's cursor from the others' screens. Once the server says the document was deleted
 * (provider.deleted), the editor is read-only: nothing would keep what is typed.
 */

/** remoteAnnotation marks transactions the binding itself dispatches (remote edits, undo, redo). */
export const remoteAnnotation = Annotation.define();

/** @type {import('@codemirror/state').StateEffectType<import('@codemirror/view').DecorationSet>} */
const setCursors = StateEffect.define();

/** @type {import('@codemirror/state').StateEffectType<boolean>} */
const setDeleted = StateEffect.define();

/** deletedField is true once the document was deleted on the server: the editor is read-only. */
const deletedField = StateField.define({
  create: () => false,
  update(v, tr) {
    for (const e of tr.effects) if (e.is(setDeleted)) v = e.value;
    return v;
  },
  provide: (f) => [EditorState.readOnly.from(f), EditorView.editable.from(f, (d) => !d)],
});

const cursorField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) if (e.is(setCursors)) deco = e.value;
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

class CaretWidget extends WidgetType {
  /**
   * @param {string} name
   * @param {string} color
   * @param {number} clientId
   */
  constructor(name, color, clientId) {
    super();
    this.name = name;
    this.color = color;
    this.clientId = clientId;
  }

  /** @param {CaretWidget} other */
  eq(other) {
    return other.name === this.name && other.color === this.color && other.clientId === this.clientId;
  }

  toDOM() {
    const caret = document.createElement('span');
    caret.className = 'tandem-caret';
    caret.dataset.clientId = String(this.clientId);
    Object.assign(caret.style, { position: 'relative', borderLeft: `2px solid ${this.color}`, marginLeft: '-1px', marginRight: '-1px' });
    caret.textContent = '\u2060';
    const label = document.createElement('span');
    label.className = 'tandem-caret-label';
    label.textContent = this.name;
    // Where the label sits (above the caret, below it on the first line) is up to the theme:
    // an inline top or bottom would override it.
    Object.assign(label.style, { background: this.color });
    caret.appendChild(label);
    return caret;
  }

  ignoreEvent() {
    return true;
  }
}

/**
 * @typedef {object} CodeMirrorBindingOptions
 * @property {string} [root]                 the Text root (default 'body')
 * @property {UndoManager | false} [undo]    an UndoManager, or false for none (default: a new one)
 */

/**
 * codemirrorBinding returns the extension that binds an editor to provider's document, and the
 * UndoManager it uses (null when undo is false).
 * @param {import('../provider.js').Provider} provider
 * @param {CodeMirrorBindingOptions} [opts]
 */
export function codemirrorBinding(provider, opts = {}) {
  const root = opts.root ?? 'body';
  const text = provider.doc.text(root);
  const flush = new Flush(provider); // what the user types is stored and sent after the frame
  const undoManager = opts.undo === false ? null : (opts.undo ?? new UndoManager(provider.doc, { root, transact: (fn) => flush.transact(fn) }));
  /** >0 while the binding edits the CRDT itself: its own `local` events are no news */
  let editing = 0;
  /**
   * edit runs fn, which edits the CRDT on the binding's behalf.
   * @template T
   * @param {() => T} fn
   * @returns {T}
   */
  const edit = (fn) => {
    editing++;
    try {
      return fn();
    } finally {
      editing--;
    }
  };

  /**
   * sel returns the main selection of a state in code points.
   * @param {import('@codemirror/state').EditorState} state
   * @param {string | null} str  the document as a string when it may hold surrogates
   */
  const sel = (state, str) => {
    const m = state.selection.main;
    if (str === null) return { anchor: m.anchor, head: m.head };
    const pm = new PosMapper(str);
    return { anchor: pm.toPos(m.anchor), head: pm.toPos(m.head) };
  };

  /**
   * dispatchEdits applies code point edits (each relative to the text the previous one left) to
   * the view as one annotated transaction.
   * @param {EditorView} view
   * @param {{ pos: number, delete: number, insert: string }[]} edits
   * @param {{ anchor: number, head: number } | null} selection  to set afterwards, in code points
   */
  const dispatchEdits = (view, edits, selection) => {
    let cur = view.state.doc.toString();
    if (edits.length > 16) {
      // A large batch: one change from the difference, rather than one copy of the text per edit.
      const d = diff16(cur, text.toString());
      const pm = new PosMapper(cur);
      const pos = pm.toPos(d.offset16);
      edits = [{ pos, delete: pm.toPos(d.offset16 + d.delete16) - pos, insert: d.insert }];
    }
    let simple = !hasSurrogates(cur);
    let changes = ChangeSet.empty(cur.length);
    for (const e of edits) {
      const from = simple ? e.pos : toOffset16(cur, e.pos);
      const to = simple ? from + e.delete : from + toOffset16(cur.slice(from), e.delete);
      const c = ChangeSet.of({ from, to, insert: e.insert }, cur.length);
      changes = changes.compose(c);
      cur = cur.slice(0, from) + e.insert + cur.slice(to);
      if (simple && hasSurrogates(e.insert)) simple = false;
    }
    /** @type {import('@codemirror/state').TransactionSpec} */
    const spec = { changes, annotations: remoteAnnotation.of(true) };
    if (selection) {
      const pm = new PosMapper(cur);
      spec.selection = EditorSelection.single(pm.toOffset16(selection.anchor), pm.toOffset16(selection.head));
    }
    view.dispatch(spec);
  };

  const plugin = ViewPlugin.fromClass(
    class {
      /** @param {EditorView} view */
      constructor(view) {
        this.view = view;
        this.published = '';
        this.queued = false;
        /** @type {(() => void)[]} */
        this.cleanup = [
          provider.on('change', (ev) => {
            /** @type {{ pos: number, delete: number, insert: string }[]} */
            const edits = [];
            for (const c of ev.changes) if (c.root === root && c.kind === 'text') edits.push(...c.edits);
            if (edits.length > 0) dispatchEdits(this.view, edits, null);
            this.queueCursors();
          }),
          provider.awareness.on('change', () => this.queueCursors()),
          // Flushes during the binding's own edits bring nothing to show. A deferred flush may
          // carry another binding's keystrokes on the same provider (for this binding's own, the
          // editor and the text are the same: nothing is dispatched).
          provider.on('local', () => {
            if (editing === 0) this.catchUp();
          }),
          provider.on('refused', () => this.followDeleted()),
          provider.on('status', () => this.followDeleted()),
        ];
        if (provider.deleted) queueMicrotask(() => this.followDeleted());
        // An editor created with other content than the document's is brought in line.
        const want = text.toString();
        if (view.state.doc.toString() !== want) {
          queueMicrotask(() =>
            this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: want }, annotations: remoteAnnotation.of(true) }),
          );
        }
        this.queueCursors();
      }

      /** @param {import('@codemirror/view').ViewUpdate} u */
      update(u) {
        for (const tr of u.transactions) {
          if (!tr.docChanged || tr.annotation(remoteAnnotation)) continue;
          const startStr = tr.startState.doc.toString();
          const simple = !hasSurrogates(startStr);
          const pm = new PosMapper(startStr);
          /** @type {{ pos: number, del: number, insert: string, deleted: string }[]} */
          const ops = [];
          tr.changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
            const deleted = startStr.slice(fromA, toA);
            const pos = simple ? fromA : pm.toPos(fromA);
            const del = simple ? toA - fromA : pm.toPos(toA) - pos;
            ops.push({ pos, del, insert: inserted.toString(), deleted });
          });
          // Apply from the end so that each position still refers to the start document.
          ops.reverse();
          const before = sel(tr.startState, simple ? null : startStr);
          const endStr = tr.state.doc.toString();
          const after = sel(tr.state, hasSurrogates(endStr) ? endStr : null);
          const run = () => {
            for (const op of ops) {
              if (undoManager) undoManager.replace(op.pos, op.del, op.insert, { before, after }, op.deleted);
              else
                flush.transact(() => {
                  if (op.del > 0) text.delete(op.pos, op.del);
                  if (op.insert) text.insert(op.pos, op.insert);
                });
            }
          };
          const write = () =>
            edit(() => {
              if (undoManager && ops.length > 1) undoManager.group(run);
              else run();
            });
          // A user event (typing, deleting, pasting) is the user's input: its flush waits.
          if (tr.annotation(Transaction.userEvent) !== undefined) flush.typing(write);
          else write();
        }
        if (u.selectionSet || u.docChanged) this.publish();
        if (u.docChanged) this.queueCursors();
      }

      /** catchUp shows a change of the CRDT text made from code, not through this editor. */
      catchUp() {
        const cur = this.view.state.doc.toString();
        const want = text.toString();
        if (cur === want) return;
        const d = diff16(cur, want);
        this.view.dispatch({ changes: { from: d.offset16, to: d.offset16 + d.delete16, insert: d.insert }, annotations: remoteAnnotation.of(true) });
      }

      publish() {
        const str = this.view.state.doc.toString();
        const s = sel(this.view.state, hasSurrogates(str) ? str : null);
        try {
          const cursor = encodeCursor(text, root, s.anchor, s.head);
          const json = JSON.stringify(cursor);
          if (json === this.published) return;
          this.published = json;
          provider.awareness.setLocalStateField('cursor', cursor);
        } catch {
          // The text is catching up; the next update publishes.
        }
      }

      queueCursors() {
        if (this.queued) return;
        this.queued = true;
        const raf = globalThis.requestAnimationFrame ?? ((/** @type {() => void} */ f) => setTimeout(f, 16));
        raf(() => {
          this.queued = false;
          this.drawCursors();
        });
      }

      drawCursors() {
        const str = this.view.state.doc.toString();
        const pm = new PosMapper(str);
        /** @type {import('@codemirror/state').Range<Decoration>[]} */
        const ranges = [];
        for (const c of remoteCursors(provider.awareness, provider.doc, root)) {
          const a = Math.min(pm.toOffset16(c.anchor), str.length);
          const h = Math.min(pm.toOffset16(c.head), str.length);
          if (a !== h) {
            const bg = selectionTint(c.color);
            ranges.push(Decoration.mark({ attributes: { style: `background-color: ${bg}`, class: 'tandem-selection' } }).range(Math.min(a, h), Math.max(a, h)));
          }
          ranges.push(Decoration.widget({ widget: new CaretWidget(c.name, c.color, c.clientId), side: 1 }).range(h));
        }
        this.view.dispatch({ effects: setCursors.of(Decoration.set(ranges, true)) });
      }

      /** followDeleted makes the editor read-only while the document is deleted, and writable after. */
      followDeleted() {
        if (this.view.state.field(deletedField) !== provider.deleted) this.view.dispatch({ effects: setDeleted.of(provider.deleted) });
      }

      destroy() {
        for (const fn of this.cleanup) fn();
        this.cleanup = [];
        // Others would go on seeing a cursor in an editor that is gone.
        if (this.published && JSON.stringify(provider.awareness.getLocalState()?.cursor) === this.published) {
          provider.awareness.setLocalStateField('cursor', null);
        }
      }
    },
  );

  /**
   * @param {EditorView} view
   * @param {'undo' | 'redo'} which
   */
  const step = (view, which) => {
    if (!undoManager) return false;
    const result = edit(() => (which === 'undo' ? undoManager.undo() : undoManager.redo()));
    if (result) dispatchEdits(view, result.edits, result.selection);
    return true;
  };

  const undoKeys = undoManager
    ? [
        Prec.high(
          keymap.of([
            { key: 'Mod-z', run: (v) => step(v, 'undo'), preventDefault: true },
            { key: 'Mod-y', run: (v) => step(v, 'redo'), preventDefault: true },
            { key: 'Mod-Shift-z', run: (v) => step(v, 'redo'), preventDefault: true },
          ]),
        ),
      ]
    : [];

  // Labels sit above the caret, except on the first line, where the scroller would clip them.
  const theme = EditorView.baseTheme({
    '.tandem-caret-label': {
      position: 'absolute', left: '-2px', bottom: '100%', color: '#fff', font: '11px/1.3 system-ui, sans-serif',
      padding: '0 3px', borderRadius: '2px 2px 2px 0', whiteSpace: 'nowrap', userSelect: 'none', zIndex: '1',
    },
    '.cm-line:first-child .tandem-caret-label': { top: '100%', bottom: 'auto', borderRadius: '0 2px 2px 2px' },
  });

  return {
    extension: [deletedField, cursorField, plugin, theme, ...undoKeys],
    undoManager,
    /** @param {EditorView} view */
    undo: (view) => step(view, 'undo'),
    /** @param {EditorView} view */
    redo: (view) => step(view, 'redo'),
  };
}

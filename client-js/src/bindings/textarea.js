// @ts-check
import { UndoManager } from '../undo.js';
import { PosMapper, diff16, cpLength, toOffset16, hasSurrogates } from '../utf16.js';
import { encodeCursor, remoteCursors, selectionTint } from '../cursor.js';
import { Flush } from './deferred.js';

/**
 * The textarea binding: a plain <textarea> edits a Text root.
 *
 * Local input is diffed against the value the binding last knew (one replaced span per input
 * event, placed using the caret when the change is ambiguous) and turned into CRDT edits; remote
 * changes are applied to the value keeping the local selection on the same characters. Undo and
 * redo (Ctrl/Cmd+Z, Ctrl/Cmd+Shift+Z, Ctrl+Y) go through an UndoManager, so they revert only this
 * user's edits. Remote cursors and selections are drawn by a mirror overlay: a transparent copy of
 * the text, laid out like the textarea, in which labelled, coloured carets are placed.
 *
 * Offsets: the textarea speaks UTF-16, the CRDT code points; conversions happen here, with a fast
 * path when the text has no surrogate pairs.
 *
 * IME composition: while an input method composes (between compositionstart and compositionend),
 * the textarea's value belongs to it. Writing the value then would end the composition and leave
 * its half-typed text behind, so remote changes are held back, and the composed text becomes one
 * edit when the composition ends, placed where it belongs in the text as it now is; then the held
 * changes are shown.
 *
 * What the user types is stored and sent after the frame that shows it is painted
 * (provider.scheduleFlush: the keystrokes of one frame become one update); undo, redo and edits
 * made from code are stored and sent at once. An UndoManager passed in as `undo` stores and sends
 * through its own `transact`.
 *
 * Edits made from code (provider.transact) reach the textarea through the provider's `local`
 * event. Once the server says the document was deleted (provider.deleted), the textarea is made
 * read-only (and writable again if connect() brings the document back): nothing would keep what
 * is typed.
 */

/** @typedef {{ pos: number, delete: number, insert: string }} Edit */

/**
 * mapPos maps a code point position through edits (each relative to the text the previous one
 * left). A position inside a deleted span goes to its start; one where text is inserted stays
 * before it unless right is true (as a caret does: see #applyEdits).
 * @param {Edit[]} edits
 * @param {number} p
 * @param {boolean} right
 */
export function mapPos(edits, p, right) {
  for (const e of edits) {
    const end = e.pos + e.delete;
    if (p > end || (p === end && (e.delete > 0 || right))) p += cpLength(e.insert) - e.delete;
    else if (p > e.pos) p = e.pos;
  }
  return p;
}

/**
 * applyToString applies code point edits to s.
 * @param {string} s
 * @param {Edit[]} edits
 */
function applyToString(s, edits) {
  for (const e of edits) {
    const off = toOffset16(s, e.pos);
    const end = off + toOffset16(s.slice(off), e.delete);
    s = s.slice(0, off) + e.insert + s.slice(end);
  }
  return s;
}

/**
 * @typedef {object} TextareaBindingOptions
 * @property {string} [root]            the Text root (default 'body')
 * @property {UndoManager | false} [undo]  an UndoManager to use, or false for none (default: a new one)
 * @property {boolean} [cursors]        draw remote cursors (default true)
 */

/**
 * @typedef {object} Chunk  a run of whole lines of the mirror
 * @property {number} start  its UTF-16 offset in the text
 * @property {string} text
 * @property {HTMLDivElement} el
 * @property {string} key    its decorations, as last drawn
 * @property {boolean} stale its text changed since it was drawn
 */

/**
 * @typedef {object} Deco  a remote cursor's part in one chunk (offsets relative to the chunk)
 * @property {{ clientId: number, name: string, color: string, anchor: number, head: number }} c
 * @property {boolean} caret  the caret is in this chunk
 * @property {number} lo      the selection's part in the chunk (lo === hi: none)
 * @property {number} hi
 */

/** CHUNK_CHARS is the least length of a mirror chunk (UTF-16 units), unless the text ends first. */
const CHUNK_CHARS = 2048;

/**
 * splitLines cuts s after newlines into pieces of at least min units (the last may be shorter;
 * a line longer than min is never cut).
 * @param {string} s
 * @param {number} min
 * @returns {string[]}
 */
export function splitLines(s, min) {
  /** @type {string[]} */
  const out = [];
  let from = 0;
  while (from < s.length) {
    const nl = s.indexOf('\n', from + min - 1);
    const to = nl < 0 ? s.length : nl + 1;
    out.push(s.slice(from, to));
    from = to;
  }
  return out;
}

/**
 * chunkAt returns the index of the chunk holding offset (the last chunk for the end of the text).
 * @param {{ start: number }[]} chunks
 * @param {number} offset
 */
function chunkAt(chunks, offset) {
  let lo = 0;
  let hi = chunks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (chunks[mid].start <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const STYLE_PROPS = [
  'boxSizing', 'fontFamily', 'fontSize', 'fontStyle', 'fontWeight', 'fontVariant', 'fontStretch',
  'lineHeight', 'letterSpacing', 'wordSpacing', 'textIndent', 'textTransform', 'tabSize',
  'paddingTop', 'paddingRight', 'paddingBottom', 'paddingLeft', 'direction',
];

export class TextareaBinding {
  /** @type {UndoManager | null} */
  undoManager = null;
  #ta;
  #provider;
  #root;
  #text;
  /** the value the CRDT text corresponds to */
  #value = '';
  /** @type {{ anchor: number, head: number } | null} selection in code points, before the next input */
  #sel = null;
  /** @type {string} last published cursor (to avoid republishing the same) */
  #published = '';
  /** @type {(() => void)[]} */
  #cleanup = [];
  /** @type {HTMLDivElement | null} */
  #overlay = null;
  /** @type {HTMLDivElement | null} */
  #mirror = null;
  #renderQueued = false;
  /** an input method is composing: the textarea's value is its own until compositionend */
  #composing = false;
  /** @type {Edit[]} changes to the text held back during a composition, relative to #value */
  #held = [];
  /** the CRDT text after #held */
  #heldText = '';
  /** >0 while this binding edits the CRDT itself (its own `local` events are no news) */
  #editing = 0;
  /** stores and sends this binding's edits: what the user types after the frame */
  #flush;

  /**
   * @param {HTMLTextAreaElement} textarea
   * @param {import('../provider.js').Provider} provider
   * @param {TextareaBindingOptions} [opts]
   */
  constructor(textarea, provider, opts = {}) {
    this.#ta = textarea;
    this.#provider = provider;
    this.#root = opts.root ?? 'body';
    this.#text = provider.doc.text(this.#root);
    this.#flush = new Flush(provider);
    if (opts.undo !== false) {
      // The binding's own manager defers the flush of what the user types (#replace), and
      // flushes undo, redo and any other edit at once.
      this.undoManager = opts.undo ?? new UndoManager(provider.doc, { root: this.#root, transact: (fn) => this.#flush.transact(fn) });
    }
    this.#value = this.#text.toString();
    textarea.value = this.#value;

    this.#listen(textarea, 'input', () => {
      if (!this.#composing) this.#onInput();
    });
    this.#listen(textarea, 'compositionstart', () => {
      if (this.#composing) return;
      if (textarea.value !== this.#value) this.#onInput();
      this.#composing = true;
      this.#heldText = this.#value;
    });
    this.#listen(textarea, 'compositionend', () => this.#endComposition());
    this.#listen(textarea, 'keydown', (ev) => this.#onKeydown(/** @type {KeyboardEvent} */ (ev)));
    this.#listen(textarea, 'beforeinput', (ev) => this.#onBeforeInput(/** @type {InputEvent} */ (ev)));
    for (const type of ['select', 'keyup', 'mouseup', 'focus']) this.#listen(textarea, type, () => this.#onSelection());
    this.#listen(textarea.ownerDocument, 'selectionchange', () => {
      if (textarea.ownerDocument.activeElement === textarea) this.#onSelection();
    });
    this.#cleanup.push(provider.on('change', (ev) => this.#onRemote(ev.changes)));
    // Flushes during this binding's own edits bring nothing to show. A deferred flush may carry
    // another binding's keystrokes on the same provider (for this binding's own, the text and the
    // value are the same: nothing is written).
    this.#cleanup.push(provider.on('local', () => {
      if (this.#editing === 0) this.#onExternal();
    }));
    const followDeleted = () => {
      if (provider.deleted) {
        if (!textarea.readOnly) {
          textarea.readOnly = true;
          this.#madeReadOnly = true;
        }
      } else if (this.#madeReadOnly) {
        textarea.readOnly = false;
        this.#madeReadOnly = false;
      }
    };
    this.#cleanup.push(provider.on('refused', followDeleted));
    this.#cleanup.push(provider.on('status', followDeleted));
    followDeleted();
    if (opts.cursors ?? true) this.#setupOverlay();
  }

  /** the binding made the textarea read-only (the document was deleted) */
  #madeReadOnly = false;

  /** value is the text as the binding knows it (equal to the textarea's value between events). */
  get value() {
    return this.#value;
  }

  /** undo reverts this user's latest step; returns whether it did anything. */
  undo() {
    if (this.#composing) return false;
    return this.#applyUndo(this.#edit(() => this.undoManager?.undo() ?? null));
  }

  /** redo re-applies the latest undone step; returns whether it did anything. */
  redo() {
    if (this.#composing) return false;
    return this.#applyUndo(this.#edit(() => this.undoManager?.redo() ?? null));
  }

  /**
   * remoteCursors returns the other editors' cursors, in UTF-16 offsets of the textarea's value.
   * @returns {{ clientId: number, name: string, color: string, anchor: number, head: number }[]}
   */
  remoteCursors() {
    const m = new PosMapper(this.#value);
    return remoteCursors(this.#provider.awareness, this.#provider.doc, this.#root).map((c) => ({
      ...c,
      anchor: m.toOffset16(c.anchor),
      head: m.toOffset16(c.head),
    }));
  }

  /** destroy removes every listener and the overlay, and withdraws this editor's cursor. */
  destroy() {
    if (this.#composing) this.#endComposition();
    for (const fn of this.#cleanup) fn();
    this.#cleanup = [];
    this.#overlay?.remove();
    this.#overlay = null;
    this.#mirror = null;
    // Others would go on seeing a cursor in an editor that is gone.
    const awareness = this.#provider.awareness;
    if (this.#published && JSON.stringify(awareness.getLocalState()?.cursor) === this.#published) {
      awareness.setLocalStateField('cursor', null);
    }
  }

  /**
   * #edit runs fn, which edits the CRDT on this binding's behalf.
   * @template T
   * @param {() => T} fn
   * @returns {T}
   */
  #edit(fn) {
    this.#editing++;
    try {
      return fn();
    } finally {
      this.#editing--;
    }
  }

  // --- local edits ---

  #onInput() {
    const ta = this.#ta;
    const next = ta.value;
    if (next === this.#value) {
      this.#onSelection();
      return;
    }
    const prev = this.#value;
    const d = diff16(prev, next, ta.selectionEnd);
    const m = new PosMapper(prev);
    const pos = m.toPos(d.offset16);
    const deleted = prev.slice(d.offset16, d.offset16 + d.delete16);
    const del = cpLength(deleted);
    const after = this.#selectionOf(next);
    try {
      this.#replace(pos, del, d.insert, { before: this.#sel ?? undefined, after }, deleted);
      this.#value = next;
    } catch (err) {
      // The CRDT refused the edit (a lone surrogate, say): show what the document holds.
      this.#provider.emit('error', new Error(`textarea: edit refused: ${err instanceof Error ? err.message : err}`, { cause: err }));
      this.#value = this.#text.toString();
      ta.value = this.#value;
    }
    this.#sel = after;
    this.#publishCursor();
    this.#queueRender();
  }

  /**
   * #replace makes one local edit, what the user typed (through the undo manager when there is
   * one); it is stored and sent after the frame.
   * @param {number} pos
   * @param {number} del
   * @param {string} insert
   * @param {{ before?: { anchor: number, head: number }, after: { anchor: number, head: number } }} sel
   * @param {string} [deleted]
   */
  #replace(pos, del, insert, sel, deleted) {
    this.#edit(() =>
      this.#flush.typing(() => {
        if (this.undoManager) this.undoManager.replace(pos, del, insert, sel, deleted);
        else
          this.#flush.transact(() => {
            if (del > 0) this.#text.delete(pos, del);
            if (insert) this.#text.insert(pos, insert);
          });
      }),
    );
  }

  /**
   * #endComposition turns the composed text into an edit of the text as it is now, then shows the
   * changes held back meanwhile.
   */
  #endComposition() {
    if (!this.#composing) return;
    this.#composing = false;
    const held = this.#held;
    this.#held = [];
    this.#heldText = '';
    const ta = this.#ta;
    const prev = this.#value;
    const next = ta.value;
    if (held.length === 0 || next === prev) {
      // Nothing came in meanwhile (the usual case), or nothing was composed.
      if (next !== prev) this.#onInput();
      if (held.length > 0) this.#applyEdits(held, null);
      return;
    }
    // The composed edit, relative to the text before the composition...
    const d = diff16(prev, next, ta.selectionEnd);
    const pm = new PosMapper(prev);
    const s = pm.toPos(d.offset16);
    const del = cpLength(prev.slice(d.offset16, d.offset16 + d.delete16));
    const ins = cpLength(d.insert);
    // ...and where it lands in the text as it is now.
    const s2 = mapPos(held, s, false);
    const e2 = del === 0 ? s2 : Math.max(s2, mapPos(held, s + del, false));
    const nm = new PosMapper(next);
    /** @param {number} off16 a UTF-16 offset in the textarea's value */
    const map = (off16) => {
      const q = nm.toPos(off16);
      if (q < s) return mapPos(held, q, false);
      if (q <= s + ins) return s2 + (q - s);
      return mapPos(held, q - ins + del, true) - (e2 - s2) + ins;
    };
    const a = map(ta.selectionDirection === 'backward' ? ta.selectionEnd : ta.selectionStart);
    const h = map(ta.selectionDirection === 'backward' ? ta.selectionStart : ta.selectionEnd);
    const scrollTop = ta.scrollTop;
    const scrollLeft = ta.scrollLeft;
    try {
      this.#replace(s2, e2 - s2, d.insert, { before: this.#sel ?? undefined, after: { anchor: a, head: h } });
    } catch (err) {
      this.#provider.emit('error', new Error(`textarea: edit refused: ${err instanceof Error ? err.message : err}`, { cause: err }));
    }
    const v = this.#text.toString();
    ta.value = v;
    this.#value = v;
    const vm = new PosMapper(v);
    const a16 = vm.toOffset16(a);
    const h16 = vm.toOffset16(h);
    ta.setSelectionRange(Math.min(a16, h16), Math.max(a16, h16), h16 < a16 ? 'backward' : 'forward');
    ta.scrollTop = scrollTop;
    ta.scrollLeft = scrollLeft;
    this.#sel = this.#selectionOf(v);
    this.#publishCursor();
    this.#queueRender();
  }

  /** @param {KeyboardEvent} ev */
  #onKeydown(ev) {
    if (ev.isComposing || this.#composing) return;
    if (!this.undoManager || !(ev.ctrlKey || ev.metaKey) || ev.altKey) return;
    const k = ev.key.toLowerCase();
    if (k === 'z' && !ev.shiftKey) {
      ev.preventDefault();
      this.undo();
    } else if ((k === 'z' && ev.shiftKey) || (k === 'y' && ev.ctrlKey)) {
      ev.preventDefault();
      this.redo();
    }
  }

  /** @param {InputEvent} ev */
  #onBeforeInput(ev) {
    if (!this.undoManager || this.#composing) return;
    if (ev.inputType === 'historyUndo') {
      ev.preventDefault();
      this.undo();
    } else if (ev.inputType === 'historyRedo') {
      ev.preventDefault();
      this.redo();
    }
  }

  /**
   * @param {import('../undo.js').UndoResult | null} result
   */
  #applyUndo(result) {
    if (!result) return false;
    this.#applyEdits(result.edits, result.selection);
    this.#publishCursor();
    return true;
  }

  // --- remote edits ---

  /** @param {any[]} changes */
  #onRemote(changes) {
    /** @type {{ pos: number, delete: number, insert: string }[]} */
    const edits = [];
    for (const c of changes) {
      if (c.root === this.#root && c.kind === 'text') edits.push(...c.edits);
    }
    if (edits.length > 0 && this.#composing) this.#hold(edits);
    else if (edits.length > 0) this.#applyEdits(edits, null);
    else this.#queueRender();
  }

  /**
   * #hold keeps changes to the text for the end of the composition.
   * @param {Edit[]} edits
   */
  #hold(edits) {
    this.#held.push(...edits);
    this.#heldText = applyToString(this.#heldText, edits);
  }

  /** #onExternal shows a local change made from code, not through this binding. */
  #onExternal() {
    const base = this.#composing ? this.#heldText : this.#value;
    const next = this.#text.toString();
    if (next === base) return;
    const d = diff16(base, next);
    const pos = new PosMapper(base).toPos(d.offset16);
    const edit = { pos, delete: cpLength(base.slice(d.offset16, d.offset16 + d.delete16)), insert: d.insert };
    if (this.#composing) this.#hold([edit]);
    else this.#applyEdits([edit], null);
  }

  /**
   * #applyEdits applies code point edits to the textarea, keeping the selection on its characters
   * (or setting it to `selection`, in code points).
   * @param {{ pos: number, delete: number, insert: string }[]} edits
   * @param {{ anchor: number, head: number } | null} selection
   */
  #applyEdits(edits, selection) {
    const ta = this.#ta;
    if (ta.value !== this.#value) this.#onInput(); // never lose a pending local input
    if (edits.length > 16) {
      // A large batch (a first sync, a long offline period): replaying it edit by edit would copy
      // the text once per edit. Take the CRDT's text and treat the difference as one edit.
      const next = this.#text.toString();
      const d = diff16(this.#value, next);
      const m = new PosMapper(this.#value);
      const pos = m.toPos(d.offset16);
      edits = [{ pos, delete: cpLength(this.#value.slice(d.offset16, d.offset16 + d.delete16)), insert: d.insert }];
    }
    let v = this.#value;
    let start = ta.selectionStart;
    let end = ta.selectionEnd;
    const dir = ta.selectionDirection;
    let simple = !hasSurrogates(v);
    for (const e of edits) {
      const off = simple ? e.pos : toOffset16(v, e.pos);
      const endOff = simple ? off + e.delete : off + toOffset16(v.slice(off), e.delete);
      v = v.slice(0, off) + e.insert + v.slice(endOff);
      const delta = e.insert.length - (endOff - off);
      // Text inserted right at the caret goes after it: the caret stays before what others type
      // there, so that two people typing at one spot do not interleave their keystrokes. Text
      // inserted at either edge of a selection stays outside it.
      const shift = (/** @type {number} */ p, /** @type {boolean} */ after) =>
        p > endOff || (p === endOff && (endOff > off || after)) ? p + delta : p > off ? off : p;
      const collapsed = start === end;
      start = shift(start, !collapsed);
      end = shift(end, false);
      if (simple && hasSurrogates(e.insert)) simple = false;
    }
    const scrollTop = ta.scrollTop;
    const scrollLeft = ta.scrollLeft;
    ta.value = v;
    this.#value = v;
    if (selection) {
      const m = new PosMapper(v);
      const a = m.toOffset16(selection.anchor);
      const h = m.toOffset16(selection.head);
      ta.setSelectionRange(Math.min(a, h), Math.max(a, h), h < a ? 'backward' : 'forward');
    } else {
      ta.setSelectionRange(start, end, dir ?? undefined);
    }
    ta.scrollTop = scrollTop;
    ta.scrollLeft = scrollLeft;
    this.#sel = this.#selectionOf(v);
    this.#queueRender();
  }

  // --- the local cursor ---

  /**
   * @param {string} value the value the selection offsets refer to
   * @returns {{ anchor: number, head: number }}
   */
  #selectionOf(value) {
    const ta = this.#ta;
    const m = new PosMapper(value);
    const s = m.toPos(ta.selectionStart);
    const e = m.toPos(ta.selectionEnd);
    return ta.selectionDirection === 'backward' ? { anchor: e, head: s } : { anchor: s, head: e };
  }

  #onSelection() {
    if (this.#ta.value !== this.#value) return; // an input event is on its way
    this.#sel = this.#selectionOf(this.#value);
    this.#publishCursor();
  }

  #publishCursor() {
    const sel = this.#sel ?? this.#selectionOf(this.#value);
    const key = `${sel.anchor}:${sel.head}:${this.#value.length}`;
    try {
      const cursor = encodeCursor(this.#text, this.#root, sel.anchor, sel.head);
      const json = JSON.stringify(cursor);
      if (json === this.#published && key) return;
      this.#published = json;
      this.#provider.awareness.setLocalStateField('cursor', cursor);
    } catch {
      // A selection past the end while the text catches up: the next event publishes it.
    }
  }

  // --- remote cursors: the mirror overlay ---
  //
  // The mirror is a transparent copy of the text laid out like the textarea, in which the carets
  // and selections sit. It is cut into chunks of whole lines (CHUNK_CHARS or more each, one block
  // element per chunk), and kept in step with the text by editing only the chunks an edit touched:
  // the browser then lays out again only those chunks, not the whole text, and a keystroke in a
  // 100,000-character document costs the overlay a few lines of layout rather than all of them.
  // A chunk's decorations (carets, selection tints) are rebuilt only when they or its text change,
  // and labels are measured only in the chunks rebuilt. With no remote cursor, the mirror is
  // emptied and hidden: nothing is kept in step and nothing is laid out.

  #setupOverlay() {
    const ta = this.#ta;
    const doc = ta.ownerDocument;
    const parent = ta.parentElement;
    if (!parent || typeof doc.defaultView?.getComputedStyle !== 'function') return;
    if (doc.defaultView.getComputedStyle(parent).position === 'static') parent.style.position = 'relative';
    const overlay = doc.createElement('div');
    overlay.className = 'tandem-overlay';
    overlay.setAttribute('aria-hidden', 'true');
    // Clip to the textarea's box, but leave a band above it for the labels of carets on the first line.
    Object.assign(overlay.style, { position: 'absolute', overflow: 'visible', clipPath: 'inset(-1.5em 0 0 0)', pointerEvents: 'none', zIndex: '1', display: 'none' });
    const mirror = doc.createElement('div');
    mirror.className = 'tandem-mirror';
    Object.assign(mirror.style, {
      position: 'absolute', whiteSpace: 'pre-wrap', overflowWrap: 'break-word', color: 'transparent',
      top: '0', left: '0', margin: '0', border: '0',
    });
    overlay.appendChild(mirror);
    ta.insertAdjacentElement('afterend', overlay);
    this.#overlay = overlay;
    this.#mirror = mirror;
    this.#listen(ta, 'scroll', () => this.#scrolled());
    const onAwareness = this.#provider.awareness.on('change', () => this.#queueRender());
    this.#cleanup.push(onAwareness);
    if (typeof ResizeObserver === 'function') {
      const ro = new ResizeObserver(() => {
        this.#styled = false;
        this.#queueRender();
      });
      ro.observe(ta);
      this.#cleanup.push(() => ro.disconnect());
    }
    this.#queueRender();
  }

  /** @type {Chunk[]} the mirror's chunks, in order; empty while no remote cursor is shown */
  #chunks = [];
  /** the text the chunks hold, or null when the mirror is empty */
  #mirrorValue = /** @type {string | null} */ (null);
  /** the mirror's copy of the textarea's style is current */
  #styled = false;

  #queueRender() {
    if (!this.#overlay || this.#renderQueued) return;
    this.#renderQueued = true;
    const raf = globalThis.requestAnimationFrame ?? ((/** @type {() => void} */ f) => setTimeout(f, 16));
    raf(() => {
      this.#renderQueued = false;
      this.#render();
    });
  }

  #scrolled() {
    if (this.#mirror && this.#mirrorValue !== null) this.#mirror.style.transform = `translate(${-this.#ta.scrollLeft}px, ${-this.#ta.scrollTop}px)`;
  }

  /** #position lays the overlay over the textarea's padding box and copies its text style. */
  #position() {
    const ta = this.#ta;
    const overlay = this.#overlay;
    const mirror = this.#mirror;
    if (!overlay || !mirror) return;
    if (!this.#styled) {
      const cs = ta.ownerDocument.defaultView?.getComputedStyle(ta);
      if (!cs) return;
      Object.assign(overlay.style, {
        left: `${ta.offsetLeft + parseFloat(cs.borderLeftWidth)}px`,
        top: `${ta.offsetTop + parseFloat(cs.borderTopWidth)}px`,
        width: `${ta.clientWidth}px`,
        height: `${ta.clientHeight}px`,
      });
      for (const p of STYLE_PROPS) /** @type {any} */ (mirror.style)[p] = /** @type {any} */ (cs)[p];
      mirror.style.boxSizing = 'border-box';
      mirror.style.width = `${ta.clientWidth}px`;
      this.#styled = true;
    }
    this.#scrolled();
  }

  #render() {
    const mirror = this.#mirror;
    const overlay = this.#overlay;
    if (!mirror || !overlay) return;
    const cursors = this.remoteCursors();
    if (cursors.length === 0) {
      if (this.#mirrorValue !== null) {
        overlay.style.display = 'none';
        mirror.replaceChildren();
        this.#chunks = [];
        this.#mirrorValue = null;
      }
      return;
    }
    if (this.#mirrorValue === null) {
      overlay.style.display = '';
      this.#styled = false;
      this.#chunks = [];
      this.#spliceChunks(0, 0, 0, this.#value);
    } else if (this.#mirrorValue !== this.#value) {
      this.#syncChunks(this.#mirrorValue, this.#value);
    }
    this.#mirrorValue = this.#value;
    this.#position();
    // Decorate the chunks: only those whose decorations or text changed are rebuilt.
    /** @type {HTMLElement[]} */
    const rebuilt = [];
    const total = this.#value.length;
    for (let i = 0; i < this.#chunks.length; i++) {
      const ch = this.#chunks[i];
      const from = ch.start;
      const to = from + ch.text.length;
      const last = i === this.#chunks.length - 1;
      /** @type {Deco[]} */
      const decos = [];
      for (const c of cursors) {
        const lo = Math.min(c.anchor, c.head);
        const hi = Math.max(c.anchor, c.head);
        const caret = c.head >= from && (c.head < to || (last && c.head <= total));
        const sel = lo < hi && lo < to && hi > from;
        if (caret || sel) decos.push({ c, caret, lo: Math.max(lo, from) - from, hi: Math.min(hi, to) - from });
      }
      const key = (last ? 'last|' : '') + decos.map((d) => `${d.c.clientId}:${d.c.name}:${d.c.color}:${d.caret ? d.c.head - from : -1}:${d.lo}:${d.hi}`).join('|');
      if (key === ch.key && !ch.stale) continue;
      ch.key = key;
      ch.stale = false;
      this.#fillChunk(ch, decos, last);
      if (decos.some((d) => d.caret)) rebuilt.push(ch.el);
    }
    // A label that would stick out past the right edge (a caret near the end of a line) is
    // turned to extend leftwards from its caret instead.
    if (rebuilt.length === 0) return;
    const right = overlay.getBoundingClientRect().right;
    for (const el of rebuilt) {
      for (const label of el.querySelectorAll('.tandem-caret-label')) {
        const l = /** @type {HTMLElement} */ (label);
        if (l.getBoundingClientRect().right > right) Object.assign(l.style, { left: 'auto', right: '-2px', borderRadius: '2px 2px 0 2px' });
      }
    }
  }

  /**
   * #syncChunks brings the chunks from text a to text b, editing only the chunks the difference
   * touches.
   * @param {string} a
   * @param {string} b
   */
  #syncChunks(a, b) {
    const d = diff16(a, b);
    const chunks = this.#chunks;
    const end = d.offset16 + d.delete16;
    // The chunks [i, j] cover the replaced span. Every chunk but the last ends with a newline (a
    // chunk is a run of whole lines): an edit that takes a chunk's final newline away joins it to
    // the next one.
    const i = chunkAt(chunks, d.offset16);
    let j = chunkAt(chunks, end);
    if (j > i && chunks[j].start === end) j--;
    const first = chunks[i];
    const rel = d.offset16 - first.start;
    let text = '';
    let next = '';
    for (;;) {
      text = i === j ? first.text : chunks.slice(i, j + 1).map((c) => c.text).join('');
      next = text.slice(0, rel) + d.insert + text.slice(rel + d.delete16);
      if (j === chunks.length - 1 || next.endsWith('\n')) break;
      j++;
    }
    if (i === j && next.length <= 4 * CHUNK_CHARS && next.length > 0) {
      // The usual keystroke: one chunk changes.
      first.text = next;
      first.stale = true;
      const delta = d.insert.length - d.delete16;
      for (let k = i + 1; k < chunks.length; k++) chunks[k].start += delta;
      return;
    }
    this.#spliceChunks(i, j - i + 1, first.start, next);
    let at = 0;
    for (const c of this.#chunks) {
      c.start = at;
      at += c.text.length;
    }
  }

  /**
   * #spliceChunks replaces count chunks from index i with chunks holding text (which starts at
   * offset start), and their elements in the mirror.
   * @param {number} i
   * @param {number} count
   * @param {number} start
   * @param {string} text
   */
  #spliceChunks(i, count, start, text) {
    const mirror = /** @type {HTMLDivElement} */ (this.#mirror);
    const doc = mirror.ownerDocument;
    const old = this.#chunks.slice(i, i + count);
    const before = old.length > 0 ? old[0].el : (this.#chunks[i]?.el ?? null);
    /** @type {Chunk[]} */
    const fresh = [];
    let at = start;
    for (const piece of splitLines(text, CHUNK_CHARS)) {
      const el = doc.createElement('div');
      fresh.push({ start: at, text: piece, el, key: '', stale: true });
      at += piece.length;
    }
    if (fresh.length === 0 && this.#chunks.length - count === 0) {
      // The text is empty: one empty chunk holds the carets.
      fresh.push({ start: 0, text: '', el: doc.createElement('div'), key: '', stale: true });
    }
    for (const ch of fresh) mirror.insertBefore(ch.el, before);
    for (const ch of old) ch.el.remove();
    this.#chunks.splice(i, count, ...fresh);
  }

  /**
   * #fillChunk (re)builds one chunk's content: its text, cut at the selections' edges and carets.
   * @param {Chunk} ch
   * @param {Deco[]} decos
   * @param {boolean} last the chunk ends the text
   */
  #fillChunk(ch, decos, last) {
    const doc = ch.el.ownerDocument;
    const v = ch.text;
    const frag = doc.createDocumentFragment();
    if (decos.length === 0) {
      frag.appendChild(doc.createTextNode(v));
    } else {
      const cut = new Set([0, v.length]);
      for (const d of decos) {
        if (d.caret) cut.add(d.c.head - ch.start);
        if (d.hi > d.lo) {
          cut.add(d.lo);
          cut.add(d.hi);
        }
      }
      const bounds = [...cut].filter((x) => x >= 0 && x <= v.length).sort((a, b) => a - b);
      for (let k = 0; k < bounds.length; k++) {
        const at = bounds[k];
        for (const d of decos) if (d.caret && d.c.head - ch.start === at) frag.appendChild(this.#caret(d.c));
        if (k + 1 >= bounds.length) break;
        const next = bounds[k + 1];
        const chunk = v.slice(at, next);
        const sel = decos.find((d) => d.lo <= at && next <= d.hi && d.hi > d.lo);
        if (sel) {
          const span = doc.createElement('span');
          span.className = 'tandem-selection';
          span.dataset.clientId = String(sel.c.clientId);
          span.style.backgroundColor = selectionTint(sel.c.color);
          span.textContent = chunk;
          frag.appendChild(span);
        } else {
          frag.appendChild(doc.createTextNode(chunk));
        }
      }
    }
    // A trailing newline needs something after it to take a line in the mirror, as in a textarea.
    if (last) frag.appendChild(doc.createTextNode('\u200b'));
    ch.el.replaceChildren(frag);
  }

  /**
   * @param {{ clientId: number, name: string, color: string, head: number }} c
   */
  #caret(c) {
    const doc = this.#ta.ownerDocument;
    const caret = doc.createElement('span');
    caret.className = 'tandem-caret';
    caret.dataset.clientId = String(c.clientId);
    caret.dataset.offset = String(c.head);
    Object.assign(caret.style, { position: 'relative', borderLeft: `2px solid ${c.color}`, marginLeft: '-1px', marginRight: '-1px' });
    caret.textContent = '\u2060';
    const label = doc.createElement('span');
    label.className = 'tandem-caret-label';
    label.textContent = c.name;
    Object.assign(label.style, {
      position: 'absolute', left: '-2px', bottom: '100%', background: c.color, color: '#fff',
      font: '11px/1.3 system-ui, sans-serif', padding: '0 3px', borderRadius: '2px 2px 2px 0',
      whiteSpace: 'nowrap', userSelect: 'none',
    });
    caret.appendChild(label);
    return caret;
  }

  /**
   * @param {EventTarget} target
   * @param {string} type
   * @param {(ev: Event) => void} fn
   */
  #listen(target, type, fn) {
    target.addEventListener(type, fn);
    this.#cleanup.push(() => target.removeEventListener(type, fn));
  }
}

// @ts-check
import { UndoManager } from '../undo.js';
import { PosMapper, diff16, cpLength, toOffset16, hasSurrogates } from '../utf16.js';
import { encodeCursor, remoteCursors, selectionTint } from '../cursor.js';

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
 * Edits made from code (provider.transact) reach the textarea through the provider's `local`
 * event.
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
    if (opts.undo !== false) {
      this.undoManager = opts.undo ?? new UndoManager(provider.doc, { root: this.#root, transact: (fn) => provider.transact(fn) });
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
    this.#cleanup.push(provider.on('local', () => {
      if (this.#editing === 0) this.#onExternal();
    }));
    if (opts.cursors ?? true) this.#setupOverlay();
  }

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
   * #replace makes one local edit (through the undo manager when there is one).
   * @param {number} pos
   * @param {number} del
   * @param {string} insert
   * @param {{ before?: { anchor: number, head: number }, after: { anchor: number, head: number } }} sel
   * @param {string} [deleted]
   */
  #replace(pos, del, insert, sel, deleted) {
    this.#edit(() => {
      if (this.undoManager) {
        this.undoManager.replace(pos, del, insert, sel, deleted);
      } else {
        this.#provider.transact(() => {
          if (del > 0) this.#text.delete(pos, del);
          if (insert) this.#text.insert(pos, insert);
        });
      }
    });
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
    Object.assign(overlay.style, { position: 'absolute', overflow: 'visible', clipPath: 'inset(-1.5em 0 0 0)', pointerEvents: 'none', zIndex: '1' });
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
    this.#listen(ta, 'scroll', () => this.#position());
    const onAwareness = this.#provider.awareness.on('change', () => this.#queueRender());
    this.#cleanup.push(onAwareness);
    if (typeof ResizeObserver === 'function') {
      const ro = new ResizeObserver(() => this.#queueRender());
      ro.observe(ta);
      this.#cleanup.push(() => ro.disconnect());
    }
    this.#queueRender();
  }

  #queueRender() {
    if (!this.#overlay || this.#renderQueued) return;
    this.#renderQueued = true;
    const raf = globalThis.requestAnimationFrame ?? ((/** @type {() => void} */ f) => setTimeout(f, 16));
    raf(() => {
      this.#renderQueued = false;
      this.#render();
    });
  }

  /** #position lays the overlay over the textarea's padding box and follows its scroll. */
  #position() {
    const ta = this.#ta;
    const overlay = this.#overlay;
    const mirror = this.#mirror;
    if (!overlay || !mirror) return;
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
    mirror.style.transform = `translate(${-ta.scrollLeft}px, ${-ta.scrollTop}px)`;
  }

  #render() {
    const mirror = this.#mirror;
    if (!mirror) return;
    this.#position();
    const doc = mirror.ownerDocument;
    const v = this.#value;
    const cursors = this.remoteCursors();
    // Cut the text at every selection boundary and caret.
    /** @type {Map<number, { carets: typeof cursors, }>} */
    const points = new Map();
    const cut = new Set([0, v.length]);
    for (const c of cursors) {
      const lo = Math.min(c.anchor, c.head);
      const hi = Math.max(c.anchor, c.head);
      cut.add(lo);
      cut.add(hi);
      const p = points.get(c.head) ?? { carets: [] };
      p.carets.push(c);
      points.set(c.head, p);
    }
    const bounds = [...cut].filter((x) => x >= 0 && x <= v.length).sort((a, b) => a - b);
    const frag = doc.createDocumentFragment();
    for (let i = 0; i < bounds.length; i++) {
      const at = bounds[i];
      for (const c of points.get(at)?.carets ?? []) frag.appendChild(this.#caret(c));
      if (i + 1 >= bounds.length) break;
      const next = bounds[i + 1];
      const chunk = v.slice(at, next);
      const sel = cursors.find((c) => Math.min(c.anchor, c.head) <= at && next <= Math.max(c.anchor, c.head) && c.anchor !== c.head);
      if (sel) {
        const span = doc.createElement('span');
        span.className = 'tandem-selection';
        span.dataset.clientId = String(sel.clientId);
        span.style.backgroundColor = selectionTint(sel.color);
        span.textContent = chunk;
        frag.appendChild(span);
      } else {
        frag.appendChild(doc.createTextNode(chunk));
      }
    }
    // A trailing newline needs something after it to take a line in the mirror, as in a textarea.
    frag.appendChild(doc.createTextNode('\u200b'));
    mirror.replaceChildren(frag);
    // A label that would stick out past the right edge (a caret near the end of a line) is
    // turned to extend leftwards from its caret instead.
    const right = this.#overlay?.getBoundingClientRect().right ?? Infinity;
    for (const label of mirror.querySelectorAll('.tandem-caret-label')) {
      const el = /** @type {HTMLElement} */ (label);
      if (el.getBoundingClientRect().right > right) Object.assign(el.style, { left: 'auto', right: '-2px', borderRadius: '2px 2px 0 2px' });
    }
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

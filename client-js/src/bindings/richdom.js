// @ts-check
import { cpLength, toOffset16 } from '../utf16.js';
import { encodeCursor, remoteCursors, selectionTint } from '../cursor.js';
import { blocksOf, blockAt, clampToContent, updateBlocks, newDirty, dirtyInsert, dirtyDelete, dirtyTouch, dirtyOf } from './richblocks.js';

/**
 * The rich DOM binding: a contenteditable element edits a rich Text root (docs/crdt.md section 4,
 * docs/richtext.md), without an editor library, so that the demo runs with no build step.
 *
 * Rendering: the root's spans are cut into blocks (richblocks.js); each block is one element
 * (<p>, <h1>-<h6>, <pre>, <blockquote>, or a <div> list item whose bullet or number CSS draws, its
 * nesting an indentation), and each span one leaf in it: an element holding one text node for text
 * (classes for its marks, an <a> for a link), or one element for an inline object. Positions map
 * between the DOM and the CRDT through the blocks' start positions and the leaves' lengths.
 *
 * Local input: every `beforeinput` is cancelled and turned into CRDT operations (insert, delete,
 * embed a block marker for Enter, a hard break for Shift+Enter, marks for Ctrl/Cmd+B/I/U), made in
 * one provider.transact; then the DOM is brought up to date and the caret placed. The browser never
 * edits the DOM itself, so DOM and CRDT cannot drift. IME composition is not supported (its text
 * is not cancellable input): the block is redrawn from the CRDT when a composition ends.
 *
 * Remote changes: the blocks are recomputed, and only the block elements whose content changed are
 * replaced (a common prefix and suffix of unchanged blocks keep their elements, and the caret its
 * node when it is in one of them); the local selection is mapped through the change's edits.
 *
 * Cursors: the local selection is published in awareness as relative positions (cursor.js); other
 * editors' carets and selections are drawn in an overlay from range rectangles.
 */

/** @typedef {import('./richblocks.js').Block} Block */
/** @typedef {import('../crdt/handles.js').Span} Span */
/** @typedef {{ anchor: number, head: number }} Sel */

/** The expand each known mark is written with (docs/richtext.md section 3). */
export const MARK_EXPAND = /** @type {const} */ ({ bold: 'after', italic: 'after', underline: 'after', strike: 'after', code: 'after', link: 'none' });

/**
 * mapCaret maps a position through a change's edits (each relative to the text the previous one
 * left). Text that others insert right at the caret goes after it, so that two people typing at one
 * spot do not interleave; but an insertion that ends with an embed (a remote Enter's block marker)
 * moves the caret after it, so that the caret stays on its word in the new block.
 * @param {import('../crdt/changes.js').TextEdit[]} edits
 * @param {number} p
 */
export function mapCaret(edits, p) {
  for (const e of edits) {
    const end = e.pos + e.delete;
    if (p > end || (p === end && (e.delete > 0 || e.insert.endsWith('\uFFFC')))) p += cpLength(e.insert) - e.delete;
    else if (p > e.pos) p = e.pos;
  }
  return p;
}

/** expandOf returns the expand a mark name is written with: links, comments and unknown marks do not grow. */
const expandOf = (/** @type {string} */ name) => /** @type {Record<string, 'after' | 'none'>} */ (MARK_EXPAND)[name] ?? 'none';

/** markClasses maps mark names to the classes of the text leaf. */
const markClasses = /** @type {Record<string, string>} */ ({ bold: 'm-bold', italic: 'm-italic', underline: 'm-underline', strike: 'm-strike', code: 'm-code' });

/**
 * safeHref returns href when it is an http(s) or mailto URL, else null: a peer's link must not run
 * script.
 * @param {unknown} href
 */
export function safeHref(href) {
  if (typeof href !== 'string') return null;
  try {
    const u = new URL(href, 'https://invalid.example/');
    return u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'mailto:' ? href : null;
  } catch {
    return null;
  }
}

/**
 * signature is what decides whether a block's element can be kept: its type, attributes, nesting
 * and content, not its positions.
 * @param {Block} b
 */
const signature = (b) => JSON.stringify([b.type, b.attrs, b.parents, b.marker === null, b.inline]);

/**
 * @typedef {object} RichBindingOptions
 * @property {string} [root]      the Text root (default 'body')
 * @property {boolean} [cursors]  draw remote cursors (default true)
 */

export class RichBinding {
  #el;
  #provider;
  #root;
  #text;
  /** @type {Block[]} the blocks drawn, one element each, in order */
  #blocks = [];
  /** @type {string[]} */
  #sigs = [];
  /** @type {Sel | null} the local selection in positions */
  #sel = null;
  /** @type {Map<string, unknown>} marks to give the next typed text at a collapsed caret (null: without the mark) */
  #pending = new Map();
  /** the caret position the pending marks belong to */
  #pendingAt = -1;
  #published = '';
  /** >0 while this binding edits the CRDT itself */
  #editing = 0;
  /** @type {import('./richblocks.js').Dirty | null} what the edit under way touched */
  #dirty = null;
  #composing = false;
  /** @type {HTMLDivElement | null} */
  #overlay = null;
  #cursorsQueued = false;
  /** @type {(() => void)[]} */
  #cleanup = [];

  /**
   * @param {HTMLElement} el  an element to edit in (its children are replaced)
   * @param {import('../provider.js').Provider} provider
   * @param {RichBindingOptions} [opts]
   */
  constructor(el, provider, opts = {}) {
    this.#el = el;
    this.#provider = provider;
    this.#root = opts.root ?? 'body';
    this.#text = provider.doc.text(this.#root);
    el.contentEditable = 'true';
    el.spellcheck = false;
    el.replaceChildren();
    this.#render();

    this.#listen(el, 'beforeinput', (ev) => this.#onBeforeInput(/** @type {InputEvent} */ (ev)));
    this.#listen(el, 'keydown', (ev) => this.#onKeydown(/** @type {KeyboardEvent} */ (ev)));
    this.#listen(el, 'compositionstart', () => {
      this.#composing = true;
    });
    this.#listen(el, 'compositionend', () => {
      this.#composing = false;
      this.#sigs = this.#sigs.map(() => ''); // the composition wrote into the DOM: redraw it all
      this.#render();
      this.#restoreSelection();
    });
    this.#listen(el.ownerDocument, 'selectionchange', () => this.#onSelection());
    this.#cleanup.push(provider.on('change', (ev) => {
      for (const c of ev.changes) if (c.root === this.#root && c.kind === 'text') this.#onRemote(c);
    }));
    this.#cleanup.push(provider.on('local', () => {
      if (this.#editing === 0) this.#onRemote(null);
    }));
    const followDeleted = () => {
      el.contentEditable = provider.deleted ? 'false' : 'true';
    };
    this.#cleanup.push(provider.on('refused', followDeleted));
    this.#cleanup.push(provider.on('status', followDeleted));
    followDeleted();
    if (opts.cursors ?? true) this.#setupOverlay();
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

  /** blocks returns the blocks drawn, in order (positions as in the CRDT). */
  get blocks() {
    return this.#blocks;
  }

  /** selection returns the local selection in positions, or null when the editor has none. */
  get selection() {
    return this.#sel;
  }

  /** destroy removes every listener and the overlay, and withdraws this editor's cursor. */
  destroy() {
    for (const fn of this.#cleanup) fn();
    this.#cleanup = [];
    this.#overlay?.remove();
    this.#overlay = null;
    const awareness = this.#provider.awareness;
    if (this.#published && JSON.stringify(awareness.getLocalState()?.cursor) === this.#published) {
      awareness.setLocalStateField('cursor', null);
    }
  }

  // --- rendering ---

  /**
   * #render redraws the blocks whose content changed. With what a change touched (d), only the
   * blocks around it are recomputed (updateBlocks); without, all of them.
   * @param {import('./richblocks.js').Dirty | null} [d]
   */
  #render(d = null) {
    /** @type {{ blocks: Block[], from: number, count: number, added: number }} */
    let u;
    if (d === null) {
      const all = blocksOf(this.#text.spans());
      u = { blocks: all, from: 0, count: this.#blocks.length, added: all.length };
    } else {
      u = updateBlocks(this.#blocks, this.#text, d);
    }
    const { blocks, from } = u;
    const sigs = blocks.slice(from, from + u.added).map(signature);
    const old = this.#sigs.slice(from, from + u.count);
    // Within the recomputed blocks, those whose content is unchanged keep their elements.
    let pre = 0;
    while (pre < old.length && pre < sigs.length && old[pre] === sigs[pre]) pre++;
    let suf = 0;
    while (suf < old.length - pre && suf < sigs.length - pre && old[old.length - 1 - suf] === sigs[sigs.length - 1 - suf]) suf++;
    const children = this.#el.children;
    for (let i = from + old.length - suf - 1; i >= from + pre; i--) children[i].remove();
    const before = children[from + pre] ?? null;
    for (let i = pre; i < sigs.length - suf; i++) this.#el.insertBefore(this.#blockElement(blocks[from + i]), before);
    this.#blocks = blocks;
    this.#sigs = [...this.#sigs.slice(0, from), ...sigs, ...this.#sigs.slice(from + u.count)];
    this.#queueCursors();
  }

  /**
   * #blockElement draws one block.
   * @param {Block} b
   */
  #blockElement(b) {
    const doc = this.#el.ownerDocument;
    let tag = 'p';
    if (b.type === 'heading') tag = `h${Math.min(6, Math.max(1, Number(b.attrs.level) || 1))}`;
    else if (b.type === 'code_block') tag = 'pre';
    else if (b.type === 'blockquote') tag = 'blockquote';
    else if (b.type !== 'paragraph') tag = 'div';
    const el = doc.createElement(tag);
    el.className = `blk blk-${b.type.replace(/[^a-z0-9_-]/gi, '')}`;
    el.dataset.type = b.type;
    if (b.type === 'list_item') {
      el.dataset.list = typeof b.attrs.list === 'string' ? b.attrs.list : 'bullet';
      if (typeof b.attrs.checked === 'boolean') el.dataset.checked = String(b.attrs.checked);
      // An item whose marker starts a list (a list's attributes, or a list after one of its
      // kind: docs/prosemirror.md section 1.1) restarts the number, from the marker alone.
      const la = /** @type {Record<string, unknown> | undefined} */ (b.attrs.listAttrs);
      const order = la && typeof la === 'object' && Number.isInteger(la.order) ? Number(la.order) : 1;
      if (el.dataset.list === 'ordered' && (b.attrs.listStart === true || order !== 1)) el.style.counterReset = `ol ${order - 1}`;
    }
    if (b.parents.includes('blockquote')) el.classList.add('in-quote');
    el.style.setProperty('--depth', String(b.parents.filter((p) => p === 'list_item').length));
    const code = b.type === 'code_block';
    for (const s of b.inline) el.appendChild(this.#leaf(s, code));
    const last = el.lastChild;
    if (last === null || (last instanceof HTMLElement && last.tagName === 'BR')) {
      const filler = doc.createElement('br');
      filler.dataset.filler = '';
      el.appendChild(filler);
    }
    return el;
  }

  /**
   * #leaf draws one span: text with its marks, or an inline object.
   * @param {Span} s
   * @param {boolean} plain  marks are not drawn (a code block)
   */
  #leaf(s, plain) {
    const doc = this.#el.ownerDocument;
    if ('insert' in s) {
      const href = plain ? null : safeHref(/** @type {{ href?: unknown }} */ (s.marks.link ?? {}).href);
      const el = doc.createElement(href ? 'a' : 'span');
      if (href) el.setAttribute('href', href);
      el.dataset.leaf = 'text';
      if (!plain) {
        /** @type {string[]} */
        const threads = [];
        for (const name of Object.keys(s.marks)) {
          if (markClasses[name]) el.classList.add(markClasses[name]);
          else if (name.startsWith('comment:')) threads.push(name.slice(8));
        }
        if (threads.length > 0) {
          el.classList.add('m-comment');
          el.dataset.comments = threads.join(' ');
          el.style.setProperty('--layers', String(threads.length));
        }
      }
      el.textContent = s.insert;
      return el;
    }
    const v = /** @type {Record<string, unknown>} */ (s.embed !== null && typeof s.embed === 'object' ? { ...s.embed, ...s.attrs } : {});
    /** @type {HTMLElement} */
    let el;
    if (v.inline === 'hard_break') {
      el = doc.createElement('br');
    } else if (v.inline === 'image' && safeHref(v.src)) {
      const img = doc.createElement('img');
      img.src = /** @type {string} */ (v.src);
      img.alt = typeof v.alt === 'string' ? v.alt : '';
      el = img;
    } else {
      el = doc.createElement('span');
      el.className = 'embed';
      el.contentEditable = 'false';
      el.textContent = v.inline === 'mention' && typeof v.label === 'string' ? `@${v.label}` : '\uFFFC';
    }
    el.dataset.leaf = 'embed';
    return el;
  }

  // --- positions ---

  /**
   * #leafLen returns how many positions a child of a block element holds.
   * @param {Node} n
   */
  #leafLen(n) {
    if (!(n instanceof HTMLElement)) return 0;
    if (n.dataset.leaf === 'text') return cpLength(n.textContent ?? '');
    return n.dataset.leaf === 'embed' ? 1 : 0;
  }

  /**
   * #posOf maps a DOM point inside the editor to a position, or null for one outside it.
   * @param {Node | null} node
   * @param {number} offset
   * @returns {number | null}
   */
  #posOf(node, offset) {
    const root = this.#el;
    if (node === null) return null;
    if (node === root) {
      const b = this.#blocks[Math.min(offset, this.#blocks.length - 1)];
      return offset >= this.#blocks.length ? b.end : b.start;
    }
    /** @type {Node | null} */
    let blockEl = node;
    while (blockEl !== null && blockEl.parentNode !== root) blockEl = blockEl.parentNode;
    if (blockEl === null) return null;
    const bi = Array.prototype.indexOf.call(root.children, blockEl);
    const b = this.#blocks[bi];
    if (b === undefined) return null;
    let pos = b.start;
    if (node === blockEl) {
      for (let i = 0; i < offset && i < blockEl.childNodes.length; i++) pos += this.#leafLen(blockEl.childNodes[i]);
      return pos;
    }
    /** @type {Node} */
    let leaf = node;
    while (leaf.parentNode !== blockEl) leaf = /** @type {Node} */ (leaf.parentNode);
    for (const c of blockEl.childNodes) {
      if (c === leaf) break;
      pos += this.#leafLen(c);
    }
    if (node.nodeType === Node.TEXT_NODE) return pos + cpLength((/** @type {Text} */ (node)).data.slice(0, offset));
    return pos + (offset > 0 ? this.#leafLen(leaf) : 0);
  }

  /**
   * #pointOf maps a position to a DOM point.
   * @param {number} pos
   * @returns {[Node, number]}
   */
  #pointOf(pos) {
    const bi = blockAt(this.#blocks, pos);
    const b = this.#blocks[bi];
    const el = this.#el.children[bi];
    let rem = Math.max(0, pos - b.start);
    for (let i = 0; i < el.childNodes.length; i++) {
      const c = el.childNodes[i];
      if (!(c instanceof HTMLElement)) continue;
      if (c.dataset.leaf === 'text') {
        const t = /** @type {Text} */ (c.firstChild);
        const n = cpLength(t.data);
        if (rem <= n) return [t, toOffset16(t.data, rem)];
        rem -= n;
      } else if (c.dataset.leaf === 'embed') {
        if (rem === 0) return [el, i];
        rem--;
      } else {
        return [el, i];
      }
    }
    return [el, el.childNodes.length];
  }

  /**
   * rangeOf returns a DOM Range over positions [from, to).
   * @param {number} from
   * @param {number} to
   */
  rangeOf(from, to) {
    const r = this.#el.ownerDocument.createRange();
    const [sn, so] = this.#pointOf(from);
    const [en, eo] = this.#pointOf(to);
    r.setStart(sn, so);
    r.setEnd(en, eo);
    return r;
  }

  // --- selection ---

  /** #readSelection reads the DOM selection into positions (null when it is not in the editor). */
  #readSelection() {
    const s = this.#el.ownerDocument.getSelection();
    if (!s || s.rangeCount === 0 || !this.#el.contains(s.anchorNode)) return null;
    const anchor = this.#posOf(s.anchorNode, s.anchorOffset);
    const head = this.#posOf(s.focusNode, s.focusOffset);
    if (anchor === null || head === null) return null;
    return { anchor: clampToContent(this.#blocks, anchor), head: clampToContent(this.#blocks, head) };
  }

  #onSelection() {
    if (this.#composing) return;
    const sel = this.#readSelection();
    if (sel === null) return;
    this.#sel = sel;
    if (sel.anchor !== sel.head || sel.head !== this.#pendingAt) this.#pending.clear();
    this.#publishCursor();
  }

  /**
   * select sets the local selection (positions) and shows it.
   * @param {number} anchor
   * @param {number} [head]
   */
  select(anchor, head = anchor) {
    this.#sel = { anchor: clampToContent(this.#blocks, anchor), head: clampToContent(this.#blocks, head) };
    this.#restoreSelection();
    this.#publishCursor();
  }

  #restoreSelection() {
    const s = this.#el.ownerDocument.getSelection();
    if (!s || this.#sel === null || this.#el.ownerDocument.activeElement !== this.#el) return;
    const [an, ao] = this.#pointOf(this.#sel.anchor);
    const [hn, ho] = this.#pointOf(this.#sel.head);
    s.setBaseAndExtent(an, ao, hn, ho);
  }

  #publishCursor() {
    if (this.#sel === null) return;
    const c = encodeCursor(this.#text, this.#root, this.#sel.anchor, this.#sel.head);
    const key = JSON.stringify(c);
    if (key === this.#published) return;
    this.#published = key;
    this.#provider.awareness.setLocalStateField('cursor', c);
  }

  // --- local edits ---

  /**
   * #edit runs fn in one transaction, then redraws and places the selection where fn says.
   * @param {() => Sel | number | void} fn
   */
  #edit(fn) {
    this.#editing++;
    /** @type {{ sel: Sel | number | undefined }} */
    const out = { sel: undefined };
    const d = newDirty();
    this.#dirty = d;
    try {
      this.#provider.transact(() => {
        out.sel = fn() ?? undefined;
      });
    } catch (err) {
      this.#provider.emit('error', new Error(`rich: edit refused: ${err instanceof Error ? err.message : err}`, { cause: err }));
    } finally {
      this.#editing--;
      this.#dirty = null;
    }
    this.#render(d);
    const sel = out.sel;
    if (typeof sel === 'number') this.select(sel);
    else if (sel) this.select(sel.anchor, sel.head);
    else if (this.#sel) this.select(this.#sel.anchor, this.#sel.head);
  }

  // The CRDT edits of the binding, each recording what it touched for #render.

  /** @param {number} pos @param {string} s */
  #ins(pos, s) {
    this.#text.insert(pos, s);
    if (this.#dirty) dirtyInsert(this.#dirty, pos, cpLength(s));
  }

  /** @param {number} pos @param {unknown} value */
  #emb(pos, value) {
    this.#text.insertEmbed(pos, value);
    if (this.#dirty) dirtyInsert(this.#dirty, pos, 1);
  }

  /** @param {number} pos @param {number} n */
  #del(pos, n) {
    this.#text.delete(pos, n);
    if (this.#dirty) dirtyDelete(this.#dirty, pos, n);
  }

  /** @param {number} pos @param {number} n @param {string} name @param {unknown} value */
  #fmt(pos, n, name, value) {
    this.#text.format(pos, n, name, value, expandOf(name));
    if (this.#dirty) dirtyTouch(this.#dirty, pos, n);
  }

  /** @param {number} pos @param {string} key @param {unknown} value */
  #attr(pos, key, value) {
    this.#text.setAttr(pos, key, value);
    if (this.#dirty) dirtyTouch(this.#dirty, pos, 1);
  }

  /** #range returns the selection as [from, to], from <= to. */
  #range() {
    const s = this.#sel ?? this.#readSelection() ?? { anchor: this.#text.length, head: this.#text.length };
    return [Math.min(s.anchor, s.head), Math.max(s.anchor, s.head)];
  }

  /**
   * #keepSelection runs fn (edits that may insert before the selection) keeping the selection on
   * its characters through relative positions.
   * @param {() => void} fn
   * @returns {Sel}
   */
  #keepSelection(fn) {
    const s = this.#sel ?? { anchor: 0, head: 0 };
    const a = this.#text.relPos(s.anchor, 1);
    const h = this.#text.relPos(s.head, 1);
    fn();
    const doc = this.#provider.doc;
    return { anchor: doc.resolve(a), head: doc.resolve(h) };
  }

  /**
   * insertText replaces the selection with text, giving it the pending marks of the caret.
   * @param {string} text
   */
  insertText(text) {
    const [from, to] = this.#range();
    const pending = from === to ? [...this.#pending] : [];
    this.#edit(() => {
      if (to > from) this.#del(from, to - from);
      const n = cpLength(text);
      if (n === 0) return from;
      this.#ins(from, text);
      for (const [name, value] of pending) this.#fmt(from, n, name, value);
      return from + n;
    });
    if (pending.length > 0) {
      this.#pending = new Map(pending);
      this.#pendingAt = from + cpLength(text);
    }
  }

  /** insertLineBreak replaces the selection with a hard break. */
  insertLineBreak() {
    const [from, to] = this.#range();
    this.#edit(() => {
      if (to > from) this.#del(from, to - from);
      this.#emb(from, { inline: 'hard_break' });
      return from + 1;
    });
  }

  /**
   * splitBlock replaces the selection with a block boundary (Enter): a new block marker, of the
   * same kind for list items and quotes, a paragraph after a heading. Enter in an empty list item
   * makes it a paragraph; in a code block it is a newline.
   */
  splitBlock() {
    const [from, to] = this.#range();
    this.#edit(() => {
      if (to > from) this.#del(from, to - from);
      const blocks = this.#dirty ? updateBlocks(this.#blocks, this.#text, this.#dirty).blocks : this.#blocks;
      const b = blocks[blockAt(blocks, from)];
      if (b.type === 'code_block') {
        this.#ins(from, '\n');
        return from + 1;
      }
      if (b.type === 'list_item' && b.start === b.end && b.marker !== null) {
        this.#attr(b.marker, 'block', 'paragraph');
        return from;
      }
      if (b.marker === null) {
        // The implicit paragraph: a marker after the split, and one before it when the split is
        // at its start (else the text before it, empty, would not be a block).
        if (from === 0) this.#emb(0, { block: 'paragraph' });
        this.#emb(from === 0 ? 1 : from, { block: 'paragraph' });
        return from === 0 ? 2 : from + 1;
      }
      /** @type {Record<string, unknown>} */
      let next = { block: 'paragraph' };
      if (b.type === 'blockquote') {
        // A blockquote marker opens a new quote (docs/richtext.md): the next paragraph goes in this one.
        next = { block: 'paragraph', parents: [...b.parents, 'blockquote'] };
      } else if (b.type === 'list_item' || (from < b.end && b.type !== 'heading')) {
        next = { block: b.type, ...b.attrs };
        if (typeof next.checked === 'boolean') next.checked = false;
      }
      if (b.parents.length > 0 && next.parents === undefined) next.parents = b.parents;
      if (from === b.start && b.start < b.end) {
        // At the start of a block with content: the new, empty block goes before it, so that the
        // block keeps its marker, its type and its text; what starts a list moves to the new
        // block, which now starts it.
        this.#emb(b.marker, next);
        for (const k of ['listAttrs', 'listStart']) if (k in next) this.#attr(b.marker + 1, k, null);
        return from + 1;
      }
      // The new block after this one continues its list.
      delete next.listAttrs;
      delete next.listStart;
      this.#emb(from, next);
      return from + 1;
    });
  }

  /**
   * deleteBackward deletes the selection, or before the caret: the browser's target range (a
   * character, a word), or at the start of a block its type (a heading becomes a paragraph) and
   * then the boundary with the block before.
   * @param {StaticRange[]} [targets]
   */
  deleteBackward(targets = []) {
    this.#delete(-1, targets);
  }

  /**
   * deleteForward deletes the selection, or after the caret (at a block's end, the boundary with
   * the next block).
   * @param {StaticRange[]} [targets]
   */
  deleteForward(targets = []) {
    this.#delete(1, targets);
  }

  /**
   * @param {-1 | 1} dir
   * @param {StaticRange[]} targets
   */
  #delete(dir, targets) {
    let [from, to] = this.#range();
    const blocks = this.#blocks;
    const b = blocks[blockAt(blocks, from)];
    if (from === to) {
      if (dir < 0 && from === b.start) {
        if (b.marker === null) return;
        const marker = b.marker;
        if (b.type !== 'paragraph' || b.parents.length > 0) {
          this.#edit(() => {
            if (b.type !== 'paragraph') this.#attr(marker, 'block', 'paragraph');
            else this.#attr(marker, 'parents', null);
            return from;
          });
          return;
        }
        this.#edit(() => {
          this.#del(marker, 1);
          return marker;
        });
        return;
      }
      if (dir > 0 && from === b.end) {
        if (from >= this.#text.length) return;
        this.#edit(() => {
          this.#del(from, 1);
          return from;
        });
        return;
      }
      const t = targets[0];
      const tf = t ? this.#posOf(t.startContainer, t.startOffset) : null;
      const tt = t ? this.#posOf(t.endContainer, t.endOffset) : null;
      if (tf !== null && tt !== null && tf < tt && tf >= b.start && tt <= b.end && (dir < 0 ? tt === from : tf === from)) {
        from = tf;
        to = tt;
      } else if (dir < 0) {
        from--;
      } else {
        to++;
      }
    }
    this.#edit(() => {
      this.#del(from, to - from);
      return from;
    });
  }

  /**
   * activeMarks returns the marks that all text of the selection has, with their values (for a caret:
   * the character before it, or the pending marks).
   * @returns {Record<string, unknown>}
   */
  activeMarks() {
    const [from, to] = this.#range();
    /** @type {Record<string, unknown>} */
    let common = {};
    if (from === to) {
      if (from > 0) {
        const [s] = this.#text.slice(from - 1, 1);
        if (s && 'insert' in s) common = { ...s.marks };
      }
      for (const [k, v] of this.#pending) {
        if (v === null) delete common[k];
        else common[k] = v;
      }
      return common;
    }
    let first = true;
    for (const s of this.#text.slice(from, to - from)) {
      if (!('insert' in s)) continue;
      if (first) {
        common = { ...s.marks };
        first = false;
      } else {
        for (const k of Object.keys(common)) if (!(k in s.marks)) delete common[k];
      }
    }
    return common;
  }

  /**
   * toggleMark gives the selection the mark name (value), or takes it off if all of it has it;
   * at a caret, the next typed text gets (or loses) it.
   * @param {string} name
   * @param {unknown} [value]
   */
  toggleMark(name, value = true) {
    const [from, to] = this.#range();
    const on = name in this.activeMarks();
    if (from === to) {
      this.#pending.set(name, on ? null : value);
      this.#pendingAt = from;
      this.#restoreSelection();
      return;
    }
    this.setMark(name, on ? null : value);
  }

  /**
   * setMark sets the mark name to value over the selection (null: removes it).
   * @param {string} name
   * @param {unknown} value
   */
  setMark(name, value) {
    const [from, to] = this.#range();
    if (from === to) return;
    this.#edit(() => {
      this.#fmt(from, to - from, name, value);
      return this.#sel ?? undefined;
    });
  }

  /**
   * setBlock makes every block of the selection a block of type (with attrs), or a paragraph when
   * all of them already are.
   * @param {string} type
   * @param {Record<string, unknown>} [attrs]
   */
  setBlock(type, attrs = {}) {
    const [from, to] = this.#range();
    const blocks = this.#blocks.slice(blockAt(this.#blocks, from), blockAt(this.#blocks, to) + 1);
    const all = blocks.every((b) => b.type === type && Object.entries(attrs).every(([k, v]) => b.attrs[k] === v));
    this.#edit(() =>
      this.#keepSelection(() => {
        // From the end, so that a marker inserted for the implicit paragraph moves nothing yet to do.
        for (const b of [...blocks].reverse()) {
          if (b.marker === null) {
            if (!all) this.#emb(0, { block: type, ...attrs });
            continue;
          }
          this.#attr(b.marker, 'block', all ? 'paragraph' : type);
          if (!all) for (const [k, v] of Object.entries(attrs)) this.#attr(b.marker, k, v);
        }
      }),
    );
  }

  /**
   * indent nests the list items of the selection one level deeper (by -1: one level less).
   * @param {1 | -1} by
   */
  indent(by) {
    const [from, to] = this.#range();
    const blocks = this.#blocks.slice(blockAt(this.#blocks, from), blockAt(this.#blocks, to) + 1);
    this.#edit(() => {
      for (const b of blocks) {
        if (b.marker === null || b.type !== 'list_item') continue;
        const parents = by > 0 ? [...b.parents, 'list_item'] : b.parents.slice(0, -1);
        if (parents.length !== b.parents.length) this.#attr(b.marker, 'parents', parents.length > 0 ? parents : null);
      }
      return this.#sel ?? undefined;
    });
  }

  // --- events ---

  /** @param {InputEvent} ev */
  #onBeforeInput(ev) {
    if (ev.inputType === 'insertCompositionText' || this.#composing) return; // not cancellable
    ev.preventDefault();
    if (this.#provider.deleted) return;
    const sel = this.#readSelection();
    if (sel !== null) this.#sel = sel;
    const targets = ev.getTargetRanges ? ev.getTargetRanges() : [];
    switch (ev.inputType) {
      case 'insertText':
      case 'insertReplacementText':
        this.insertText(ev.data ?? ev.dataTransfer?.getData('text/plain') ?? '');
        break;
      case 'insertParagraph':
        this.splitBlock();
        break;
      case 'insertLineBreak':
        this.insertLineBreak();
        break;
      case 'insertFromPaste':
      case 'insertFromDrop': {
        const lines = (ev.dataTransfer?.getData('text/plain') ?? '').replace(/\r\n?/g, '\n').split('\n');
        lines.forEach((line, i) => {
          if (i > 0) this.splitBlock();
          if (line) this.insertText(line);
        });
        break;
      }
      case 'formatBold':
        this.toggleMark('bold');
        break;
      case 'formatItalic':
        this.toggleMark('italic');
        break;
      case 'formatUnderline':
        this.toggleMark('underline');
        break;
      case 'formatStrikeThrough':
        this.toggleMark('strike');
        break;
      default:
        if (ev.inputType.startsWith('delete')) {
          if (ev.inputType.endsWith('Forward')) this.deleteForward(targets);
          else this.deleteBackward(targets);
        }
    }
  }

  /** @param {KeyboardEvent} ev */
  #onKeydown(ev) {
    const mod = ev.ctrlKey || ev.metaKey;
    if (mod && !ev.altKey && !ev.shiftKey) {
      /** @type {Record<string, string>} */
      const keys = { b: 'bold', i: 'italic', u: 'underline' };
      const name = keys[ev.key.toLowerCase()];
      if (name) {
        ev.preventDefault();
        this.toggleMark(name);
        return;
      }
    }
    if (ev.key === 'Tab' && !mod && !ev.altKey) {
      const [from] = this.#range();
      if (this.#blocks[blockAt(this.#blocks, from)].type === 'list_item') {
        ev.preventDefault();
        this.indent(ev.shiftKey ? -1 : 1);
      }
    }
  }

  // --- remote changes ---

  /**
   * #onRemote redraws after a change this binding did not make, mapping the selection through its
   * edits (null: an unknown change, redrawn whole, the positions kept).
   * @param {import('../crdt/changes.js').Change | null} change
   */
  #onRemote(change) {
    if (this.#composing) return;
    if (this.#sel && change) {
      const edits = change.edits;
      this.#sel = { anchor: mapCaret(edits, this.#sel.anchor), head: mapCaret(edits, this.#sel.head) };
    }
    const hadFocus = this.#el.ownerDocument.activeElement === this.#el;
    this.#render(change ? dirtyOf(change) : null);
    if (this.#sel) {
      const len = this.#text.length;
      this.#sel = { anchor: clampToContent(this.#blocks, Math.min(this.#sel.anchor, len)), head: clampToContent(this.#blocks, Math.min(this.#sel.head, len)) };
      if (hadFocus) this.#restoreSelection();
      this.#publishCursor();
    }
  }

  // --- remote cursors ---

  #setupOverlay() {
    const doc = this.#el.ownerDocument;
    const overlay = doc.createElement('div');
    overlay.className = 'rich-cursors';
    overlay.setAttribute('aria-hidden', 'true');
    this.#el.insertAdjacentElement('afterend', overlay);
    this.#overlay = overlay;
    this.#cleanup.push(this.#provider.awareness.on('change', () => this.#queueCursors()));
    const win = doc.defaultView;
    if (win) this.#listen(win, 'resize', () => this.#queueCursors());
    this.#listen(this.#el, 'scroll', () => this.#queueCursors());
    this.#queueCursors();
  }

  #queueCursors() {
    if (this.#overlay === null || this.#cursorsQueued) return;
    this.#cursorsQueued = true;
    const win = this.#el.ownerDocument.defaultView;
    (win?.requestAnimationFrame ?? setTimeout)(() => {
      this.#cursorsQueued = false;
      this.#drawCursors();
    });
  }

  /**
   * remoteCursors returns the other editors' cursors, in positions of this text.
   * @returns {import('../cursor.js').RemoteCursor[]}
   */
  remoteCursors() {
    return remoteCursors(this.#provider.awareness, this.#provider.doc, this.#root);
  }

  #drawCursors() {
    const overlay = this.#overlay;
    if (overlay === null) return;
    const doc = this.#el.ownerDocument;
    const parent = /** @type {HTMLElement} */ (overlay.offsetParent ?? doc.body);
    const base = parent.getBoundingClientRect();
    const len = this.#text.length;
    /** @type {HTMLElement[]} */
    const out = [];
    for (const c of this.remoteCursors()) {
      const head = clampToContent(this.#blocks, Math.min(c.head, len));
      const anchor = clampToContent(this.#blocks, Math.min(c.anchor, len));
      const tint = selectionTint(c.color);
      if (anchor !== head) {
        for (const r of this.rangeOf(Math.min(anchor, head), Math.max(anchor, head)).getClientRects()) {
          const s = doc.createElement('div');
          s.className = 'rc-sel';
          Object.assign(s.style, { left: `${r.left - base.left}px`, top: `${r.top - base.top}px`, width: `${r.width}px`, height: `${r.height}px`, background: tint });
          out.push(s);
        }
      }
      const r = this.#caretRect(head);
      const caret = doc.createElement('div');
      caret.className = 'rc-caret';
      caret.dataset.client = String(c.clientId);
      caret.dataset.pos = String(head);
      Object.assign(caret.style, { left: `${r.left - base.left}px`, top: `${r.top - base.top}px`, height: `${r.height}px`, background: c.color });
      const label = doc.createElement('span');
      label.className = 'rc-label';
      label.textContent = c.name;
      label.style.background = c.color;
      caret.appendChild(label);
      out.push(caret);
    }
    overlay.replaceChildren(...out);
  }

  /**
   * #caretRect returns where a caret at pos is drawn (a collapsed range has no box in an empty
   * block: then the block's own start).
   * @param {number} pos
   */
  #caretRect(pos) {
    const r = this.rangeOf(pos, pos);
    const rect = r.getClientRects()[0] ?? r.getBoundingClientRect();
    if (rect.height > 0) return { left: rect.left, top: rect.top, height: rect.height };
    const el = /** @type {HTMLElement} */ (this.#el.children[blockAt(this.#blocks, pos)]);
    const b = el.getBoundingClientRect();
    const style = el.ownerDocument.defaultView?.getComputedStyle(el);
    const padLeft = style ? parseFloat(style.paddingLeft) || 0 : 0;
    const lh = style ? parseFloat(style.lineHeight) || b.height : b.height;
    return { left: b.left + padLeft, top: b.top, height: Math.min(lh, b.height) };
  }
}


// @ts-check
// A ProseMirror editor without a DOM for node tests of the binding: a state, a dispatch that
// applies transactions and updates the plugin views, as EditorView does; and a peer that puts one
// such editor on one replica, with a provider that is nothing but the replica and its events.
import { EditorState } from 'prosemirror-state';
import { Schema } from 'prosemirror-model';
import { schema as basic } from 'prosemirror-schema-basic';
import { addListNodes } from 'prosemirror-schema-list';
import { Doc } from '../src/crdt/index.js';
import { Emitter } from '../src/emitter.js';
import { prosemirrorBinding } from '../src/bindings/prosemirror.js';
import { RichUndoManager } from '../src/richundo.js';
import { Mapping, effective } from '../src/bindings/prosemirror-mapping.js';

/** The basic schema with lists and a comment mark of which a text may carry several. */
export const schema = new Schema({
  nodes: addListNodes(basic.spec.nodes, 'paragraph block*', 'block'),
  marks: basic.spec.marks.addToEnd('comment', { attrs: { id: {} }, excludes: '', inclusive: false, toDOM: (m) => ['span', { class: 'comment', 'data-comment': m.attrs.id }, 0] }),
});

/** HeadlessView is the part of EditorView that the binding uses. */
export class HeadlessView {
  /** @param {EditorState} state */
  constructor(state) {
    this.state = state;
    /** @type {import('prosemirror-state').Transaction[]} every transaction dispatched */
    this.log = [];
    this.pluginViews = state.plugins.flatMap((p) => (p.spec.view ? [p.spec.view(/** @type {any} */ (this))] : []));
  }

  /** @param {import('prosemirror-state').Transaction} tr */
  dispatch(tr) {
    this.log.push(tr);
    this.state = this.state.apply(tr);
    for (const pv of this.pluginViews) pv.update?.(/** @type {any} */ (this), this.state);
  }

  /**
   * run runs a ProseMirror command.
   * @param {import('prosemirror-state').Command} cmd
   */
  run(cmd) {
    return cmd(this.state, (tr) => this.dispatch(tr));
  }

  destroy() {
    for (const pv of this.pluginViews) pv.destroy?.();
  }
}

/**
 * Peer is one editor on one replica.
 * @extends {Emitter<{ change: { changes: import('../src/crdt/changes.js').Change[], origin: string }, local: { update: Uint8Array } }>}
 */
export class Peer extends Emitter {
  /**
   * @param {import('prosemirror-model').Schema} schema
   * @param {number} clientId
   * @param {{ now?: () => number }} [opts]
   */
  constructor(schema, clientId, opts = {}) {
    super();
    this.doc = new Doc(clientId);
    this.text = this.doc.text('body');
    this.mapping = new Mapping(schema);
    const provider = {
      doc: this.doc,
      transact: /** @type {<T>(fn: () => T) => T} */ ((fn) => fn()),
      on: /** @type {(ev: 'change' | 'local' | 'status' | 'refused', fn: (e: any) => void) => () => void} */ ((ev, fn) => this.on(/** @type {'change' | 'local'} */ (ev), fn)),
      awareness: null,
    };
    this.undo = new RichUndoManager(this.doc, { now: opts.now ?? (() => 0) });
    this.binding = prosemirrorBinding(provider, { undo: this.undo });
    this.view = new HeadlessView(EditorState.create({ schema, plugins: [this.binding.plugin] }));
  }

  /**
   * receive applies what other has that this peer lacks, as the provider does with a remote update.
   * @param {{ doc: Doc }} other
   */
  receive(other) {
    const changes = this.doc.apply(other.doc.encodeUpdate(this.doc.stateVector()));
    if (changes.length > 0) this.emit('change', { changes, origin: 'remote' });
  }

  /** flat returns the editor's document as canonical flat spans (see canon). */
  flat() {
    return canon(this.mapping.spansOf(this.view.state.doc));
  }

  /** crdt returns the CRDT's spans in the same canonical form, with a leading marker when implicit. */
  crdt() {
    const spans = this.text.spans();
    const c = canon(spans);
    if (spans.length === 0 || 'insert' in spans[0]) return canon([{ embed: { block: 'paragraph' }, attrs: {}, marks: {} }, ...spans]);
    return c;
  }
}

/**
 * canon returns spans as one JSON text: embeds with their attributes applied, runs with equal marks
 * merged, keys sorted.
 * @param {import('../src/bindings/prosemirror-mapping.js').Span[]} spans
 */
export function canon(spans) {
  /** @type {any[]} */
  const out = [];
  for (const s of spans) {
    if ('insert' in s) {
      const l = out[out.length - 1];
      const marks = sorted(s.marks);
      if (l && 'insert' in l && JSON.stringify(l.marks) === JSON.stringify(marks)) l.insert += s.insert;
      else out.push({ insert: s.insert, marks });
    } else {
      out.push({ embed: sorted(effective(s.embed, s.attrs) ?? {}), marks: sorted(s.marks) });
    }
  }
  return JSON.stringify(out);
}

/** @param {Record<string, unknown>} o */
function sorted(o) {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** tick waits for queued microtasks (the binding renders the document once its view exists). */
export const tick = () => new Promise((r) => setTimeout(r, 0));

/** richTextReady reports whether the CRDT twin implements rich text (docs/crdt.md 4.7). */
export function richTextReady() {
  try {
    const d = new Doc(1);
    d.text('t').insertEmbed(0, { block: 'paragraph' });
    d.text('t').insert(1, 'ab');
    d.text('t').format(1, 1, 'bold', true, 'after');
    const s = d.text('t').spans();
    return s.length === 3 && 'embed' in s[0];
  } catch {
    return false;
  }
}

/**
 * Shared is one replica with several editors on it, as when two editors of a page share one
 * provider. Like the real provider, its editors' keystrokes are flushed later (scheduleFlush) and
 * announced then as a deferred `local` event (flush()); what code changes through transact is
 * announced at once.
 * @extends {Emitter<{ change: { changes: import('../src/crdt/changes.js').Change[], origin: string }, local: { update: Uint8Array, deferred?: boolean } }>}
 */
export class Shared extends Emitter {
  /** @param {number} clientId */
  constructor(clientId) {
    super();
    this.doc = new Doc(clientId);
    this.text = this.doc.text('body');
    this.scheduled = false;
    this.provider = {
      doc: this.doc,
      transact: /** @type {<T>(fn: () => T) => T} */ ((fn) => {
        const r = fn();
        this.#take(false);
        return r;
      }),
      scheduleFlush: () => {
        this.scheduled = true;
      },
      on: /** @type {(ev: 'change' | 'local' | 'status' | 'refused', fn: (e: any) => void) => () => void} */ ((ev, fn) => this.on(/** @type {'change' | 'local'} */ (ev), fn)),
      awareness: null,
    };
  }

  /**
   * editor returns a new editor on the replica.
   * @param {import('prosemirror-model').Schema} schema
   */
  editor(schema) {
    const binding = prosemirrorBinding(this.provider);
    return new HeadlessView(EditorState.create({ schema, plugins: [binding.plugin] }));
  }

  /** flush runs the flush that the editors scheduled, as the provider does after the frame. */
  flush() {
    if (!this.scheduled) return;
    this.scheduled = false;
    this.#take(true);
  }

  /** @param {boolean} deferred */
  #take(deferred) {
    const update = this.doc.takeUpdate();
    if (update) this.emit('local', deferred ? { update, deferred } : { update });
  }

  /**
   * receive applies what other has that this replica lacks, as the provider does with a remote update.
   * @param {{ doc: Doc }} other
   */
  receive(other) {
    const changes = this.doc.apply(other.doc.encodeUpdate(this.doc.stateVector()));
    if (changes.length > 0) this.emit('change', { changes, origin: 'remote' });
  }
}

// @ts-check
// The textarea binding against a small stand-in for a <textarea> (no DOM in node): the value, the
// selection, events. Drawing remote cursors needs a real layout and is covered by the browser tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Provider } from '../provider.js';
import { Doc } from '../crdt/index.js';
import { TextareaBinding, mapPos, splitLines } from './textarea.js';

class FakeTarget {
  /** @type {Map<string, Set<(ev: any) => void>>} */
  listeners = new Map();
  /** @param {string} type @param {(ev: any) => void} fn */
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)?.add(fn);
  }
  /** @param {string} type @param {(ev: any) => void} fn */
  removeEventListener(type, fn) {
    this.listeners.get(type)?.delete(fn);
  }
  /** @param {string} type @param {object} [ev] */
  dispatch(type, ev = {}) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) fn({ type, preventDefault() {}, ...ev });
  }
  count() {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }
}

/** FakeTextarea behaves like a focused <textarea> for what the binding uses. */
class FakeTextarea extends FakeTarget {
  #value = '';
  selectionStart = 0;
  selectionEnd = 0;
  /** @type {'forward' | 'backward' | 'none'} */
  selectionDirection = 'none';
  scrollTop = 0;
  scrollLeft = 0;
  parentElement = null;
  /** how many times code set the value */
  writes = 0;
  /** @type {{ start: number, length: number } | null} the span an input method is composing */
  composition = null;
  constructor() {
    super();
    this.ownerDocument = Object.assign(new FakeTarget(), { activeElement: /** @type {any} */ (null) });
    this.ownerDocument.activeElement = this;
  }
  get value() {
    return this.#value;
  }
  set value(v) {
    // As in browsers: setting the value puts the caret at the end, and ends a composition.
    this.#value = v;
    this.writes++;
    this.selectionStart = this.selectionEnd = v.length;
    this.composition = null;
  }
  /** @param {number} s @param {number} e @param {'forward' | 'backward' | 'none'} [dir] */
  setSelectionRange(s, e, dir = 'none') {
    this.selectionStart = s;
    this.selectionEnd = e;
    this.selectionDirection = dir;
  }
  /** type replaces the selection with s, as a keystroke or a paste does. @param {string} s */
  type(s) {
    const v = this.#value;
    this.#value = v.slice(0, this.selectionStart) + s + v.slice(this.selectionEnd);
    this.selectionStart = this.selectionEnd = this.selectionStart + s.length;
    this.dispatch('input');
  }
  /** compose shows s as the input method's current composition. @param {string} s */
  compose(s) {
    if (!this.composition) {
      // The composition starts by replacing the selection.
      this.composition = { start: this.selectionStart, length: this.selectionEnd - this.selectionStart };
      this.dispatch('compositionstart');
    }
    const c = this.composition;
    const v = this.#value;
    this.#value = v.slice(0, c.start) + s + v.slice(c.start + c.length);
    c.length = s.length;
    this.selectionStart = this.selectionEnd = c.start + s.length;
    this.dispatch('input', { isComposing: true });
  }
  /** commit ends the composition with what it shows. */
  commit() {
    assert.ok(this.composition, 'the composition was interrupted');
    this.composition = null;
    this.dispatch('compositionend');
  }
}

async function setup(initial = '') {
  const p = new Provider({ url: 'http://h', docId: 'd', clientId: 1, storage: false, connect: false });
  await p.ready;
  if (initial) p.transact(() => p.doc.text('body').insert(0, initial));
  const ta = new FakeTextarea();
  const binding = new TextareaBinding(/** @type {any} */ (ta), p, { cursors: false });
  const bob = new Doc(2);
  bob.apply(p.doc.encodeUpdate(new Map()));
  /** remote applies Bob's edit to the provider's replica as if it came from the server. @param {(t: import('../crdt/index.js').Text) => void} fn */
  const remote = (fn) => {
    fn(bob.text('body'));
    const u = bob.takeUpdate();
    if (!u) return;
    p.emit('change', { changes: p.doc.apply(u), origin: 'remote' });
  };
  const text = () => p.doc.text('body').toString();
  return { p, ta, binding, remote, text, bob };
}

test('textarea: typing, remote edits and the selection', async (t) => {
  const { p, ta, binding, remote, text } = await setup('hello world');
  t.after(() => p.destroy());
  assert.equal(ta.value, 'hello world');
  ta.setSelectionRange(6, 11);
  remote((b) => b.insert(0, '😀 '));
  assert.equal(ta.value, '😀 hello world');
  assert.deepEqual([ta.selectionStart, ta.selectionEnd], [9, 14], 'the selection stays on "world"');
  ta.type('there');
  assert.equal(text(), '😀 hello there');
  binding.destroy();
});

test('textarea: text others insert at the caret goes after it, and outside a selection', async (t) => {
  const { p, ta, binding, remote } = await setup('abcdef');
  t.after(() => p.destroy());
  ta.setSelectionRange(3, 3);
  remote((b) => b.insert(3, 'XY'));
  assert.equal(ta.value, 'abcXYdef');
  assert.deepEqual([ta.selectionStart, ta.selectionEnd], [3, 3], 'the caret stays before the inserted text');
  ta.setSelectionRange(3, 5, 'forward');
  remote((b) => {
    b.insert(5, '>');
    b.insert(3, '<');
  });
  assert.equal(ta.value, 'abc<XY>def');
  assert.deepEqual([ta.selectionStart, ta.selectionEnd, ta.selectionDirection], [4, 6, 'forward'], 'the selection still holds just "XY"');
  binding.destroy();
});

test('textarea: two people typing at one spot do not interleave', async (t) => {
  const { p, ta, binding, remote, text, bob } = await setup('[]');
  t.after(() => p.destroy());
  /** @type {Uint8Array[]} Ada's updates on their way to Bob */
  const toBob = [];
  p.on('local', ({ update }) => toBob.push(update));
  ta.setSelectionRange(1, 1);
  let bobCaret = 1;
  // Each round both type one character at once (neither has seen the other's), then both
  // receive the other's.
  for (let i = 0; i < 3; i++) {
    ta.type('abc'[i]);
    await untilFlushed(p); // the keystroke's frame is painted: it goes out
    remote((b) => b.insert(bobCaret, '123'[i]));
    const rp = bob.text('body').relPos(bobCaret + 1, -1); // Bob's caret, after his character
    for (const u of toBob.splice(0)) bob.apply(u);
    bobCaret = bob.resolve(rp);
  }
  assert.ok(['[abc123]', '[123abc]'].includes(text()), `interleaved: ${text()}`);
  assert.equal(ta.value, text());
  assert.equal(bob.text('body').toString(), text());
  binding.destroy();
});

test('textarea: an edit made from code shows at once, and typing after it lands where the user sees it', async (t) => {
  const { p, ta, binding, text } = await setup();
  t.after(() => p.destroy());
  ta.type('world');
  p.transact(() => p.doc.text('body').insert(0, 'hello '));
  assert.equal(ta.value, 'hello world', 'the textarea shows the edit from code');
  assert.deepEqual([ta.selectionStart, ta.selectionEnd], [11, 11], 'the caret stays after "world"');
  ta.type('!');
  assert.equal(text(), 'hello world!');
  assert.equal(ta.value, text());
  // The same for an undo step taken through the manager directly (a toolbar button, say).
  binding.undoManager?.undo();
  assert.equal(ta.value, text());
  binding.destroy();
});

/** untilFlushed lets the timers of a scheduled flush run (in node, afterPaint is a 0 ms timer). */
async function untilFlushed(/** @type {Provider} */ p) {
  for (let i = 0; i < 100 && p.flushPending; i++) await new Promise((r) => setTimeout(r, 0));
  assert.equal(p.flushPending, false, 'the scheduled flush ran');
}

test('textarea: keystrokes are in the document at once, stored and sent after the frame, the keystrokes of a frame as one flush', async (t) => {
  for (const undo of [true, false]) {
    const { p, ta, binding, text, bob } = await setup('hello world');
    t.after(() => p.destroy());
    if (!undo) {
      binding.destroy();
      new TextareaBinding(/** @type {any} */ (ta), p, { cursors: false, undo: false });
    }
    /** @type {{ update: Uint8Array, deferred?: boolean }[]} */
    const locals = [];
    p.on('local', (ev) => locals.push(ev));
    ta.setSelectionRange(5, 5);
    ta.type(',');
    ta.setSelectionRange(7, 12);
    ta.type('there'); // replaces "world": a deletion and an insertion
    assert.equal(text(), 'hello, there', `undo ${undo}: in the document at once`);
    assert.equal(ta.value, text());
    assert.equal(p.saved, false, `undo ${undo}: unsaved at once`);
    assert.equal(p.flushPending, true, `undo ${undo}: the flush waits for the frame`);
    assert.equal(locals.length, 0, `undo ${undo}: nothing stored or sent before the frame`);
    await untilFlushed(p);
    assert.equal(locals.length, 1, `undo ${undo}: one flush for the keystrokes of a frame`);
    assert.equal(locals[0].deferred, true, `undo ${undo}: the scheduled flush`);
    bob.apply(locals[0].update);
    assert.equal(bob.text('body').toString(), 'hello, there', `undo ${undo}: the one update holds every keystroke`);
    assert.equal(ta.value, text());
  }
});

test('textarea: two bindings on one provider show what the other one types, once its frame is painted', async (t) => {
  const { p, ta, binding } = await setup('hello');
  t.after(() => p.destroy());
  const other = new FakeTextarea();
  const second = new TextareaBinding(/** @type {any} */ (other), p, { cursors: false });
  ta.setSelectionRange(5, 5);
  ta.type('!');
  await untilFlushed(p);
  assert.equal(other.value, 'hello!', "the second textarea shows the first one's keystroke");
  other.setSelectionRange(0, 0);
  other.type('> ');
  await untilFlushed(p);
  assert.equal(ta.value, '> hello!', "and the first the second one's");
  second.destroy();
  binding.destroy();
});

test('textarea: what would miss a waiting keystroke flushes it first; undo, redo and edits from code flush at once', async (t) => {
  /** @type {[string, (x: Awaited<ReturnType<typeof setup>>) => void | Promise<void>, string][]} */
  const cases = [
    ['a direct flush', ({ p }) => p.flush(), 'hello!'],
    ['an edit from code (transact)', ({ p }) => p.transact(() => p.doc.text('body').insert(0, '» ')), '» hello!'],
    ['destroy', ({ p }) => void p.destroy(), 'hello!'],
  ];
  for (const [name, trigger, want] of cases) {
    const { p, ta, binding, text } = await setup('hello');
    t.after(() => p.destroy());
    /** @type {{ update: Uint8Array, deferred?: boolean }[]} */
    const locals = [];
    p.on('local', (ev) => locals.push(ev));
    ta.setSelectionRange(5, 5);
    ta.type('!');
    assert.equal(p.flushPending, true, name);
    await trigger({ p, ta, binding, text, remote: () => {}, bob: /** @type {any} */ (null) });
    assert.equal(p.flushPending, false, `${name}: the waiting flush ran`);
    assert.deepEqual(locals.map((ev) => ev.deferred), [undefined], `${name}: one flush, at once, that took the keystroke`);
    assert.equal(text(), want, name);
    assert.equal(ta.value, want, `${name}: the textarea shows the document`);
    binding.destroy();
  }

  const { p, ta, binding, remote, text } = await setup('hello');
  t.after(() => p.destroy());
  /** @type {{ update: Uint8Array, deferred?: boolean }[]} */
  const locals = [];
  p.on('local', (ev) => locals.push(ev));
  ta.setSelectionRange(5, 5);
  ta.type('!');
  // A remote change misses nothing: the keystroke waits for its frame, both show.
  remote((b) => b.insert(0, '> '));
  assert.equal(ta.value, '> hello!');
  assert.equal(p.flushPending, true, 'a remote change leaves the flush to the frame');
  await untilFlushed(p);
  assert.deepEqual(locals.map((ev) => ev.deferred), [true]);
  // Undo and redo store and send at once.
  assert.equal(binding.undo(), true);
  assert.equal(text(), '> hello');
  assert.equal(p.flushPending, false, 'undo flushed at once');
  assert.equal(locals.length, 2);
  assert.equal(binding.redo(), true);
  assert.equal(text(), '> hello!');
  assert.equal(p.flushPending, false, 'redo flushed at once');
  assert.equal(locals.length, 3);
  assert.equal(ta.value, text());
  binding.destroy();
});

test('textarea: a remote change during an IME composition waits for its end; both land', async (t) => {
  const { p, ta, binding, remote, text } = await setup('hello world');
  t.after(() => p.destroy());
  ta.setSelectionRange(5, 5);
  ta.compose('に');
  ta.compose('にほ');
  const writes = ta.writes;
  remote((b) => {
    b.insert(0, 'XX');
    b.insert(b.length, '!');
  });
  assert.equal(ta.writes, writes, 'the textarea was not written during the composition');
  assert.equal(ta.value, 'helloにほ world');
  assert.equal(text(), 'XXhello world!', 'nothing half-composed reached the document');
  p.transact(() => p.doc.text('body').insert(7, ','));
  assert.equal(ta.writes, writes, 'nor by an edit from code');
  ta.compose('日本');
  ta.commit();
  assert.equal(text(), 'XXhello日本, world!', 'the composed text lands where it was typed, before what came there meanwhile');
  assert.equal(ta.value, text());
  assert.deepEqual([ta.selectionStart, ta.selectionEnd], [9, 9], 'the caret is after the composed text');
  // Undo takes back the composed text, and only it.
  binding.undo();
  assert.equal(text(), 'XXhello, world!');
  binding.destroy();
});

test('textarea: a composition that replaces a selection, with astral text around it', async (t) => {
  const { p, ta, binding, remote, text } = await setup('a😀b😀c');
  t.after(() => p.destroy());
  ta.setSelectionRange(3, 4); // "b"
  ta.compose('ß');
  remote((b) => b.delete(0, 1)); // Bob deletes "a"
  remote((b) => b.insert(3, '🇫🇷')); // and adds a flag after the second 😀
  ta.commit();
  assert.equal(text(), '😀ß😀🇫🇷c');
  assert.equal(ta.value, text());
  assert.deepEqual([ta.selectionStart, ta.selectionEnd], [3, 3]);
  binding.destroy();
});

test('textarea: destroy removes every listener and withdraws the cursor', async (t) => {
  const { p, ta, binding } = await setup('hello');
  t.after(() => p.destroy());
  ta.setSelectionRange(2, 2);
  ta.dispatch('keyup');
  assert.ok(p.awareness.getLocalState()?.cursor, 'a cursor is published');
  const before = p.listenerCount('change') + p.listenerCount('local');
  binding.destroy();
  assert.equal(ta.count(), 0, 'no listener left on the textarea');
  assert.equal(ta.ownerDocument.count(), 0, 'nor on the document');
  assert.equal(p.listenerCount('change') + p.listenerCount('local'), before - 2, 'nor on the provider');
  assert.equal(p.awareness.getLocalState()?.cursor, null, 'the others stop seeing a cursor here');
});

test('mapPos maps positions through edits', () => {
  /** @type {[import('./textarea.js').Edit[], number, boolean, number][]} */
  const cases = [
    [[{ pos: 0, delete: 0, insert: 'ab' }], 0, false, 0],
    [[{ pos: 0, delete: 0, insert: 'ab' }], 0, true, 2],
    [[{ pos: 0, delete: 0, insert: '😀' }], 3, false, 4],
    [[{ pos: 2, delete: 3, insert: '' }], 4, false, 2],
    [[{ pos: 2, delete: 3, insert: 'x' }], 5, false, 3],
    [[{ pos: 2, delete: 3, insert: '' }], 2, true, 2],
    [[{ pos: 5, delete: 0, insert: 'x' }, { pos: 0, delete: 1, insert: '' }], 6, false, 6],
  ];
  for (const [edits, p, right, want] of cases) {
    assert.equal(mapPos(edits, p, right), want, `mapPos(${JSON.stringify(edits)}, ${p}, ${right})`);
  }
});

test('splitLines cuts after newlines into pieces of at least the given length', () => {
  const cases = [
    ['', 4, []],
    ['ab', 4, ['ab']],
    ['a\nb\nc\nd\n', 4, ['a\nb\n', 'c\nd\n']],
    ['a\nb\nc', 4, ['a\nb\n', 'c']],
    ['abcdefgh\nij', 4, ['abcdefgh\n', 'ij']],
    ['\n\n\n\n\n', 2, ['\n\n', '\n\n', '\n']],
  ];
  for (const [s, min, want] of cases) {
    assert.deepEqual(splitLines(/** @type {string} */ (s), /** @type {number} */ (min)), want, JSON.stringify(s));
    assert.equal(/** @type {string[]} */ (want).join(''), s);
  }
});

test('textarea: read-only while the document is deleted on the server, writable after connect()', async (t) => {
  /** @type {any[]} */
  const sockets = [];
  const p = new Provider({
    url: 'http://h', docId: 'd', clientId: 1, storage: false, fetch: null, pingIntervalMs: 0,
    createSocket: () => {
      const s = { binaryType: '', readyState: 0, onopen: null, onmessage: null, onclose: /** @type {any} */ (null), onerror: null, send() {}, close() {} };
      sockets.push(s);
      return /** @type {any} */ (s);
    },
  });
  t.after(() => p.destroy());
  await p.ready;
  await new Promise((r) => setImmediate(r));
  const ta = new FakeTextarea();
  const binding = new TextareaBinding(/** @type {any} */ (ta), p, { cursors: false });
  t.after(() => binding.destroy());
  assert.notEqual(/** @type {any} */ (ta).readOnly, true);
  sockets[0].readyState = 3;
  sockets[0].onclose({ code: 4404, reason: 'document deleted' });
  assert.equal(p.deleted, true);
  assert.equal(/** @type {any} */ (ta).readOnly, true, 'read-only after 4404');
  p.connect();
  assert.equal(/** @type {any} */ (ta).readOnly, false, 'writable again once connect() starts over');
});

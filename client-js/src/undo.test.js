// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doc } from './crdt/index.js';
import { UndoManager } from './undo.js';

/** sync delivers every pending local change of each doc to the others. */
function sync(/** @type {Doc[]} */ ...docs) {
  const updates = docs.map((d) => d.takeUpdate());
  docs.forEach((d, i) => updates.forEach((u, j) => u && i !== j && d.apply(u)));
}

function setup() {
  let now = 0;
  const a = new Doc(1);
  const b = new Doc(2);
  const um = new UndoManager(a, { now: () => now });
  const tick = (/** @type {number} */ ms) => (now += ms);
  const text = (/** @type {Doc} */ d) => d.text('body').toString();
  return { a, b, um, tick, text };
}

test('undo groups edits within 500 ms and restores the text step by step', () => {
  const { a, um, tick, text } = setup();
  for (const ch of 'hello') {
    um.insert(text(a).length, ch);
    tick(100);
  }
  tick(1000);
  um.insert(5, ' world');
  assert.equal(text(a), 'hello world');
  um.undo();
  assert.equal(text(a), 'hello', 'second burst undone');
  um.undo();
  assert.equal(text(a), '', 'first burst undone as one step');
  assert.equal(um.undo(), null, 'nothing left');
  um.redo();
  assert.equal(text(a), 'hello');
  um.redo();
  assert.equal(text(a), 'hello world');
  assert.ok(!um.canRedo && um.canUndo);
});

test('undo reverts only my changes, never another editor\'s', () => {
  const { a, b, um, tick, text } = setup();
  um.insert(0, 'mine ');
  sync(a, b);
  b.text('body').insert(5, 'theirs');
  sync(a, b);
  assert.equal(text(a), 'mine theirs');
  tick(1000);
  um.undo();
  sync(a, b);
  assert.equal(text(a), 'theirs');
  assert.equal(text(b), 'theirs', 'converged');
});

test('undo of my insertion leaves text typed inside it by others', () => {
  const { a, b, um, text } = setup();
  um.insert(0, 'abcd');
  sync(a, b);
  b.text('body').insert(2, 'XY');
  sync(a, b);
  assert.equal(text(a), 'abXYcd');
  const r = um.undo();
  assert.equal(text(a), 'XY');
  // The edits describe the change in order.
  let s = 'abXYcd';
  for (const e of r?.edits ?? []) s = [...s].slice(0, e.pos).join('') + e.insert + [...s].slice(e.pos + e.delete).join('');
  assert.equal(s, 'XY', `edits ${JSON.stringify(r?.edits)} replay to the text`);
});

test('undo of my insertion spares a character another editor put in place of one of mine', () => {
  // Bob replaces my "b" with his "X": the span from my "a" to my "c" still holds three
  // characters, but the middle one is his.
  const { a, b, um, text } = setup();
  um.insert(0, 'abc');
  sync(a, b);
  b.text('body').delete(1, 1);
  b.text('body').insert(1, 'X');
  sync(a, b);
  assert.equal(text(a), 'aXc');
  um.undo();
  sync(a, b);
  assert.equal(text(a), 'X', "undo removed only my characters");
  assert.equal(text(b), 'X', 'converged');
  // The same with my deleted character at the end of the span and his after the last of mine.
  const s = setup();
  s.um.insert(0, 'abc');
  sync(s.a, s.b);
  s.b.text('body').delete(2, 1);
  s.b.text('body').insert(2, 'Y');
  sync(s.a, s.b);
  assert.equal(text(s.a), 'abY');
  s.um.undo();
  assert.equal(text(s.a), 'Y');
});

test('undo of my deletion puts the text back between concurrent edits', () => {
  const { a, b, um, tick, text } = setup();
  b.text('body').insert(0, 'one two three');
  sync(a, b);
  um.delete(4, 4); // "two "
  sync(a, b);
  b.text('body').insert(0, '>> ');
  b.text('body').insert(text(b).length, ' <<');
  sync(a, b);
  assert.equal(text(a), '>> one three <<');
  tick(1000);
  um.undo();
  assert.equal(text(a), '>> one two three <<');
  um.redo();
  assert.equal(text(a), '>> one three <<');
});

test('undo after undo-of-delete still removes re-inserted characters (IDs are redirected)', () => {
  const { a, um, tick, text } = setup();
  um.insert(0, 'abc');
  tick(1000);
  um.delete(1, 1);
  assert.equal(text(a), 'ac');
  um.undo();
  assert.equal(text(a), 'abc');
  um.undo();
  assert.equal(text(a), '', 'the re-inserted "b" belongs to the first insertion');
  um.redo();
  um.redo();
  assert.equal(text(a), 'ac');
});

test('undo restores the selection and handles astral characters', () => {
  const { a, um, tick, text } = setup();
  um.insert(0, 'a😀b', { before: { anchor: 0, head: 0 }, after: { anchor: 3, head: 3 } });
  tick(1000);
  um.delete(1, 1, { before: { anchor: 1, head: 2 }, after: { anchor: 1, head: 1 } });
  assert.equal(text(a), 'ab');
  const r = um.undo();
  assert.equal(text(a), 'a😀b');
  assert.deepEqual(r?.selection, { anchor: 1, head: 2 });
  const r2 = um.undo();
  assert.deepEqual(r2?.selection, { anchor: 0, head: 0 });
  assert.equal(text(a), '');
});

test('a new edit clears redo; replace is one step; stopCapturing splits', () => {
  const { a, um, text } = setup();
  um.insert(0, 'abc');
  um.stopCapturing();
  um.replace(1, 1, 'XYZ');
  assert.equal(text(a), 'aXYZc');
  um.undo();
  assert.equal(text(a), 'abc');
  um.insert(3, '!');
  assert.ok(!um.canRedo, 'redo cleared by a new edit');
  um.undo();
  assert.equal(text(a), 'abc');
});

test('undo of text someone else already deleted skips to the previous step', () => {
  const { a, b, um, tick, text } = setup();
  um.insert(0, 'keep ');
  tick(1000);
  um.insert(5, 'gone');
  sync(a, b);
  b.text('body').delete(5, 4);
  sync(a, b);
  assert.equal(text(a), 'keep ');
  const r = um.undo();
  assert.equal(text(a), '', 'the step with nothing left to undo was skipped');
  assert.ok(r);
});

test('large insertions and deletions undo quickly', () => {
  const { a, um, tick, text } = setup();
  const big = 'x'.repeat(50_000);
  const t0 = performance.now();
  um.insert(0, big);
  tick(1000);
  um.delete(0, 20_000);
  um.undo();
  um.undo();
  const ms = performance.now() - t0;
  assert.equal(text(a), '');
  assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
});

test('replace merges with typing only within the capture window; group makes one step', () => {
  const { a, um, tick, text } = setup();
  um.replace(0, 0, 'a');
  tick(100);
  um.replace(1, 0, 'b');
  tick(1000);
  um.replace(2, 0, 'c');
  tick(100);
  um.replace(0, 1, 'A');
  assert.equal(text(a), 'Abc');
  um.undo();
  assert.equal(text(a), 'ab', '"c" and the a->A replacement were one burst');
  um.undo();
  assert.equal(text(a), '');
  um.group(() => {
    um.insert(0, 'x');
    tick(5000);
    um.insert(1, 'y');
  });
  um.insert(2, 'z');
  um.undo();
  assert.equal(text(a), 'xy', 'an edit after a group starts a new step');
  um.undo();
  assert.equal(text(a), '', 'the group was one step, however long it took');
});

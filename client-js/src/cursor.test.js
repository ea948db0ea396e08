// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doc } from './crdt/index.js';
import { Awareness } from './awareness.js';
import { encodeCursor, encodeCursorRel, remoteCursors, resolveCursor, safeColor, selectionTint, shortName } from './cursor.js';

test('selectionTint makes every accepted colour translucent', () => {
  const cases = [
    ['#d62728', '#d6272840'],
    ['#abc', '#aabbcc40'],
    ['#ABC', '#AABBCC40'],
    ['#d62728ff', '#d6272840'],
  ];
  for (const [c, want] of cases) {
    assert.equal(safeColor(c, '#000'), c);
    assert.equal(selectionTint(c), want, `selectionTint(${c})`);
    assert.match(selectionTint(c), /^#[0-9a-fA-F]{8}$/);
  }
});

test('a long name is cut between characters, never inside an emoji', () => {
  assert.equal(shortName('ada', 32), 'ada');
  const long = '😀'.repeat(40);
  assert.equal(shortName(long, 32), '😀'.repeat(32));
  const doc = new Doc(1);
  doc.text('body').insert(0, 'hi');
  const aw = new Awareness({ clientId: 1 });
  const state = { user: { name: `x${'👍🏽'.repeat(40)}`, color: '#abc' }, cursor: encodeCursor(doc.text('body'), 'body', 1, 1) };
  aw.receive([{ clientId: 2, clock: 1, state: new TextEncoder().encode(JSON.stringify(state)) }]);
  const [c] = remoteCursors(aw, doc, 'body');
  aw.destroy();
  assert.equal([...c.name].length, 64);
  assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(c.name), 'no lone surrogate');
  assert.equal(c.color, '#abc');
  assert.deepEqual(resolveCursor(doc, state.cursor, 'body'), { anchor: 1, head: 1 });
});

test('encodeCursorRel gives what encodeCursor gives for the same relative positions', () => {
  const doc = new Doc(7);
  const text = doc.text('body');
  text.insert(0, 'hello wide 😀 world');
  /** @type {[number, number][]} */
  const cases = [
    [0, 0],
    [3, 3],
    [2, 9],
    [9, 2],
    [text.length, text.length],
  ];
  for (const [anchor, head] of cases) {
    const lo = Math.min(anchor, head);
    const hi = Math.max(anchor, head);
    const rel = (/** @type {number} */ p) => text.relPos(p, p === hi && lo !== hi ? -1 : 1);
    const a = rel(anchor);
    const got = encodeCursorRel('body', a, anchor === head ? a : rel(head));
    assert.deepEqual(got, encodeCursor(text, 'body', anchor, head), `${anchor}-${head}`);
    assert.deepEqual(resolveCursor(doc, got, 'body'), { anchor, head }, `${anchor}-${head} resolves back`);
  }
});

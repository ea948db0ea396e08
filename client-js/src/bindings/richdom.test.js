// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapCaret, safeHref } from './richdom.js';

test('mapCaret: typing at the caret stays after it; a block marker at the caret goes before it', () => {
  for (const [name, edits, p, want] of /** @type {[string, import('../crdt/changes.js').TextEdit[], number, number][]} */ ([
    ['text typed at the caret', [{ pos: 5, delete: 0, insert: 'abc' }], 5, 5],
    ['text typed before the caret', [{ pos: 2, delete: 0, insert: 'abc' }], 5, 8],
    ['text typed after the caret', [{ pos: 6, delete: 0, insert: 'abc' }], 5, 5],
    ['a remote Enter at the caret', [{ pos: 5, delete: 0, insert: '\uFFFC' }], 5, 6],
    ['a remote Enter before the caret', [{ pos: 3, delete: 0, insert: '\uFFFC' }], 5, 6],
    ['a deletion around the caret', [{ pos: 3, delete: 4, insert: '' }], 5, 3],
    ['a replacement ending at the caret', [{ pos: 3, delete: 2, insert: 'xyz' }], 5, 6],
    ['two edits in order', [{ pos: 0, delete: 0, insert: 'ab' }, { pos: 7, delete: 0, insert: '\uFFFC' }], 5, 8],
  ])) {
    assert.equal(mapCaret(edits, p), want, name);
  }
});

test('safeHref: only http, https and mailto links are drawn', () => {
  assert.equal(safeHref('https://example.com/'), 'https://example.com/');
  assert.equal(safeHref('mailto:a@example.com'), 'mailto:a@example.com');
  assert.equal(safeHref('javascript:alert(1)'), null);
  assert.equal(safeHref(' javascript:alert(1)'), null);
  assert.equal(safeHref(42), null);
});

// Tests of the code point helpers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpCount, cpLength, isWellFormed } from './utf.js';

test('cpCount counts code points and refuses lone surrogates, as isWellFormed and cpLength do', () => {
  const cases = [
    { s: '', want: 0 },
    { s: 'a', want: 1 },
    { s: 'héllo', want: 5 },
    { s: '😀', want: 1 },
    { s: 'a😀b👍🏽', want: 5 },
    { s: '\u{10ffff}\u{10000}', want: 2 },
    { s: '\ud800', want: -1 },
    { s: '\udc00', want: -1 },
    { s: 'a\ud83d', want: -1 },
    { s: '\ud83da', want: -1 },
    { s: '\ude00\ud83d', want: -1 },
    { s: '😀\ude00', want: -1 },
    { s: '\ud83d\ud83d\ude00', want: -1 },
  ];
  for (const c of cases) {
    assert.equal(cpCount(c.s), c.want, `cpCount(${JSON.stringify(c.s)})`);
    assert.equal(cpCount(c.s), isWellFormed(c.s) ? cpLength(c.s) : -1, `cpCount(${JSON.stringify(c.s)}) beside isWellFormed and cpLength`);
  }
});

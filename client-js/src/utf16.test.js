// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpLength, toPos, toOffset16, diff16, PosMapper, hasSurrogates } from './utf16.js';

const astral = 'a😀b👍🏽c'; // 😀 is a pair, 👍🏽 is two pairs

test('cpLength counts code points', () => {
  const cases = [
    ['', 0],
    ['abc', 3],
    ['é', 1],
    ['😀', 1],
    [astral, 6],
    ['\uD800', 1], // lone surrogate
  ];
  for (const [s, want] of cases) {
    assert.equal(cpLength(/** @type {string} */ (s)), want, `cpLength(${JSON.stringify(s)})`);
  }
});

test('toPos and toOffset16 are inverse on code point boundaries', () => {
  // offsets of astral: a=0, 😀=1..2, b=3, 👍=4..5, 🏽=6..7, c=8, end=9
  const table = [
    [0, 0],
    [1, 1],
    [3, 2],
    [4, 3],
    [6, 4],
    [8, 5],
    [9, 6],
  ];
  for (const [off, pos] of table) {
    assert.equal(toPos(astral, off), pos, `toPos(${off}) = ${toPos(astral, off)}; want ${pos}`);
    assert.equal(toOffset16(astral, pos), off, `toOffset16(${pos}) = ${toOffset16(astral, pos)}; want ${off}`);
  }
  assert.equal(toPos(astral, 2), 1, 'an offset inside a pair rounds down');
  assert.equal(toOffset16(astral, 99), astral.length, 'clamped');
  assert.equal(toPos('plain', 3), 3);
  const m = new PosMapper(astral);
  assert.equal(m.toPos(8), 5);
  assert.equal(m.toOffset16(5), 8);
  assert.ok(new PosMapper('abc').simple && !m.simple && hasSurrogates(astral));
});

test('diff16 finds the edit and never splits a surrogate pair', () => {
  const cases = [
    { a: 'hello', b: 'hello world', want: { offset16: 5, delete16: 0, insert: ' world' } },
    { a: 'hello', b: 'hllo', want: { offset16: 1, delete16: 1, insert: '' } },
    { a: 'abc', b: 'aXc', want: { offset16: 1, delete16: 1, insert: 'X' } },
    // two astral characters sharing a high surrogate: 😀 = D83D DE00, 😁 = D83D DE01
    { a: 'x😀y', b: 'x😁y', want: { offset16: 1, delete16: 2, insert: '😁' } },
    { a: 'x😀', b: 'x', want: { offset16: 1, delete16: 2, insert: '' } },
    { a: '😀', b: '😀😁', want: { offset16: 2, delete16: 0, insert: '😁' } },
    // 👍 (D83D DC4D) then 🏽 (D83C DFFD): inserting 👍 before 👍 shares the high surrogate
    { a: '👍', b: '👍👍', want: { offset16: 2, delete16: 0, insert: '👍' } },
    { a: '', b: '', want: { offset16: 0, delete16: 0, insert: '' } },
  ];
  for (const { a, b, want } of cases) {
    const got = diff16(a, b);
    assert.deepEqual(got, want, `diff16(${JSON.stringify(a)}, ${JSON.stringify(b)}) = ${JSON.stringify(got)}; want ${JSON.stringify(want)}`);
    const applied = a.slice(0, got.offset16) + got.insert + a.slice(got.offset16 + got.delete16);
    assert.equal(applied, b);
  }
});

test('diff16 uses the caret to place ambiguous insertions', () => {
  assert.deepEqual(diff16('aa', 'aaa', 1), { offset16: 0, delete16: 0, insert: 'a' });
  assert.deepEqual(diff16('aa', 'aaa', 3), { offset16: 2, delete16: 0, insert: 'a' });
  assert.deepEqual(diff16('abab', 'ababab', 4), { offset16: 2, delete16: 0, insert: 'ab' });
  // a surrogate pair typed between identical pairs stays whole
  const got = diff16('😀😀', '😀😀😀', 2);
  assert.equal(got.offset16 % 2, 0);
  assert.equal(got.insert, '😀');
});

test('diff16 on random edits around astral text reproduces the target', () => {
  const alphabet = ['a', 'b', '😀', '😁', '👍🏽', 'é'];
  let seed = 7;
  const rnd = (/** @type {number} */ n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 500; i++) {
    let a = '';
    for (let k = rnd(8); k > 0; k--) a += alphabet[rnd(alphabet.length)];
    const cps = [...a];
    const at = rnd(cps.length + 1);
    const del = rnd(cps.length - at + 1);
    let ins = '';
    for (let k = rnd(3); k > 0; k--) ins += alphabet[rnd(alphabet.length)];
    const b = [...cps.slice(0, at), ins, ...cps.slice(at + del)].join('');
    const d = diff16(a, b);
    assert.equal(a.slice(0, d.offset16) + d.insert + a.slice(d.offset16 + d.delete16), b);
    assert.ok(!/^[\uDC00-\uDFFF]/.test(d.insert) && !/[\uD800-\uDBFF]$/.test(d.insert), `split pair in ${JSON.stringify(d)}`);
    assert.equal(toOffset16(a, toPos(a, d.offset16)), d.offset16, 'offset on a boundary');
  }
});

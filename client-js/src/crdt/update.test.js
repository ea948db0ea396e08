// Tests of the update codec's helpers: delete-set ranges and canonical ops.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addRange, sortRanges, canonical, decodeUpdate, encodeUpdate, Op } from './update.js';
import { TEXT, SKIP } from './seq.js';
import { hex } from './encoding.js';
import { xorshift32 } from './scenario.js';

test('addRange keeps ranges sorted, merged and non-adjacent', () => {
  const next = xorshift32(7);
  const rnd = (/** @type {number} */ n) => next() % n;
  for (let t = 0; t < 2000; t++) {
    /** @type {number[]} */
    const r = [];
    const bits = new Uint8Array(200);
    const added = [];
    for (let k = 0; k < 1 + rnd(30); k++) {
      const s = rnd(190);
      const e = s + 1 + rnd(10);
      added.push([s, e]);
      addRange(r, s, e);
      bits.fill(1, s, e);
    }
    /** @type {number[]} */
    const want = [];
    for (let i = 0; i < 200; i++) {
      if (bits[i] && (i === 0 || !bits[i - 1])) {
        let j = i;
        while (bits[j]) j++;
        want.push(i, j);
      }
    }
    assert.deepEqual(r, want, `after adding ${JSON.stringify(added)}`);
  }
});

test('sortRanges sorts ranges given in any order and merges overlaps and neighbours', () => {
  const cases = [
    { in: [], want: [] },
    { in: [3, 5], want: [3, 5] },
    { in: [3, 5, 7, 9], want: [3, 5, 7, 9] },
    { in: [3, 5, 5, 9], want: [3, 9] },
    { in: [7, 9, 3, 5], want: [3, 5, 7, 9] },
    { in: [7, 9, 3, 7], want: [3, 9] },
    { in: [10, 12, 0, 1, 4, 6, 1, 4], want: [0, 6, 10, 12] },
    { in: [0, 10, 2, 3], want: [0, 10] },
  ];
  for (const c of cases) {
    const given = [...c.in];
    assert.deepEqual(sortRanges(given), c.want, `sortRanges(${JSON.stringify(c.in)})`);
    assert.deepEqual(given, c.in, 'the input is kept');
  }
  const next = xorshift32(11);
  for (let t = 0; t < 500; t++) {
    /** @type {number[]} */
    const log = [];
    /** @type {number[]} */
    const want = [];
    for (let k = 0; k < 1 + (next() % 40); k++) {
      const s = next() % 300;
      const e = s + 1 + (next() % 8);
      log.push(s, e);
      addRange(want, s, e);
    }
    assert.deepEqual(sortRanges(log), want, `sortRanges(${JSON.stringify(log)})`);
  }
});

test('canonical merges continuing runs and skips without touching its input', () => {
  const a = new Op(TEXT, 5, 0, 2);
  a.root = 'body';
  a.str = 'ab';
  const b = new Op(TEXT, 5, 2, 1);
  b.root = 'body';
  b.lc = 5;
  b.lk = 1;
  b.str = 'c';
  const s1 = new Op(SKIP, 5, 3, 2);
  const s2 = new Op(SKIP, 5, 5, 1);
  const out = canonical([a, b, s1, s2]);
  assert.equal(out.length, 2);
  assert.equal(out[0].str, 'abc');
  assert.equal(out[1].len, 3);
  assert.equal(a.len, 2, 'input changed');
  assert.equal(s1.len, 2, 'input changed');
  const bytes = encodeUpdate(new Map([[5, [a, b, s1, s2]]]), new Map([[5, [1, 2]]]));
  const u = decodeUpdate(bytes);
  assert.equal(hex(encodeUpdate(u.ops, u.ds)), hex(bytes), 'decode then encode gives the same bytes');
  assert.equal(hex(bytes), '010105010104626f6479010000020000030361626302030100010101');
  // The same ops unmerged are not canonical: refused.
  const unmerged = [
    '010105010104626f64790100000300000202616208000001010163020301000101 01',
    '010105010104626f6479010000030000030361626302020201 0100010101',
  ];
  for (const h of unmerged) {
    const b = Uint8Array.from(Buffer.from(h.replace(/ /g, ''), 'hex'));
    assert.throws(() => decodeUpdate(b), (/** @type {any} */ err) => err.kind === 'malformed', h);
  }
});

// Tests of the pending set's structures: the chunked op queue and delete-range
// list against flat arrays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpQueue, RangeList, rangeBytes } from './pending.js';
import { addRange, Op } from './update.js';
import { SKIP } from './seq.js';
import { xorshift32 } from './scenario.js';

test('RangeList holds what addRange holds, with its count and encoded bytes, as ranges come and go', () => {
  for (const chunk of [2, 3, 4, 64]) {
    const next = xorshift32(chunk * 977);
    const rnd = (/** @type {number} */ n) => next() % n;
    for (let t = 0; t < 300; t++) {
      const l = new RangeList(chunk);
      /** @type {number[]} */
      let want = [];
      /** @type {string[]} */
      const did = [];
      const span = 50 + rnd(2000);
      for (let step = 0; step < 200; step++) {
        const x = rnd(10);
        const n = want.length >>> 1;
        if (x < 7 || n === 0) {
          // Mostly short ranges anywhere, sometimes long ones that swallow
          // several ranges (across chunks) or ranges after the last.
          const s = x === 0 ? span + rnd(span) : rnd(span);
          const e = s + 1 + (rnd(8) === 0 ? rnd(span >>> 2) : rnd(4));
          l.add(s, e);
          addRange(want, s, e);
          did.push(`add ${s} ${e}`);
        } else if (x < 9) {
          const k = rnd(Math.min(n, 1 + rnd(2 * chunk + 2)) + 1);
          l.dropFront(k);
          want = want.slice(2 * k);
          did.push(`drop ${k}`);
        } else if (want[1] - want[0] > 1) {
          const s = want[0] + 1 + rnd(want[1] - want[0] - 1);
          l.cutFirst(s);
          want[0] = s;
          did.push(`cut ${s}`);
        }
        const msg = `chunk ${chunk}, case ${t}, after ${did.slice(-6).join(', ')}`;
        assert.deepEqual(l.toFlat(), want, msg);
        assert.equal(l.count, want.length >>> 1, `${msg}: count`);
        assert.equal(l.bytes, rangeBytes(want, 0, want.length >>> 1), `${msg}: bytes`);
        for (const c of l.chunks) assert.ok(c.length > 0 && c.length <= 2 * chunk, `${msg}: a chunk of ${c.length / 2} ranges`);
        if (want.length > 0) {
          assert.equal(l.firstStart(), want[0], `${msg}: firstStart`);
          assert.equal(l.firstEnd(), want[1], `${msg}: firstEnd`);
          const from = rnd(want.length >>> 1);
          assert.deepEqual(l.toFlat(from), want.slice(2 * from), `${msg}: toFlat(${from})`);
        }
      }
    }
  }
});

test('OpQueue finds, inserts and drops ops as a sorted array does, its indices of clocks in step', () => {
  const next = xorshift32(4242);
  const rnd = (/** @type {number} */ n) => next() % n;
  for (let t = 0; t < 40; t++) {
    const q = new OpQueue();
    /** @type {Op[]} */
    let want = [];
    const free = new Set();
    for (let c = 0; c < 2000; c += 2) free.add(c);
    for (let step = 0; step < 600; step++) {
      if (rnd(5) > 0 && free.size > 0) {
        // Ops of one or two clocks at even clocks, so that none overlaps.
        const clock = 2 * rnd(1000);
        if (!free.has(clock)) continue;
        free.delete(clock);
        const op = new Op(SKIP, 1, clock, 1 + rnd(2));
        q.insert(op);
        want.push(op);
        want.sort((a, b) => a.clock - b.clock);
      } else {
        const n = rnd(Math.min(want.length, 100) + 1);
        q.dropFront(n);
        for (const op of want.slice(0, n)) free.add(op.clock);
        want = want.slice(n);
      }
      const msg = `case ${t}, step ${step}`;
      assert.deepEqual(q.toArray(), want, msg);
      assert.equal(q.size, want.length, `${msg}: size`);
      assert.deepEqual(q.firsts, q.chunks.map((c) => c[0].clock), `${msg}: firsts`);
      assert.deepEqual(q.ends, q.chunks.map((c) => c.map((op) => op.clock + op.len)), `${msg}: ends`);
      const clock = rnd(2002);
      const ceil = want.find((op) => op.clock + op.len > clock) ?? null;
      assert.equal(q.ceil(clock), ceil, `${msg}: ceil(${clock})`);
      assert.equal(q.find(clock), ceil !== null && ceil.clock <= clock ? ceil : null, `${msg}: find(${clock})`);
    }
  }
});

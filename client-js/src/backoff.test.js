// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.js';

test('backoff windows grow exponentially up to the cap', () => {
  const b = new Backoff({ baseMs: 500, maxMs: 20_000, random: () => 0.999999 });
  const got = [];
  for (let i = 0; i < 9; i++) got.push(b.windowMs(), b.next());
  const windows = got.filter((_, i) => i % 2 === 0);
  assert.deepEqual(windows, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000]);
  for (let i = 0; i < got.length; i += 2) {
    assert.ok(got[i + 1] < got[i], `delay ${got[i + 1]} must stay below its window ${got[i]}`);
  }
});

test('backoff is full jitter: delays spread over [0, window)', () => {
  const b = new Backoff({ baseMs: 1000, maxMs: 1000, random: Math.random });
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < 2000; i++) {
    const d = b.next();
    min = Math.min(min, d);
    max = Math.max(max, d);
  }
  assert.ok(min < 100 && max > 900, `delays in [${min}, ${max}]; want spread over [0, 1000)`);
});

test('backoff reset starts from the first window; huge attempt counts stay finite', () => {
  const b = new Backoff({ random: () => 0.5 });
  for (let i = 0; i < 5000; i++) b.next();
  assert.equal(b.windowMs(), 20_000);
  b.reset();
  assert.equal(b.next(), 250);
  assert.throws(() => new Backoff({ baseMs: 0 }), RangeError);
});

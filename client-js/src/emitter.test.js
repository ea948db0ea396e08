// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Emitter } from './emitter.js';

test('emitter calls listeners in order and off removes them', () => {
  /** @type {Emitter<{ ping: number }>} */
  const e = new Emitter();
  /** @type {string[]} */
  const got = [];
  const offA = e.on('ping', (n) => got.push(`a${n}`));
  e.on('ping', (n) => got.push(`b${n}`));
  e.emit('ping', 1);
  offA();
  e.emit('ping', 2);
  assert.deepEqual(got, ['a1', 'b1', 'b2'], `got ${JSON.stringify(got)}`);
  assert.equal(e.listenerCount('ping'), 1);
});

test('emitter catches listener exceptions and keeps going', () => {
  /** @type {unknown[]} */
  const errors = [];
  /** @type {Emitter<{ ping: number }>} */
  const e = new Emitter({ onListenerError: (err) => errors.push(err) });
  let called = 0;
  e.on('ping', () => {
    throw new Error('boom');
  });
  e.on('ping', () => called++);
  e.emit('ping', 1);
  assert.equal(called, 1, 'second listener ran');
  assert.equal(errors.length, 1, `errors = ${errors.length}; want 1`);
});

test('emitter once fires a single time and listeners may remove themselves while emitting', () => {
  /** @type {Emitter<{ x: string }>} */
  const e = new Emitter();
  let n = 0;
  e.once('x', () => n++);
  const off = e.on('x', () => off());
  e.emit('x', '');
  e.emit('x', '');
  assert.equal(n, 1);
  assert.equal(e.listenerCount('x'), 0);
});

// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterPaint } from './frame.js';

/** nextTurn lets timers and message-channel tasks run (node delivers messages a few turns later). */
const nextTurn = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
};

test('afterPaint runs after the next animation frame, in a task of its own, once; cancel stops it', async (t) => {
  const g = /** @type {any} */ (globalThis);
  /** @type {(() => void)[]} */
  let frames = [];
  const saved = { raf: g.requestAnimationFrame, caf: g.cancelAnimationFrame };
  g.requestAnimationFrame = (/** @type {() => void} */ f) => frames.push(f);
  g.cancelAnimationFrame = () => {};
  t.after(() => {
    g.requestAnimationFrame = saved.raf;
    g.cancelAnimationFrame = saved.caf;
  });
  /** @type {[string, (log: string[]) => Promise<void>, string[]][]} */
  const cases = [
    [
      'runs after the frame, not in it',
      async (log) => {
        afterPaint(() => log.push('flush'), 60_000);
        assert.equal(frames.length, 1);
        frames.shift()?.();
        log.push('frame done');
        await nextTurn();
      },
      ['frame done', 'flush'],
    ],
    [
      'cancelled before the frame',
      async (log) => {
        const cancel = afterPaint(() => log.push('flush'), 60_000);
        cancel();
        frames.shift()?.();
        await nextTurn();
      },
      [],
    ],
    [
      'no frame comes: the timer runs it, and the late frame does not run it again',
      async (log) => {
        afterPaint(() => log.push('flush'), 1);
        await nextTurn();
        frames.shift()?.();
        await nextTurn();
      },
      ['flush'],
    ],
  ];
  for (const [name, run, want] of cases) {
    frames = [];
    /** @type {string[]} */
    const log = [];
    await run(log);
    assert.deepEqual(log, want, name);
  }
});

test('afterPaint without animation frames (node) runs on a timer', async () => {
  let ran = 0;
  afterPaint(() => ran++);
  assert.equal(ran, 0, 'not synchronously');
  await nextTurn();
  assert.equal(ran, 1);
});

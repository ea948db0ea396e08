// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Awareness } from './awareness.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const state = (/** @type {unknown} */ v) => enc.encode(JSON.stringify(v));

/** @param {import('node:test').TestContext} t */
function setup(t, opts = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 });
  const a = new Awareness({ clientId: 1, now: () => Date.now(), ...opts });
  /** @type {{ clock: number, state: unknown }[]} */
  const sent = [];
  /** @type {import('./awareness.js').AwarenessChange[]} */
  const changes = [];
  a.on('change', (c) => changes.push(c));
  t.after(() => a.destroy());
  const send = (/** @type {number} */ clock, /** @type {Uint8Array} */ s) =>
    sent.push({ clock, state: s.byteLength ? JSON.parse(dec.decode(s)) : null });
  return { a, sent, changes, send };
}

test('awareness sends the local state throttled, latest wins', (t) => {
  const { a, sent, send } = setup(t, { throttleMs: 100 });
  a.attach(send);
  a.setLocalState({ user: 'ann', cursor: 1 });
  a.setLocalStateField('cursor', 2);
  a.setLocalStateField('cursor', 3);
  assert.deepEqual(sent, [{ clock: 1, state: { user: 'ann', cursor: 1 } }], 'leading send only');
  t.mock.timers.tick(100);
  assert.deepEqual(sent.slice(1), [{ clock: 2, state: { user: 'ann', cursor: 3 } }], 'trailing send with the latest');
  t.mock.timers.tick(1000);
  assert.equal(sent.length, 2, 'nothing more without a change');
});

test('awareness renews every 15 s and re-announces on attach', (t) => {
  const { a, sent, send } = setup(t);
  a.setLocalState({ user: 'bob' });
  assert.equal(sent.length, 0, 'nothing sent while detached');
  a.attach(send);
  assert.equal(sent.length, 1, 'attach announces at once');
  t.mock.timers.tick(15_000);
  assert.equal(sent.length, 2, `renewed after 15 s: ${sent.length} sends`);
  a.attach(null);
  t.mock.timers.tick(60_000);
  assert.equal(sent.length, 2, 'no sends while detached');
  a.attach(send);
  assert.deepEqual(sent.at(-1), { clock: 3, state: { user: 'bob' } }, 'full state again after reconnect');
});

test('awareness goodbye sends an empty state at once and keeps the local state', (t) => {
  const { a, sent, send } = setup(t);
  a.attach(send);
  a.setLocalState({ user: 'cy' });
  a.goodbye();
  assert.deepEqual(sent.at(-1), { clock: 2, state: null });
  assert.deepEqual(a.getLocalState(), { user: 'cy' });
  a.setLocalState(null);
  t.mock.timers.tick(200);
  assert.equal(sent.at(-1)?.state, null, 'clearing sends an empty state too');
});

test('awareness remote states: add, update, remove, ignore stale clocks and self', (t) => {
  const { a, changes } = setup(t);
  a.receive([
    { clientId: 7, clock: 1, state: state({ user: 'x' }) },
    { clientId: 1, clock: 9, state: state({ user: 'me' }) },
  ]);
  a.receive([{ clientId: 7, clock: 2, state: state({ user: 'y' }) }]);
  a.receive([{ clientId: 7, clock: 1, state: state({ user: 'old' }) }]);
  a.receive([{ clientId: 7, clock: 3, state: state({ user: 'y' }) }]);
  assert.deepEqual([...a.getStates()], [[7, { user: 'y' }]]);
  a.receive([{ clientId: 7, clock: 3, state: new Uint8Array(0) }]);
  a.receive([{ clientId: 8, clock: 1, state: enc.encode('{not json') }]);
  assert.deepEqual(changes, [
    { added: [7], updated: [], removed: [] },
    { added: [], updated: [7], removed: [] },
    { added: [], updated: [], removed: [7] },
  ]);
  assert.equal(a.getStates().size, 0);
});

test('awareness remote states time out after 30 s without renewal', (t) => {
  const { a, changes } = setup(t);
  a.receive([
    { clientId: 7, clock: 1, state: state({ u: 1 }) },
    { clientId: 8, clock: 1, state: state({ u: 2 }) },
  ]);
  t.mock.timers.tick(20_000);
  a.receive([{ clientId: 8, clock: 2, state: state({ u: 2 }) }]); // renewal
  t.mock.timers.tick(12_000);
  assert.deepEqual([...a.getStates().keys()], [8], 'client 7 timed out, 8 was renewed');
  assert.deepEqual(changes.at(-1), { added: [], updated: [], removed: [7] });
  t.mock.timers.tick(30_000);
  assert.equal(a.getStates().size, 0);
});

test('a state larger than the server takes is refused, and the previous one stays', (t) => {
  // The server would close the connection (1009) after every re-announcement: a loop.
  const { a, sent, send } = setup(t);
  a.attach(send);
  a.setLocalState({ user: 'ann' });
  assert.throws(() => a.setLocalStateField('bio', 'x'.repeat(8200)), RangeError);
  assert.deepEqual(a.getLocalState(), { user: 'ann' });
  t.mock.timers.tick(1000);
  assert.deepEqual(sent.map((m) => m.state), [{ user: 'ann' }], 'nothing too large was sent');
  a.setLocalStateField('bio', 'x'.repeat(8000));
  t.mock.timers.tick(1000);
  assert.equal(sent.length, 2, 'a state within the limit is sent');
});

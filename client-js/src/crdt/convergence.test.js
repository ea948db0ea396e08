// Seeded random convergence within JavaScript: 5 replicas edit concurrently,
// updates are delivered shuffled, duplicated, delayed, or dropped and recovered
// by state-vector sync, replicas are loaded from snapshots; in the end every
// replica has the same text, map values, state vector and snapshot bytes, and
// nothing is pending. Also: the reported changes turn the old text into the new
// one, and concurrent runs never interleave. TANDEM_SEEDS=N runs N seeds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doc } from './index.js';
import { cpLength } from './utf.js';
import { hex } from './encoding.js';
import { xorshift32 } from './scenario.js';

/**
 * rng returns a seeded xorshift32 generator of floats in [0, 1).
 * @param {number} seed
 */
function rng(seed) {
  const next = xorshift32(seed);
  return () => next() / 4294967296;
}

const PIECES = ['a', 'b', 'hello ', 'é', '中文', '😀', '👍🏽', 'e\u0301', '\n', '\u{10ffff}', 'xyz😀q'];
const VALUES = ['1', '"s"', 'true', 'null', '[1,2]', '{"a":"😀"}', ' 7 '];

/**
 * applyChanges applies reported text edits (code point positions) to text.
 * @param {string} text
 * @param {import('./changes.js').Change[]} changes
 * @param {string} root
 */
function applyChanges(text, changes, root) {
  const cps = [...text];
  for (const c of changes) {
    if (c.root !== root || c.kind !== 'text') continue;
    for (const e of c.edits) cps.splice(e.pos, e.delete, ...e.insert);
  }
  return cps.join('');
}

/**
 * converge runs one seeded random session and checks the final state.
 * @param {number} seed
 */
function converge(seed) {
  const r = rng(seed);
  const pick = (/** @type {any[]} */ a) => a[Math.floor(r() * a.length)];
  const ids = [1, 200, 70000, 2 ** 40 + 3, 2 ** 53 - 1];
  /** @type {Doc[]} */
  const docs = ids.map((id) => new Doc(id));
  /** @type {Uint8Array[][]} */
  const inbox = docs.map(() => []);
  const roots = ['body', 'title'];
  const deliver = (/** @type {number} */ i) => {
    const q = inbox[i];
    inbox[i] = [];
    for (let k = q.length - 1; k > 0; k--) {
      const j = Math.floor(r() * (k + 1));
      [q[k], q[j]] = [q[j], q[k]];
    }
    for (const u of q) {
      const before = docs[i].text('body').toString();
      const ch = docs[i].apply(u);
      assert.equal(applyChanges(before, ch, 'body'), docs[i].text('body').toString(), `seed ${seed}: changes do not turn the old text into the new`);
      if (r() < 0.2) docs[i].apply(u); // duplicate
    }
  };
  for (let step = 0; step < 300; step++) {
    const i = Math.floor(r() * docs.length);
    const d = docs[i];
    const x = r();
    const t = d.text(pick(roots));
    if (x < 0.45) {
      t.insert(Math.floor(r() * (t.length + 1)), pick(PIECES));
    } else if (x < 0.6 && t.length > 0) {
      const p = Math.floor(r() * t.length);
      t.delete(p, Math.min(t.length - p, 1 + Math.floor(r() * 4)));
    } else if (x < 0.67) {
      if (r() < 0.8) d.map('m').set(pick(['k', 'é', '😀', '']), pick(VALUES));
      else d.map('m').delete(pick(['k', 'é']));
    } else if (x < 0.82) {
      const u = d.takeUpdate();
      if (u !== null) for (let j = 0; j < docs.length; j++) if (j !== i && r() < 0.85) inbox[j].push(u);
    } else if (x < 0.92) {
      deliver(i);
    } else if (x < 0.96) {
      const j = Math.floor(r() * docs.length);
      if (j !== i) docs[j].apply(d.encodeUpdate(docs[j].stateVector()));
    } else {
      // Replace a replica by a fresh one loaded from another's snapshot.
      const j = (i + 1) % docs.length;
      const u = docs[j].takeUpdate();
      if (u !== null) for (let k = 0; k < docs.length; k++) if (k !== j) inbox[k].push(u);
      const fresh = new Doc(ids[j]);
      fresh.apply(d.encodeSnapshot());
      fresh.apply(docs[j].encodeSnapshot());
      docs[j] = fresh;
    }
  }
  for (let i = 0; i < docs.length; i++) {
    const u = docs[i].takeUpdate();
    if (u !== null) for (let j = 0; j < docs.length; j++) if (j !== i) inbox[j].push(u);
  }
  for (let i = 0; i < docs.length; i++) deliver(i);
  for (const a of docs) for (const b of docs) if (a !== b) b.apply(a.encodeUpdate(b.stateVector()));
  const want = hex(docs[0].encodeSnapshot());
  for (let i = 0; i < docs.length; i++) {
    const d = docs[i];
    const msg = `seed ${seed}, replica ${i} (repeat: TANDEM_SEED=${seed} node --test client-js/src/crdt/convergence.test.js)`;
    assert.equal(d.pendingBytes(), 0, `${msg}: pending`);
    for (const root of roots) assert.equal(d.text(root).toString(), docs[0].text(root).toString(), `${msg}: text ${root}`);
    assert.deepEqual(d.map('m').keys(), docs[0].map('m').keys(), `${msg}: keys`);
    for (const k of d.map('m').keys()) assert.equal(d.map('m').get(k), docs[0].map('m').get(k), `${msg}: key ${k}`);
    assert.deepEqual([...d.stateVector()].sort(), [...docs[0].stateVector()].sort(), `${msg}: state vector`);
    assert.equal(hex(d.encodeSnapshot()), want, `${msg}: snapshot`);
    // Every transfer path gives the same state.
    const viaUpdate = new Doc(999);
    viaUpdate.apply(d.encodeUpdate());
    assert.equal(hex(viaUpdate.encodeSnapshot()), want, `${msg}: state through encodeUpdate`);
    const viaSnap = new Doc(998);
    viaSnap.apply(d.encodeSnapshot());
    assert.equal(hex(viaSnap.encodeSnapshot()), want, `${msg}: state through a snapshot`);
  }
}

test('random convergence of 5 replicas', () => {
  const only = Number(process.env.TANDEM_SEED || 0);
  const n = Number(process.env.TANDEM_SEEDS || 40);
  const seeds = only > 0 ? [only] : Array.from({ length: n }, (_, i) => i + 1);
  for (const seed of seeds) converge(seed);
});

/**
 * permutations returns every order of a.
 * @param {number[]} a
 * @returns {number[][]}
 */
function permutations(a) {
  if (a.length <= 1) return [a];
  return a.flatMap((x, i) => permutations([...a.slice(0, i), ...a.slice(i + 1)]).map((p) => [x, ...p]));
}

test('concurrent runs at one place never interleave, in any delivery order', () => {
  for (const n of [2, 3, 4, 5]) {
    const base = new Doc(100);
    base.text('t').insert(0, 'xy');
    const start = base.encodeSnapshot();
    const words = ['AAAA', 'BBB', '😀😀😀', 'dddd', 'EE'];
    /** @type {Uint8Array[]} */
    const updates = [];
    for (let k = 0; k < n; k++) {
      const d = new Doc(n - k); // client IDs in the opposite order of the words
      d.apply(start);
      const t = d.text('t');
      // half the writers type forward, the other half backward (at the same index)
      if (k % 2 === 0) t.insert(1, words[k]);
      else for (const c of [...words[k]].reverse()) t.insert(1, c);
      updates.push(/** @type {Uint8Array} */ (d.takeUpdate()));
    }
    let want = null;
    for (const order of permutations(updates.map((_, i) => i))) {
      const d = new Doc(50);
      d.apply(start);
      for (const i of order) d.apply(updates[i]);
      const got = d.text('t').toString();
      for (let k = 0; k < n; k++) assert.ok(got.includes(words[k]), `${n} writers, order ${order}: ${got} splits ${words[k]}`);
      if (want === null) want = got;
      assert.equal(got, want, `${n} writers, order ${order}: ${got}; want ${want}`);
    }
  }
});

test('siblings with the same origins go by client ID, smaller first', () => {
  const a = new Doc(7);
  const b = new Doc(3);
  a.text('t').insert(0, 'a');
  b.text('t').insert(0, 'b');
  const ua = /** @type {Uint8Array} */ (a.takeUpdate());
  const ub = /** @type {Uint8Array} */ (b.takeUpdate());
  a.apply(ub);
  b.apply(ua);
  assert.equal(a.text('t').toString(), 'ba');
  assert.equal(b.text('t').toString(), 'ba');
});

test('cpLength counts code points', () => {
  assert.equal(cpLength('a😀b'), 3);
});

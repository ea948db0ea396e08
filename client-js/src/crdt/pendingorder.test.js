// Arrival order: the updates of seeded sessions (three writers editing
// concurrently, text, deletions and map keys) applied in reverse, shuffled and
// duplicated orders lead to the same text, state vector, snapshot and update
// bytes as in-order application; after every apply the pending bound is at
// least the pending size and the pending version moved if the buffer did, and an update refused for the pending limit changes
// nothing. TANDEM_SEEDS=N runs N seeds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doc } from './index.js';
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

const PIECES = ['a', 'bc', 'hello ', 'é', '中文', '😀', 'e\u0301', '\n'];

/**
 * session returns the updates three writers send, in the order they sent them;
 * with rich, they also insert embeds, format and set attributes (docs/crdt.md
 * section 4), whose anchors and targets are dependencies like origins.
 * @param {number} seed
 * @param {() => number} r
 * @param {boolean} [rich]
 * @returns {Uint8Array[]}
 */
function session(seed, r, rich = false) {
  const docs = [new Doc(3 + seed), new Doc(2 ** 40 + seed), new Doc(70000 + seed)];
  /** @type {Uint8Array[]} */
  const log = [];
  /** @type {Uint8Array[][]} */
  const inbox = docs.map(() => []);
  for (let step = 0; step < 400; step++) {
    const i = Math.floor(r() * docs.length);
    const d = docs[i];
    const t = d.text(r() < 0.9 ? 'body' : 'title');
    const x = r();
    if (rich && x < 0.25) {
      const y = r();
      const n = t.length;
      if (y < 0.3 || n === 0) t.insertEmbed(Math.floor(r() * (n + 1)), { block: r() < 0.5 ? 'paragraph' : 'heading' });
      else if (y < 0.8) {
        const p = Math.floor(r() * n);
        t.format(p, 1 + Math.floor(r() * (n - p)), r() < 0.5 ? 'bold' : 'comment:1', r() < 0.8 ? { v: step } : null, r() < 0.5 ? 'after' : 'none');
      } else {
        const at = [];
        let pos = 0;
        for (const sp of t.spans()) {
          if ('embed' in sp) at.push(pos++);
          else pos += [...sp.insert].length;
        }
        if (at.length > 0) t.setAttr(at[Math.floor(r() * at.length)], 'level', step);
      }
    } else if (x < 0.5) {
      t.insert(Math.floor(r() * (t.length + 1)), PIECES[Math.floor(r() * PIECES.length)]);
    } else if (x < 0.7 && t.length > 0) {
      const p = Math.floor(r() * t.length);
      t.delete(p, Math.min(t.length - p, 1 + Math.floor(r() * 5)));
    } else if (x < 0.75) {
      d.map('m').set(r() < 0.5 ? 'k' : 'j', String(step));
    } else {
      for (const u of inbox[i]) d.apply(u);
      inbox[i] = [];
    }
    const u = d.takeUpdate();
    if (u === null) continue;
    log.push(u);
    for (let j = 0; j < docs.length; j++) if (j !== i && r() < 0.7) inbox[j].push(u);
  }
  return log;
}

/**
 * state returns what must not depend on the arrival order.
 * @param {Doc} d
 */
function state(d) {
  return {
    body: d.text('body').toString(),
    title: d.text('title').toString(),
    sv: [...d.stateVector()].sort((a, b) => a[0] - b[0]),
    snapshot: hex(d.encodeSnapshot()),
    update: hex(d.encodeUpdate()),
    pending: d.pendingBytes(),
  };
}

/**
 * applyAll applies updates to a fresh replica, checking the pending bound.
 * @param {Uint8Array[]} updates
 * @param {string} msg
 */
function applyAll(updates, msg) {
  const d = new Doc(1);
  let enc = '';
  for (const u of updates) {
    const ver = d.pendingVersion();
    d.apply(u);
    const p = d._pendingEncoded();
    const now = p === null ? '' : hex(p);
    if (now !== enc) assert.notEqual(d.pendingVersion(), ver, `${msg}: the pending buffer changed, its version did not`);
    enc = now;
    assert.ok(d._bound.value() >= d.pendingBytes(), `${msg}: bound ${d._bound.value()} under the pending size ${d.pendingBytes()}`);
  }
  return d;
}

/**
 * @template T
 * @param {T[]} a
 * @param {() => number} r
 * @returns {T[]}
 */
function shuffled(a, r) {
  const b = a.slice();
  for (let k = b.length - 1; k > 0; k--) {
    const j = Math.floor(r() * (k + 1));
    [b[k], b[j]] = [b[j], b[k]];
  }
  return b;
}

const seeds = Number(process.env.TANDEM_SEEDS || 6);

test('arrival orders converge to in-order application', () => {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = rng(seed * 7919);
    const log = session(seed, r);
    const want = state(applyAll(log, `seed ${seed} in order`));
    assert.equal(want.pending, 0, `seed ${seed}: pending after in-order application`);
    /** @type {[string, Uint8Array[]][]} */
    const orders = [
      ['reversed', log.slice().reverse()],
      ['shuffled', shuffled(log, r)],
      ['duplicated', shuffled([...log, ...log.filter(() => r() < 0.5)], r)],
      ['interleaved halves', log.filter((_, i) => i % 2 === 1).concat(log.filter((_, i) => i % 2 === 0))],
    ];
    for (const [name, order] of orders) {
      const msg = `seed ${seed}, ${name}`;
      assert.deepEqual(state(applyAll(order, msg)), want, msg);
    }
  }
});

test('an update refused for the pending limit changes nothing', () => {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = rng(seed * 104729);
    const log = session(seed, r).reverse();
    const want = state(applyAll(log.slice().reverse(), `seed ${seed} in order`));
    const d = new Doc(1, { maxPendingBytes: 600 });
    let refused = 0;
    /** @type {Uint8Array[]} */
    const later = [];
    for (const u of log) {
      const before = state(d);
      try {
        d.apply(u);
      } catch (err) {
        assert.equal(/** @type {any} */ (err).kind, 'pending-overflow', `seed ${seed}`);
        assert.deepEqual(state(d), before, `seed ${seed}: a refused update changed the replica`);
        refused++;
        later.push(u);
        continue;
      }
      assert.ok(d.pendingBytes() <= 600, `seed ${seed}: pending ${d.pendingBytes()} over the limit`);
    }
    assert.ok(refused > 0, `seed ${seed}: nothing refused`);
    // What was refused, delivered in order, completes the replica.
    for (const u of later.reverse()) d.apply(u);
    assert.deepEqual(state(d), want, `seed ${seed}: after the refused updates`);
  }
});

test('the exact pending size kept near the limit is the encoded size, and refuses exactly what passes the limit', () => {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = rng(seed * 15485863);
    const log = session(seed, r);
    /** @type {[string, Uint8Array[]][]} */
    const orders = [
      ['reversed', log.slice().reverse()],
      ['shuffled', shuffled(log, r)],
      ['duplicated', shuffled([...log, ...log.filter(() => r() < 0.5)], r)],
    ];
    for (const [name, order] of orders) {
      for (const limit of [400, 1500, 1 << 20]) {
        const msg = `seed ${seed}, ${name}, limit ${limit}`;
        // Small limits keep the exact size (the bound passes half the limit)
        // and refuse updates; 1 MiB leaves the bound to decide alone.
        const d = new Doc(1, { maxPendingBytes: limit });
        let exactChecks = 0;
        for (const [i, u] of order.entries()) {
          const before = d.pendingBytes();
          try {
            d.apply(u);
          } catch (err) {
            assert.equal(/** @type {any} */ (err).kind, 'pending-overflow', msg);
            assert.equal(d.pendingBytes(), before, `${msg}: update ${i} refused, the pending set changed`);
            const c = new Doc(2, { maxPendingBytes: 1 << 30 });
            c.apply(d.encodeSnapshot());
            c.apply(u);
            assert.ok(c.pendingBytes() > limit, `${msg}: update ${i} refused with ${c.pendingBytes()} pending bytes after it`);
            continue;
          }
          const ex = d._exact;
          if (ex === null) continue;
          const { size, wide, exact } = ex.size();
          const got = d.pendingBytes();
          if (exact) assert.equal(size, got, `${msg}: update ${i}: exact size ${size}, encoded ${got}`);
          else assert.ok(size <= got && got <= wide, `${msg}: update ${i}: ${got} bytes outside [${size}, ${wide}]`);
          exactChecks++;
        }
        if (limit < 2000) assert.ok(exactChecks > 0, `${msg}: the exact size was never kept`);
      }
    }
  }
});

test('rich sessions: arrival orders converge, the pending bound and the exact size hold, refusals change nothing', () => {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = rng(seed * 31337);
    const log = session(seed, r, true);
    const want = state(applyAll(log, `rich seed ${seed} in order`));
    for (const [name, order] of /** @type {[string, Uint8Array[]][]} */ ([
      ['reversed', log.slice().reverse()],
      ['shuffled', shuffled(log, r)],
    ])) {
      const msg = `rich seed ${seed}, ${name}`;
      assert.deepEqual(state(applyAll(order, msg)), want, msg);
      for (const limit of [400, 1500]) {
        const d = new Doc(1, { maxPendingBytes: limit });
        /** @type {Uint8Array[]} */
        const later = [];
        for (const [i, u] of order.entries()) {
          const before = state(d);
          try {
            d.apply(u);
          } catch (err) {
            assert.equal(/** @type {any} */ (err).kind, 'pending-overflow', msg);
            assert.deepEqual(state(d), before, `${msg}, limit ${limit}: update ${i} refused, the replica changed`);
            later.push(u);
            continue;
          }
          assert.ok(d.pendingBytes() <= limit, `${msg}, limit ${limit}: pending ${d.pendingBytes()} over the limit`);
          const ex = d._exact;
          if (ex === null) continue;
          const { size, wide, exact } = ex.size();
          const got = d.pendingBytes();
          if (exact) assert.equal(size, got, `${msg}, limit ${limit}: update ${i}: exact size ${size}, encoded ${got}`);
          else assert.ok(size <= got && got <= wide, `${msg}, limit ${limit}: update ${i}: ${got} bytes outside [${size}, ${wide}]`);
        }
        const c = new Doc(1);
        c.apply(d.encodeSnapshot());
        for (const u of log) c.apply(u);
        assert.deepEqual(state(c), want, `${msg}, limit ${limit}: with every update`);
      }
    }
  }
});

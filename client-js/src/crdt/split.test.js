// Tests of splitUpdate: the golden vectors Go wrote (testdata/crdt/split.json, and split-rich.json
// for rich-text ops), parts within the
// maximum, and parts applied in order giving the same replica as the whole update.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Doc, splitUpdate, MIN_SPLIT_BYTES } from './index.js';
import { hex, unhex } from './encoding.js';
import { xorshift32 } from './scenario.js';

const here = dirname(fileURLToPath(import.meta.url));
const vectors = resolve(here, '..', '..', '..', 'testdata', 'crdt', 'split.json');
const richVectors = resolve(here, '..', '..', '..', 'testdata', 'crdt', 'split-rich.json');

/**
 * kindOf returns the kind of the error fn throws.
 * @param {() => unknown} fn
 */
function kindOf(fn) {
  try {
    fn();
  } catch (err) {
    return /** @type {any} */ (err).kind ?? String(err);
  }
  return 'no error';
}

/**
 * loadDoc returns a new replica holding snapshot (null: empty).
 * @param {Uint8Array | null} snapshot
 */
function loadDoc(snapshot) {
  const d = new Doc(2 ** 52);
  if (snapshot) d.apply(snapshot);
  return d;
}

/**
 * checkParts checks the size of every part and that each decodes.
 * @param {Uint8Array[]} parts
 * @param {number} max
 * @param {string} what
 */
function checkParts(parts, max, what) {
  parts.forEach((p, i) => {
    assert.ok(p.byteLength <= max, `${what}: part ${i} of ${parts.length} has ${p.byteLength} bytes; want at most ${max}`);
    assert.doesNotThrow(() => new Doc(2 ** 52).apply(p), `${what}: part ${i} decodes`);
  });
}

/**
 * checkSame applies whole to one copy of the replica in snapshot and the parts in order to
 * another, and compares their snapshots.
 * @param {string} what
 * @param {Uint8Array | null} snapshot
 * @param {Uint8Array} whole
 * @param {Uint8Array[]} parts
 */
function checkSame(what, snapshot, whole, parts) {
  const a = loadDoc(snapshot);
  const b = loadDoc(snapshot);
  a.apply(whole);
  for (const p of parts) b.apply(p);
  assert.equal(hex(b.encodeSnapshot()), hex(a.encodeSnapshot()), `${what}: snapshot after ${parts.length} parts`);
}

for (const [what, file] of [['golden vectors', vectors], ['rich-text golden vectors', richVectors]]) {
  test(`${what}: the same parts as Go, byte for byte`, () => {
    /** @type {{name: string, max: number, update: string, parts: string[]}[]} */
    const vs = JSON.parse(readFileSync(file, 'utf8'));
    assert.ok(vs.length > 0);
    for (const v of vs) {
      const u = /** @type {Uint8Array} */ (unhex(v.update));
      const parts = splitUpdate(u, v.max);
      assert.deepEqual(parts.map((p) => hex(p)), v.parts, v.name);
      checkSame(v.name, null, u, parts);
    }
  });
}

test('an update within the maximum is returned as is', () => {
  const d = new Doc(7);
  d.text('t').insert(0, 'héllo');
  const u = /** @type {Uint8Array} */ (d.takeUpdate());
  for (const max of [MIN_SPLIT_BYTES, 1 << 20]) {
    const parts = splitUpdate(u, max);
    assert.equal(parts.length, 1);
    assert.equal(parts[0], u);
  }
});

test('errors: a maximum below the floor, a unit too large, bad bytes', () => {
  const d = new Doc(7);
  d.text('t').insert(0, 'x'.repeat(200));
  const text = /** @type {Uint8Array} */ (d.takeUpdate());
  d.map('m').set('k', `"${'v'.repeat(300)}"`);
  const bigValue = /** @type {Uint8Array} */ (d.takeUpdate());
  d.text('r'.repeat(255)).insert(0, 'ab');
  const longRoot = /** @type {Uint8Array} */ (d.takeUpdate());
  const cases = [
    { name: 'max below the floor', u: text, max: MIN_SPLIT_BYTES - 1, kind: 'unsplittable' },
    { name: 'max below the floor, small update', u: text.subarray(0, 5), max: 10, kind: 'unsplittable' },
    { name: 'max not an integer', u: text, max: 100.5, kind: 'unsplittable' },
    { name: 'map value larger than max', u: bigValue, max: 200, kind: 'unsplittable' },
    { name: 'code point with its root name larger than max', u: longRoot, max: 200, kind: 'unsplittable' },
    { name: 'truncated', u: text.subarray(0, text.length - 1), max: 100, kind: 'malformed' },
    { name: 'snapshot', u: d.encodeSnapshot(), max: 100, kind: 'malformed' },
  ];
  for (const c of cases) assert.equal(kindOf(() => splitUpdate(c.u, c.max)), c.kind, c.name);
});

test('one long run of multi-byte text fills every part', () => {
  for (const alphabet of ['abc', 'é', '中文', '😀', 'aé中😀']) {
    const d = new Doc(2 ** 40);
    const text = alphabet.repeat(Math.floor(2000 / [...alphabet].length));
    d.text('body').insert(0, text);
    d.text('body').delete(10, 5);
    const u = /** @type {Uint8Array} */ (d.takeUpdate());
    for (const max of [64, 100, 1000, u.byteLength - 1]) {
      const what = `${alphabet}, max ${max}`;
      const parts = splitUpdate(u, max);
      checkParts(parts, max, what);
      for (let i = 1; i < parts.length - 1; i++) {
        assert.ok(parts[i].byteLength >= max - 4, `${what}: part ${i} of ${parts.length} has ${parts[i].byteLength} bytes`);
      }
      checkSame(what, null, u, parts);
      const r = new Doc(3);
      for (const p of parts) r.apply(p);
      const cps = [...text];
      assert.equal(r.text('body').toString(), [...cps.slice(0, 10), ...cps.slice(15)].join(''), what);
    }
  }
});

/**
 * rng returns a 32-bit xorshift generator of integers in [0, n).
 * @param {number} seed
 */
function rng(seed) {
  const next = xorshift32(seed);
  return (/** @type {number} */ n) => next() % n;
}

test('random sessions: parts in order give the same replica as the whole, from various states', () => {
  const pieces = ['a', 'bc', 'é', '中', '😀', 'xyz ', '\n'];
  for (let seed = 1; seed <= 4; seed++) {
    const rnd = rng(seed);
    const docs = [new Doc(11), new Doc(2 ** 50 + seed), new Doc(300)];
    /** @type {Uint8Array[]} */
    const marks = [];
    for (let step = 0; step < 200; step++) {
      const d = docs[rnd(docs.length)];
      const t = d.text(rnd(4) === 0 ? 'title' : 'body');
      const p = rnd(100);
      if (p < 55) t.insert(rnd(t.length + 1), pieces[rnd(pieces.length)].repeat(1 + rnd(4)));
      else if (p < 75 && t.length > 0) {
        const at = rnd(t.length);
        t.delete(at, 1 + rnd(Math.min(5, t.length - at)));
      } else if (p < 90) d.map('m').set(`k${rnd(3)}`, `${rnd(1000)}`);
      const u = d.takeUpdate();
      if (u && rnd(3) > 0) for (const o of docs) if (o !== d) o.apply(u);
      if (rnd(20) === 0) marks.push(docs[0].encodeSnapshot());
    }
    for (const a of docs) for (const b of docs) if (a !== b) b.apply(a.encodeUpdate(b.stateVector()));
    const full = docs[0];
    /** @type {(Uint8Array | null)[]} */
    const priors = [null, full.encodeSnapshot(), ...marks];
    for (const m of marks.slice(0, 2)) {
      const c = loadDoc(m);
      c.text('body').insert(Math.floor(c.text('body').length / 2), 'concurrent ✓');
      c.map('m').set('k0', '"mine"');
      priors.push(c.encodeSnapshot());
    }
    /** @type {Record<string, Uint8Array>} */
    const updates = { everything: full.encodeUpdate() };
    if (marks.length > 0) updates['catch-up'] = full.encodeUpdate(loadDoc(marks[Math.floor(marks.length / 2)]).stateVector());
    for (const [name, u] of Object.entries(updates)) {
      for (const max of [64, 97, 200, 1000, 1 + Math.floor(u.byteLength / 2)]) {
        const what = `seed ${seed}, ${name} (${u.byteLength} bytes), max ${max}`;
        const parts = splitUpdate(u, max);
        checkParts(parts, max, what);
        // Every prior state at the larger sizes; every third one at the small (many parts).
        priors.forEach((prior, i) => {
          if (max >= 200 || i % 3 === 0) checkSame(`${what}, prior state ${i}`, prior, u, parts);
        });
      }
    }
  }
});

test('3 MiB of text in parts of the server default limit', () => {
  const d = new Doc(2 ** 45);
  const line = '2024-05-01T12:00:00Z INFO request served — 200 OK ✓ 😀\n';
  const text = line.repeat(Math.floor((3 << 20) / line.length) + 1);
  d.text('log').insert(0, text);
  const u = /** @type {Uint8Array} */ (d.takeUpdate());
  const max = (1 << 20) - 5;
  const parts = splitUpdate(u, max);
  assert.equal(parts.length, Math.ceil(u.byteLength / max));
  for (const p of parts) assert.ok(p.byteLength <= max);
  const r = new Doc(2);
  for (const p of parts) r.apply(p);
  assert.ok(r.text('log').toString() === text, 'text after the parts');
});

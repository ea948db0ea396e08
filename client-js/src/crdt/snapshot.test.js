// Snapshots of format version 2 (docs/crdt.md 2.4.1): the golden vectors Go
// wrote load and re-encode byte for byte, version 1 snapshots still load and
// encode as Go encodes them, and documents made here round-trip.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Doc, CrdtError } from './index.js';
import { hex, unhex, Encoder } from './encoding.js';
import { codeLengths } from './contentcode.js';
import { xorshift32 } from './scenario.js';

const testdata = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'testdata', 'crdt');

/**
 * readJSON reads a golden file of testdata/crdt.
 * @param {string} name
 * @returns {any[]}
 */
function readJSON(name) {
  return JSON.parse(readFileSync(join(testdata, name), 'utf8'));
}

/**
 * bytes parses hex that must be valid.
 * @param {string} s
 */
function bytes(s) {
  const b = unhex(s);
  assert.ok(b !== null, `bad hex ${s.slice(0, 20)}`);
  return b;
}

/**
 * dump describes a document's visible state as Go's docDump does.
 * @param {Doc} d
 */
function dump(d) {
  let s = '';
  for (const r of d.roots()) {
    if (r.kind === 'text') {
      s += `text ${r.name}: ${d.text(r.name).toString()}\n`;
      continue;
    }
    const m = d.map(r.name);
    for (const k of m.keys()) s += `map ${r.name} ${k}: ${m.get(k)}\n`;
  }
  return s;
}

test('golden version 2 snapshots load and re-encode byte for byte', () => {
  const vectors = readJSON('snapshot-v2.json');
  assert.ok(vectors.length > 0);
  for (const v of vectors) {
    const d = new Doc(77);
    d.apply(bytes(v.snapshot));
    assert.equal(dump(d), v.state, v.name);
    assert.equal(hex(d.encodeSnapshot()), v.snapshot, v.name);
  }
});

test('version 1 snapshots load and encode as Go encodes them', () => {
  const fixtures = readJSON('snapshot-v1.json');
  assert.ok(fixtures.length > 0);
  for (const fx of fixtures) {
    const v1 = bytes(fx.v1);
    assert.equal(v1[0], 0x02, fx.name);
    const d = new Doc(99);
    d.apply(v1);
    assert.equal(hex(d.encodeSnapshot()), fx.v2, fx.name);
    const e = new Doc(99);
    e.apply(bytes(fx.v2));
    assert.equal(dump(e), dump(d), fx.name);
    assert.equal(hex(e.encodeUpdate()), hex(d.encodeUpdate()), fx.name);
    const m = new Doc(2 ** 51);
    m.text('other').insert(0, 'kept');
    m.apply(v1);
  }
});

/**
 * docs returns documents whose snapshots exercise the encoding.
 * @returns {Map<string, Doc>}
 */
function docs() {
  /** @type {Map<string, Doc>} */
  const out = new Map();
  const rnd = xorshift32(7);
  const typing = new Doc(1);
  const t = typing.text('body');
  const words = ['the ', 'quick ', 'brown ', 'fox ', 'jumps ', 'über ', '😀 ', 'lazy ', 'dog.\n'];
  for (let i = 0; i < 3000; i++) {
    const len = t.length;
    const r = rnd();
    if (r % 7 === 0 && len > 3) t.delete(r % len, Math.min(3, len - (r % len)));
    else t.insert(r % 5 === 0 ? r % (len + 1) : len, words[r % words.length]);
  }
  out.set('typing', typing);
  const churn = new Doc(9);
  const c = churn.text('t');
  c.insert(0, 'ab');
  for (let i = 0; i < 1000; i++) {
    c.insertAt(c.relPos(1, -1), 'x');
    c.delete(1, 1);
  }
  out.set('churn', churn);
  const a = new Doc(3);
  const b = new Doc(2 ** 50);
  a.text('body').insert(0, 'common text to edit');
  b.apply(/** @type {Uint8Array} */ (a.takeUpdate()));
  a.text('body').insert(7, 'AAA');
  b.text('body').insert(7, 'BBB');
  b.text('body').delete(0, 3);
  b.map('meta').set('title', '"x"');
  a.apply(/** @type {Uint8Array} */ (b.takeUpdate()));
  out.set('two clients', a);
  const astral = new Doc(5);
  astral.text('t').insert(0, '😀 é ∑ 𝄞 abc '.repeat(40));
  astral.text('t').delete(7, 30);
  out.set('astral', astral);
  return out;
}

test('snapshots round-trip: same state, same bytes; churn coalesces', () => {
  for (const [name, d] of docs()) {
    const snap = d.encodeSnapshot();
    assert.equal(snap[0], 0x05, name);
    const e = new Doc(78);
    e.apply(snap);
    assert.equal(dump(e), dump(d), name);
    assert.equal(hex(e.encodeSnapshot()), hex(snap), name);
    const m = new Doc(79);
    m.apply(d.encodeUpdate());
    m.apply(snap);
    assert.equal(dump(m), dump(d), name);
    if (name === 'churn') assert.ok(snap.length < 200, `churn snapshot of ${snap.length} bytes`);
    if (name === 'typing') assert.ok(snap.length < d.encodeUpdate().length, 'typing: snapshot not smaller than the full update');
  }
});

test('broken version 2 snapshots are refused as malformed', () => {
  const d = new Doc(1);
  d.text('t').insert(0, 'hi');
  const good = d.encodeSnapshot();
  const cases = [good.subarray(0, good.length - 1), Uint8Array.from([...good, 0]), Uint8Array.from([5, 1, 1, 1, 1, 1, 0x74, 1, 0, 2, 1, 0, 0x7f, 0, 0])];
  const at = hex(good).indexOf('00026869');
  cases.push(bytes(hex(good).slice(0, at) + '02026869' + hex(good).slice(at + 8)));
  for (const b of cases) {
    assert.throws(() => new Doc(2).apply(b), (err) => err instanceof CrdtError && err.kind === 'malformed', hex(b));
  }
});

test('content code lengths stay within 15 bits and the code is complete', () => {
  const freq = [1, 1];
  while (freq.length < 30) freq.push(freq[freq.length - 1] + freq[freq.length - 2]);
  const lens = codeLengths(freq);
  let kraft = 0;
  for (const l of lens) {
    assert.ok(l >= 1 && l <= 15, `length ${l}`);
    kraft += 2 ** -l;
  }
  assert.equal(kraft, 1);
});

test('a run longer than the length field holds goes in the long column', () => {
  const long = 2 ** 41 + 1;
  const e = new Encoder(64);
  for (const b of [0x05, 1, 7, 1, 1, 1, 0x74, 1, 0]) e.writeUint8(b);
  e.writeVarUint(long + 1);
  for (const b of [1, 0, 2, 0, 0]) e.writeUint8(b);
  e.writeVarUint(((2 ** 40 - 1) * 32 + 2 + 1) * 2);
  e.writeUint8(0);
  const at = e.length;
  e.writeVarUint(long);
  for (const b of [0, 2, 0, 1, 0x61, 0, 0]) e.writeUint8(b);
  const good = e.finish().slice();
  const d = new Doc(2);
  d.apply(good);
  assert.equal(d.text('t').toString(), 'a');
  assert.equal(hex(d.encodeSnapshot()), hex(good));
  for (const v of [5, 0]) {
    const bad = Uint8Array.from([...good.subarray(0, at), v, ...good.subarray(at + 6)]);
    assert.throws(() => new Doc(2).apply(bad), (err) => err instanceof CrdtError && err.kind === 'malformed', `long length ${v}`);
  }
});

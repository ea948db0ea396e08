// Unit tests of the Doc API: local edits, astral characters, maps, relative
// positions, state vectors, bad input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doc, CrdtError, encodeStateVector, decodeStateVector, encodeRelPos, decodeRelPos, REL_BEFORE, REL_AFTER, REL_START, REL_END } from './index.js';
import { hex, unhex } from './encoding.js';
import { xorshift32 } from './scenario.js';

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

test('constructor refuses client IDs outside [1, 2^53)', () => {
  for (const id of [0, -1, 1.5, 2 ** 53, NaN, /** @type {any} */ ('7')]) {
    assert.throws(() => new Doc(id), RangeError, `new Doc(${id})`);
  }
  assert.equal(new Doc(2 ** 53 - 1).clientId, 2 ** 53 - 1);
});

test('text edits count code points; astral characters stay whole', () => {
  const cases = [
    { ops: [['i', 0, 'a😀b'], ['i', 2, '👍🏽'], ['d', 1, 1]], want: 'a👍🏽b' },
    { ops: [['i', 0, '😀😀😀'], ['d', 1, 1], ['i', 1, 'x']], want: '😀x😀' },
    { ops: [['i', 0, 'abc'], ['i', 3, '\u{10ffff}'], ['i', 1, '中']], want: 'a中bc\u{10ffff}' },
    { ops: [['i', 0, 'e\u0301'], ['d', 0, 1]], want: '\u0301' },
  ];
  for (const { ops, want } of cases) {
    const d = new Doc(1);
    const t = d.text('t');
    for (const [op, p, x] of ops) {
      if (op === 'i') t.insert(/** @type {number} */ (p), /** @type {string} */ (x));
      else t.delete(/** @type {number} */ (p), /** @type {number} */ (x));
    }
    assert.equal(t.toString(), want, `ops ${JSON.stringify(ops)}`);
    assert.equal(t.length, [...want].length);
    const e = new Doc(2);
    e.apply(/** @type {Uint8Array} */ (d.takeUpdate()));
    assert.equal(e.text('t').toString(), want, `remote copy of ${JSON.stringify(ops)}`);
    const s = new Doc(3);
    s.apply(d.encodeSnapshot());
    assert.equal(s.text('t').toString(), want, `snapshot copy of ${JSON.stringify(ops)}`);
  }
});

test('local edit errors change nothing', () => {
  const d = new Doc(1);
  d.text('t').insert(0, 'hi');
  const before = hex(d.encodeSnapshot());
  const cases = [
    { fn: () => d.text('t').insert(3, 'x'), kind: 'range' },
    { fn: () => d.text('t').insert(-1, 'x'), kind: 'range' },
    { fn: () => d.text('t').insert(1.5, 'x'), kind: 'range' },
    { fn: () => d.text('t').insert(0, 'a\ud800'), kind: 'text' },
    { fn: () => d.text('t').insert(0, '\udc00'), kind: 'text' },
    { fn: () => d.text('t').delete(1, 2), kind: 'range' },
    { fn: () => d.text('').insert(0, 'x'), kind: 'name' },
    { fn: () => d.text('x'.repeat(256)).insert(0, 'x'), kind: 'name' },
    { fn: () => d.map('m').set('k', '{'), kind: 'json' },
    { fn: () => d.map('m').set('k', '1 2'), kind: 'json' },
    { fn: () => d.map('m').set('k', '['.repeat(10001) + ']'.repeat(10001)), kind: 'json' },
    { fn: () => d.map('m').set('k', '{"a":'.repeat(10001) + '1' + '}'.repeat(10001)), kind: 'json' },
    { fn: () => d.map('m').set('k'.repeat(1025), '1'), kind: 'name' },
    { fn: () => d.map('m').set('\ud800', '1'), kind: 'name' },
    { fn: () => d.text('t').relPos(3), kind: 'range' },
  ];
  for (const c of cases) assert.equal(kindOf(c.fn), c.kind, c.fn.toString());
  assert.equal(hex(d.encodeSnapshot()), before, 'a refused edit changed the document');
  const deep = '['.repeat(10000) + '"[[["' + ']'.repeat(10000);
  d.map('deep').set('k', deep); // 10,000 deep is allowed, brackets in strings do not count
  assert.equal(d.map('deep').get('k'), deep);
  assert.equal(d.text('t').toString(), 'hi');
});

test('maps: last writer wins by lamport, then client ID', () => {
  const a = new Doc(1);
  const b = new Doc(2);
  a.map('m').set('k', '"a"');
  b.map('m').set('k', '"b"');
  const ua = /** @type {Uint8Array} */ (a.takeUpdate());
  const ub = /** @type {Uint8Array} */ (b.takeUpdate());
  const ch = a.apply(ub);
  b.apply(ua);
  assert.deepEqual(ch, [{ root: 'm', kind: 'map', edits: [], formats: [], attrs: [], keys: ['k'] }]);
  assert.equal(a.map('m').get('k'), '"b"');
  assert.equal(b.map('m').get('k'), '"b"');
  a.map('m').set('k', ' [1, 2] '); // a saw b's value: a higher lamport wins
  b.apply(/** @type {Uint8Array} */ (a.takeUpdate()));
  assert.equal(b.map('m').get('k'), ' [1, 2] ');
  b.map('m').delete('k');
  a.apply(/** @type {Uint8Array} */ (b.takeUpdate()));
  assert.equal(a.map('m').get('k'), undefined);
  assert.deepEqual(a.map('m').keys(), []);
  a.map('m').setValue('o', { x: '😀' });
  assert.deepEqual(a.map('m').getValue('o'), { x: '😀' });
  a.map('m').set('\ue000', '1');
  a.map('m').set('😀', '2');
  assert.deepEqual(a.map('m').keys(), ['o', '\ue000', '😀'], 'keys sorted as UTF-8 bytes');
});

test('takeUpdate returns null when nothing changed, and only local changes', () => {
  const a = new Doc(1);
  assert.equal(a.takeUpdate(), null);
  a.text('t').insert(0, 'x');
  assert.notEqual(a.takeUpdate(), null);
  assert.equal(a.takeUpdate(), null);
  const b = new Doc(2);
  b.text('t').insert(0, 'y');
  a.apply(b.encodeUpdate());
  assert.equal(a.takeUpdate(), null, 'remote units are not local changes');
});

test('takeUpdate sends local deletions sorted and merged, in whatever order they were made', () => {
  // Deleting the same items in another order (backspacing, deleting forward,
  // here and there) makes the same update.
  const orders = [
    [['d', 1, 1], ['d', 1, 1], ['d', 5, 2], ['d', 0, 1]],
    [['d', 7, 2], ['d', 2, 1], ['d', 1, 1], ['d', 0, 1]],
    [['d', 0, 1], ['d', 6, 2], ['d', 0, 1], ['d', 0, 1]],
  ];
  /** @type {string[]} */
  const got = [];
  for (const ops of orders) {
    const d = new Doc(1);
    const t = d.text('t');
    t.insert(0, 'abcdefghijkl');
    d.takeUpdate();
    for (const [, p, n] of ops) t.delete(/** @type {number} */ (p), /** @type {number} */ (n));
    assert.equal(t.toString(), 'defgjkl', `ops ${JSON.stringify(ops)}`);
    got.push(hex(/** @type {Uint8Array} */ (d.takeUpdate())));
  }
  assert.equal(got[1], got[0], 'second order');
  assert.equal(got[2], got[0], 'third order');
  const e = new Doc(2);
  e.apply(/** @type {Uint8Array} */ (unhex(got[0])));
  assert.equal(e.text('t').toString(), '', 'the deletions alone name no integrated item of e');
});

test('relative positions follow their item through concurrent edits', () => {
  const a = new Doc(1);
  const t = a.text('t');
  t.insert(0, 'hello😀world');
  const before = t.relPos(6); // before 'w'
  const after = t.relPos(6, -1); // after '😀'
  const end = t.relPos(11);
  const startPos = t.relPos(0, -1);
  for (const rp of [before, after, end, startPos]) assert.deepEqual(decodeRelPos(encodeRelPos(rp)), rp);
  const b = new Doc(2);
  b.apply(a.encodeSnapshot());
  b.text('t').insert(0, '>> ');
  b.text('t').delete(8, 1); // the '😀'
  a.apply(/** @type {Uint8Array} */ (b.takeUpdate()));
  assert.equal(t.toString(), '>> helloworld');
  assert.equal(a.resolve(before), 8);
  assert.equal(a.resolve(after), 8, 'after a deleted item: where it was');
  assert.equal(a.resolve(end), 13);
  assert.equal(a.resolve(startPos), 0);
  assert.equal(kindOf(() => new Doc(3).resolve(before)), 'unknown');
  assert.equal(new Doc(3).resolve(startPos), 0);
});

test('state vectors round trip and refuse bad bytes', () => {
  const sv = new Map([
    [1, 5],
    [2 ** 53 - 1, 2 ** 53 - 1],
    [300, 1],
  ]);
  const b = encodeStateVector(sv);
  assert.equal(hex(b), '03030105ac0201ffffffffffffff0fffffffffffffff0f');
  assert.deepEqual(decodeStateVector(b), sv);
  const bad = ['', '03', '0301', '030102', '030201010101', '0301000a', '03010100', '03010105ff', '0301018000', '030101ffffffffffffffff01', '04'];
  for (const h of bad) assert.equal(kindOf(() => decodeStateVector(/** @type {Uint8Array} */ (unhex(h)))), 'malformed', h);
});

test('apply refuses bad bytes and changes nothing', () => {
  const a = new Doc(1);
  a.text('t').insert(0, 'héllo😀');
  a.map('m').set('k', '1');
  const good = /** @type {Uint8Array} */ (a.takeUpdate());
  const snap = a.encodeSnapshot();
  const d = new Doc(2);
  d.text('t').insert(0, 'x');
  d.apply(new Doc(3).encodeUpdate());
  const before = hex(d.encodeSnapshot());
  /** @type {Uint8Array[]} */
  const bad = [new Uint8Array(0), new Uint8Array([9])];
  for (const src of [good, snap]) {
    for (let n = 1; n < src.length; n++) bad.push(src.subarray(0, n)); // truncated
    bad.push(new Uint8Array([...src, 0])); // trailing byte
    for (let i = 1; i < src.length; i++) {
      for (const v of [0x80, 0xff, 0xed, 0x00]) {
        const c = src.slice();
        c[i] = v; // bad varints, invalid UTF-8, wrong indexes
        bad.push(c);
      }
    }
  }
  let refused = 0;
  for (const b of bad) {
    const probe = new Doc(2);
    probe.apply(unhex(before) ?? new Uint8Array());
    try {
      probe.apply(b);
    } catch (err) {
      assert.ok(err instanceof CrdtError, `apply(${hex(b)}) threw ${err}`);
      assert.equal(err.kind, 'malformed', `apply(${hex(b)})`);
      assert.equal(hex(probe.encodeSnapshot()), before, `apply(${hex(b)}) changed the document`);
      refused++;
    }
  }
  assert.ok(refused > bad.length / 2, `only ${refused} of ${bad.length} corruptions refused`);
  assert.equal(hex(d.encodeSnapshot()), before);
});

test('a lone surrogate in bytes is invalid UTF-8', () => {
  // An update whose content is the UTF-8-like encoding of U+D800.
  const d = new Doc(2);
  const b = unhex('010101010174010000010001 03eda080 00'.replace(/ /g, ''));
  assert.equal(kindOf(() => d.apply(/** @type {Uint8Array} */ (b))), 'malformed');
});

test('type-and-delete churn: 100,000 pairs cost a few bytes each, at one place as anywhere', (tc) => {
  // Each new character goes right after the visible one before the cursor,
  // before the characters deleted there (docs/crdt.md 1.3): a deleted run per pair.
  const pairs = 100_000;
  /** @type {{ name: string, start: number, pos: (n: number, r: () => number) => number, max: number }[]} */
  const cases = [
    { name: 'end of an empty text', start: 0, pos: (n) => n, max: 8 * pairs },
    { name: 'end of 1,000 characters', start: 1000, pos: (n) => n, max: 8 * pairs },
    { name: 'start of 1,000 characters', start: 1000, pos: () => 0, max: 8 * pairs },
    { name: 'random positions in 1,000 characters', start: 1000, pos: (n, r) => r() % (n + 1), max: 8 * pairs },
  ];
  for (const { name, start, pos, max } of cases) {
    const r = xorshift32(11);
    const d = new Doc(1);
    const t = d.text('body');
    if (start > 0) t.insert(0, 'a'.repeat(start));
    for (let i = 0; i < pairs; i++) {
      const p = pos(t.length, r);
      t.insert(p, 'x');
      t.delete(p, 1);
    }
    assert.equal(t.length, start, name);
    const snap = d.encodeSnapshot();
    tc.diagnostic(`churn, ${name}: ${pairs} pairs, snapshot ${snap.length} bytes`);
    assert.ok(snap.length <= max, `${name}: snapshot of ${snap.length} bytes; want at most ${max}`);
    const e = new Doc(2);
    e.apply(snap);
    assert.equal(hex(e.encodeSnapshot()), hex(snap), `${name}: reloaded snapshot`);
  }
});

test('local insertion lands at its index, before the deleted items after it', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const r = xorshift32(seed);
    const a = new Doc(1);
    const b = new Doc(2);
    const ta = a.text('t');
    const tb = b.text('t');
    const chars = [...'abcé中😀'];
    const pick = () => Array.from({ length: 1 + (r() % 3) }, () => chars[r() % chars.length]).join('');
    /** @type {string[]} */
    let model = [];
    for (let step = 0; step < 300; step++) {
      const k = r() % 12;
      if (k < 6) {
        const p = r() % (model.length + 1);
        const s = pick();
        ta.insert(p, s);
        model.splice(p, 0, ...s);
      } else if (k < 9) {
        if (model.length === 0) continue;
        const p = r() % model.length;
        const n = 1 + (r() % Math.min(4, model.length - p));
        ta.delete(p, n);
        model.splice(p, n);
      } else if (k < 11) {
        if (tb.length > 0 && r() % 2 === 0) {
          const p = r() % tb.length;
          tb.delete(p, 1);
        } else tb.insert(r() % (tb.length + 1), pick());
        const u = b.takeUpdate();
        if (u) a.apply(u);
        model = [...ta.toString()];
      } else {
        b.apply(a.encodeUpdate(b.stateVector()));
      }
      assert.equal(ta.toString(), model.join(''), `seed ${seed} step ${step}`);
    }
  }
});

test('insertAt puts text next to an item, deleted or not; an undo can redo in place', () => {
  const d = new Doc(1);
  const t = d.text('t');
  t.insert(0, 'hello');
  t.insert(5, ' world');
  t.delete(5, 6);
  t.delete(0, 5);
  // Insert at the resolved index puts both at the end: " world" would land before "hello".
  t.insertAt({ root: 't', kind: REL_BEFORE, client: 1, clock: 0 }, 'hello');
  t.insertAt({ root: 't', kind: REL_BEFORE, client: 1, clock: 5 }, ' world');
  assert.equal(t.toString(), 'hello world');
  t.insertAt({ root: 't', kind: REL_AFTER, client: 1, clock: 10 }, '!');
  t.insertAt({ root: 't', kind: REL_START, client: 0, clock: 0 }, '<');
  t.insertAt({ root: 't', kind: REL_END, client: 0, clock: 0 }, '>');
  assert.equal(t.toString(), '<hello world!>');
  const e = new Doc(2);
  e.apply(d.encodeUpdate());
  assert.equal(e.text('t').toString(), '<hello world!>');
  assert.equal(kindOf(() => t.insertAt({ root: 't', kind: REL_BEFORE, client: 9, clock: 0 }, 'x')), 'unknown');
  assert.equal(kindOf(() => t.insertAt({ root: 'u', kind: REL_START, client: 0, clock: 0 }, 'x')), 'unknown');
  assert.equal(kindOf(() => d.text('u').insertAt({ root: 'u', kind: REL_BEFORE, client: 1, clock: 0 }, 'x')), 'unknown');
  assert.equal(kindOf(() => t.insertAt({ root: 't', kind: REL_END, client: 0, clock: 0 }, '\ud800')), 'text');
  assert.equal(t.toString(), '<hello world!>');
});

test('a snapshot of deleted runs of three bytes each loads back', () => {
  // Text typed backwards at the start, one character at a time, then deleted:
  // each run is written as flags, clock delta and length, with implied origins.
  for (const n of [1, 10, 1000]) {
    const d = new Doc(1);
    const t = d.text('body');
    for (let i = 0; i < n; i++) t.insert(0, 'x');
    t.delete(0, n);
    const snap = d.encodeSnapshot();
    const e = new Doc(2);
    e.apply(snap);
    assert.equal(hex(e.encodeSnapshot()), hex(snap), `${n} runs`);
  }
});

test('contentVersion changes with every local edit and every apply that changed something, and only then', () => {
  const d = new Doc(1);
  const t = d.text('t');
  const other = new Doc(2);
  other.text('t').insert(0, 'remote ');
  const remote = /** @type {Uint8Array} */ (other.takeUpdate());
  /** @type {[string, () => unknown, boolean][]} */
  const cases = [
    ['insert', () => t.insert(0, 'hello'), true],
    ['insert nothing', () => t.insert(0, ''), false],
    ['delete', () => t.delete(0, 1), true],
    ['delete nothing', () => t.delete(0, 0), false],
    ['insert at a relative position', () => t.insertAt({ root: 't', kind: REL_START, client: 0, clock: 0 }, 'h'), true],
    ['an insert refused', () => kindOf(() => t.insert(99, 'x')), false],
    ['format', () => t.format(0, 2, 'bold', true, 'after'), true],
    ['embed', () => t.insertEmbed(0, { block: 'paragraph' }), true],
    ['attribute', () => t.setAttr(0, 'level', 2), true],
    ['map set', () => d.map('m').set('k', '1'), true],
    ['map delete', () => d.map('m').delete('k'), true],
    ['takeUpdate', () => d.takeUpdate(), false],
    ['apply a remote update', () => d.apply(remote), true],
    ['apply it again', () => d.apply(remote), false],
    ['apply a malformed update', () => kindOf(() => d.apply(new Uint8Array([1, 255]))), false],
  ];
  for (const [name, fn, changes] of cases) {
    const v = d.contentVersion();
    fn();
    assert.equal(d.contentVersion() !== v, changes, name);
  }
});

test('a pending buffer past its bound refuses what makes it larger and takes what leaves it as large or smaller', () => {
  const limit = 16 << 10;
  /** @type {Uint8Array[]} */
  const waiting = [];
  /**
   * chain returns a writer whose first update is withheld (returned too) and whose next eight,
   * of 4 KiB each, wait for it (in waiting).
   * @param {number} client
   * @param {string} root
   * @returns {[Doc, Uint8Array]}
   */
  const chain = (client, root) => {
    const w = new Doc(client);
    w.text(root).insert(0, 'first');
    const first = /** @type {Uint8Array} */ (w.takeUpdate());
    for (let i = 0; i < 8; i++) {
      w.text(root).insert(5 + i * 4096, 'w'.repeat(4096));
      waiting.push(/** @type {Uint8Array} */ (w.takeUpdate()));
    }
    return [w, first];
  };
  const [w, first] = chain(9, 'body');
  chain(8, 'aside'); // never released
  w.text('body').insert(0, 'more ');
  const more = /** @type {Uint8Array} */ (w.takeUpdate());
  const other = new Doc(3);
  other.text('notes').insert(0, 'unrelated');
  const unrelated = /** @type {Uint8Array} */ (other.takeUpdate());
  /** @param {boolean} encoded whether what waits is encoded (measured) before the next update */
  const filled = (encoded) => {
    const d = new Doc(1, { maxPendingBytes: limit });
    d.setMaxPendingBytes(1 << 30); // accepted elsewhere: taken whatever waits
    for (const u of waiting) d.apply(u);
    d.setMaxPendingBytes(limit);
    if (encoded) assert.ok(d.pendingBytes() > limit);
    return d;
  };
  /** @type {[string, Uint8Array, boolean][]} */
  const cases = [
    ['an update that adds to what waits', more, true],
    ['an update that does not touch what waits', unrelated, false],
    ['an update that releases some of what waits', first, false],
  ];
  for (const [name, update, refused] of cases) {
    for (const encoded of [false, true]) {
      const d = filled(encoded);
      if (refused) {
        assert.equal(kindOf(() => d.apply(update)), 'pending-overflow', name);
        assert.equal(hex(d.encodeSnapshot()), hex(filled(false).encodeSnapshot()), `${name}: refused, nothing changed`);
      } else {
        d.apply(update);
      }
    }
  }
  const d = filled(false);
  d.apply(first);
  assert.equal(d.text('body').toString(), w.text('body').toString().slice('more '.length));
  assert.ok(d.pendingBytes() > limit, "the other writer's units still wait");
});

// Tests of the rich-text API of Text (docs/crdt.md section 4): embeds, marks
// with their expand, attributes, spans and slices, and the formats and attrs
// of change events. Byte compatibility with Go is the scenarios' job
// (scenario.test.js runs richtext-*.txt; test/crosslang.test.js the random ones).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doc, EXPAND } from './index.js';
import { xorshift32 } from './scenario.js';

/**
 * sync sends a's changes to b and returns what b's apply reported.
 * @param {Doc} a
 * @param {Doc} b
 */
function sync(a, b) {
  const u = a.takeUpdate();
  assert.ok(u !== null, 'no update');
  return b.apply(u);
}

test('embeds read as U+FFFC, take one position, and come back as their values', () => {
  const d = new Doc(1);
  const t = d.text('t');
  t.insert(0, 'ab');
  t.insertEmbed(1, { inline: 'image', src: 'a.png' });
  t.insertEmbed(0, { block: 'heading', level: 1 });
  assert.equal(t.toString(), '\uFFFCa\uFFFCb');
  assert.equal(t.length, 4);
  assert.deepEqual(t.spans(), [
    { embed: { block: 'heading', level: 1 }, attrs: {}, marks: {} },
    { insert: 'a', marks: {} },
    { embed: { inline: 'image', src: 'a.png' }, attrs: {}, marks: {} },
    { insert: 'b', marks: {} },
  ]);
  // Typing right after an embed does not extend it, and a typed U+FFFC is text.
  t.insert(1, 'x\uFFFC');
  assert.deepEqual(t.slice(0, 3), [
    { embed: { block: 'heading', level: 1 }, attrs: {}, marks: {} },
    { insert: 'x\uFFFC', marks: {} },
  ]);
});

test('format: expand decides whether typing at either end gets the mark', () => {
  const cases = [
    { expand: 'after', typedAt: 4, want: true },
    { expand: 'after', typedAt: 1, want: false },
    { expand: 'none', typedAt: 4, want: false },
    { expand: 'before', typedAt: 1, want: true },
    { expand: 'both', typedAt: 4, want: true },
    { expand: EXPAND.after, typedAt: 4, want: true },
    { expand: 0, typedAt: 4, want: false },
  ];
  for (const c of cases) {
    const d = new Doc(1);
    const t = d.text('t');
    t.insert(0, 'abcdef');
    t.format(1, 3, 'bold', true, /** @type {any} */ (c.expand));
    t.insert(c.typedAt, 'X');
    const x = t.slice(c.typedAt, 1)[0];
    assert.equal('marks' in x && x.marks.bold === true, c.want, `expand ${c.expand} typed at ${c.typedAt}: ${JSON.stringify(t.spans())}`);
  }
});

test('format: values are JSON values; null removes; the latest operation wins', () => {
  const d = new Doc(1);
  const t = d.text('t');
  t.insert(0, 'hello world');
  t.format(0, 11, 'link', { href: 'a' }, 'none');
  t.format(6, 5, 'link', { href: 'b' }, 'none');
  t.format(0, 2, 'link', null, 'none');
  t.format(3, 3, 'comment:1', { by: 'x' }, 'none');
  assert.deepEqual(t.spans(), [
    { insert: 'he', marks: {} },
    { insert: 'l', marks: { link: { href: 'a' } } },
    { insert: 'lo ', marks: { link: { href: 'a' }, 'comment:1': { by: 'x' } } },
    { insert: 'world', marks: { link: { href: 'b' } } },
  ]);
  assert.deepEqual(t.slice(2, 2), [
    { insert: 'l', marks: { link: { href: 'a' } } },
    { insert: 'l', marks: { link: { href: 'a' }, 'comment:1': { by: 'x' } } },
  ]);
  assert.deepEqual(t.slice(5, 0), []);
});

test('setAttr: last writer wins on an embed; spans carry the winning attributes', () => {
  const a = new Doc(1);
  const b = new Doc(2);
  const ta = a.text('t');
  ta.insertEmbed(0, { block: 'paragraph' });
  ta.insert(1, 'title');
  sync(a, b);
  ta.setAttr(0, 'block', 'heading');
  b.text('t').setAttr(0, 'block', 'list_item');
  const ua = a.takeUpdate();
  const ub = b.takeUpdate();
  a.apply(/** @type {Uint8Array} */ (ub));
  b.apply(/** @type {Uint8Array} */ (ua));
  const want = [{ embed: { block: 'paragraph' }, attrs: { block: 'list_item' }, marks: {} }, { insert: 'title', marks: {} }];
  assert.deepEqual(ta.spans(), want, 'equal lamports: the larger client wins');
  assert.deepEqual(b.text('t').spans(), want);
  assert.deepEqual(a.encodeSnapshot(), b.encodeSnapshot());
});

test('local rich edits refuse bad arguments and change nothing', () => {
  const cases = [
    { name: 'embed out of range', fn: (/** @type {any} */ t) => t.insertEmbed(9, {}), kind: 'range' },
    { name: 'embed without a JSON form', fn: (/** @type {any} */ t) => t.insertEmbed(0, undefined), kind: 'json' },
    { name: 'format out of range', fn: (/** @type {any} */ t) => t.format(2, 5, 'bold', true, 'after'), kind: 'range' },
    { name: 'format with an empty name', fn: (/** @type {any} */ t) => t.format(0, 1, '', true, 'after'), kind: 'name' },
    { name: 'format with a value without a JSON form', fn: (/** @type {any} */ t) => t.format(0, 1, 'x', () => 1, 'after'), kind: 'json' },
    { name: 'attribute on text', fn: (/** @type {any} */ t) => t.setAttr(1, 'level', 2), kind: 'embed' },
    { name: 'attribute out of range', fn: (/** @type {any} */ t) => t.setAttr(4, 'level', 2), kind: 'range' },
    { name: 'slice out of range', fn: (/** @type {any} */ t) => t.slice(2, 3), kind: 'range' },
  ];
  for (const c of cases) {
    const d = new Doc(1);
    const t = d.text('t');
    t.insertEmbed(0, { block: 'paragraph' });
    t.insert(1, 'abc');
    const before = d.encodeSnapshot();
    assert.throws(() => c.fn(t), (err) => /** @type {any} */ (err).kind === c.kind, c.name);
    assert.deepEqual(d.encodeSnapshot(), before, `${c.name}: the document changed`);
  }
  const t = new Doc(1).text('t');
  t.insert(0, 'a');
  assert.throws(() => t.format(0, 1, 'bold', true, /** @type {any} */ ('grow')), TypeError);
});

test('change events: formats and attrs in terms of the text after the edits', () => {
  const a = new Doc(1);
  const b = new Doc(2);
  const ta = a.text('t');
  ta.insertEmbed(0, { block: 'heading', level: 1 });
  ta.insert(1, 'Hello world');
  let ch = sync(a, b);
  assert.deepEqual(ch, [{ root: 't', kind: 'text', edits: [{ pos: 0, delete: 0, insert: '\uFFFCHello world' }], formats: [], attrs: [], keys: [] }]);
  ta.format(7, 5, 'bold', true, 'after');
  ta.setAttr(0, 'level', 2);
  ta.delete(1, 6);
  ch = sync(a, b);
  assert.deepEqual(ch, [
    {
      root: 't',
      kind: 'text',
      edits: [{ pos: 1, delete: 6, insert: '' }],
      formats: [{ pos: 1, len: 5, name: 'bold', value: true }],
      attrs: [{ pos: 0, key: 'level', value: 2 }],
      keys: [],
    },
  ]);
  ta.format(1, 2, 'bold', null, 'after');
  ch = sync(a, b);
  assert.deepEqual(ch[0].formats, [{ pos: 1, len: 2, name: 'bold', value: null }]);
  assert.deepEqual(b.text('t').spans(), ta.spans());
  // A snapshot load reports everything.
  const c = new Doc(3);
  ch = c.apply(a.encodeSnapshot());
  assert.deepEqual(ch[0].formats, [{ pos: 3, len: 3, name: 'bold', value: true }, { pos: 1, len: 2, name: 'bold', value: null }]);
  assert.deepEqual(ch[0].attrs, [{ pos: 0, key: 'level', value: 2 }]);
});

test('insertEmbedAt puts a deleted embed back where it was', () => {
  const d = new Doc(1);
  const t = d.text('t');
  t.insert(0, 'ab');
  t.insertEmbed(1, { inline: 'hard_break' });
  const rp = t.relPos(1);
  t.delete(1, 1);
  t.insert(1, 'x'); // typed at index 1: before the deleted embed in the sequence
  t.insertEmbedAt(rp, { inline: 'hard_break' });
  assert.equal(t.toString(), 'ax\uFFFCb');
  assert.deepEqual(t.slice(2, 1), [{ embed: { inline: 'hard_break' }, attrs: {}, marks: {} }]);
});

test('a deleted embed forgets it was one: the snapshot is that of a replica that got it deleted', () => {
  const a = new Doc(1);
  const t = a.text('t');
  t.insert(0, 'ab');
  t.insertEmbed(1, { inline: 'image' });
  const b = new Doc(2);
  sync(a, b);
  t.delete(1, 1);
  sync(a, b);
  const c = new Doc(3);
  c.apply(a.encodeUpdate());
  assert.equal(a.encodeSnapshot()[0], 0x05, 'no visible embed, no mark: a version 2 snapshot');
  assert.deepEqual(b.encodeSnapshot(), a.encodeSnapshot());
  assert.deepEqual(c.encodeSnapshot(), a.encodeSnapshot());
});

test('rich updates and snapshots with a byte changed apply or are refused as malformed, and a refusal changes nothing', () => {
  const a = new Doc(1001);
  const b = new Doc(1002);
  const ta = a.text('t');
  ta.insert(0, 'hello wörld 😀');
  ta.insertEmbed(0, { block: 'heading', level: 1 });
  ta.insertEmbed(6, { inline: 'image', src: 'a.png' });
  ta.format(1, 8, 'bold', true, 'after');
  ta.format(3, 4, 'link', { href: 'x' }, 'none');
  ta.setAttr(0, 'level', 2);
  ta.delete(2, 1);
  b.apply(/** @type {Uint8Array} */ (a.takeUpdate()));
  b.text('t').format(0, 5, 'comment:1', {}, 'none');
  b.text('t').format(2, 3, 'bold', null, 'after');
  const inputs = [/** @type {Uint8Array} */ (b.takeUpdate()), a.encodeUpdate(), b.encodeSnapshot()];
  for (const [k, input] of inputs.entries()) {
    for (let i = 0; i < input.length; i++) {
      for (const x of [0x01, 0x80, 0xff]) {
        const bytes = input.slice();
        bytes[i] ^= x;
        const d = new Doc(7);
        d.text('t').insert(0, 'z');
        const before = d.encodeSnapshot();
        try {
          d.apply(bytes);
        } catch (err) {
          const kind = /** @type {any} */ (err).kind;
          assert.ok(kind === 'malformed' || kind === 'pending-overflow', `input ${k}, byte ${i} ^ ${x}: ${err}`);
          assert.deepEqual(d.encodeSnapshot(), before, `input ${k}, byte ${i} ^ ${x}: a refused input changed the replica`);
          continue;
        }
        // What applied encodes and loads again.
        const c = new Doc(8);
        c.apply(d.encodeSnapshot());
        assert.deepEqual(c.encodeSnapshot(), d.encodeSnapshot(), `input ${k}, byte ${i} ^ ${x}: reload`);
      }
    }
  }
});

test('slice(pos, n) is the spans of the whole text cut at pos and pos+n', async () => {
  const { richTrace, applyRich } = await import('../../bench/richtrace.js');
  const d = new Doc(1);
  for (const op of richTrace(3, 4000)) applyRich(d, 'body', op);
  const t = d.text('body');
  /** @type {string[]} one entry per position: its content and formatting */
  const cells = [];
  for (const sp of t.spans()) {
    if ('embed' in sp) cells.push(JSON.stringify(['\uFFFC', sp.embed, sp.attrs, sp.marks]));
    else for (const ch of sp.insert) cells.push(JSON.stringify([ch, null, null, sp.marks]));
  }
  assert.equal(cells.length, t.length);
  const next = xorshift32(7);
  for (let i = 0; i < 300; i++) {
    const pos = next() % (t.length + 1);
    const n = next() % (t.length - pos + 1);
    /** @type {string[]} */
    const got = [];
    let prevMarks = '';
    for (const sp of t.slice(pos, n)) {
      if ('embed' in sp) {
        got.push(JSON.stringify(['\uFFFC', sp.embed, sp.attrs, sp.marks]));
        prevMarks = '';
        continue;
      }
      const m = JSON.stringify(sp.marks);
      assert.notEqual(m, prevMarks, `slice(${pos}, ${n}): two text spans in a row with the same marks`);
      prevMarks = m;
      for (const ch of sp.insert) got.push(JSON.stringify([ch, null, null, sp.marks]));
    }
    assert.deepEqual(got, cells.slice(pos, pos + n), `slice(${pos}, ${n})`);
  }
});

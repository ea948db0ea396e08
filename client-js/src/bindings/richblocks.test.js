// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Doc } from '../crdt/index.js';
import { blocksOf, blockAt, clampToContent, effectiveValue } from './richblocks.js';

/** @typedef {import('../crdt/handles.js').Span} Span */

test('blocksOf: blocks, their positions and effective values', () => {
  /** @type {{ name: string, spans: Span[], want: { marker: number | null, type: string, attrs: Record<string, unknown>, parents: string[], start: number, end: number, n: number }[] }[]} */
  const cases = [
    { name: 'empty text: one implicit paragraph', spans: [], want: [{ marker: null, type: 'paragraph', attrs: {}, parents: [], start: 0, end: 0, n: 0 }] },
    {
      name: 'text before the first marker',
      spans: [{ insert: 'ab', marks: {} }, { embed: { block: 'heading', level: 1 }, attrs: { level: 2 }, marks: {} }, { insert: 'c😀', marks: { bold: true } }],
      want: [
        { marker: null, type: 'paragraph', attrs: {}, parents: [], start: 0, end: 2, n: 1 },
        { marker: 2, type: 'heading', attrs: { level: 2 }, parents: [], start: 3, end: 5, n: 1 },
      ],
    },
    {
      name: 'marker first, an empty block, parents, an inline embed, null unsets',
      spans: [
        { embed: { block: 'paragraph', id: 'x' }, attrs: { id: null }, marks: {} },
        { embed: { block: 'list_item', list: 'bullet', parents: ['list_item'] }, attrs: {}, marks: {} },
        { insert: 'x', marks: {} },
        { embed: { inline: 'hard_break' }, attrs: {}, marks: {} },
      ],
      want: [
        { marker: 0, type: 'paragraph', attrs: {}, parents: [], start: 1, end: 1, n: 0 },
        { marker: 1, type: 'list_item', attrs: { list: 'bullet' }, parents: ['list_item'], start: 2, end: 4, n: 2 },
      ],
    },
  ];
  for (const tc of cases) {
    const got = blocksOf(tc.spans).map((b) => ({ marker: b.marker, type: b.type, attrs: b.attrs, parents: b.parents, start: b.start, end: b.end, n: b.inline.length }));
    assert.deepEqual(got, tc.want, tc.name);
  }
});

test('blockAt and clampToContent: a position at a marker ends the block before it', () => {
  const blocks = blocksOf([
    { embed: { block: 'paragraph' }, attrs: {}, marks: {} },
    { insert: 'ab', marks: {} },
    { embed: { block: 'paragraph' }, attrs: {}, marks: {} },
    { insert: 'c', marks: {} },
  ]);
  // [P]=0 a=1 b=2 [P]=3 c=4
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((p) => blockAt(blocks, p)), [0, 0, 0, 0, 1, 1]);
  assert.deepEqual([0, 1, 3, 4, 5].map((p) => clampToContent(blocks, p)), [1, 1, 3, 4, 5]);
});

test('effectiveValue: attributes over the embed; not an object: null', () => {
  assert.deepEqual(effectiveValue({ embed: { block: 'heading', level: 1 }, attrs: { level: 3 } }), { block: 'heading', level: 3 });
  assert.equal(effectiveValue({ embed: [1], attrs: {} }), null);
  assert.equal(effectiveValue({ embed: 'x', attrs: {} }), null);
});

test('blocksOf on the spans of the shared ProseMirror cases: one block per textblock marker', () => {
  const cases = JSON.parse(readFileSync(new URL('../../../testdata/prosemirror/cases.json', import.meta.url), 'utf8'));
  for (const c of cases) {
    const spans = c.spans.map((/** @type {any} */ s) => ('insert' in s ? { insert: s.insert, marks: s.marks ?? {} } : { embed: s.embed, attrs: s.attrs ?? {}, marks: s.marks ?? {} }));
    const markers = spans.filter((/** @type {any} */ s) => 'embed' in s && effectiveValue(s)?.block).length;
    const blocks = blocksOf(spans);
    const implicit = blocks[0].marker === null ? 1 : 0;
    assert.equal(blocks.length, markers + implicit, c.name);
  }
});

test('blocksOf follows a replica: positions index the text', () => {
  const d = new Doc(7);
  const t = d.text('body');
  t.insert(0, 'Title body');
  t.insertEmbed(5, { block: 'paragraph' });
  t.insertEmbed(0, { block: 'heading', level: 1 });
  t.format(1, 5, 'bold', true, 'after');
  const blocks = blocksOf(t.spans());
  const s = [...t.toString()];
  assert.deepEqual(blocks.map((b) => s.slice(b.start, b.end).join('')), ['Title', ' body']);
  assert.deepEqual(blocks.map((b) => b.type), ['heading', 'paragraph']);
});

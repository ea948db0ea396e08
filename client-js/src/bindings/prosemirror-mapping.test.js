// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Mapping, OBJECT } from './prosemirror-mapping.js';
import { schema } from '../../test/pmharness.js';

/**
 * @param {string} text
 * @param {any[]} [marks]
 */
const t = (text, marks) => ({ type: 'text', text, ...(marks ? { marks } : {}) });
/** @param {any[]} content */
const p = (...content) => ({ type: 'paragraph', content });
/**
 * @param {number} level
 * @param {any[]} content
 */
const h = (level, ...content) => ({ type: 'heading', attrs: { level }, content });
/** @param {any[]} content */
const li = (...content) => ({ type: 'list_item', content });
/** @param {any[]} content */
const doc = (...content) => schema.nodeFromJSON({ type: 'doc', content });

/** The documents every test below round-trips: each kind of block, nesting, marks and inline nodes. */
const docs = {
  empty: doc(p()),
  plain: doc(p(t('hello')), p(t('world'))),
  marks: doc(p(t('a '), t('bold 😀', [{ type: 'strong' }]), { type: 'hard_break' }, t('link', [{ type: 'link', attrs: { href: 'https://x' } }]))),
  blocks: doc(h(1, t('Title')), h(3, t('Sub')), { type: 'code_block', content: [t('x = 1\ny = 2')] }, { type: 'horizontal_rule' }, p(t('after'))),
  lists: doc(
    { type: 'bullet_list', content: [li(p(t('one')), { type: 'ordered_list', content: [li(p(t('nested')))] }, p(t('more'))), li(p(t('two')))] },
    { type: 'ordered_list', content: [li(p(t('first')))] },
  ),
  quotes: doc(
    { type: 'blockquote', content: [p(t('q1')), p(t('q1b'))] },
    { type: 'blockquote', content: [h(2, t('q2'))] },
    { type: 'blockquote', content: [{ type: 'bullet_list', content: [li(p(t('in quote')))] }] },
  ),
  comments: doc(
    p(t('ab', [{ type: 'comment', attrs: { id: 'c1' } }]), t('cd', [{ type: 'comment', attrs: { id: 'c1' } }, { type: 'comment', attrs: { id: 'c2' } }]), t('ef', [{ type: 'comment', attrs: { id: 'c2' } }])),
  ),
  image: doc(p({ type: 'image', attrs: { src: 'a.png', alt: 'A' } }, t('caption', [{ type: 'em' }]))),
};

test('documents round-trip through spans unchanged', () => {
  const mp = new Mapping(schema);
  for (const [name, d] of Object.entries(docs)) {
    const spans = mp.spansOf(d);
    const back = mp.render(spans);
    assert.ok(back.eq(d), `${name}: render(spansOf(doc)) = ${JSON.stringify(back.toJSON())}; want ${JSON.stringify(d.toJSON())}`);
    assert.equal(mp.flatLen(d), spans.reduce((n, s) => n + ('insert' in s ? [...s.insert].length : 1), 0), `${name}: flatLen`);
  }
});

test('the flat form of a document (docs/prosemirror.md)', () => {
  const mp = new Mapping(schema);
  const cases = [
    {
      name: 'marks and inline nodes',
      doc: docs.marks,
      want: [
        { embed: { block: 'paragraph' }, attrs: {}, marks: {} },
        { insert: 'a ', marks: {} },
        { insert: 'bold 😀', marks: { bold: true } },
        { embed: { inline: 'hard_break' }, attrs: {}, marks: {} },
        { insert: 'link', marks: { link: { href: 'https://x' } } },
      ],
    },
    {
      name: 'nested lists',
      doc: docs.lists,
      want: [
        { embed: { block: 'list_item', list: 'bullet' }, attrs: {}, marks: {} },
        { insert: 'one', marks: {} },
        { embed: { block: 'list_item', list: 'ordered', parents: ['list_item'] }, attrs: {}, marks: {} },
        { insert: 'nested', marks: {} },
        { embed: { block: 'paragraph', parents: ['list_item'] }, attrs: {}, marks: {} },
        { insert: 'more', marks: {} },
        { embed: { block: 'list_item', list: 'bullet' }, attrs: {}, marks: {} },
        { insert: 'two', marks: {} },
        { embed: { block: 'list_item', list: 'ordered' }, attrs: {}, marks: {} },
        { insert: 'first', marks: {} },
      ],
    },
    {
      name: 'a container after one of its type, opened by another block than a paragraph',
      doc: docs.quotes,
      want: [
        { embed: { block: 'blockquote' }, attrs: {}, marks: {} },
        { insert: 'q1', marks: {} },
        { embed: { block: 'paragraph', parents: ['blockquote'] }, attrs: {}, marks: {} },
        { insert: 'q1b', marks: {} },
        { embed: { block: 'heading', level: 2, parents: ['blockquote'], fresh: 0 }, attrs: {}, marks: {} },
        { insert: 'q2', marks: {} },
        { embed: { block: 'list_item', list: 'bullet', parents: ['blockquote'], fresh: 0 }, attrs: {}, marks: {} },
        { insert: 'in quote', marks: {} },
      ],
    },
    {
      name: 'overlapping comments keep one mark name each',
      doc: docs.comments,
      want: [
        { embed: { block: 'paragraph' }, attrs: {}, marks: {} },
        { insert: 'ab', marks: { 'comment:c1': { id: 'c1' } } },
        { insert: 'cd', marks: { 'comment:c1': { id: 'c1' }, 'comment:c2': { id: 'c2' } } },
        { insert: 'ef', marks: { 'comment:c2': { id: 'c2' } } },
      ],
    },
  ];
  for (const c of cases) assert.deepEqual(mp.spansOf(c.doc), c.want, c.name);
});

test('positions map both ways', () => {
  const mp = new Mapping(schema);
  for (const [name, d] of Object.entries(docs)) {
    for (const implicit of [false, true]) {
      // Every position inside a textblock maps to a flat index and back to itself.
      d.descendants((node, pos) => {
        if (!node.isTextblock) return true;
        for (let off = 0; off <= node.content.size; off++) {
          const at = pos + 1 + off;
          // Inside a surrogate pair is no position of the flat text.
          const $p = d.resolve(at);
          const txt = $p.parent.textBetween(Math.max(0, off - 1), Math.min(node.content.size, off + 1), undefined, '\0');
          if (txt.length === 2 && /[\ud800-\udbff]/.test(txt[0]) && /[\udc00-\udfff]/.test(txt[1])) continue;
          const f = mp.toFlat(d, at, implicit);
          assert.equal(mp.fromFlat(d, f, implicit), at, `${name} implicit=${implicit}: fromFlat(toFlat(${at}) = ${f})`);
        }
        return false;
      });
      // Every flat index maps into a textblock; indices that are not markers map back to themselves.
      const len = mp.docFlatLen(d, implicit);
      const markers = new Set();
      let f = implicit ? -1 : 0;
      d.descendants((node) => {
        if (!node.isTextblock && !(node.isBlock && node.isLeaf)) return true;
        markers.add(f);
        f += mp.flatLen(node);
        return false;
      });
      for (let i = 0; i <= len; i++) {
        const at = mp.fromFlat(d, i, implicit);
        assert.ok(d.resolve(at).parent.isTextblock, `${name}: fromFlat(${i}) = ${at} is not in a textblock`);
        if (!markers.has(i)) assert.equal(mp.toFlat(d, at, implicit), i, `${name} implicit=${implicit}: toFlat(fromFlat(${i}) = ${at})`);
      }
    }
  }
});

test('render normalises to the schema, the same way every time', () => {
  const mp = new Mapping(schema);
  /** @param {any} embed */
  const e = (embed) => ({ embed, attrs: {}, marks: {} });
  const cases = [
    {
      name: 'an unknown block type is a paragraph',
      spans: [e({ block: 'callout', tone: 'warn' }), { insert: 'x', marks: {} }],
      want: doc(p(t('x'))),
    },
    {
      name: 'marks a code block does not allow are left out',
      spans: [e({ block: 'code_block' }), { insert: 'x', marks: { bold: true } }],
      want: doc({ type: 'code_block', content: [t('x')] }),
    },
    {
      name: 'unknown marks are left out, known ones kept',
      spans: [e({ block: 'paragraph' }), { insert: 'x', marks: { highlight: '#ff0', italic: true } }],
      want: doc(p(t('x', [{ type: 'em' }]))),
    },
    {
      name: 'an unknown inline embed is U+FFFC',
      spans: [e({ block: 'paragraph' }), { embed: { inline: 'poll' }, attrs: {}, marks: {} }],
      want: doc(p(t(OBJECT))),
    },
    {
      name: 'text before the first marker is an implicit paragraph',
      spans: [{ insert: 'plain', marks: {} }, e({ block: 'heading', level: 2 }), { insert: 'h', marks: {} }],
      want: doc(p(t('plain')), h(2, t('h'))),
    },
    {
      name: 'a list item whose first block is a heading cannot be: the heading goes outside the list',
      spans: [e({ block: 'heading', level: 1, parents: ['list_item'] }), { insert: 'h', marks: {} }],
      want: doc(h(1, t('h'))),
    },
    {
      name: 'attributes override the embed, null unsets',
      spans: [{ embed: { block: 'heading', level: 1 }, attrs: { level: 4 }, marks: {} }, { insert: 'a', marks: {} }, { embed: { block: 'heading', level: 2 }, attrs: { block: 'paragraph', level: null }, marks: {} }],
      want: doc(h(4, t('a')), p()),
    },
    {
      name: 'a comment written with the value true keeps its thread',
      spans: [e({ block: 'paragraph' }), { insert: 'c', marks: { 'comment:t9': true } }],
      want: doc(p(t('c', [{ type: 'comment', attrs: { id: 't9' } }]))),
    },
    {
      name: 'a heading with a concurrent bold in a code block (automerge-prosemirror #41)',
      spans: [e({ block: 'code_block' }), { insert: 'a', marks: {} }, { insert: 'b', marks: { bold: true } }],
      want: doc({ type: 'code_block', content: [t('ab')] }),
    },
    { name: 'nothing is an empty paragraph', spans: [], want: doc(p()) },
  ];
  for (const c of /** @type {{ name: string, spans: import('./prosemirror-mapping.js').Span[], want: any }[]} */ (cases)) {
    const got = mp.render(c.spans);
    assert.ok(got.eq(c.want), `${c.name}: render = ${JSON.stringify(got.toJSON())}; want ${JSON.stringify(c.want.toJSON())}`);
    got.check();
    assert.ok(mp.render(c.spans).eq(got), `${c.name}: a second render differs`);
    const flat = c.spans.reduce((n, s) => n + ('insert' in s ? [...s.insert].length : 1), 0);
    const implicit = c.spans.length === 0 || 'insert' in c.spans[0];
    assert.equal(mp.docFlatLen(got, implicit), flat, `${c.name}: the rendered document's flat length`);
  }
});

const sharedCases = new URL('../../../testdata/prosemirror/cases.json', import.meta.url);

test('the shared cases of testdata/prosemirror render as written (those this schema can hold)', { skip: existsSync(sharedCases) ? false : 'no testdata/prosemirror/cases.json' }, () => {
  const mp = new Mapping(schema);
  /** @type {{ name: string, spans: any[], doc: any }[]} */
  const cases = JSON.parse(readFileSync(sharedCases, 'utf8'));
  let checked = 0;
  for (const c of cases) {
    let want;
    try {
      want = schema.nodeFromJSON(c.doc);
    } catch {
      continue; // a type this schema does not have: the case is for the server
    }
    const spans = c.spans.map((s) => ('insert' in s ? { insert: s.insert, marks: s.marks ?? {} } : { embed: s.embed, attrs: s.attrs ?? {}, marks: s.marks ?? {} }));
    const got = mp.render(spans);
    assert.ok(got.eq(want), `${c.name}: render = ${JSON.stringify(got.toJSON())}; want ${JSON.stringify(c.doc)}`);
    checked++;
  }
  assert.ok(checked > 0, 'no case this schema can hold');
});

// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Mapping, OBJECT } from './prosemirror-mapping.js';
import { schema } from '../../test/pmharness.js';
import { Doc } from '../crdt/index.js';

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
  orderedStart: doc({ type: 'ordered_list', attrs: { order: 3 }, content: [li(p(t('three'))), li(p(t('four')))] }),
  adjacentBullets: doc({ type: 'bullet_list', content: [li(p(t('a')))] }, { type: 'bullet_list', content: [li(p(t('b'))), li(p(t('c')))] }),
  adjacentOrdered: doc(
    { type: 'ordered_list', attrs: { order: 2 }, content: [li(p(t('two')))] },
    { type: 'ordered_list', content: [li(p(t('one')))] },
    { type: 'ordered_list', attrs: { order: 7 }, content: [li(p(t('seven')))] },
  ),
  nestedAdjacent: doc({
    type: 'bullet_list',
    content: [
      li(p(t('outer')), { type: 'ordered_list', attrs: { order: 5 }, content: [li(p(t('five')))] }, { type: 'ordered_list', content: [li(p(t('one')))] }),
      li(p(t('next')), { type: 'bullet_list', content: [li(p(t('x')))] }),
    ],
  }, { type: 'bullet_list', content: [li(p(t('new list')))] }),
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
      name: 'a list wrapper\'s attributes on its first item; a list after one of its kind',
      doc: docs.adjacentOrdered,
      want: [
        { embed: { block: 'list_item', list: 'ordered', listAttrs: { order: 2 } }, attrs: {}, marks: {} },
        { insert: 'two', marks: {} },
        { embed: { block: 'list_item', list: 'ordered', listStart: true }, attrs: {}, marks: {} },
        { insert: 'one', marks: {} },
        { embed: { block: 'list_item', list: 'ordered', listAttrs: { order: 7 }, listStart: true }, attrs: {}, marks: {} },
        { insert: 'seven', marks: {} },
      ],
    },
    {
      name: 'nested lists after one of their kind',
      doc: docs.nestedAdjacent,
      want: [
        { embed: { block: 'list_item', list: 'bullet' }, attrs: {}, marks: {} },
        { insert: 'outer', marks: {} },
        { embed: { block: 'list_item', list: 'ordered', listAttrs: { order: 5 }, parents: ['list_item'] }, attrs: {}, marks: {} },
        { insert: 'five', marks: {} },
        { embed: { block: 'list_item', list: 'ordered', listStart: true, parents: ['list_item'] }, attrs: {}, marks: {} },
        { insert: 'one', marks: {} },
        { embed: { block: 'list_item', list: 'bullet' }, attrs: {}, marks: {} },
        { insert: 'next', marks: {} },
        { embed: { block: 'list_item', list: 'bullet', parents: ['list_item'] }, attrs: {}, marks: {} },
        { insert: 'x', marks: {} },
        { embed: { block: 'list_item', list: 'bullet', listStart: true }, attrs: {}, marks: {} },
        { insert: 'new list', marks: {} },
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

/**
 * walkToFlat is toFlat as a walk over every child before the position (the oracle of the offsets).
 * @param {Mapping} mp
 * @param {import('prosemirror-model').Node} d
 * @param {number} pos
 * @param {boolean} implicit
 */
function walkToFlat(mp, d, pos, implicit) {
  let flat = implicit ? -1 : 0;
  let node = d;
  let start = 0;
  for (;;) {
    if (node.isTextblock) return flat + 1 + [...node.textBetween(0, pos - start, undefined, OBJECT)].length;
    let childPos = start;
    let next = null;
    for (let i = 0; i < node.childCount; i++) {
      const c = node.child(i);
      const end = childPos + c.nodeSize;
      if (pos < end && pos > childPos) {
        next = c;
        start = childPos + 1;
        break;
      }
      if (pos <= childPos) break;
      flat += mp.flatLen(c);
      childPos = end;
    }
    if (next === null) return Math.max(0, flat);
    node = next;
  }
}

/**
 * walkFromFlat is fromFlat as a walk over every child before the index (the oracle of the offsets).
 * @param {Mapping} mp
 * @param {import('prosemirror-model').Node} d
 * @param {number} flat
 * @param {boolean} implicit
 */
function walkFromFlat(mp, d, flat, implicit) {
  let at = implicit ? -1 : 0;
  let node = d;
  let start = 0;
  let lastEnd = -1;
  /** @param {import('prosemirror-model').Node} n @param {number} p */
  const contentEnd = (n, p) => {
    while (!n.isTextblock) {
      if (n.isLeaf || n.childCount === 0) return p + n.nodeSize;
      const last = /** @type {import('prosemirror-model').Node} */ (n.lastChild);
      p += 1 + n.content.size - last.nodeSize;
      n = last;
    }
    return p + 1 + n.content.size;
  };
  for (;;) {
    if (node.isTextblock) {
      if (flat <= at) return lastEnd >= 0 ? lastEnd : start;
      // The UTF-16 offset of code point flat - at - 1 of the content (an inline leaf counts one).
      let u = 0;
      let n = flat - at - 1;
      node.forEach((c) => {
        if (n <= 0) return;
        if (!c.isText) {
          u += 1;
          n -= 1;
          return;
        }
        for (const ch of /** @type {string} */ (c.text)) {
          if (n <= 0) break;
          u += ch.length;
          n -= 1;
        }
      });
      return start + u;
    }
    let childPos = start;
    let next = null;
    for (let i = 0; i < node.childCount; i++) {
      const c = node.child(i);
      const len = mp.flatLen(c);
      if (flat < at + len || (flat === at + len && i === node.childCount - 1 && !c.isLeaf)) {
        next = c;
        start = childPos + 1;
        break;
      }
      at += len;
      if (len > 0 && !c.isLeaf) lastEnd = contentEnd(c, childPos);
      childPos += c.nodeSize;
    }
    if (next === null) return lastEnd >= 0 ? lastEnd : childPos;
    node = next;
  }
}

test('positions map both ways in documents edited one step after another', async () => {
  const { Transform } = await import('prosemirror-transform');
  // One mapping for every version, as in an editor, so that offsets are made from the previous
  // version's; two documents edited in turn, so that the previous one is sometimes another's.
  const mp = new Mapping(schema);
  const fresh = new Mapping(schema); // only its flatLen, for the oracles
  let seed = 7;
  const rnd = (/** @type {number} */ n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  let pair = [docs.lists, docs.quotes];
  for (let step = 0; step < 300; step++) {
    const k = step % 2;
    const d = pair[k];
    const tr = new Transform(d);
    /** @type {number[]} */
    const inside = [];
    d.descendants((node, pos) => {
      if (node.isTextblock) for (let o = 0; o <= node.content.size; o++) inside.push(pos + 1 + o);
      return !node.isTextblock;
    });
    const at = inside[rnd(inside.length)];
    const x = rnd(10);
    try {
      if (x < 5) tr.insert(at, schema.text(x === 0 ? '😀' : 'ab'));
      else if (x < 7) tr.delete(at, Math.min(d.content.size, at + 1 + rnd(4)));
      else if (x < 9) tr.split(at, 1 + rnd(2));
      else tr.join(at - d.resolve(at).parentOffset - 1);
    } catch {
      continue;
    }
    const next = tr.doc;
    pair[k] = next;
    for (const implicit of [false, true]) {
      const where = `step ${step}, doc ${k}, implicit=${implicit}`;
      assert.equal(mp.docFlatLen(next, implicit), fresh.flatLen(next) - (implicit ? 1 : 0), `${where}: docFlatLen`);
      next.descendants((node, pos) => {
        if (!node.isTextblock) return true;
        for (let o = 0; o <= node.content.size; o++) {
          const want = walkToFlat(fresh, next, pos + 1 + o, implicit);
          assert.equal(mp.toFlat(next, pos + 1 + o, implicit), want, `${where}: toFlat(${pos + 1 + o})`);
        }
        return false;
      });
      for (let f = 0; f <= fresh.flatLen(next); f++) {
        assert.equal(mp.fromFlat(next, f, implicit), walkFromFlat(fresh, next, f, implicit), `${where}: fromFlat(${f})`);
      }
    }
  }
});

test('Tiptap\'s ordered list start is the flat text\'s order: the two schemas read each other\'s lists', async () => {
  const { getSchema } = await import('@tiptap/core');
  const { default: StarterKit } = await import('@tiptap/starter-kit');
  const tt = getSchema([StarterKit]);
  const tmp = new Mapping(tt);
  const mp = new Mapping(schema);
  /** @param {string} text */
  const item = (text) => ({ type: 'listItem', content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });
  const tiptapDoc = tt.nodeFromJSON({
    type: 'doc',
    content: [
      { type: 'orderedList', attrs: { start: 3 }, content: [item('three')] },
      { type: 'orderedList', content: [item('one')] },
    ],
  });
  const spans = tmp.spansOf(tiptapDoc);
  assert.deepEqual(spans.filter((s) => 'embed' in s).map((s) => /** @type {any} */ (s).embed), [
    { block: 'list_item', list: 'ordered', listAttrs: { order: 3 } },
    { block: 'list_item', list: 'ordered', listStart: true },
  ]);
  assert.ok(tmp.render(spans).eq(tiptapDoc), `Tiptap: render = ${JSON.stringify(tmp.render(spans).toJSON())}`);
  const want = doc(
    { type: 'ordered_list', attrs: { order: 3 }, content: [li(p(t('three')))] },
    { type: 'ordered_list', content: [li(p(t('one')))] },
  );
  assert.ok(mp.render(spans).eq(want), `basic schema: render = ${JSON.stringify(mp.render(spans).toJSON())}`);
  assert.deepEqual(mp.spansOf(want), spans);
});

test('concurrent edits of a list\'s first item render alike on every replica, as docs/prosemirror.md 1.1 says', () => {
  const mp = new Mapping(schema);
  /** @param {Doc} d */
  const spansOf = (d) => d.text('body').spans();
  for (const [name, edit, want] of /** @type {[string, (a: Doc, b: Doc) => void, any][]} */ ([
    [
      'a new first item with the start as seen, and a concurrent change of the start: the new item\'s wins',
      (a, b) => {
        a.text('body').setAttr(0, 'listAttrs', { order: 5 });
        b.text('body').insertEmbed(0, { block: 'list_item', list: 'ordered', listAttrs: { order: 3 } });
        b.text('body').setAttr(1, 'listAttrs', null);
      },
      doc({ type: 'ordered_list', attrs: { order: 3 }, content: [li(p()), li(p(t('three'))), li(p(t('four')))] }, { type: 'bullet_list', content: [li(p(t('b')))] }),
    ],
    [
      'an item added at the end of the first list, while the second list starts a new one',
      (a, b) => {
        a.text('body').insertEmbed(11, { block: 'list_item', list: 'ordered' });
        a.text('body').insert(12, 'five');
        b.text('body').setAttr(11, 'list', 'ordered');
      },
      doc({ type: 'ordered_list', attrs: { order: 3 }, content: [li(p(t('three'))), li(p(t('four'))), li(p(t('five')))] }, { type: 'ordered_list', content: [li(p(t('b')))] }),
    ],
  ])) {
    const base = new Doc(1);
    const body = base.text('body');
    body.insertEmbed(0, { block: 'list_item', list: 'ordered', listAttrs: { order: 3 } });
    body.insert(1, 'three');
    body.insertEmbed(6, { block: 'list_item', list: 'ordered' });
    body.insert(7, 'four');
    body.insertEmbed(11, { block: 'list_item', list: 'bullet', listStart: true });
    body.insert(12, 'b');
    const a = new Doc(2);
    const b = new Doc(3);
    a.apply(base.encodeUpdate());
    b.apply(base.encodeUpdate());
    edit(a, b);
    const ua = a.encodeUpdate();
    const ub = b.encodeUpdate();
    a.apply(ub);
    b.apply(ua);
    assert.deepEqual(spansOf(a), spansOf(b), `${name}: spans`);
    const got = mp.render(spansOf(a));
    assert.ok(got.eq(want), `${name}: render = ${JSON.stringify(got.toJSON())}; want ${JSON.stringify(want.toJSON())}`);
  }
});

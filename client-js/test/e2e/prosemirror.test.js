// @ts-check
// The ProseMirror binding and the Tiptap extensions in chromium, through the real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useSession, openPage, waitFor, waitSynced, screenshotPath } from './harness.js';

const session = useSession({ page: 'pm-page.js' });

/** @type {string[]} */
let errors = [];

/**
 * open loads an editor page on a document in a fresh browser context.
 * @param {string} docId
 * @param {{ editor?: string, name?: string, views?: number }} [opts]
 */
async function open(docId, opts = {}) {
  const url = `${session.server.url}/?doc=${docId}&editor=${opts.editor ?? 'prosemirror'}&name=${opts.name ?? 'Cleo'}&views=${opts.views ?? 1}`;
  const { page } = await openPage(session.browser, url, {
    context: { serviceWorkers: 'block' },
    modules: { '/demo.js': session.bundle },
    onError: (m) => errors.push(m),
  });
  return page;
}

/** @param {import('playwright-core').Page} p */
const docJSON = (p) => p.evaluate(() => JSON.stringify(/** @type {any} */ (window).tandem.view.state.doc.toJSON()));

/**
 * same waits until both pages show the same document, and returns it.
 * @param {import('playwright-core').Page} a
 * @param {import('playwright-core').Page} b
 * @param {(json: string) => boolean} [ok]
 */
const same = async (a, b, ok = () => true) => {
  /** @type {string[]} */
  let last = [];
  try {
    return await waitFor(
      async () => {
        const [x, y] = await Promise.all([docJSON(a), docJSON(b)]);
        last = [x, y];
        return x === y && ok(x) ? x : null;
      },
      { what: 'the two editors to show the same document' },
    );
  } catch (err) {
    throw new Error(`${/** @type {Error} */ (err).message}\n${last.join('\n')}`);
  }
};

/**
 * select sets the selection of a page's editor (ProseMirror positions).
 * @param {import('playwright-core').Page} p
 * @param {number} anchor
 * @param {number} [head]
 */
const select = (p, anchor, head = anchor) =>
  p.evaluate(
    ([a, h]) => {
      const { view } = /** @type {any} */ (window).tandem;
      const Sel = view.state.selection.constructor;
      view.dispatch(view.state.tr.setSelection(Sel.create(view.state.doc, a, h)));
      view.focus();
    },
    [anchor, head],
  );

test('two ProseMirror editors converge with formatting, and show each other\'s cursors', async () => {
  errors = [];
  const docId = `pm-${Date.now()}`;
  const a = await open(docId, { name: 'Ada' });
  const b = await open(docId, { name: 'Bo' });
  await a.click('.ProseMirror');
  await a.keyboard.type('hello world');
  await same(a, b, (j) => j.includes('hello world'));
  // Concurrently (B offline meanwhile): A bolds "hello" and makes a list item while B types at the
  // end of "hello" and adds a block.
  await b.evaluate(() => /** @type {any} */ (window).tandem.provider.disconnect());
  await select(a, 1, 6);
  await select(b, 6);
  await a.keyboard.press('Control+b');
  await a.evaluate(() => {
    const { view, schema } = /** @type {any} */ (window).tandem;
    const r = view.state.doc.resolve(2).blockRange();
    const tr = view.state.tr.wrap(r, [{ type: schema.nodes.bullet_list }, { type: schema.nodes.list_item }]);
    view.dispatch(tr);
  });
  await b.keyboard.type('!!');
  await b.keyboard.press('End');
  await b.keyboard.press('Enter');
  await b.keyboard.type('second');
  await b.evaluate(() => /** @type {any} */ (window).tandem.provider.connect());
  const json = await same(a, b, (j) => j.includes('second') && j.includes('bullet_list') && j.includes('strong'));
  const d = JSON.parse(json);
  assert.equal(d.content[0].type, 'bullet_list');
  const first = d.content[0].content[0].content[0].content;
  assert.deepEqual(first[0], { type: 'text', marks: [{ type: 'strong' }], text: 'hello!!' }, 'the text typed at the end of the bold word is bold');
  // Cursors: each page draws the other's caret with its name.
  const bId = await b.evaluate(() => /** @type {any} */ (window).tandem.provider.clientId);
  const label = await waitFor(
    () => a.evaluate((id) => document.querySelector(`.tandem-caret[data-client-id="${id}"] .tandem-caret-label`)?.textContent ?? null, bId),
    { what: "B's caret on A's page" },
  );
  assert.equal(label, 'Bo');
  await a.screenshot({ path: screenshotPath('prosemirror.png') });
  assert.deepEqual(errors, []);
  await a.context().close();
  await b.context().close();
});

test('two editors on one provider show what the other types, and a remote edit', async () => {
  errors = [];
  const docId = `pm2-${Date.now()}`;
  const a = await open(docId, { name: 'Ada', views: 2 });
  const b = await open(docId, { name: 'Bo' });
  /** @param {'view' | 'second'} which the page's first editor or its second */
  const textOf = (which) =>
    a.evaluate((w) => {
      const t = /** @type {any} */ (window).tandem;
      return (w === 'view' ? t.view : t.second.view).state.doc.textContent;
    }, which);
  /**
   * @param {'view' | 'second'} which
   * @param {string} want
   */
  const shows = (which, want) => waitFor(async () => ((await textOf(which)) === want ? true : null), { what: `editor ${which} to show ${JSON.stringify(want)}` });
  await a.click('#pm .ProseMirror');
  await a.keyboard.type('first');
  await shows('second', 'first');
  await a.click('#pm2 .ProseMirror');
  await a.keyboard.press('End');
  await a.keyboard.type(' second');
  await shows('view', 'first second');
  await b.click('.ProseMirror');
  await b.keyboard.press('End');
  await b.keyboard.type(' third');
  await shows('view', 'first second third');
  await shows('second', 'first second third');
  assert.deepEqual(errors, []);
  await a.context().close();
  await b.context().close();
});

test('a remote Enter before the caret leaves the caret on its word', async () => {
  errors = [];
  const docId = `pm-enter-${Date.now()}`;
  const a = await open(docId);
  const b = await open(docId);
  await a.click('.ProseMirror');
  await a.keyboard.type('one two three');
  await same(a, b, (j) => j.includes('one two three'));
  // B's caret inside "three", after "th"; A presses Enter before "two".
  await select(b, 1 + 'one two th'.length);
  await select(a, 1 + 'one '.length);
  await a.keyboard.press('Enter');
  await same(a, b, (j) => j.includes('"one "'));
  const caret = await b.evaluate(() => {
    const { $head } = /** @type {any} */ (window).tandem.view.state.selection;
    return { text: $head.parent.textContent, offset: $head.parentOffset };
  });
  assert.deepEqual(caret, { text: 'two three', offset: 'two th'.length });
  // B goes on typing where the caret is.
  await b.keyboard.type('X');
  await same(a, b, (j) => j.includes('two thXree'));
  assert.deepEqual(errors, []);
  await a.context().close();
  await b.context().close();
});

test('undo restores text, marks and selection, and leaves the other editor\'s text', async () => {
  errors = [];
  const docId = `pm-undo-${Date.now()}`;
  const a = await open(docId);
  const b = await open(docId);
  await a.click('.ProseMirror');
  await a.keyboard.type('make this bold');
  await a.waitForTimeout(600);
  await select(a, 6, 10);
  await a.keyboard.press('Control+b');
  await same(a, b, (j) => j.includes('strong'));
  await a.waitForTimeout(600);
  // B types meanwhile; A's undo leaves it.
  await select(b, 1);
  await b.keyboard.type('> ');
  await same(a, b, (j) => j.includes('> make'));
  await select(a, 3);
  await a.keyboard.press('Control+z');
  const json = await same(a, b, (j) => !j.includes('strong'));
  assert.ok(json.includes('> make this bold'), json);
  const sel = await a.evaluate(() => {
    const s = /** @type {any} */ (window).tandem.view.state.selection;
    return [s.anchor, s.head];
  });
  assert.deepEqual(sel, [8, 12], 'the selection of the bolded word is back');
  await a.keyboard.press('Control+z');
  await same(a, b, (j) => j.includes('"> "'));
  await a.keyboard.press('Control+Shift+z');
  await same(a, b, (j) => j.includes('> make this bold'));
  assert.deepEqual(errors, []);
  await a.context().close();
  await b.context().close();
});

test('a document round-trips ProseMirror -> CRDT -> ProseMirror unchanged', async () => {
  errors = [];
  /** @param {string} text */
  const item = (text) => ({ type: 'list_item', content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });
  const docId = `pm-rt-${Date.now()}`;
  const a = await open(docId);
  const want = {
    type: 'doc',
    content: [
      { type: 'heading', attrs: { level: 2 }, content: [{ type: 'text', text: 'Title 😀' }] },
      {
        type: 'paragraph',
        content: [
          { type: 'text', text: 'plain ' },
          { type: 'text', marks: [{ type: 'em' }, { type: 'strong' }], text: 'both' },
          { type: 'hard_break' },
          { type: 'text', marks: [{ type: 'link', attrs: { href: 'https://example.com', title: null } }], text: 'link' },
          { type: 'image', attrs: { src: '/x.png', alt: 'x', title: null } },
        ],
      },
      {
        type: 'bullet_list',
        content: [
          { type: 'list_item', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'one' }] }, { type: 'ordered_list', attrs: { order: 1 }, content: [{ type: 'list_item', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'nested' }] }] }] }] },
          { type: 'list_item', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'two' }] }] },
        ],
      },
      { type: 'ordered_list', attrs: { order: 3 }, content: [item('three'), item('four')] },
      { type: 'ordered_list', attrs: { order: 1 }, content: [item('one')] },
      { type: 'bullet_list', content: [item('a')] },
      { type: 'bullet_list', content: [item('b')] },
      { type: 'blockquote', content: [{ type: 'paragraph', content: [{ type: 'text', marks: [{ type: 'comment', attrs: { id: 't1' } }], text: 'quoted' }] }] },
      { type: 'code_block', content: [{ type: 'text', text: 'let x = 1;' }] },
      { type: 'horizontal_rule' },
      { type: 'paragraph' },
    ],
  };
  await a.evaluate((json) => {
    const { view, schema } = /** @type {any} */ (window).tandem;
    const doc = schema.nodeFromJSON(json);
    view.dispatch(view.state.tr.replaceWith(0, view.state.doc.content.size, doc.content));
  }, want);
  assert.equal(await docJSON(a), JSON.stringify(want), 'the editor holds the document');
  // A second editor, loaded from the server, shows exactly that document.
  await waitFor(() => a.evaluate(() => /** @type {any} */ (window).tandem.provider.saved === true), { what: 'saved' });
  const b = await open(docId);
  await waitFor(async () => ((await docJSON(b)) === JSON.stringify(want) ? true : null), { what: 'the document in a new editor' });
  // A list's start changed in one editor (an attribute step on the list) shows in the other.
  await a.evaluate(() => {
    const { view } = /** @type {any} */ (window).tandem;
    /** @type {number} */
    let at = -1;
    view.state.doc.forEach((/** @type {any} */ n, /** @type {number} */ off) => {
      if (at < 0 && n.type.name === 'ordered_list') at = off;
    });
    view.dispatch(view.state.tr.setNodeMarkup(at, null, { order: 5 }));
  });
  want.content[3].attrs = { order: 5 };
  await waitFor(async () => ((await docJSON(b)) === JSON.stringify(want) ? true : null), { what: 'the new start in the other editor' });
  assert.equal(await docJSON(a), JSON.stringify(want), 'the editor that changed the start');
  assert.deepEqual(errors, []);
  await a.context().close();
  await b.context().close();
});

test('ProseMirror turns read-only when the document is deleted under it', async () => {
  errors = [];
  const docId = `pm-del-${Date.now()}`;
  const a = await open(docId);
  await a.click('.ProseMirror');
  await a.keyboard.type('soon gone');
  await waitFor(() => a.evaluate(() => /** @type {any} */ (window).tandem.provider.saved === true), { what: 'saved' });
  const res = await fetch(`${session.server.url}/v1/docs/${docId}`, { method: 'DELETE' });
  assert.ok(res.ok, `DELETE answered ${res.status}`);
  await waitFor(() => a.evaluate(() => document.querySelector('.ProseMirror')?.getAttribute('contenteditable') === 'false'), { what: 'a read-only editor' });
  await a.keyboard.type('more');
  assert.equal(await a.evaluate(() => /** @type {any} */ (window).tandem.view.state.doc.textContent), 'soon gone', 'no typing into a deleted document');
  assert.deepEqual(errors, []);
  await a.context().close();
});

test('a keystroke is stored and sent after its frame is painted, one update a frame; pagehide and destroy flush it first', async () => {
  errors = [];
  const docId = `pm-frame-${Date.now()}`;
  const a = await open(docId);
  const b = await open(docId);
  const r = await a.evaluate(async () => {
    const { view, provider } = /** @type {any} */ (window).tandem;
    const before = (await provider.storageStats()).logEntries;
    /** @type {boolean[]} */
    const locals = [];
    provider.on('local', (/** @type {any} */ e) => locals.push(e.deferred === true));
    // Two keystrokes in one frame.
    view.dispatch(view.state.tr.insertText('a'));
    view.dispatch(view.state.tr.insertText('b'));
    const now = { pending: provider.flushPending, saved: provider.saved, locals: locals.length };
    for (let i = 0; i < 100 && provider.flushPending; i++) await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    const after = (await provider.storageStats()).logEntries;
    view.dispatch(view.state.tr.insertText('c'));
    const pendingC = provider.flushPending;
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }));
    window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }));
    const afterHide = provider.flushPending;
    return { now, appended: after - before, locals, pendingC, afterHide };
  });
  assert.deepEqual(r.now, { pending: true, saved: false, locals: 0 }, 'unsaved at once, flushed later');
  assert.equal(r.appended, 1, 'one store append for the keystrokes of a frame');
  assert.deepEqual(r.locals.slice(0, 2), [true, false], 'one deferred flush for the frame, then the pagehide flush');
  assert.equal(r.pendingC, true);
  assert.equal(r.afterHide, false, 'pagehide ran the waiting flush');
  await same(a, b, (j) => j.includes('abc'));
  const d = await a.evaluate(() => {
    const { view, provider } = /** @type {any} */ (window).tandem;
    view.dispatch(view.state.tr.insertText('d'));
    const pending = provider.flushPending;
    provider.destroy();
    return { pending, after: provider.flushPending };
  });
  assert.deepEqual(d, { pending: true, after: false }, 'destroy ran the waiting flush');
  await waitFor(() => b.evaluate(() => /** @type {any} */ (window).tandem.view.state.doc.textContent.includes('abcd')), { what: 'the keystroke flushed by destroy at the other editor' });
  assert.deepEqual(errors, []);
  await a.context().close();
  await b.context().close();
});

/**
 * spans returns the text of a page's editor as [text, mark names] pieces, one per text node.
 * @param {import('playwright-core').Page} p
 */
const spans = (p) =>
  p.evaluate(() => {
    /** @type {[string, string[]][]} */
    const out = [];
    /** @type {any} */ (window).tandem.view.state.doc.descendants((/** @type {any} */ n) => {
      if (n.isText) out.push([n.text, n.marks.map((/** @type {any} */ m) => m.type.name)]);
    });
    return out;
  });

test('a mark toggled at the caret (stored mark) survives going offline and coming back before the next keystroke', async () => {
  errors = [];
  const docId = `pm-offline-mark-${Date.now()}`;
  const a = await open(docId, { name: 'Ada' });
  const b = await open(docId, { name: 'Bo' });
  // A's next WebSockets go through a switch: offline, they are refused, as when the network is gone.
  let online = true;
  await a.routeWebSocket(/\/v1\/docs\/.*\/ws/, (ws) => {
    if (!online) ws.close({ code: 4000, reason: 'network down' });
    else ws.connectToServer();
  });
  await a.click('.ProseMirror');
  await a.keyboard.type('plain ');
  await same(a, b, (j) => j.includes('plain '));
  // Ctrl+B with nothing selected: bold waits in the editor's stored marks for the next text.
  await a.keyboard.press('Control+b');
  const stored = () => a.evaluate(() => (/** @type {any} */ (window).tandem.view.state.storedMarks ?? []).map((/** @type {any} */ m) => m.type.name));
  assert.deepEqual(await stored(), ['strong'], 'stored at the caret');

  // Offline: the browser says so, and no connection gets through.
  online = false;
  await a.context().setOffline(true);
  await waitFor(() => a.evaluate(() => /** @type {any} */ (window).tandem.provider.status === 'offline'), { what: 'A offline' });
  // Meanwhile B types in A's paragraph, before A's caret: A shows it once back.
  await select(b, 1);
  await b.keyboard.type('B: ');
  await waitFor(() => b.evaluate(() => /** @type {any} */ (window).tandem.provider.saved === true), { what: "B's edit saved" });

  // Back online.
  online = true;
  await a.context().setOffline(false);
  await waitSynced(a);
  await waitFor(() => a.evaluate(() => /** @type {any} */ (window).tandem.view.state.doc.textContent === 'B: plain '), { what: "B's edit in A's editor" });
  assert.deepEqual(await stored(), ['strong'], "still stored after going offline, coming back and showing the other editor's change");

  await a.keyboard.type('bold');
  await same(a, b, (j) => j.includes('bold'));
  const want = [['B: plain ', []], ['bold', ['strong']]];
  assert.deepEqual(await spans(a), want, 'the typed text is bold in A');
  assert.deepEqual(await spans(b), want, 'and in B');
  assert.deepEqual(errors, []);
  await a.context().close();
  await b.context().close();
});

test('two Tiptap editors converge', async () => {
  errors = [];
  const docId = `tt-${Date.now()}`;
  const a = await open(docId, { editor: 'tiptap', name: 'Ada' });
  const b = await open(docId, { editor: 'tiptap', name: 'Bo' });
  await a.click('.ProseMirror');
  await a.keyboard.type('# Heading');
  await a.keyboard.press('Enter');
  await a.keyboard.type('some ');
  await a.keyboard.press('Control+b');
  await a.keyboard.type('bold');
  await a.keyboard.press('Control+b');
  await a.keyboard.press('Enter');
  await a.keyboard.type('- item');
  await same(a, b, (j) => j.includes('"item"'));
  await b.click('.ProseMirror h1');
  await b.keyboard.press('End');
  await Promise.all([b.keyboard.type(' by Bo'), a.keyboard.type(' and more')]);
  const json = await same(a, b, (j) => j.includes('by Bo') && j.includes('item and more'));
  const d = JSON.parse(json);
  assert.equal(d.content[0].type, 'heading');
  assert.equal(d.content[2].type, 'bulletList', json);
  assert.ok(json.includes('"marks":[{"type":"bold"}],"text":"bold"'), json);
  // TandemCursor: B's caret shows on A's page with B's name, inside the editor.
  const bId = await b.evaluate(() => /** @type {any} */ (window).tandem.provider.clientId);
  const label = await waitFor(
    () =>
      a.evaluate((id) => {
        const el = document.querySelector(`.tandem-caret[data-client-id="${id}"] .tandem-caret-label`);
        if (!el) return null;
        const r = el.getBoundingClientRect();
        const box = /** @type {HTMLElement} */ (document.querySelector('#pm')).getBoundingClientRect();
        return { text: el.textContent, inside: r.top >= box.top && r.bottom <= box.bottom };
      }, bId),
    { what: "B's caret on A's page" },
  );
  assert.deepEqual(label, { text: 'Bo', inside: true });
  // Undo through the extension's command reverts A's own typing only.
  await a.waitForTimeout(600);
  await a.keyboard.type('!');
  await same(a, b, (j) => j.includes('more!'));
  await a.keyboard.press('Control+z');
  await same(a, b, (j) => !j.includes('more!') && j.includes('by Bo'));
  await a.screenshot({ path: screenshotPath('tiptap.png') });
  assert.deepEqual(errors, []);
  await a.context().close();
  await b.context().close();
});

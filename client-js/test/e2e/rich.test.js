// @ts-check
// The rich demo (the page at /): two browser pages co-edit one document with formatting through
// the real server and converge, each shows the other's cursor where it is, a remote Enter before
// the caret leaves the caret on its character, the status line tells the truth offline and back,
// and the plain-text demo is one click away on the same document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useSession, openPage, waitSynced, waitFor, screenshotPath } from './harness.js';

const session = useSession();

/**
 * openRich opens the rich demo on docId in a fresh browser context, with the user's name set.
 * @param {string} docId
 * @param {string} name
 * @param {string} color
 */
function openRich(docId, name, color) {
  return openPage(session.browser, `${session.server.url}/?doc=${encodeURIComponent(docId)}`, {
    context: { viewport: { width: 900, height: 700 } },
    user: { name, color },
    binding: true,
  });
}

/** @param {import('playwright-core').Page} page */
const html = (page) => page.$eval('#rich-editor', (el) => el.innerHTML);
/** @param {import('playwright-core').Page} page */
const plainText = (page) => page.evaluate(() => /** @type {any} */ (window).tandem.provider.doc.text('body').toString());
/**
 * select sets the page's selection to positions of the text.
 * @param {import('playwright-core').Page} page
 * @param {number} anchor
 * @param {number} [head]
 */
const select = (page, anchor, head = anchor) => page.evaluate(([a, h]) => /** @type {any} */ (window).tandem.binding.select(a, h), [anchor, head]);
/**
 * posOf returns the position of the first occurrence of s in the page's text.
 * @param {import('playwright-core').Page} page
 * @param {string} s
 */
const posOf = async (page, s) => {
  const t = await plainText(page);
  const i = t.indexOf(s);
  assert.ok(i >= 0, `${JSON.stringify(s)} not in ${JSON.stringify(t)}`);
  return [...t.slice(0, i)].length;
};
/**
 * same returns the editor's HTML when both pages show the same, else null.
 * @param {import('playwright-core').Page} a
 * @param {import('playwright-core').Page} b
 */
const same = async (a, b) => {
  const [ha, hb] = await Promise.all([html(a), html(b)]);
  return ha === hb ? ha : null;
};

test('two rich pages co-edit with formatting, blocks and cursors, and converge', async () => {
  const docId = `rich-${Date.now()}`;
  const a = await openRich(docId, 'Ada', '#d62728');
  const b = await openRich(docId, 'Bob', '#1f77b4');

  // Ada types a line, then makes its second word bold: Bob sees it bold; typing at the end of the
  // bold word is bold (it grows at its end).
  await a.page.click('#rich-editor');
  await a.page.keyboard.type('Hello world');
  await waitFor(() => b.page.$eval('#rich-editor', (el) => el.textContent === 'Hello world'), { what: "Ada's text in Bob's page" });
  await select(a.page, 6, 11);
  await a.page.click('#toolbar [data-cmd="bold"]');
  await waitFor(() => b.page.$$eval('#rich-editor .m-bold', (els) => els.map((e) => e.textContent).join('|') === 'world'), { what: 'the bold word in Bob\'s page' });
  await select(a.page, 11);
  await a.page.keyboard.type('!');
  await waitFor(() => b.page.$$eval('#rich-editor .m-bold', (els) => els.map((e) => e.textContent).join('|') === 'world!'), { what: 'bold growing at its end' });

  // Two list items from Ada; Bob makes the first line a heading.
  await a.page.keyboard.press('Enter');
  await a.page.keyboard.type('Item one');
  await a.page.click('#toolbar [data-cmd="bullet"]');
  await a.page.keyboard.press('Enter');
  await a.page.keyboard.type('Item two');
  await waitFor(() => b.page.$$eval('#rich-editor .blk-list_item', (els) => els.map((e) => e.textContent).join('|') === 'Item one|Item two'), { what: 'two list items in Bob\'s page' });
  await b.page.click('#rich-editor');
  await select(b.page, 0);
  await b.page.click('#toolbar [data-cmd="h1"]');
  await waitFor(() => a.page.$eval('#rich-editor h1', (el) => el.textContent === 'Hello world!').catch(() => false), { what: "Bob's heading in Ada's page" });

  // A link from Ada, a comment from Bob.
  a.page.once('dialog', (d) => d.accept('https://example.com/'));
  await select(a.page, await posOf(a.page, 'Hello'), (await posOf(a.page, 'Hello')) + 5);
  await a.page.click('#toolbar [data-cmd="link"]');
  await waitFor(() => b.page.$eval('#rich-editor a', (el) => el.getAttribute('href') === 'https://example.com/' && el.textContent === 'Hello').catch(() => false), { what: "Ada's link in Bob's page" });
  const one = await posOf(b.page, 'Item one');
  await select(b.page, one, one + 8);
  await b.page.click('#toolbar [data-cmd="comment"]');
  await waitFor(() => a.page.$eval('#rich-editor .m-comment', (el) => el.textContent === 'Item one').catch(() => false), { what: "Bob's comment in Ada's page" });

  // Both type at once in different blocks; the pages converge to the same DOM. Remote changes
  // replace only the blocks they touch: the heading keeps its element in both pages.
  for (const p of [a.page, b.page]) await p.$eval('#rich-editor h1', (el) => Object.assign(el, { probe: true }));
  await select(a.page, (await posOf(a.page, 'Item two')) + 8);
  await select(b.page, (await posOf(b.page, 'Item one')) + 4);
  await Promise.all([a.page.keyboard.type(' (Ada)'), b.page.keyboard.type(' first')]);
  const converged = await waitFor(() => same(a.page, b.page), { what: 'both pages to converge' });
  assert.match(converged, /Item first one/);
  assert.match(converged, /Item two \(Ada\)/);
  for (const p of [a.page, b.page]) assert.equal(await p.$eval('#rich-editor h1', (el) => /** @type {any} */ (el).probe === true), true, 'the heading was redrawn');

  // Each page shows the other's caret where the other's selection is.
  for (const [me, them, name] of /** @type {const} */ ([[a, b, 'Bob'], [b, a, 'Ada']])) {
    const head = await them.page.evaluate(() => /** @type {any} */ (window).tandem.binding.selection.head);
    await waitFor(() => me.page.$$eval('.rc-caret', (els, [n, h]) => els.some((e) => e.textContent === n && e.getAttribute('data-pos') === String(h)), [name, head]), { what: `${name}'s caret at ${head}` });
  }

  // A remote Enter before Bob's caret leaves the caret on its character.
  // Bob's caret is right at the split point, before 'world'.
  const caretText = () =>
    b.page.evaluate(() => {
      const t = /** @type {any} */ (window).tandem;
      const p = t.binding.selection.head;
      return [...t.provider.doc.text('body').toString()].slice(p, p + 3).join('');
    });
  await select(b.page, await posOf(b.page, 'world'));
  await select(a.page, await posOf(a.page, 'world')); // a heading split: the rest is a paragraph
  await a.page.keyboard.press('Enter');
  await waitFor(() => b.page.$$eval('#rich-editor .blk', (els) => els.length === 4), { what: "Ada's split in Bob's page" });
  assert.equal(await caretText(), 'wor', "Bob's caret moved off its word");
  const bobBlock = await b.page.evaluate(() => {
    const t = /** @type {any} */ (window).tandem;
    return t.binding.blocks.findIndex((/** @type {any} */ bl) => bl.start <= t.binding.selection.head && t.binding.selection.head <= bl.end);
  });
  assert.equal(bobBlock, 1, "Bob's caret is not in the new block");
  // Text that Ada types right at Bob's caret goes after it.
  await select(a.page, await posOf(a.page, 'world'));
  await a.page.keyboard.type('new ');
  await waitFor(() => b.page.$eval('#rich-editor', (el) => (el.textContent ?? '').includes('new world')), { what: "Ada's typing in Bob's page" });
  assert.equal(await caretText(), 'new', "Bob's caret did not stay before text typed at it");
  await a.page.keyboard.press('Backspace');
  await a.page.keyboard.press('Backspace');
  await a.page.keyboard.press('Backspace');
  await a.page.keyboard.press('Backspace');

  // The server returns the document as ProseMirror JSON with the same structure.
  await waitFor(() => same(a.page, b.page), { what: 'both pages to converge after the split' });
  const body = await waitFor(async () => {
    const r = await (await fetch(`${session.server.url}/v1/docs/${docId}`)).json();
    return r.texts?.body === (await plainText(a.page)) ? r.rich?.body : null;
  }, { what: 'the server to hold the same text' });
  assert.deepEqual(body.content.map((/** @type {any} */ n) => n.type), ['heading', 'paragraph', 'bullet_list']);
  const flat = JSON.stringify(body);
  for (const want of ['"strong"', '"link"', '"comment"', 'https://example.com/']) assert.ok(flat.includes(want), `rich body lacks ${want}: ${flat}`);

  // The status line is truthful: saved now; offline, edits are kept and said unsaved; back
  // online, saved again and in the other page.
  await waitFor(() => a.page.$eval('#save', (el) => el.textContent === 'all changes saved'), { what: 'saved' });
  await a.context.setOffline(true);
  await waitFor(() => a.page.$eval('#conn', (el) => el.getAttribute('data-status') === 'offline'), { what: 'offline status' });
  await select(a.page, await plainText(a.page).then((t) => [...t].length));
  await a.page.keyboard.type(' offline');
  await waitFor(() => a.page.$eval('#save', (el) => el.getAttribute('data-saved') === 'false'), { what: 'unsaved while offline' });
  await a.context.setOffline(false);
  await waitFor(() => a.page.$eval('#save', (el) => el.textContent === 'all changes saved'), { what: 'saved after reconnecting', timeoutMs: 20_000 });
  await waitFor(() => b.page.$eval('#rich-editor', (el) => (el.textContent ?? '').endsWith(' offline')), { what: 'the offline edit in Bob\'s page' });
  await waitFor(() => same(a.page, b.page), { what: 'both pages to converge at the end' });

  await a.page.screenshot({ path: screenshotPath('rich-coedit.png') });
  assert.deepEqual([...a.errors, ...b.errors], []);
  await a.context.close();
  await b.context.close();
});

test('the plain demo is one click away and edits the same document', async () => {
  const docId = `rich-plain-${Date.now()}`;
  const a = await openRich(docId, 'Ada', '#d62728');
  const b = await openRich(docId, 'Bob', '#1f77b4');
  await a.page.click('#rich-editor');
  await a.page.keyboard.type('Title');
  await a.page.click('#toolbar [data-cmd="h2"]');
  await waitFor(() => b.page.$eval('#rich-editor h2', (el) => el.textContent === 'Title').catch(() => false), { what: 'the heading in Bob\'s page' });

  await a.page.click('#mode-link');
  await a.page.waitForURL(/editor=plain/);
  await waitSynced(a.page);
  assert.equal(await a.page.isVisible('#toolbar'), false);
  // The textarea shows the text, the heading's marker as U+FFFC.
  await waitFor(() => a.page.$eval('#editor', (el) => /** @type {HTMLTextAreaElement} */ (el).value === '\uFFFCTitle'), { what: 'the text in the textarea' });
  await a.page.click('#editor');
  await a.page.keyboard.press('Control+End');
  await a.page.keyboard.type(' plain');
  await waitFor(() => b.page.$eval('#rich-editor h2', (el) => el.textContent === 'Title plain').catch(() => false), { what: 'the plain edit in the rich page' });
  assert.equal(await a.page.$eval('#mode-link', (el) => el.textContent), 'rich text');
  assert.deepEqual([...a.errors, ...b.errors], []);
  await a.context.close();
  await b.context.close();
});

test('rich editing from the keyboard: split and join, headings, breaks, pasting, marks at the caret, lists', async () => {
  const docId = `rich-keys-${Date.now()}`;
  const a = await openRich(docId, 'Ada', '#d62728');
  const { page } = a;
  /** blocks returns each block as "type:text" (hard breaks as ⏎). */
  const blocks = () =>
    page.evaluate(() => {
      const t = /** @type {any} */ (window).tandem;
      const s = [...t.provider.doc.text('body').toString()];
      return t.binding.blocks.map((/** @type {any} */ b) => `${b.type}${b.parents.length ? `<${b.parents.join('/')}>` : ''}:${s.slice(b.start, b.end).join('').replace(/\uFFFC/g, '⏎')}`);
    });
  await page.click('#rich-editor');
  await page.keyboard.type('abc');
  await page.keyboard.press('Enter');
  await page.keyboard.type('def');
  assert.deepEqual(await blocks(), ['paragraph:abc', 'paragraph:def']);
  // Backspace at the start of a block joins it to the one before.
  await page.keyboard.press('Home');
  await page.keyboard.press('Backspace');
  assert.deepEqual(await blocks(), ['paragraph:abcdef']);
  // Enter at the start of the text keeps the text's block and puts an empty one before it.
  await page.keyboard.press('Home');
  await page.keyboard.press('Enter');
  assert.deepEqual(await blocks(), ['paragraph:', 'paragraph:abcdef']);
  // A heading; Backspace at its start makes it a paragraph again, then joins.
  await page.click('#toolbar [data-cmd="h1"]');
  assert.deepEqual(await blocks(), ['paragraph:', 'heading:abcdef']);
  await page.keyboard.press('Backspace');
  assert.deepEqual(await blocks(), ['paragraph:', 'paragraph:abcdef']);
  await page.keyboard.press('Backspace');
  assert.deepEqual(await blocks(), ['paragraph:abcdef']);
  // Shift+Enter is a hard break inside the block; the browser's target range deletes a word.
  await page.keyboard.press('End');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('two words');
  assert.deepEqual(await blocks(), ['paragraph:abcdef⏎two words']);
  await page.keyboard.press('Control+Backspace');
  assert.deepEqual(await blocks(), ['paragraph:abcdef⏎two ']);
  // Ctrl+B at the caret: the next typed text is bold; again: not.
  await page.keyboard.press('Control+b');
  await page.keyboard.type('BOLD');
  await page.keyboard.press('Control+b');
  await page.keyboard.type(' plain');
  assert.deepEqual(await page.$$eval('#rich-editor .m-bold', (els) => els.map((e) => e.textContent)), ['BOLD']);
  // Select all and delete: one empty block.
  await page.keyboard.press('Control+a');
  await page.keyboard.press('Backspace');
  assert.deepEqual(await blocks(), ['paragraph:']);
  // Pasting lines makes blocks.
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.setData('text/plain', 'one\ntwo\r\nthree');
    const el = /** @type {HTMLElement} */ (document.getElementById('rich-editor'));
    el.dispatchEvent(new InputEvent('beforeinput', { inputType: 'insertFromPaste', dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  assert.deepEqual(await blocks(), ['paragraph:one', 'paragraph:two', 'paragraph:three']);
  // Lists: a bulleted list of the three, Tab nests the last, Enter on an empty item leaves the list.
  await page.keyboard.press('Control+a');
  await page.click('#toolbar [data-cmd="bullet"]');
  assert.deepEqual(await blocks(), ['list_item:one', 'list_item:two', 'list_item:three']);
  await select(page, (await posOf(page, 'three')) + 5);
  await page.keyboard.press('Tab');
  assert.deepEqual(await blocks(), ['list_item:one', 'list_item:two', 'list_item<list_item>:three']);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Enter');
  assert.deepEqual(await blocks(), ['list_item:one', 'list_item:two', 'list_item<list_item>:three', 'paragraph<list_item>:']);
  await page.keyboard.type('after');
  // The server's JSON: a list whose second item holds a nested list and a paragraph.
  const body = await waitFor(async () => {
    const r = await (await fetch(`${session.server.url}/v1/docs/${docId}`)).json();
    return r.texts?.body === (await plainText(page)) ? r.rich?.body : null;
  }, { what: 'the server to hold the same text' });
  const item2 = body.content[0].content[1];
  assert.deepEqual(item2.content.map((/** @type {any} */ n) => n.type), ['paragraph', 'bullet_list', 'paragraph'], JSON.stringify(body));
  assert.deepEqual(a.errors, []);
  await a.context.close();
});

test('lists that start at a number or follow one of their kind: numbers drawn, Enter keeps them', async () => {
  const docId = `rich-lists-${Date.now()}`;
  const a = await openRich(docId, 'Ada', '#d62728');
  const { page } = a;
  // Two ordered lists with nothing between them, the second starting at 3 (docs/prosemirror.md 1.1).
  const r = await fetch(`${session.server.url}/v1/docs/${docId}/edits`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      root: 'body',
      edits: [
        { index: 0, embed: { block: 'list_item', list: 'ordered' } },
        { index: 1, insert: 'a' },
        { index: 2, embed: { block: 'list_item', list: 'ordered', listStart: true, listAttrs: { order: 3 } } },
        { index: 3, insert: 'c' },
      ],
    }),
  });
  assert.equal(r.status, 200, await r.text());
  await waitFor(async () => (await plainText(page)) === '\uFFFCa\uFFFCc', { what: 'the edits to reach the page' });
  /** markers returns the effective value of each block marker, and the counter reset its element has. */
  const markers = () =>
    page.evaluate(() => {
      const t = /** @type {any} */ (window).tandem;
      const els = [...(/** @type {HTMLElement} */ (document.getElementById('rich-editor'))).children].map((e) => /** @type {HTMLElement} */ (e).style.counterReset);
      return t.provider.doc
        .text('body')
        .spans()
        .filter((/** @type {any} */ s) => 'embed' in s)
        .map((/** @type {any} */ s, /** @type {number} */ i) => ({ ...s.embed, ...s.attrs, reset: els[i] }));
    });
  assert.deepEqual(await markers(), [
    { block: 'list_item', list: 'ordered', reset: '' },
    { block: 'list_item', list: 'ordered', listStart: true, listAttrs: { order: 3 }, reset: 'ol 2' },
  ]);
  // Enter at the end of the second list's first item: the new item continues that list.
  await select(page, 4);
  await page.keyboard.press('Enter');
  await page.keyboard.type('d');
  // Enter at the start of it: the new, empty item before it starts the list now.
  await select(page, 3);
  await page.keyboard.press('Enter');
  assert.deepEqual(await markers(), [
    { block: 'list_item', list: 'ordered', reset: '' },
    { block: 'list_item', list: 'ordered', listStart: true, listAttrs: { order: 3 }, reset: 'ol 2' },
    { block: 'list_item', list: 'ordered', listStart: null, listAttrs: null, reset: '' },
    { block: 'list_item', list: 'ordered', reset: '' },
  ]);
  // The server renders the same two lists.
  const body = await waitFor(async () => {
    const res = await (await fetch(`${session.server.url}/v1/docs/${docId}`)).json();
    return res.texts?.body === (await plainText(page)) ? res.rich?.body : null;
  }, { what: 'the server to hold the same text' });
  assert.deepEqual(body.content.map((/** @type {any} */ n) => [n.type, n.attrs?.order ?? 1, n.content.length]), [['ordered_list', 1, 1], ['ordered_list', 3, 3]]);
  assert.deepEqual(a.errors, []);
  await a.context.close();
});

// @ts-check
// Two browser pages co-edit one document through the real server: they converge, each shows the
// other's cursor where it is, and emoji survive every path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useSession, openPage, waitFor, serverText, screenshotPath } from './harness.js';

const session = useSession();

/**
 * openEditor opens the demo on docId in a fresh browser context (its own storage, like another
 * person's browser), with the user's name set.
 * @param {string} docId
 * @param {string} name
 * @param {string} color
 */
function openEditor(docId, name, color) {
  return openPage(session.browser, `${session.server.url}/?editor=plain&doc=${encodeURIComponent(docId)}`, {
    context: { viewport: { width: 900, height: 640 } },
    user: { name, color },
  });
}

/** @param {import('playwright-core').Page} page */
const value = (page) => page.$eval('#editor', (el) => /** @type {HTMLTextAreaElement} */ (el).value);

test('two pages co-edit one document and converge; cursors and emoji come through', async () => {
  const docId = `coedit-${Date.now()}`;
  const a = await openEditor(docId, 'Ada', '#d62728');
  const b = await openEditor(docId, 'Bob', '#1f77b4');

  // Both type, one after the other and then at once.
  await a.page.click('#editor');
  await a.page.keyboard.type('Hello from Ada. ');
  await waitFor(async () => (await value(b.page)) === 'Hello from Ada. ', { what: "Ada's text in Bob's page" });
  await b.page.click('#editor');
  await b.page.keyboard.press('Control+End');
  await a.page.keyboard.press('Control+Home');
  await Promise.all([a.page.keyboard.type('More from Ada.'), b.page.keyboard.type(' Bob here!')]);
  const converged = await waitFor(async () => {
    const [va, vb] = await Promise.all([value(a.page), value(b.page)]);
    return va === vb && va.length === 'Hello from Ada. '.length + 'More from Ada.'.length + ' Bob here!'.length ? va : null;
  }, { what: 'both pages to converge' });
  for (const part of ['Hello from Ada. ', 'More from Ada.', ' Bob here!']) {
    assert.ok(converged.includes(part) || [...part].every((c) => converged.includes(c)), `text ${JSON.stringify(converged)} lacks ${JSON.stringify(part)}`);
  }
  await waitFor(async () => (await serverText(session.server.url, docId)) === converged, { what: 'the server to hold the same text' });

  // Emoji typed in one page arrive intact in the other (astral characters, a skin tone, a flag).
  const emoji = ' 😀👍🏽🇫🇷 ok';
  await a.page.keyboard.press('Control+End');
  await a.page.keyboard.type(emoji);
  const withEmoji = await waitFor(async () => {
    const vb = await value(b.page);
    return vb.endsWith(emoji) || vb.includes(emoji) ? vb : null;
  }, { what: 'the emoji in the other page' });
  assert.equal(withEmoji, await value(a.page));
  await waitFor(async () => (await serverText(session.server.url, docId)) === withEmoji, { what: 'the emoji on the server' });

  // Each page shows the other's cursor where it is: Ada puts her caret after "Hello".
  await a.page.$eval('#editor', (el) => {
    const ta = /** @type {HTMLTextAreaElement} */ (el);
    ta.focus();
    ta.setSelectionRange(5, 5);
    ta.dispatchEvent(new Event('select'));
  });
  const adaId = await a.page.evaluate(() => /** @type {any} */ (window).tandem.provider.clientId);
  const caret = await waitFor(
    () =>
      b.page.evaluate((id) => {
        const el = document.querySelector(`.tandem-caret[data-client-id="${id}"]`);
        if (!el || el.getAttribute('data-offset') !== '5') return null;
        const r = el.getBoundingClientRect();
        const ta = /** @type {HTMLElement} */ (document.querySelector('#editor')).getBoundingClientRect();
        return { label: el.textContent, x: r.left - ta.left, y: r.top - ta.top, color: getComputedStyle(el).borderLeftColor };
      }, adaId),
    { what: "Ada's caret in Bob's page at offset 5" },
  );
  assert.equal(caret.label?.replace('\u2060', ''), 'Ada');
  assert.equal(caret.color, 'rgb(214, 39, 40)');
  // The caret sits on the first line, after five monospace characters (padding 16 px + 5 glyphs).
  assert.ok(caret.y >= 0 && caret.y < 40, `caret y ${caret.y} is on the first line`);
  assert.ok(caret.x > 30 && caret.x < 90, `caret x ${caret.x} is after "Hello"`);

  // Bob selects a word; Ada sees his selection highlighted.
  await b.page.$eval('#editor', (el) => {
    const ta = /** @type {HTMLTextAreaElement} */ (el);
    ta.focus();
    ta.setSelectionRange(6, 10);
    ta.dispatchEvent(new Event('select'));
  });
  const bobId = await b.page.evaluate(() => /** @type {any} */ (window).tandem.provider.clientId);
  const selected = await waitFor(
    () => a.page.evaluate((id) => document.querySelector(`.tandem-selection[data-client-id="${id}"]`)?.textContent ?? null, bobId),
    { what: "Bob's selection in Ada's page" },
  );
  assert.equal(selected, converged.slice(6, 10));
  await a.page.waitForTimeout(100);
  await a.page.screenshot({ path: screenshotPath('two-pages-ada.png') });
  await b.page.screenshot({ path: screenshotPath('two-pages-bob.png') });

  // The status lines say live and saved.
  for (const p of [a.page, b.page]) {
    await waitFor(async () => (await p.textContent('#save')) === 'all changes saved', { what: 'saved' });
    assert.equal(await p.textContent('#conn'), 'live');
  }
  assert.deepEqual([...a.errors, ...b.errors], [], 'no page errors');

  // No ghosts: when Bob's page goes away, his caret and selection leave Ada's page at once (the
  // page says goodbye on pagehide and the server removes a closed connection's state).
  const t0 = Date.now();
  await b.context.close();
  await waitFor(
    () => a.page.evaluate((id) => document.querySelector(`[data-client-id="${id}"]`) === null && document.querySelectorAll('.peer').length === 0, bobId),
    { what: "Bob's cursor to leave Ada's page", timeoutMs: 5_000 },
  );
  const goneMs = Date.now() - t0;
  assert.ok(goneMs < 5_000, `ghost cursor lingered ${goneMs} ms`);
  await a.context.close();
});

test('undo in one page reverts only that user\'s typing, in both pages', async () => {
  const docId = `undo-${Date.now()}`;
  const a = await openEditor(docId, 'Ada', '#d62728');
  const b = await openEditor(docId, 'Bob', '#1f77b4');
  await a.page.click('#editor');
  await a.page.keyboard.type('ada ');
  await waitFor(async () => (await value(b.page)) === 'ada ', { what: 'sync' });
  await b.page.click('#editor');
  await b.page.keyboard.press('Control+End');
  await b.page.keyboard.type('bob');
  await waitFor(async () => (await value(a.page)) === 'ada bob', { what: 'sync back' });
  await a.page.keyboard.press('Control+z');
  await waitFor(async () => (await value(b.page)) === 'bob', { what: "Ada's undo in Bob's page" });
  assert.equal(await value(a.page), 'bob');
  await a.page.keyboard.press('Control+Shift+z');
  await waitFor(async () => (await value(b.page)) === 'ada bob', { what: 'redo' });
  await a.context.close();
  await b.context.close();
});

test('an IME composition survives a remote edit arriving in the middle of it', async () => {
  const docId = `ime-${Date.now()}`;
  const a = await openEditor(docId, 'Ada', '#d62728');
  const b = await openEditor(docId, 'Bob', '#1f77b4');
  await a.page.click('#editor');
  await a.page.keyboard.type('hello world');
  await waitFor(async () => (await value(b.page)) === 'hello world', { what: 'sync' });
  await a.page.$eval('#editor', (el) => /** @type {HTMLTextAreaElement} */ (el).setSelectionRange(5, 5));
  // Ada composes with an input method (as for Japanese: kana first, then the chosen kanji)...
  const ime = await a.context.newCDPSession(a.page);
  await ime.send('Input.imeSetComposition', { text: 'に', selectionStart: 1, selectionEnd: 1 });
  await ime.send('Input.imeSetComposition', { text: 'にほ', selectionStart: 2, selectionEnd: 2 });
  // ...while Bob types at the start.
  await b.page.click('#editor');
  await b.page.keyboard.press('Control+Home');
  await b.page.keyboard.type('Bob: ');
  await waitFor(() => a.page.evaluate(() => /** @type {any} */ (window).tandem.provider.doc.text('body').toString().startsWith('Bob: ')), {
    what: "Bob's edit in Ada's replica",
  });
  await ime.send('Input.imeSetComposition', { text: 'にほん', selectionStart: 3, selectionEnd: 3 });
  await ime.send('Input.insertText', { text: '日本' });
  const want = 'Bob: hello日本 world';
  await waitFor(async () => (await value(a.page)) === want && (await value(b.page)) === want, { what: 'both pages to show the composed text once' });
  await waitFor(async () => (await serverText(session.server.url, docId)) === want, { what: 'the server to agree' });
  // Ada's caret is after what she composed.
  const sel = await a.page.$eval('#editor', (el) => [/** @type {HTMLTextAreaElement} */ (el).selectionStart, /** @type {HTMLTextAreaElement} */ (el).selectionEnd]);
  assert.deepEqual(sel, [want.indexOf(' world'), want.indexOf(' world')]);
  await a.context.close();
  await b.context.close();
});

test("a caret at the right edge keeps its name label inside the editor", async () => {
  const docId = `edge-${Date.now()}`;
  const a = await openEditor(docId, 'Ada', '#d62728');
  const b = await openEditor(docId, 'Bartholomew', '#1f77b4');
  // A line that just fits the textarea's width, with Bob's caret at its end.
  const line = await a.page.$eval('#editor', (el) => {
    const ta = /** @type {HTMLTextAreaElement} */ (el);
    const cs = getComputedStyle(ta);
    const ctx = /** @type {CanvasRenderingContext2D} */ (document.createElement('canvas').getContext('2d'));
    ctx.font = `${cs.fontSize} ${cs.fontFamily}`;
    const room = ta.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    return 'x'.repeat(Math.floor(room / ctx.measureText('x').width) - 1);
  });
  await b.page.click('#editor');
  await b.page.keyboard.type(line);
  const bobId = await b.page.evaluate(() => /** @type {any} */ (window).tandem.provider.clientId);
  const overflow = await waitFor(
    () =>
      a.page.evaluate(
        ([id, n]) => {
          const caret = document.querySelector(`.tandem-caret[data-client-id="${id}"]`);
          if (!caret || caret.getAttribute('data-offset') !== String(n)) return null;
          const label = /** @type {HTMLElement} */ (caret.querySelector('.tandem-caret-label')).getBoundingClientRect();
          const box = /** @type {HTMLElement} */ (document.querySelector('#editor')).getBoundingClientRect();
          return { right: label.right - box.right, left: label.left - box.left };
        },
        [bobId, line.length],
      ),
    { what: "Bob's caret at the end of the line in Ada's page" },
  );
  assert.ok(overflow.right <= 0 && overflow.left >= 0, `the label sticks out of the editor: ${JSON.stringify(overflow)}`);
  await a.context.close();
  await b.context.close();
});

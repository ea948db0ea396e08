// @ts-check
// The textarea's cursor overlay on a 100,000-character document: remote carets are drawn where
// their characters are, follow local edits made anywhere (the mirror is kept in step chunk by
// chunk), and with no remote cursor nothing is drawn or kept. A functional check: the time per
// keystroke is measured by bench/keystroke.mjs, not asserted here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, waitFor } from './harness.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('remote carets on a 100,000-character document stay on their characters while the text changes', async () => {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await ctx.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/?doc=overlay-${Date.now()}`);
  await page.waitForFunction(() => /** @type {any} */ (window).tandem?.provider.synced === true, null, { timeout: 15_000 });

  // 100,000 characters in short lines ("line 00000\n", 11 characters each: no wrapping).
  const lines = await page.evaluate(() => {
    const { provider } = /** @type {any} */ (window).tandem;
    let s = '';
    for (let i = 0; s.length < 100_000; i++) s += `line ${String(i).padStart(5, '0')}\n`;
    provider.transact(() => provider.doc.text('body').insert(0, s));
    return s.length / 11;
  });
  assert.ok(lines >= 9000);

  /** mirrorText is the mirror's text without the carets' labels and the trailing marker. */
  const mirrorText = () =>
    page.evaluate(() => {
      const m = document.querySelector('.tandem-mirror');
      if (!m) return null;
      let s = '';
      const walk = (/** @type {Node} */ n) => {
        if (n instanceof HTMLElement && n.classList.contains('tandem-caret')) return;
        if (n.nodeType === Node.TEXT_NODE) s += n.textContent;
        for (const c of n.childNodes) walk(c);
      };
      walk(m);
      return s.replace(/\u200b$/, '');
    });
  const overlayShown = () => page.evaluate(() => /** @type {HTMLElement} */ (document.querySelector('.tandem-overlay')).style.display !== 'none');

  // No remote cursor: the overlay is hidden and its mirror empty.
  await page.waitForTimeout(100);
  assert.equal(await overlayShown(), false, 'no overlay without remote cursors');
  assert.equal(await mirrorText(), '', 'nothing mirrored without remote cursors');

  // Three editors put their carets at lines 5000, 5003 and 5006; the textarea is scrolled there.
  await page.evaluate(async () => {
    const { provider } = /** @type {any} */ (window).tandem;
    // The server serves the client's modules under /src/ (a path tsc cannot follow).
    const cursorModule = '/src/cursor.js';
    const { encodeCursor } = await import(cursorModule);
    const text = provider.doc.text('body');
    const enc = new TextEncoder();
    const entries = [0, 1, 2].map((i) => ({
      clientId: 500 + i,
      clock: 1,
      state: enc.encode(JSON.stringify({ user: { name: `peer${i}`, color: '#1f77b4' }, cursor: encodeCursor(text, 'body', (5000 + 3 * i) * 11 + 4, (5000 + 3 * i) * 11 + 4) })),
    }));
    provider.awareness.receive(entries);
    const ta = /** @type {HTMLTextAreaElement} */ (document.getElementById('editor'));
    const lh = parseFloat(getComputedStyle(ta).lineHeight);
    ta.scrollTop = 4995 * lh;
    ta.focus();
    ta.setSelectionRange(4998 * 11, 4998 * 11);
    ta.scrollTop = 4995 * lh;
  });

  /**
   * caretLines returns each remote caret's line (from its position on screen) and column offset.
   * @returns {Promise<Record<string, number>>}
   */
  const caretLines = () =>
    page.evaluate(() => {
      const ta = /** @type {HTMLTextAreaElement} */ (document.getElementById('editor'));
      const cs = getComputedStyle(ta);
      const lh = parseFloat(cs.lineHeight);
      const top = ta.getBoundingClientRect().top + parseFloat(cs.borderTopWidth) + parseFloat(cs.paddingTop);
      /** @type {Record<string, number>} */
      const out = {};
      for (const el of document.querySelectorAll('.tandem-caret')) {
        const r = el.getBoundingClientRect();
        out[/** @type {HTMLElement} */ (el).dataset.clientId ?? ''] = Math.round((r.top - top + ta.scrollTop) / lh);
      }
      return out;
    });
  await waitFor(async () => Object.keys(await caretLines()).length === 3, { what: 'three carets drawn' });
  assert.deepEqual(await caretLines(), { 500: 5000, 501: 5003, 502: 5006 });
  assert.equal(await mirrorText(), await page.$eval('#editor', (el) => /** @type {HTMLTextAreaElement} */ (el).value));

  // Typing two new lines above them (local caret at line 4998) moves them two lines down.
  await page.keyboard.type('new\nlines\n');
  await waitFor(async () => JSON.stringify(await caretLines()) === JSON.stringify({ 500: 5002, 501: 5005, 502: 5008 }), { what: 'carets two lines down' });
  // Edits elsewhere (the start, the end, a span over several chunks) keep the mirror equal to the text.
  await page.evaluate(() => {
    const { provider } = /** @type {any} */ (window).tandem;
    const t = provider.doc.text('body');
    provider.transact(() => t.insert(0, 'first\n'));
    provider.transact(() => t.insert(t.length, 'last'));
    provider.transact(() => t.delete(100, 6000));
  });
  await waitFor(async () => (await mirrorText()) === (await page.$eval('#editor', (el) => /** @type {HTMLTextAreaElement} */ (el).value)), {
    what: 'the mirror to equal the text after edits at the start, the end and across chunks',
  });
  // 6000 characters less (545 lines and 5 characters) and one line more: the carets' lines follow.
  const moved = await caretLines();
  assert.deepEqual(Object.keys(moved).sort(), ['500', '501', '502']);
  assert.equal(moved[501] - moved[500], 3);

  // The peers leave: the overlay is emptied.
  await page.evaluate(() => {
    const { provider } = /** @type {any} */ (window).tandem;
    provider.awareness.receive([0, 1, 2].map((i) => ({ clientId: 500 + i, clock: 2, state: new Uint8Array(0) })));
  });
  await waitFor(async () => (await overlayShown()) === false, { what: 'the overlay hidden once the peers left' });
  assert.equal(await mirrorText(), '');
  assert.deepEqual(errors, []);
  await ctx.close();
});

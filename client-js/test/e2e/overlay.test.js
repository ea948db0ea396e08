// @ts-check
// The textarea's cursor overlay on a 100,000-character document: remote carets are drawn where
// their characters are, follow local edits made anywhere (the mirror is kept in step chunk by
// chunk), and with no remote cursor nothing is drawn or kept. A functional check: the time per
// keystroke is measured by bench/keystroke.mjs, not asserted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useSession, waitFor, waitSynced } from './harness.js';

const session = useSession();

test('remote carets on a 100,000-character document stay on their characters while the text changes', async () => {
  const ctx = await session.browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await ctx.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${session.server.url}/?editor=plain&doc=overlay-${Date.now()}`);
  await waitSynced(page);

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
    // The server renews present editors' states; here the test does (they expire after 30 s).
    /** @type {any} */ (window).renewPeers = (/** @type {number} */ clock) => provider.awareness.receive(entries.map((e) => ({ ...e, clock })));
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

  // Random edits (with and without newlines, deletions across chunk boundaries), each followed by
  // a frame: the mirror stays equal to the text, and every chunk but the last ends a line.
  const report = await page.evaluate(async () => {
    const { provider } = /** @type {any} */ (window).tandem;
    const t = provider.doc.text('body');
    const ta = /** @type {HTMLTextAreaElement} */ (document.getElementById('editor'));
    // mulberry32: a seeded generator whose state stays within 32-bit integers.
    let seed = 12345;
    const rnd = (/** @type {number} */ k) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let z = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      z = (z + Math.imul(z ^ (z >>> 7), 61 | z)) ^ z;
      return (((z ^ (z >>> 14)) >>> 0) / 4294967296) * k | 0;
    };
    const pieces = ['x', 'word ', '\n', 'two\nlines\n', '\n\n', 'long '.repeat(300)];
    /** @type {string[]} */
    const faults = [];
    for (let i = 0; i < 150; i++) {
      if (i % 10 === 0) /** @type {any} */ (window).renewPeers(2 + i);
      const len = t.length;
      const before = seed;
      if (rnd(3) === 0 && len > 10) {
        const at = rnd(len - 1);
        provider.transact(() => t.delete(at, 1 + rnd(Math.min(len - at - 1, rnd(4) === 0 ? 5000 : 20))));
      } else {
        provider.transact(() => t.insert(rnd(len + 1), pieces[rnd(pieces.length)]));
      }
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      const chunks = [...(/** @type {HTMLElement} */ (document.querySelector('.tandem-mirror'))).children];
      let text = '';
      for (const [k, el] of chunks.entries()) {
        let s = '';
        const walk = (/** @type {Node} */ n) => {
          if (n instanceof HTMLElement && n.classList.contains('tandem-caret')) return;
          if (n.nodeType === Node.TEXT_NODE) s += n.textContent;
          for (const c of n.childNodes) walk(c);
        };
        walk(el);
        if (k === chunks.length - 1) s = s.replace(/\u200b$/, '');
        else if (!s.endsWith('\n')) faults.push(`edit ${i}: chunk ${k} of ${chunks.length} does not end a line`);
        text += s;
      }
      if (text !== ta.value) {
        let d = 0;
        while (d < text.length && text[d] === ta.value[d]) d++;
        faults.push(`edit ${i}: the mirror differs from the text at ${d} (mirror ${text.length}, text ${ta.value.length}): ${JSON.stringify(text.slice(d - 20, d + 20))} vs ${JSON.stringify(ta.value.slice(d - 20, d + 20))}`);
      }
      if (faults.length > 0) {
        seed = before;
        faults.push(`len ${len}, op ${rnd(3)}, a ${rnd(len - 1)}, b ${rnd(len + 1)}`);
        break;
      }
    }
    return { faults, chunks: document.querySelector('.tandem-mirror')?.children.length ?? 0, len: ta.value.length, lines: ta.value.split('\n').length };
  });
  assert.deepEqual(report.faults, []);
  assert.ok(report.chunks > 10, `${report.chunks} chunks for ${report.len} characters in ${report.lines} lines`);

  // The peers leave: the overlay is emptied.
  await page.evaluate(() => {
    const { provider } = /** @type {any} */ (window).tandem;
    provider.awareness.receive([0, 1, 2].map((i) => ({ clientId: 500 + i, clock: 1000, state: new Uint8Array(0) })));
  });
  await waitFor(async () => (await overlayShown()) === false, { what: 'the overlay hidden once the peers left' });
  assert.equal(await mirrorText(), '');
  assert.deepEqual(errors, []);
  await ctx.close();
});

// Keystroke-to-screen time in a 100,000-character document, in headless chromium against the real
// server (built from ../cmd/tandem, run on 127.0.0.1): from a key's keydown to the end of the
// frame that shows it (the task after that frame's requestAnimationFrame callbacks, style, layout
// and paint), for the demo's textarea with its binding and for CodeMirror with its binding, each
// with three other editors' cursors on screen near the caret.
//
//   node bench/keystroke.mjs [--chars 100000] [--keys 60] [--runs 3] [--baseline FILE] [--only TEXT]
//
// --baseline FILE adds a row for another version of src/bindings/textarea.js (served in its place),
// so that a change is measured against what it replaces in one session (--only keeps the rows
// whose name contains TEXT):
//   git show HEAD~1:client-js/src/bindings/textarea.js > /tmp/textarea-before.js
//
// Rows: "textarea, 3 remote cursors" (the demo as people use it), "textarea, no remote cursor",
// "textarea, no binding" (the bare element: the floor), "codemirror, 3 remote cursors". Each run
// opens a fresh page; figures are the median, p95 and maximum over every key of every run, and
// the long tasks (over 50 ms) the browser reported while typing. "to screen" includes the wait for
// the next frame (up to 16.7 ms at 60 Hz); "work" is the main thread's part, without that wait.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser } from '../test/e2e/harness.js';

const arg = (/** @type {string} */ name, /** @type {number} */ def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const chars = arg('chars', 100_000);
const keys = arg('keys', 60);
const runs = arg('runs', 3);
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] : '';
const baselineAt = process.argv.indexOf('--baseline');
const baseline = baselineAt >= 0 ? readFileSync(process.argv[baselineAt + 1], 'utf8') : null;

const cmBundle = (
  await build({
    entryPoints: [fileURLToPath(new URL('../test/e2e/cm-page.js', import.meta.url))],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  })
).outputFiles[0].text;

const server = await startServer();
const browser = await launchBrowser();

/**
 * setUp fills the page's document with `chars` characters of prose (lines of 40 to 160
 * characters, some paragraphs that wrap), puts the caret in the middle, scrolls it into view, and
 * adds `cursors` remote editors whose carets are on screen around it.
 * @param {import('playwright-core').Page} page
 * @param {{ cursors: number, editor: 'textarea' | 'codemirror', bind: boolean }} o
 */
async function setUp(page, o) {
  await page.evaluate(
    async ({ chars, o }) => {
      const w = /** @type {any} */ (window);
      const { provider } = w.tandem;
      const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet,', 'consectetur', 'adipiscing', 'elit.', 'sed', 'do'];
      let seed = 7;
      const rnd = (/** @type {number} */ k) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % k);
      let s = '';
      while (s.length < chars) {
        let line = '';
        const len = rnd(8) === 0 ? 400 : 40 + rnd(120);
        while (line.length < len) line += `${words[rnd(words.length)]} `;
        s += `${line.trimEnd()}\n`;
      }
      s = s.slice(0, chars);
      provider.transact(() => provider.doc.text('body').insert(0, s));
      await new Promise((r) => setTimeout(r, 100));
      const mid = Math.floor(chars / 2);
      if (o.editor === 'textarea') {
        const ta = /** @type {HTMLTextAreaElement} */ (document.getElementById('editor'));
        if (!o.bind) w.tandem.binding.destroy();
        ta.focus();
        ta.setSelectionRange(mid, mid);
        // Scroll the caret to the middle of the box: a mirror of the text up to the caret would
        // tell exactly; the share of the text is close enough for lines of even length.
        ta.scrollTop = Math.max(0, (ta.scrollHeight * mid) / s.length - ta.clientHeight / 2);
      } else {
        const { view } = w.tandem;
        view.focus();
        view.dispatch({ selection: { anchor: mid }, scrollIntoView: true });
      }
      if (o.cursors > 0) {
        const { encodeCursor } = await import('/src/cursor.js');
        const text = provider.doc.text('body');
        const enc = new TextEncoder();
        const names = ['Ada', 'Bob', 'Cy', 'Dee'];
        const colors = ['#d62728', '#1f77b4', '#9467bd', '#8c564b'];
        const entries = [];
        for (let i = 0; i < o.cursors; i++) {
          const at = mid - 300 + i * 250;
          const cursor = encodeCursor(text, 'body', at, at + (i === 1 ? 30 : 0));
          const state = { user: { name: names[i], color: colors[i] }, cursor };
          entries.push({ clientId: 1000 + i, clock: 1, state: enc.encode(JSON.stringify(state)) });
        }
        provider.awareness.receive(entries);
      }
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50)));
      // Measurement. "to screen": from keydown to the task after the frame that shows the key.
      // "work": the main thread's time in it, without the wait for that frame: keydown to the
      // end of the input event's handlers and microtasks (where CodeMirror's DOM observer runs),
      // plus the frame's animation callbacks (the overlay's render) and style and layout, forced
      // from the last callback.
      w.__times = [];
      w.__work = [];
      w.__long = 0;
      new PerformanceObserver((l) => (w.__long += l.getEntries().length)).observe({ type: 'longtask', buffered: false });
      let t0 = 0;
      document.addEventListener('keydown', (ev) => void (t0 = ev.timeStamp), true);
      document.addEventListener('input', () => {
        const start = t0;
        queueMicrotask(() => {
          const tIn = performance.now();
          requestAnimationFrame((ts) => {
            document.documentElement.getBoundingClientRect();
            void (/** @type {HTMLElement} */ (document.body).offsetHeight);
            w.__work.push(tIn - start + (performance.now() - ts));
            const ch = new MessageChannel();
            ch.port1.onmessage = () => w.__times.push(performance.now() - start);
            ch.port2.postMessage(null);
          });
        });
      });
    },
    { chars, o },
  );
}

/**
 * measure types `keys` characters and returns the page's keystroke-to-screen times.
 * @param {import('playwright-core').Page} page
 */
async function measure(page) {
  for (let i = 0; i < keys; i++) {
    await page.keyboard.press(i % 12 === 11 ? 'Space' : 'KeyA');
    await page.waitForFunction((n) => /** @type {any} */ (window).__times.length >= n, i + 1);
  }
  return page.evaluate(() => {
    const w = /** @type {any} */ (window);
    return { times: /** @type {number[]} */ (w.__times), work: /** @type {number[]} */ (w.__work), long: /** @type {number} */ (w.__long) };
  });
}

/** @param {number[]} xs @param {number} q */
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** @type {{ name: string, editor: 'textarea' | 'codemirror', cursors: number, bind: boolean, old?: boolean }[]} */
const variants = [
  ...(baseline ? [{ name: 'textarea, 3 cursors, baseline', editor: /** @type {const} */ ('textarea'), cursors: 3, bind: true, old: true }] : []),
  { name: 'textarea, 3 remote cursors', editor: 'textarea', cursors: 3, bind: true },
  { name: 'textarea, no remote cursor', editor: 'textarea', cursors: 0, bind: true },
  { name: 'textarea, no binding', editor: 'textarea', cursors: 0, bind: false },
  { name: 'codemirror, 3 remote cursors', editor: 'codemirror', cursors: 3, bind: true },
];

try {
  console.log(`keystroke to screen, ${chars} characters, ${keys} keys x ${runs} runs (ms)`);
  console.log('                                 to screen             work (main thread)');
  console.log('variant                        median    p95    max  median    p95    max  long tasks');
  for (const v of variants.filter((x) => x.name.includes(only))) {
    /** @type {number[]} */
    const all = [];
    /** @type {number[]} */
    const work = [];
    let long = 0;
    for (let r = 0; r < runs; r++) {
      const ctx = await browser.newContext({ viewport: { width: 1000, height: 800 } });
      const page = await ctx.newPage();
      if (v.old && baseline) await page.route(`${server.url}/src/bindings/textarea.js`, (rt) => rt.fulfill({ contentType: 'text/javascript', body: baseline }));
      if (v.editor === 'codemirror') await page.route(`${server.url}/demo.js`, (rt) => rt.fulfill({ contentType: 'text/javascript', body: cmBundle }));
      // The textarea demo is at ?editor=plain (the page at / is the rich editor).
      await page.goto(`${server.url}/?${v.editor === 'textarea' ? 'editor=plain&' : ''}doc=kbench-${v.editor}-${Date.now()}-${r}`);
      await page.waitForFunction(() => /** @type {any} */ (window).tandem?.provider.synced === true, null, { timeout: 15_000 });
      await setUp(page, v);
      const m = await measure(page);
      if (v.cursors > 0) {
        const shown = await page.evaluate(() => document.querySelectorAll('.tandem-caret').length);
        if (shown < v.cursors) throw new Error(`${v.name}: ${shown} remote carets drawn, want ${v.cursors}`);
      }
      if (process.env.KB_DEBUG) console.log(v.name, m.times.map((x) => x.toFixed(0)).join(" "), "\n work", m.work.map((x) => x.toFixed(0)).join(" "));
      all.push(...m.times);
      work.push(...m.work);
      long += m.long;
      await ctx.close();
    }
    const f = (/** @type {number} */ x) => x.toFixed(1).padStart(6);
    const cols = (/** @type {number[]} */ xs) => `${f(quantile(xs, 0.5))} ${f(quantile(xs, 0.95))} ${f(Math.max(...xs))}`;
    console.log(`${v.name.padEnd(30)} ${cols(all)}  ${cols(work)}  ${String(long).padStart(4)}`);
  }
} finally {
  await browser.close();
  await server.stop();
}

// Keystroke-to-screen time in the ProseMirror binding on a 100,000-character formatted document
// (bench/richdoc.js: paragraphs, headings, bullet lists, words in bold, italic and links), in
// headless chromium against the real server (built from ../cmd/tandem, run on 127.0.0.1): from a
// key's keydown to the end of the frame that shows it, with the same probes as bench/keystroke.mjs.
//
//   node bench/prosemirror-keystroke.mjs [--chars 100000] [--keys 60] [--runs 3]
//
// Rows: "binding, 3 remote cursors", "binding, no remote cursor", and "no binding" (a ProseMirror
// editor on the same document without the binding: the floor). Each run opens a fresh page; the
// figures are the median, p95 and maximum over every key of every run, and the long tasks (over
// 50 ms) the browser reported while typing. "to screen" includes the wait for the next frame (up
// to 16.7 ms at 60 Hz); "work" is the main thread's part, without that wait.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser } from '../test/e2e/harness.js';
import { richDocJSON } from './richdoc.js';

const arg = (/** @type {string} */ name, /** @type {number} */ def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const chars = arg('chars', 100_000);
const keys = arg('keys', 60);
const runs = arg('runs', 3);
const docJSON = richDocJSON(chars);

const bundle = (
  await build({
    entryPoints: [fileURLToPath(new URL('../test/e2e/pm-page.js', import.meta.url))],
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
 * setUp loads the document into the editor (through the binding when there is one), puts the
 * caret in the middle, scrolls it into view and adds `cursors` remote editors around it.
 * @param {import('playwright-core').Page} page
 * @param {number} cursors
 */
async function setUp(page, cursors) {
  const setup = await page.evaluate(
    async ({ json, cursors }) => {
      const w = /** @type {any} */ (window);
      const { view, schema, provider } = w.tandem;
      const t0 = performance.now();
      const doc = schema.nodeFromJSON(json);
      view.dispatch(view.state.tr.replaceWith(0, view.state.doc.content.size, doc.content));
      const loadMs = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 200));
      const mid = Math.floor(view.state.doc.content.size / 2);
      const Sel = view.state.selection.constructor;
      view.focus();
      view.dispatch(view.state.tr.setSelection(Sel.near(view.state.doc.resolve(mid))).scrollIntoView());
      if (cursors > 0) {
        const { encodeCursor } = await import('/src/cursor.js');
        const text = provider.doc.text('body');
        const flatMid = Math.floor(text.length / 2);
        const enc = new TextEncoder();
        const names = ['Ada', 'Bob', 'Cy', 'Dee'];
        const colors = ['#d62728', '#1f77b4', '#9467bd', '#8c564b'];
        const entries = [];
        for (let i = 0; i < cursors; i++) {
          const at = flatMid - 300 + i * 250;
          const cursor = encodeCursor(text, 'body', at, at + (i === 1 ? 30 : 0));
          entries.push({ clientId: 1000 + i, clock: 1, state: enc.encode(JSON.stringify({ user: { name: names[i], color: colors[i] }, cursor })) });
        }
        provider.awareness.receive(entries);
      }
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 100)));
      w.__times = [];
      w.__work = [];
      w.__long = 0;
      new PerformanceObserver((l) => (w.__long += l.getEntries().length)).observe({ type: 'longtask', buffered: false });
      let t = 0;
      document.addEventListener('keydown', (ev) => void (t = ev.timeStamp), true);
      // ProseMirror reads typed text from DOM mutations or beforeinput; the frame after the
      // transaction's DOM update is the one that shows it.
      // The probe's frame callback is asked for before the dispatch, so that it runs before the
      // ones the dispatch asks for and its task is the first after the frame's rendering: work
      // the page defers until after the paint (the binding's flush) is not counted as the frame's.
      const orig = view.dispatch.bind(view);
      view.dispatch = (/** @type {any} */ tr) => {
        if (!tr.docChanged || !t) return orig(tr);
        const start = t;
        t = 0;
        let tIn = 0;
        requestAnimationFrame((ts) => {
          document.documentElement.getBoundingClientRect();
          void (/** @type {HTMLElement} */ (document.body).offsetHeight);
          w.__work.push(tIn - start + (performance.now() - ts));
          const ch = new MessageChannel();
          ch.port1.onmessage = () => w.__times.push(performance.now() - start);
          ch.port2.postMessage(null);
        });
        orig(tr);
        tIn = performance.now();
      };
      return { loadMs, size: view.state.doc.content.size, flat: provider.doc.text('body').length };
    },
    { json: docJSON, cursors },
  );
  return setup;
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

const variants = [
  { name: 'binding, 3 remote cursors', cursors: 3, bind: true },
  { name: 'binding, no remote cursor', cursors: 0, bind: true },
  { name: 'no binding (the floor)', cursors: 0, bind: false },
];

try {
  console.log(`ProseMirror keystroke to screen, ${chars}-character formatted document, ${keys} keys x ${runs} runs (ms)`);
  console.log('                                 to screen             work (main thread)');
  console.log('variant                        median    p95    max  median    p95    max  long tasks  load');
  for (const v of variants) {
    /** @type {number[]} */
    const all = [];
    /** @type {number[]} */
    const work = [];
    let long = 0;
    let load = 0;
    for (let r = 0; r < runs; r++) {
      const ctx = await browser.newContext({ viewport: { width: 1000, height: 800 }, serviceWorkers: 'block' });
      const page = await ctx.newPage();
      await page.route(`${server.url}/demo.js`, (rt) => rt.fulfill({ contentType: 'text/javascript', body: bundle }));
      await page.goto(`${server.url}/?doc=pmbench-${Date.now()}-${r}&bind=${v.bind ? 1 : 0}`);
      await page.waitForFunction(() => /** @type {any} */ (window).tandem?.provider.synced === true, null, { timeout: 15_000 });
      const s = await setUp(page, v.cursors);
      if (v.bind && s.flat < chars) throw new Error(`the CRDT holds ${s.flat} positions, want at least ${chars}`);
      load = Math.max(load, s.loadMs);
      const m = await measure(page);
      if (v.cursors > 0) {
        const shown = await page.evaluate(() => document.querySelectorAll('.tandem-caret').length);
        if (shown < v.cursors) throw new Error(`${v.name}: ${shown} remote carets drawn, want ${v.cursors}`);
      }
      all.push(...m.times);
      work.push(...m.work);
      long += m.long;
      await ctx.close();
    }
    const f = (/** @type {number} */ x) => x.toFixed(1).padStart(6);
    const cols = (/** @type {number[]} */ xs) => `${f(quantile(xs, 0.5))} ${f(quantile(xs, 0.95))} ${f(Math.max(...xs))}`;
    console.log(`${v.name.padEnd(30)} ${cols(all)}  ${cols(work)}  ${String(long).padStart(10)}  ${load.toFixed(0).padStart(5)}`);
  }
} finally {
  await browser.close();
  await server.stop();
}

// Keystroke-to-screen time in the ProseMirror binding on a 100,000-character formatted document
// (bench/richdoc.js: paragraphs, headings, bullet lists, words in bold, italic and links), in
// headless chromium against the real server (built from ../cmd/tandem, run on 127.0.0.1): from a
// key's keydown to the end of the frame that shows it, with the same probe as bench/keystroke.mjs
// (bench/keystroke-probe.js).
//
//   node bench/prosemirror-keystroke.mjs [--chars 100000] [--keys 60] [--runs 3]
//
// Rows: "binding, 3 remote cursors", "binding, no remote cursor", and "no binding" (a ProseMirror
// editor on the same document without the binding: the floor). Each run opens a fresh page; the
// figures are the median, p95 and maximum over every key of every run, and the long tasks (over
// 50 ms) the browser reported while typing. "to screen" includes the wait for the next frame (up
// to 16.7 ms at 60 Hz); "work" is the main thread's part, without that wait.
import { startServer, launchBrowser, bundlePage, openPage } from '../test/e2e/harness.js';
import { numberArg, showRemoteCursors, installProbe, runVariant, header, row } from './keystroke-probe.js';
import { richDocJSON } from './richdoc.js';

const chars = numberArg('chars', 100_000);
const keys = numberArg('keys', 60);
const runs = numberArg('runs', 3);
const docJSON = richDocJSON(chars);

const bundle = await bundlePage('pm-page.js');

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
    async ({ json }) => {
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
      return { loadMs, size: view.state.doc.content.size, flat: provider.doc.text('body').length };
    },
    { json: docJSON },
  );
  await page.evaluate(showRemoteCursors, cursors);
  await page.evaluate(installProbe, 100);
  // The probe's hook. ProseMirror reads typed text from DOM mutations or beforeinput; the frame
  // after the transaction's DOM update is the one that shows it. The probe's frame callback is
  // asked for before the dispatch, so that it runs before the ones the dispatch asks for and its
  // task is the first after the frame's rendering: work the page defers until after the paint
  // (the binding's flush) is not counted as the frame's.
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    const { view } = w.tandem;
    const orig = view.dispatch.bind(view);
    view.dispatch = (/** @type {any} */ tr) => {
      if (!tr.docChanged || !w.__keyAt) return orig(tr);
      const start = w.__keyAt;
      w.__keyAt = 0;
      let end = 0;
      w.__frameProbe(start, () => end);
      orig(tr);
      end = performance.now();
    };
  });
  return setup;
}

const variants = [
  { name: 'binding, 3 remote cursors', cursors: 3, bind: true },
  { name: 'binding, no remote cursor', cursors: 0, bind: true },
  { name: 'no binding (the floor)', cursors: 0, bind: false },
];

try {
  console.log(`ProseMirror keystroke to screen, ${chars}-character formatted document, ${keys} keys x ${runs} runs (ms)`);
  header('  load');
  for (const v of variants) {
    let load = 0;
    const f = await runVariant({
      ...v,
      runs,
      keys,
      open: (r) =>
        openPage(browser, `${server.url}/?doc=pmbench-${Date.now()}-${r}&bind=${v.bind ? 1 : 0}`, {
          context: { viewport: { width: 1000, height: 800 }, serviceWorkers: 'block' },
          modules: { '/demo.js': bundle },
        }),
      async setUp(page) {
        const s = await setUp(page, v.cursors);
        if (v.bind && s.flat < chars) throw new Error(`the CRDT holds ${s.flat} positions, want at least ${chars}`);
        load = Math.max(load, s.loadMs);
      },
    });
    console.log(`${row(v.name, f)}  ${load.toFixed(0).padStart(5)}`);
  }
} finally {
  await browser.close();
  await server.stop();
}

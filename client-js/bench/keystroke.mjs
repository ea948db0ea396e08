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
// the next frame (up to 16.7 ms at 60 Hz); "work" is the main thread's part, without that wait
// (bench/keystroke-probe.js).
import { readFileSync } from 'node:fs';
import { startServer, launchBrowser, bundlePage, openPage } from '../test/e2e/harness.js';
import { numberArg, showRemoteCursors, installProbe, runVariant, header, row } from './keystroke-probe.js';

const chars = numberArg('chars', 100_000);
const keys = numberArg('keys', 60);
const runs = numberArg('runs', 3);
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] : '';
const baselineAt = process.argv.indexOf('--baseline');
const baseline = baselineAt >= 0 ? readFileSync(process.argv[baselineAt + 1], 'utf8') : null;

const cmBundle = await bundlePage('cm-page.js');

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
    },
    { chars, o },
  );
  await page.evaluate(showRemoteCursors, o.cursors);
  await page.evaluate(installProbe, 50);
  // The probe's hook. Its frame callback is asked for at the keydown, before the editor handles
  // the key and asks for its own: the probe's task is then the first after the frame's rendering,
  // and work a binding defers until after the paint (its flush) is not counted as the frame's.
  // The key's handling ends once its input is handled and the handlers' microtasks (where
  // CodeMirror's DOM observer runs) are done.
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    let end = 0;
    document.addEventListener(
      'keydown',
      (ev) => {
        end = 0;
        w.__frameProbe(ev.timeStamp, () => end);
      },
      true,
    );
    document.addEventListener('input', () => queueMicrotask(() => void (end = performance.now())));
  });
}

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
  header();
  for (const v of variants.filter((x) => x.name.includes(only))) {
    const f = await runVariant({
      ...v,
      runs,
      keys,
      async open(r) {
        /** @type {Record<string, string>} */
        const modules = {};
        if (v.old && baseline) modules['/src/bindings/textarea.js'] = baseline;
        if (v.editor === 'codemirror') modules['/demo.js'] = cmBundle;
        // The textarea demo is at ?editor=plain (the page at / is the rich editor).
        const url = `${server.url}/?${v.editor === 'textarea' ? 'editor=plain&' : ''}doc=kbench-${v.editor}-${Date.now()}-${r}`;
        return openPage(browser, url, { context: { viewport: { width: 1000, height: 800 } }, modules });
      },
      setUp: (page) => setUp(page, v),
    });
    console.log(row(v.name, f));
  }
} finally {
  await browser.close();
  await server.stop();
}

// Keystroke-to-screen time in the rich demo (src/bindings/richdom.js on a contenteditable element)
// on a formatted document of 100,000 characters in headless chromium against the real server: a
// document of 1,000 blocks (one heading in ten, the others paragraphs, a bold word in one block in
// three) is seeded over HTTP, the demo opened on it, the caret put in the middle, and keys typed.
// "work" is from a key's keydown to the end of the binding's handling of its beforeinput (the CRDT
// edit and the DOM update); "to screen" to the task after the next frame. Figures are the median,
// p95 and maximum over every key of every run.
//
//   node bench/rich-keystroke.mjs [--blocks 1000] [--keys 60] [--runs 3] [--baseline FILE]
//
// --baseline FILE adds a row for another version of src/bindings/richdom.js (served in its place),
// to measure a change against what it replaces in one session:
//   git show HEAD~1:client-js/src/bindings/richdom.js > /tmp/richdom-before.js
import { readFileSync } from 'node:fs';
import { startServer, launchBrowser } from '../test/e2e/harness.js';

const arg = (/** @type {string} */ name, /** @type {number} */ def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const nBlocks = arg('blocks', 1000);
const keys = arg('keys', 60);
const runs = arg('runs', 3);
const baselineAt = process.argv.indexOf('--baseline');
const baseline = baselineAt >= 0 ? readFileSync(process.argv[baselineAt + 1], 'utf8') : null;

const server = await startServer();
const browser = await launchBrowser();
/**
 * measure runs the benchmark with the binding's source replaced by source (null: as served).
 * @param {string | null} source
 * @param {string} name
 */
async function measure(source, name) {
  /** @type {{ work: number, screen: number }[]} */
  const samples = [];
  for (let run = 0; run < runs; run++) {
    const docId = `rich-bench-${name.replace(/[^a-z]/g, '')}-${run}`;
    /** @type {object[]} */
    const edits = [];
    let pos = 0;
    for (let i = 0; i < nBlocks; i++) {
      edits.push({ index: pos, embed: i % 10 === 0 ? { block: 'heading', level: 2 } : { block: 'paragraph' } });
      pos++;
      const line = `Line ${i} of the document, with words that wrap on a narrow screen `.padEnd(99, 'x');
      edits.push({ index: pos, insert: line });
      if (i % 3 === 0) edits.push({ index: pos, length: 4, format: { bold: true } });
      pos += 99;
    }
    for (let i = 0; i < edits.length; i += 500) {
      const r = await fetch(`${server.url}/v1/docs/${docId}/edits`, { method: 'POST', body: JSON.stringify({ root: 'body', edits: edits.slice(i, i + 500) }) });
      if (!r.ok) throw new Error(`seeding: ${r.status} ${await r.text()}`);
    }
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, serviceWorkers: 'block' });
    if (source !== null) await context.route('**/src/bindings/richdom.js', (r) => r.fulfill({ contentType: 'text/javascript', body: source }));
    const page = await context.newPage();
    await page.goto(`${server.url}/?doc=${docId}`);
    await page.waitForFunction(() => /** @type {any} */ (window).tandem?.provider.synced === true && /** @type {any} */ (window).tandem.binding, null, { timeout: 60_000 });
    await page.click('#rich-editor');
    await page.evaluate((mid) => {
      const w = /** @type {any} */ (window);
      w.tandem.binding.select(mid);
      const sel = document.getSelection();
      sel?.focusNode?.parentElement?.scrollIntoView({ block: 'center' });
      w.samples = [];
      let t0 = 0;
      let work = 0;
      document.addEventListener('keydown', () => {
        t0 = performance.now();
      }, true);
      // Registered after the binding's listener on the element: runs once it has handled the key.
      document.addEventListener('beforeinput', () => {
        work = performance.now() - t0;
        const start = t0;
        requestAnimationFrame(() => setTimeout(() => w.samples.push({ work, screen: performance.now() - start })));
      });
    }, Math.floor(pos / 2));
    for (let k = 0; k < keys; k++) {
      await page.keyboard.type('abcdefghij'[k % 10]);
      await page.waitForFunction((n) => /** @type {any} */ (window).samples.length >= n, k + 1);
    }
    samples.push(...(await page.evaluate(() => /** @type {any} */ (window).samples)));
    await page.context().close();
  }
  const stat = (/** @type {number[]} */ xs) => {
    xs.sort((a, b) => a - b);
    const q = (/** @type {number} */ p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(1);
    return `median ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${xs[xs.length - 1].toFixed(1)} ms`;
  };
  console.log(`${name}, ${nBlocks} blocks (${nBlocks * 100} positions), ${samples.length} keys`);
  console.log(`  work:      ${stat(samples.map((s) => s.work))}`);
  console.log(`  to screen: ${stat(samples.map((s) => s.screen))}`);
}

try {
  await measure(null, 'rich demo');
  if (baseline !== null) await measure(baseline, 'baseline');
} finally {
  await browser.close();
  await server.stop();
}

// Time from opening the demo page to a synced 100,000-character document, in headless chromium
// against the real server (built from ../cmd/tandem and run on 127.0.0.1).
//
//   node bench/sync-time.mjs [--chars 100000] [--runs 5]
//
// The document is made by simulated typing (insertions of 1 to 20 characters at random places,
// some deletions) so that it has the runs and tombstones of a real one, and posted to the server
// as one update. "cold" opens the page in a fresh browser context (nothing in IndexedDB); "warm"
// reloads it (the replica is in IndexedDB, and the sync sends only what is missing).
import { Doc } from '../src/crdt/index.js';
import { startServer, launchBrowser } from '../test/e2e/harness.js';

const arg = (/** @type {string} */ name, /** @type {number} */ def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const chars = arg('chars', 100_000);
const runs = arg('runs', 5);

/** makeDoc types a document of n code points with a seeded PRNG. */
function makeDoc(/** @type {number} */ n) {
  const doc = new Doc(1234567);
  const t = doc.text('body');
  let seed = 42;
  const rnd = (/** @type {number} */ k) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % k;
  };
  const words = ['lorem ', 'ipsum ', 'dolor ', 'sit ', 'amet, ', 'consectetur ', 'adipiscing ', 'elit. ', '\n'];
  let edits = 0;
  while (t.length < n) {
    const len = t.length;
    if (len > 100 && rnd(10) === 0) {
      t.delete(rnd(len - 10), 1 + rnd(8));
    } else {
      let s = '';
      for (let k = 1 + rnd(4); k > 0; k--) s += words[rnd(words.length)];
      s = s.slice(0, Math.min(s.length, n - len));
      t.insert(rnd(len + 1), s);
    }
    edits++;
  }
  return { update: doc.encodeUpdate(new Map()), snapshot: doc.encodeSnapshot(), edits };
}

const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const { update, snapshot, edits } = makeDoc(chars);
const server = await startServer({ args: ['--max-message-bytes', '16MiB'] });
const browser = await launchBrowser();
try {
  const docId = `bench-${chars}`;
  const r = await fetch(`${server.url}/v1/docs/${docId}/update`, { method: 'POST', body: update, headers: { 'content-type': 'application/octet-stream' } });
  if (!r.ok) throw new Error(`seeding failed: ${r.status} ${await r.text()}`);
  const info = await (await fetch(`${server.url}/v1/docs/${docId}`)).json();
  if (info.texts.body.length !== chars && [...info.texts.body].length !== chars) throw new Error('seeded document has the wrong length');

  /** measure opens (or reloads) the page and returns when the text was shown and when it was synced. */
  const measure = async (/** @type {import('playwright-core').Page} */ page, /** @type {boolean} */ reload) => {
    if (reload) await page.reload({ waitUntil: 'commit' });
    else await page.goto(`${server.url}/?doc=${docId}`, { waitUntil: 'commit' });
    await page.waitForFunction(() => /** @type {any} */ (window).__bench?.done, null, { timeout: 60_000, polling: 50 });
    return page.evaluate(() => /** @type {any} */ (window).__bench);
  };

  /** @type {{ shown: number, synced: number }[]} */
  const cold = [];
  /** @type {{ shown: number, synced: number }[]} */
  const warm = [];
  for (let i = 0; i < runs; i++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    // Watch from the first moment of every load (the script runs before the page's own).
    await page.addInitScript((n) => {
      const w = /** @type {any} */ (window);
      w.__bench = { shown: 0, synced: 0, done: false };
      const check = () => {
        const ta = /** @type {HTMLTextAreaElement | null} */ (document.querySelector('#editor'));
        const full = ta !== null && ta.value.length >= n; // ASCII text: UTF-16 length = code points
        if (!w.__bench.shown && full) w.__bench.shown = performance.now();
        if (!w.__bench.synced && full && w.tandem?.provider.synced) w.__bench.synced = performance.now();
        if (w.__bench.shown && w.__bench.synced) w.__bench.done = true;
        else setTimeout(check, 1);
      };
      check();
    }, chars);
    cold.push(/** @type {any} */ (await measure(page, false)));
    await page.evaluate(() => /** @type {any} */ (window).tandem.provider.whenStored());
    warm.push(/** @type {any} */ (await measure(page, true)));
    await ctx.close();
  }
  const f = (/** @type {number} */ ms) => `${ms.toFixed(0)} ms`;
  console.log(`document: ${chars} characters from ${edits} edits; update ${(update.length / 1024).toFixed(0)} KiB, snapshot ${(snapshot.length / 1024).toFixed(0)} KiB`);
  console.log(`runs: ${runs} (median; times from navigation start, chromium ${browser.version()})`);
  console.log(`cold (empty IndexedDB): text shown and synced ${f(median(cold.map((x) => x.synced)))} (min ${f(Math.min(...cold.map((x) => x.synced)))})`);
  console.log(`warm (reload, IndexedDB): text shown ${f(median(warm.map((x) => x.shown)))}, synced ${f(median(warm.map((x) => x.synced)))}`);
} finally {
  await browser.close();
  await server.stop();
}

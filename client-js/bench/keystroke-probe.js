// @ts-check
// What the keystroke-to-screen benches (keystroke.mjs, prosemirror-keystroke.mjs) measure with,
// and how they report it: remote editors' cursors put on screen around the middle of the
// document; the probe a page's keystrokes are timed with; the typing of the keys; the runs of one
// variant in fresh pages; and the table's columns.
//
// The probe (installProbe, in the page): a keydown's time stamp starts a key, and the bench's
// own hook, once the editor has handled the key's input, calls window.__frameProbe(start, end),
// where end() is when the editor's handling ended. Its animation frame callback forces style and
// layout; "work" is keydown to end() plus that frame's callbacks, style and layout (the main
// thread's part, without the wait for the frame); "to screen" is keydown to the task after the
// frame (which includes the wait for it, up to 16.7 ms at 60 Hz). Long tasks (over 50 ms) the
// browser reports while typing are counted.

/**
 * numberArg returns the number after --name on the command line, or def.
 * @param {string} name
 * @param {number} def
 */
export function numberArg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

/**
 * showRemoteCursors runs in the page: it puts count remote editors' cursors (Ada, Bob, Cy, Dee)
 * in the awareness of window.tandem.provider, every 250 characters from 300 before the middle of
 * the text's body, Bob's a selection of 30 characters.
 * @param {number} count
 */
export async function showRemoteCursors(count) {
  if (count === 0) return;
  const { provider } = /** @type {any} */ (window).tandem;
  const { encodeCursor } = await import(/** @type {string} */ ('/src/cursor.js'));
  const text = provider.doc.text('body');
  const mid = Math.floor(text.length / 2);
  const enc = new TextEncoder();
  const names = ['Ada', 'Bob', 'Cy', 'Dee'];
  const colors = ['#d62728', '#1f77b4', '#9467bd', '#8c564b'];
  const entries = [];
  for (let i = 0; i < count; i++) {
    const at = mid - 300 + i * 250;
    const cursor = encodeCursor(text, 'body', at, at + (i === 1 ? 30 : 0));
    const state = { user: { name: names[i], color: colors[i] }, cursor };
    entries.push({ clientId: 1000 + i, clock: 1, state: enc.encode(JSON.stringify(state)) });
  }
  provider.awareness.receive(entries);
}

/**
 * installProbe runs in the page: once a frame and then settleMs have passed (the set-up drawn),
 * it installs the probe (see the file's comment): window.__keyAt holds the latest keydown's time
 * stamp, window.__frameProbe(start, end) times one key, and window.__times, __work and __long
 * collect the figures.
 * @param {number} settleMs
 */
export async function installProbe(settleMs) {
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, settleMs)));
  const w = /** @type {any} */ (window);
  w.__times = [];
  w.__work = [];
  w.__long = 0;
  w.__keyAt = 0;
  new PerformanceObserver((l) => (w.__long += l.getEntries().length)).observe({ type: 'longtask', buffered: false });
  document.addEventListener('keydown', (ev) => void (w.__keyAt = ev.timeStamp), true);
  w.__frameProbe = (/** @type {number} */ start, /** @type {() => number} */ end) =>
    requestAnimationFrame((ts) => {
      document.documentElement.getBoundingClientRect();
      void (/** @type {HTMLElement} */ (document.body).offsetHeight);
      w.__work.push(end() - start + (performance.now() - ts));
      const ch = new MessageChannel();
      ch.port1.onmessage = () => w.__times.push(performance.now() - start);
      ch.port2.postMessage(null);
    });
}

/**
 * typeKeys types keys characters (an "a", a space every twelfth), each once the probe has timed
 * the one before, and returns the page's figures.
 * @param {import('playwright-core').Page} page
 * @param {number} keys
 */
export async function typeKeys(page, keys) {
  for (let i = 0; i < keys; i++) {
    await page.keyboard.press(i % 12 === 11 ? 'Space' : 'KeyA');
    await page.waitForFunction((n) => /** @type {any} */ (window).__times.length >= n, i + 1);
  }
  return page.evaluate(() => {
    const w = /** @type {any} */ (window);
    return { times: /** @type {number[]} */ (w.__times), work: /** @type {number[]} */ (w.__work), long: /** @type {number} */ (w.__long) };
  });
}

/**
 * @typedef {object} Figures every key's times over a variant's runs
 * @property {number[]} times keydown to screen, ms
 * @property {number[]} work the main thread's part, ms
 * @property {number} long long tasks
 */

/**
 * runVariant measures one variant: runs times, it opens a fresh page (open, which returns it
 * synced), sets it up (setUp, which installs the probe), types keys keys and checks that the
 * remote editors' carets are drawn (.tandem-caret); it closes the page's context after each run.
 * @param {{
 *   name: string,
 *   runs: number,
 *   keys: number,
 *   cursors: number,
 *   open: (run: number) => Promise<{ page: import('playwright-core').Page, context: import('playwright-core').BrowserContext }>,
 *   setUp: (page: import('playwright-core').Page) => Promise<void>,
 * }} v
 * @returns {Promise<Figures>}
 */
export async function runVariant(v) {
  /** @type {Figures} */
  const f = { times: [], work: [], long: 0 };
  for (let r = 0; r < v.runs; r++) {
    const { page, context } = await v.open(r);
    await v.setUp(page);
    const m = await typeKeys(page, v.keys);
    if (v.cursors > 0) {
      const shown = await page.evaluate(() => document.querySelectorAll('.tandem-caret').length);
      if (shown < v.cursors) throw new Error(`${v.name}: ${shown} remote carets drawn, want ${v.cursors}`);
    }
    if (process.env.KB_DEBUG) console.log(v.name, m.times.map((x) => x.toFixed(0)).join(' '), '\n work', m.work.map((x) => x.toFixed(0)).join(' '));
    f.times.push(...m.times);
    f.work.push(...m.work);
    f.long += m.long;
    await context.close();
  }
  return f;
}

/**
 * quantile returns the q-quantile of xs (the nearest rank at or below).
 * @param {number[]} xs
 * @param {number} q
 */
export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/**
 * header prints the table's two header lines; extra names the bench's own columns after them.
 * @param {string} [extra]
 */
export function header(extra = '') {
  console.log('                                 to screen             work (main thread)');
  console.log(`variant                        median    p95    max  median    p95    max  long tasks${extra}`);
}

/**
 * row returns a variant's line of the table: median, p95 and maximum to screen and of the work,
 * and the long tasks.
 * @param {string} name
 * @param {Figures} f
 */
export function row(name, f) {
  const n = (/** @type {number} */ x) => x.toFixed(1).padStart(6);
  const cols = (/** @type {number[]} */ xs) => `${n(quantile(xs, 0.5))} ${n(quantile(xs, 0.95))} ${n(Math.max(...xs))}`;
  return `${name.padEnd(30)} ${cols(f.times)}  ${cols(f.work)}  ${String(f.long).padStart(10)}`;
}

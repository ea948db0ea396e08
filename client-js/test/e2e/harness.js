// @ts-check
// Shared by the browser tests: build and run the real server on 127.0.0.1 with a free port and a
// temporary data file, launch Debian's chromium through playwright-core, and stop both by PID;
// open a demo page in a fresh context and wait until it has synced.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

export const clientDir = fileURLToPath(new URL('../..', import.meta.url));
export const repoDir = fileURLToPath(new URL('../../..', import.meta.url));
export const resultsDir = join(clientDir, 'test-results');

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** freePort asks the kernel for a free TCP port on 127.0.0.1. */
export function freePort() {
  return /** @type {Promise<number>} */ (
    new Promise((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const port = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(port));
      });
    })
  );
}

/**
 * startServer builds cmd/tandem and runs it; stop() ends it by PID (SIGTERM, then SIGKILL after
 * 10 s) and removes its files.
 * @param {{ args?: string[] }} [opts]
 */
export async function startServer(opts = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-e2e-'));
  const bin = join(dir, 'tandem');
  const build = spawnSync('go', ['build', '-o', bin, './cmd/tandem'], { cwd: repoDir, encoding: 'utf8', timeout: 300_000 });
  if (build.status !== 0) throw new Error(`go build failed: ${build.stderr || build.error}`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data', join(dir, 'data.db'), '--log-level', 'warn', ...(opts.args ?? [])], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (b) => (log += b));
  child.stderr.on('data', (b) => (log += b));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // Wait (bounded) until it answers.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}): ${log}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start within 20 s: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    pid: child.pid,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.pid) {
        process.kill(child.pid, 'SIGTERM');
        const t = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** launchBrowser starts chromium headless with the flags the CI machine needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * bundlePage bundles a test page's module (cm-page.js, pm-page.js: an editor on the demo page)
 * with its imports, for a route to serve in place of the demo's own module.
 * @param {string} name the module's file name in this folder
 */
export async function bundlePage(name) {
  const out = await build({
    entryPoints: [fileURLToPath(new URL(name, import.meta.url))],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

/**
 * @typedef {object} Session
 * @property {Awaited<ReturnType<typeof startServer>>} server
 * @property {import('playwright-core').Browser} browser
 * @property {string} bundle the bundle of opts.page, or ''
 */

/**
 * useSession gives a test file its server and browser: before the file's tests it bundles
 * opts.page (if given), starts the server (with opts.args) and launches chromium; after them it
 * closes both. The fields of the session it returns are set once the tests run.
 * @param {{ args?: string[], page?: string }} [opts]
 * @returns {Session}
 */
export function useSession(opts = {}) {
  const s = /** @type {Session} */ ({ bundle: '' });
  before(async () => {
    if (opts.page) s.bundle = await bundlePage(opts.page);
    s.server = await startServer({ args: opts.args });
    s.browser = await launchBrowser();
  });
  after(async () => {
    await s.browser?.close();
    await s.server?.stop();
  });
  return s;
}

/**
 * waitSynced waits (up to 15 s) until the demo page's provider has synced with the server and,
 * with binding, until the page has its editor binding.
 * @param {import('playwright-core').Page} page
 * @param {{ binding?: boolean }} [opts]
 */
export async function waitSynced(page, opts = {}) {
  await page.waitForFunction(
    (binding) => {
      const t = /** @type {any} */ (window).tandem;
      return t?.provider.synced === true && (!binding || Boolean(t.binding));
    },
    opts.binding ?? false,
    { timeout: 15_000 },
  );
}

/**
 * openPage opens url, a demo page of the server's, in a fresh browser context (its own storage,
 * like another person's browser) and waits until it has synced (waitSynced). The page's
 * uncaught errors collect in the errors it returns, and go to opts.onError too.
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {{
 *   context?: import('playwright-core').BrowserContextOptions,
 *   user?: { name: string, color: string },
 *   modules?: Record<string, string>,
 *   binding?: boolean,
 *   onError?: (message: string) => void,
 * }} [opts] context: the context's options; user: the name and colour the demo reads from
 *   localStorage; modules: sources served in place of the server's files, by path (a bundle of
 *   bundlePage's at /demo.js: another editor on the demo page); binding: wait for the editor
 *   binding too
 */
export async function openPage(browser, url, opts = {}) {
  const context = await browser.newContext(opts.context);
  if (opts.user) {
    await context.addInitScript(([n, c]) => {
      localStorage.setItem('tandem.name', n);
      localStorage.setItem('tandem.color', c);
    }, [opts.user.name, opts.user.color]);
  }
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => {
    errors.push(e.message);
    opts.onError?.(e.message);
  });
  for (const [path, body] of Object.entries(opts.modules ?? {})) {
    await page.route(`${new URL(url).origin}${path}`, (r) => r.fulfill({ contentType: 'text/javascript', body }));
  }
  await page.goto(url);
  await waitSynced(page, { binding: opts.binding });
  return { page, context, errors };
}

/** screenshotPath returns a path under client-js/test-results/ (created if needed). */
export function screenshotPath(/** @type {string} */ name) {
  mkdirSync(resultsDir, { recursive: true });
  return join(resultsDir, name);
}

/**
 * waitFor polls fn until it returns a truthy value (bounded).
 * @template T
 * @param {() => Promise<T> | T} fn
 * @param {{ timeoutMs?: number, what?: string }} [opts]
 * @returns {Promise<NonNullable<T>>}
 */
export async function waitFor(fn, opts = {}) {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  /** @type {unknown} */
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return /** @type {NonNullable<T>} */ (v);
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'a condition'} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * docText reads a document's Text root through the server's HTTP API.
 * @param {string} url
 * @param {string} docId
 * @param {string} [root]
 */
export async function serverText(url, docId, root = 'body') {
  const r = await fetch(`${url}/v1/docs/${encodeURIComponent(docId)}`);
  if (!r.ok) return null;
  const body = await r.json();
  const texts = body.texts ?? body.text ?? {};
  return typeof texts[root] === 'string' ? texts[root] : null;
}

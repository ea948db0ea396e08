// @ts-check
// Shared by the browser tests: build and run the real server on 127.0.0.1 with a free port and a
// temporary data file, launch Debian's chromium through playwright-core, and stop both by PID.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
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

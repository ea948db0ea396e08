// @ts-check
// What the demo tells its user, in chromium against the real server: the network going away
// (context.setOffline, not a cut socket), a connection that stops answering, refusals with their
// reasons, a document deleted under the editor, an invalid document name, and a reload with no
// network at all (the service worker's shell).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { useSession, startServer, waitFor, waitSynced, serverText } from './harness.js';

const session = useSession();
/** @type {Awaited<ReturnType<typeof startServer>>} a second server, which wants tokens */
let authServer;

before(async () => {
  authServer = await startServer({ args: ['--auth-secret', 'e2e-secret-e2e-secret-e2e-secret-0123'] });
});

after(async () => {
  await authServer?.stop();
});

/** @param {import('playwright-core').Page} page */
const statusLine = (page) => page.evaluate(() => ({ conn: document.getElementById('conn')?.textContent ?? '', save: document.getElementById('save')?.textContent ?? '' }));
/** @param {import('playwright-core').Page} page */
const notice = (page) => page.evaluate(() => {
  const n = /** @type {HTMLElement} */ (document.getElementById('notice'));
  return n.hidden ? '' : (n.textContent ?? '');
});
/** @param {import('playwright-core').Page} page */
const value = (page) => page.$eval('#editor', (el) => /** @type {HTMLTextAreaElement} */ (el).value);

test('the network goes away: offline at once, edits kept, saved only once the server has them', async () => {
  const docId = `net-${Date.now()}`;
  const ctxA = await session.browser.newContext();
  const a = await ctxA.newPage();
  await a.goto(`${session.server.url}/?editor=plain&doc=${docId}`);
  await waitSynced(a);
  const ctxB = await session.browser.newContext();
  const b = await ctxB.newPage();
  await b.goto(`${session.server.url}/?editor=plain&doc=${docId}`);
  await waitSynced(b);
  await a.click('#editor');
  await a.keyboard.type('before. ');
  await waitFor(async () => (await statusLine(a)).save === 'all changes saved' && (await value(b)) === 'before. ', { what: 'the first edit saved and shown in B' });

  await ctxA.setOffline(true);
  // The offline event: no wait for a ping.
  await waitFor(async () => (await statusLine(a)).conn === 'offline: no network', { what: 'A to say it has no network', timeoutMs: 2_000 });
  await a.keyboard.type('while offline.');
  assert.equal((await statusLine(a)).save, 'unsaved changes (kept offline)');
  await a.waitForTimeout(500);
  assert.equal(await value(b), 'before. ', 'nothing got through');

  await ctxA.setOffline(false);
  await waitSynced(a);
  await waitFor(async () => (await statusLine(a)).save === 'all changes saved', { what: 'A saved after coming back' });
  await waitFor(async () => (await value(b)) === 'before. while offline.', { what: 'B to get the offline edits' });
  assert.equal(await serverText(session.server.url, docId), 'before. while offline.');
  await ctxA.close();
  await ctxB.close();
});

test('a connection that stops answering under an unsaved edit is called lost on the fast ping schedule, never saved', async () => {
  const docId = `dead-${Date.now()}`;
  const ctx = await session.browser.newContext();
  const page = await ctx.newPage();
  // A network that silently stops delivering (no offline event, no close): what reaches the
  // page from the server is swallowed once `dead` is set.
  let dead = false;
  await page.routeWebSocket(/\/v1\/docs\/.*\/ws/, (ws) => {
    const up = ws.connectToServer();
    up.onMessage((m) => {
      if (!dead) ws.send(m);
    });
    ws.onMessage((m) => {
      if (!dead) up.send(m);
    });
  });
  await page.goto(`${session.server.url}/?editor=plain&doc=${docId}`);
  await waitSynced(page);
  // Every text the status line shows, in order: "connection lost" may stand only until the first
  // retry (a fraction of a second), shorter than a poll from here on a loaded machine.
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    const conn = /** @type {HTMLElement} */ (document.getElementById('conn'));
    const save = /** @type {HTMLElement} */ (document.getElementById('save'));
    w.connShown = [];
    w.saveShown = [];
    new MutationObserver(() => w.connShown.push(conn.textContent)).observe(conn, { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => w.saveShown.push(save.textContent)).observe(save, { childList: true, characterData: true, subtree: true });
  });
  await page.click('#editor');
  dead = true;
  await page.keyboard.type('x');
  assert.equal((await statusLine(page)).save, 'saving…');
  // The unsaved schedule finds it in about 4 s (1 s + 3 s); the idle one would take 30 s, past
  // this bound.
  const shown = () => page.evaluate(() => ({ conn: /** @type {string[]} */ (/** @type {any} */ (window).connShown), save: /** @type {string[]} */ (/** @type {any} */ (window).saveShown) }));
  await waitFor(async () => (await shown()).conn.some((t) => /^connection lost/.test(t)), { what: '"connection lost"', timeoutMs: 15_000 });
  const { save } = await shown();
  assert.ok(save.includes('unsaved changes (kept offline)'), `the edit shown as kept offline (${JSON.stringify(save)})`);
  assert.ok(!save.includes('all changes saved'), `never "saved" (${JSON.stringify(save)})`);
  assert.notEqual((await statusLine(page)).save, 'all changes saved', 'never "saved"');
  await ctx.close();
});

/**
 * routeAccess answers the access endpoint as the contract says when the server under test does
 * not serve it yet (its JSON carries `ok`); returns whether it stubbed.
 * @param {import('playwright-core').Page} page
 * @param {string} base
 * @param {(token: string | null) => any} answer
 */
async function routeAccess(page, base, answer) {
  const probe = await fetch(`${base}/v1/docs/probe/access`).catch(() => null);
  const real = probe?.headers.get('content-type')?.includes('json') && typeof (await probe.json().catch(() => ({}))).ok === 'boolean';
  if (real) return false;
  await page.route(/\/v1\/docs\/[^/]+\/access/, (route) => {
    const token = new URL(route.request().url()).searchParams.get('token');
    const body = answer(token);
    route.fulfill({ status: body.ok ? 200 : body.code - 4000, contentType: 'application/json', headers: { 'access-control-allow-origin': '*' }, body: JSON.stringify(body) });
  });
  return true;
}

test('a refused upgrade is explained: no retries, the cause on the page', async (t) => {
  const ctx = await session.browser.newContext();
  const page = await ctx.newPage();
  const stubbed = await routeAccess(page, authServer.url, (token) =>
    token ? { ok: false, code: 4401, error: 'invalid token' } : { ok: false, code: 4401, error: 'no token' },
  );
  if (stubbed) t.diagnostic('the server has no access endpoint: answered as the contract says');
  /** @type {string[]} */
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(`${authServer.url}/?editor=plain&doc=locked`);
  await waitFor(async () => (await statusLine(page)).conn.startsWith('refused (4401'), { what: 'the refusal in the status line' });
  assert.match(await notice(page), /access token/);
  assert.match(await notice(page), /\(4401: .+\)/, 'with the server\'s reason');
  const n = sockets.length;
  await page.waitForTimeout(1_500);
  assert.equal(sockets.length, n, 'no more attempts after a terminal refusal');
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).tandem.provider.refusal.cause), 'unauthorized');
  await ctx.close();
});

test('a document deleted under the editor: read-only, said so, nothing pretends to be kept', async () => {
  const docId = `del-${Date.now()}`;
  const ctx = await session.browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${session.server.url}/?editor=plain&doc=${docId}`);
  await waitSynced(page);
  await page.click('#editor');
  await page.keyboard.type('soon gone');
  await waitFor(async () => (await statusLine(page)).save === 'all changes saved', { what: 'saved' });
  const res = await fetch(`${session.server.url}/v1/docs/${docId}`, { method: 'DELETE' });
  assert.ok(res.ok, `DELETE answered ${res.status}`);
  await waitFor(() => page.$eval('#editor', (el) => /** @type {HTMLTextAreaElement} */ (el).readOnly), { what: 'the editor read-only' });
  assert.match(await notice(page), /deleted/);
  assert.equal((await statusLine(page)).save, 'nothing is saved: document deleted');
  await page.keyboard.type('typed after');
  assert.equal(await value(page), 'soon gone', 'a read-only editor takes no typing');
  await ctx.close();
});

test('an invalid ?doc= shows an error and opens nothing', async () => {
  const ctx = await session.browser.newContext();
  const page = await ctx.newPage();
  /** @type {string[]} */
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${session.server.url}/?editor=plain&doc=${encodeURIComponent('no such/name')}`);
  await waitFor(async () => (await notice(page)).includes('is not a document name'), { what: 'the error' });
  await page.waitForTimeout(300);
  assert.deepEqual(sockets, [], 'no document opened (notes least of all)');
  assert.equal(await page.$eval('#editor', (el) => /** @type {HTMLTextAreaElement} */ (el).disabled), true);
  assert.equal(new URL(page.url()).searchParams.get('doc'), 'no such/name', 'the URL is left as typed');
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('after a first visit, the demo reloads with no network and shows the offline copy', async () => {
  const docId = `shell-${Date.now()}`;
  const ctx = await session.browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${session.server.url}/?editor=plain&doc=${docId}`);
  await waitSynced(page);
  await page.evaluate(() => navigator.serviceWorker.ready);
  await waitFor(() => page.evaluate(async () => (await caches.keys()).length > 0 && (await (await caches.open((await caches.keys())[0])).keys()).length > 20), {
    what: 'the shell cached',
  });
  await page.click('#editor');
  await page.keyboard.type('kept for later');
  await waitFor(async () => (await statusLine(page)).save === 'all changes saved', { what: 'saved' });
  // "Saved" is the server's word; the offline copy is written on its own schedule.
  await page.evaluate(() => /** @type {any} */ (window).tandem.provider.whenStored());

  await ctx.setOffline(true);
  await page.reload();
  await waitFor(async () => (await value(page)) === 'kept for later', { what: 'the offline copy in the reloaded editor' });
  assert.equal((await statusLine(page)).conn, 'offline: no network');
  await page.click('#editor');
  await page.keyboard.press('End');
  await page.keyboard.type('!');
  assert.equal((await statusLine(page)).save, 'unsaved changes (kept offline)');
  await ctx.setOffline(false);
  await waitFor(async () => (await serverText(session.server.url, docId)) === 'kept for later!', { what: 'the offline edit to reach the server' });
  await ctx.close();
});

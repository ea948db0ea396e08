// @ts-check
// One page loses its connection, edits, reloads while still offline (its edits come back from
// IndexedDB), edits again, comes back online; both pages and the server end identical, every edit
// present exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useSession, waitFor, waitSynced, serverText, screenshotPath } from './harness.js';

const session = useSession();

/** @param {import('playwright-core').Page} page */
const value = (page) => page.$eval('#editor', (el) => /** @type {HTMLTextAreaElement} */ (el).value);

/**
 * count returns how many times needle occurs in s.
 * @param {string} s
 * @param {string} needle
 */
const count = (s, needle) => s.split(needle).length - 1;

test('offline edits survive a reload and sync exactly once when back online', async () => {
  const docId = `offline-${Date.now()}`;
  const url = `${session.server.url}/?editor=plain&doc=${docId}`;

  // Page A's WebSockets go through a switch: online, they reach the server; offline, every socket
  // is cut and new ones are refused, as when the network is gone.
  const contextA = await session.browser.newContext();
  const pageA = await contextA.newPage();
  let online = true;
  /** @type {import('playwright-core').WebSocketRoute[]} both ends of every connection */
  const routed = [];
  let refused = 0;
  await pageA.routeWebSocket(/\/v1\/docs\/.*\/ws/, (ws) => {
    if (!online) {
      refused++;
      ws.close({ code: 4000, reason: 'network down' });
      return;
    }
    const upstream = ws.connectToServer();
    routed.push(ws, upstream);
  });
  await pageA.goto(url);
  await waitSynced(pageA);
  const contextB = await session.browser.newContext();
  const pageB = await contextB.newPage();
  await pageB.goto(url);
  await waitSynced(pageB);

  await pageA.click('#editor');
  await pageA.keyboard.type('shared start. ');
  await waitFor(async () => (await value(pageB)) === 'shared start. ', { what: 'the first sync' });
  await waitFor(() => pageB.evaluate(() => document.querySelector('.tandem-caret') !== null), { what: "A's caret in B's page" });

  // Offline.
  online = false;
  // (Code 4000: a browser's WebSocket.close accepts only 1000 and 3000-4999, and the upstream end
  // is a real WebSocket of the page.)
  for (const ws of routed.splice(0)) await ws.close({ code: 4000, reason: 'network down' });
  await waitFor(() => pageA.evaluate(() => /** @type {any} */ (window).tandem.provider.status === 'offline'), { what: 'page A offline' });
  // A's page is still open (no pagehide), so only the server can tell B that A left: no ghost.
  const aId = await pageA.evaluate(() => /** @type {any} */ (window).tandem.provider.clientId);
  await waitFor(() => pageB.evaluate((id) => document.querySelector(`.tandem-caret[data-client-id="${id}"]`) === null, aId), {
    what: "A's caret to leave B's page after A's connection dropped",
    timeoutMs: 5_000,
  });
  await pageA.keyboard.press('Control+End');
  await pageA.keyboard.type('offline one ✈️. ');
  await pageB.click('#editor');
  await pageB.keyboard.press('Control+End');
  await pageB.keyboard.type('B while A is away. ');
  await waitFor(async () => (await serverText(session.server.url, docId))?.includes('B while A is away. '), { what: "B's edit on the server" });
  const serverMeanwhile = await serverText(session.server.url, docId);
  assert.ok(!serverMeanwhile?.includes('offline one'), 'the server has not seen the offline edit: A really is offline');
  assert.ok(!(await value(pageA)).includes('B while A is away'), 'A has not seen B either');
  assert.equal(await pageA.textContent('#save'), 'unsaved changes (kept offline)');

  // Reload while still offline: the edit comes back from IndexedDB.
  await pageA.evaluate(() => /** @type {any} */ (window).tandem.provider.whenStored());
  await pageA.reload();
  await pageA.waitForFunction(() => /** @type {any} */ (window).tandem?.binding !== undefined, null, { timeout: 15_000 });
  assert.equal(await value(pageA), 'shared start. offline one ✈️. ', 'offline edit restored from IndexedDB after reload');
  await waitFor(() => pageA.evaluate(() => /** @type {any} */ (window).tandem.provider.status === 'offline'), { what: 'still offline after reload' });
  assert.ok(refused > 0, 'the reloaded page tried to connect and was refused');
  await pageA.screenshot({ path: screenshotPath('offline-after-reload.png') });
  await pageA.click('#editor');
  await pageA.keyboard.press('Control+End');
  await pageA.keyboard.type('offline two 😀.');

  // Back online: the browser says so (as it does when the network returns).
  online = true;
  await pageA.evaluate(() => window.dispatchEvent(new Event('online')));
  await waitSynced(pageA);
  const final = await waitFor(async () => {
    const [va, vb, vs] = await Promise.all([value(pageA), value(pageB), serverText(session.server.url, docId)]);
    return va === vb && vb === vs && va.includes('offline two 😀.') && va.includes('B while A is away. ') ? va : null;
  }, { what: 'A, B and the server to converge', timeoutMs: 20_000 });
  for (const part of ['shared start. ', 'offline one ✈️. ', 'B while A is away. ', 'offline two 😀.']) {
    assert.equal(count(final, part), 1, `${JSON.stringify(part)} appears once in ${JSON.stringify(final)}`);
  }
  await waitFor(() => pageA.evaluate(() => /** @type {any} */ (window).tandem.provider.saved), { what: 'A saved' });
  assert.equal(await pageA.textContent('#save'), 'all changes saved');

  // Opening an unchanged document writes nothing to IndexedDB (it must not grow on every open).
  const stats = () => pageA.evaluate(() => /** @type {any} */ (window).tandem.provider.storageStats());
  const before = await stats();
  for (let i = 0; i < 3; i++) {
    await pageA.reload();
    await waitSynced(pageA);
    await waitFor(async () => (await value(pageA)) === final, { what: 'the text after reload' });
  }
  assert.deepEqual(await stats(), before, 'three reloads left the offline store as it was');
  await contextA.close();
  await contextB.close();
});

test('what a tab edits while it cannot reach the server gets there through another tab of the browser', async () => {
  const docId = `tabs-${Date.now()}`;
  const url = `${session.server.url}/?editor=plain&doc=${docId}`;
  const context = await session.browser.newContext();
  const one = await context.newPage();
  await one.goto(url);
  await waitSynced(one);
  await one.click('#editor');
  await one.keyboard.type('shared. ');
  // The second tab's sockets are refused (its network path is broken; the first tab's is fine).
  const two = await context.newPage();
  await two.routeWebSocket(/\/v1\/docs\/.*\/ws/, (ws) => ws.close({ code: 4000, reason: 'unreachable' }));
  await two.goto(url);
  await two.waitForFunction(() => /** @type {any} */ (window).tandem?.binding !== undefined, null, { timeout: 15_000 });
  await waitFor(async () => (await value(two)) === 'shared. ', { what: 'the second tab to show the stored text' });
  await two.click('#editor');
  await two.keyboard.press('Control+End');
  await two.keyboard.type('from the cut-off tab.');
  await two.evaluate(() => /** @type {any} */ (window).tandem.provider.whenStored());
  await two.close({ runBeforeUnload: true });
  const want = 'shared. from the cut-off tab.';
  await waitFor(async () => (await value(one)) === want && (await serverText(session.server.url, docId)) === want, {
    what: "the closed tab's edit in the open tab and on the server",
  });
  await waitFor(() => one.evaluate(() => /** @type {any} */ (window).tandem.provider.saved), { what: 'saved' });
  await context.close();
});

// @ts-check
// The CodeMirror binding co-edits with a textarea page through the real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useSession, openPage, waitFor, serverText, screenshotPath } from './harness.js';

const session = useSession({ page: 'cm-page.js' });

/** @param {import('playwright-core').Page} p */
const cmText = (p) => p.evaluate(() => /** @type {any} */ (window).tandem.view.state.doc.toString());
/** @param {import('playwright-core').Page} p */
const taText = (p) => p.$eval('#editor', (el) => /** @type {HTMLTextAreaElement} */ (el).value);

test('the CodeMirror binding co-edits with a textarea page', async () => {
  const docId = `cm-${Date.now()}`;
  const { page: ta, context: ctxA } = await openPage(session.browser, `${session.server.url}/?editor=plain&doc=${docId}`);
  // The demo page, with its module swapped for the CodeMirror one.
  const { page: cm, context: ctxB, errors } = await openPage(session.browser, `${session.server.url}/?doc=${docId}`, { modules: { '/demo.js': session.bundle } });

  // Textarea -> CodeMirror.
  await ta.click('#editor');
  await ta.keyboard.type('from the textarea. ');
  await waitFor(async () => (await cmText(cm)) === 'from the textarea. ', { what: 'textarea text in CodeMirror' });

  // CodeMirror -> textarea, with emoji.
  await cm.click('.cm-content');
  await cm.keyboard.press('Control+End');
  await cm.keyboard.type('From CodeMirror 😀👍🏽!');
  const want = 'from the textarea. From CodeMirror 😀👍🏽!';
  await waitFor(async () => (await taText(ta)) === want, { what: 'CodeMirror text in the textarea' });
  assert.equal(await cmText(cm), want);
  await waitFor(async () => (await serverText(session.server.url, docId)) === want, { what: 'the server' });

  // Concurrent typing in both, around the emoji.
  await ta.keyboard.press('Control+End');
  await Promise.all([ta.keyboard.type(' [ta]'), cm.keyboard.type(' [cm]')]);
  const both = await waitFor(async () => {
    const [a, b] = await Promise.all([taText(ta), cmText(cm)]);
    return a === b && a.length === want.length + 10 ? a : null;
  }, { what: 'convergence after concurrent typing' });
  assert.ok(both.startsWith(want));

  // Cursors both ways: the textarea user's caret is drawn in CodeMirror and vice versa.
  await ta.$eval('#editor', (el) => {
    const t = /** @type {HTMLTextAreaElement} */ (el);
    t.focus();
    t.setSelectionRange(4, 4);
    t.dispatchEvent(new Event('select'));
  });
  const taId = await ta.evaluate(() => /** @type {any} */ (window).tandem.provider.clientId);
  await waitFor(() => cm.evaluate((id) => document.querySelector(`.cm-editor .tandem-caret[data-client-id="${id}"]`) !== null, taId), {
    what: "the textarea user's caret in CodeMirror",
  });
  // Its name label shows (on the first line, below the caret, inside the editor).
  const label = await cm.evaluate((id) => {
    const el = /** @type {HTMLElement} */ (document.querySelector(`.cm-editor .tandem-caret[data-client-id="${id}"] .tandem-caret-label`));
    const r = el.getBoundingClientRect();
    const box = /** @type {HTMLElement} */ (document.querySelector('.cm-scroller')).getBoundingClientRect();
    return { height: r.height, inside: r.top >= box.top && r.bottom <= box.bottom && r.left >= box.left && r.right <= box.right };
  }, taId);
  assert.ok(label.height > 10 && label.inside, `the caret's label is visible: ${JSON.stringify(label)}`);
  const cmId = await cm.evaluate(() => /** @type {any} */ (window).tandem.provider.clientId);
  const cmCaret = await waitFor(
    () => ta.evaluate((id) => document.querySelector(`.tandem-caret[data-client-id="${id}"]`)?.textContent?.replace('\u2060', '') ?? null, cmId),
    { what: "the CodeMirror user's caret in the textarea page" },
  );
  assert.equal(cmCaret, 'Cleo');

  // Undo in CodeMirror reverts the CodeMirror user's latest typing only.
  await cm.click('.cm-content');
  await cm.keyboard.press('Control+End');
  await cm.waitForTimeout(600);
  await cm.keyboard.type(' tail');
  await waitFor(async () => (await taText(ta)).endsWith(' tail'), { what: 'tail' });
  await cm.keyboard.press('Control+z');
  await waitFor(async () => (await taText(ta)) === both, { what: 'undo from CodeMirror' });
  assert.equal(await cmText(cm), both);
  await cm.screenshot({ path: screenshotPath('codemirror.png') });

  // An edit from code (provider.transact) shows in the editor, and typing goes on from there.
  await cm.evaluate(() => {
    const { provider } = /** @type {any} */ (window).tandem;
    provider.transact(() => provider.doc.text('body').insert(0, '» '));
  });
  await waitFor(async () => (await cmText(cm)) === `» ${both}`, { what: 'the edit from code in CodeMirror' });
  await cm.keyboard.press('Control+End');
  await cm.keyboard.type('.');
  await waitFor(async () => (await taText(ta)) === `» ${both}.`, { what: 'typing after the edit from code' });
  assert.equal(await cmText(cm), `» ${both}.`);

  // Destroying the editor withdraws its cursor from the other page.
  await cm.evaluate(() => /** @type {any} */ (window).tandem.view.destroy());
  await waitFor(() => ta.evaluate((id) => document.querySelector(`.tandem-caret[data-client-id="${id}"]`) === null, cmId), {
    what: "the destroyed editor's caret to leave the textarea page",
    timeoutMs: 5_000,
  });
  assert.deepEqual(errors, [], 'no page errors');
  await ctxA.close();
  await ctxB.close();
});

test('CodeMirror turns read-only when the document is deleted under it', async () => {
  const docId = `cm-del-${Date.now()}`;
  const { page: cm, context: ctx } = await openPage(session.browser, `${session.server.url}/?doc=${docId}`, {
    context: { serviceWorkers: 'block' },
    modules: { '/demo.js': session.bundle },
  });
  await cm.click('.cm-content');
  await cm.keyboard.type('soon gone');
  await waitFor(async () => (await serverText(session.server.url, docId)) === 'soon gone', { what: 'the text on the server' });
  const res = await fetch(`${session.server.url}/v1/docs/${docId}`, { method: 'DELETE' });
  assert.ok(res.ok, `DELETE answered ${res.status}`);
  await waitFor(() => cm.evaluate(() => /** @type {any} */ (window).tandem.view.state.readOnly === true), { what: 'a read-only editor' });
  assert.equal(await cm.$eval('.cm-content', (el) => el.getAttribute('contenteditable')), 'false');
  await cm.keyboard.type('more');
  assert.equal(await cmText(cm), 'soon gone', 'no typing into a deleted document');
  await ctx.close();
});

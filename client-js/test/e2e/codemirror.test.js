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

test('CodeMirror: typing is stored and sent after its frame, one update a frame; undo, code and pagehide flush at once; another binding\'s typing shows', async () => {
  const docId = `cm-frame-${Date.now()}`;
  const { page: cm, context: ctx, errors } = await openPage(session.browser, `${session.server.url}/?doc=${docId}`, { modules: { '/demo.js': session.bundle } });
  const r = await cm.evaluate(async () => {
    const { view, provider, binding } = /** @type {any} */ (window).tandem;
    /** @type {(boolean | undefined)[]} */
    const locals = [];
    provider.on('local', (/** @type {any} */ e) => locals.push(e.deferred));
    const frame = async () => {
      for (let i = 0; i < 100 && provider.flushPending; i++) await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    };
    const type = (/** @type {string} */ s) => view.dispatch(view.state.replaceSelection(s), { userEvent: 'input.type' });
    const before = (await provider.storageStats()).logEntries;
    // Two keystrokes in one frame.
    type('a');
    type('b');
    const typed = { text: provider.doc.text('body').toString(), pending: provider.flushPending, saved: provider.saved, locals: locals.length };
    await frame();
    await provider.whenStored();
    const appended = (await provider.storageStats()).logEntries - before;
    const afterFrame = [...locals];
    // Undo, a dispatch from code without a user event, and an edit from code: at once.
    binding.undo(view);
    const undo = { pending: provider.flushPending, text: provider.doc.text('body').toString(), locals: locals.length };
    view.dispatch({ changes: { from: 0, insert: '>' }, selection: { anchor: 1 } });
    const dispatched = { pending: provider.flushPending, locals: locals.length };
    type('c');
    const pendingC = provider.flushPending;
    provider.transact(() => provider.doc.text('body').insert(0, '» '));
    const code = { pending: provider.flushPending, editor: view.state.doc.toString(), locals: locals.slice(-1) };
    type('d');
    const pendingD = provider.flushPending;
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }));
    window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }));
    const afterHide = provider.flushPending;
    // Another binding's keystroke on the same provider shows once its frame is painted.
    provider.doc.text('body').insert(0, '~');
    provider.scheduleFlush();
    await frame();
    const other = view.state.doc.toString();
    return { typed, appended, afterFrame, undo, dispatched, pendingC, code, pendingD, afterHide, other, text: provider.doc.text('body').toString() };
  });
  assert.deepEqual(r.typed, { text: 'ab', pending: true, saved: false, locals: 0 }, 'in the document at once, unsaved, flushed later');
  assert.equal(r.appended, 1, 'one store append for the keystrokes of a frame');
  assert.deepEqual(r.afterFrame, [true], 'one flush, the scheduled one');
  assert.deepEqual(r.undo, { pending: false, text: '', locals: 2 }, 'undo flushed at once');
  assert.deepEqual(r.dispatched, { pending: false, locals: 3 }, 'a transaction from code without a user event flushed at once');
  assert.equal(r.pendingC, true);
  assert.deepEqual(r.code, { pending: false, editor: '» >c', locals: [undefined] }, 'an edit from code ran the waiting flush and shows in the editor');
  assert.equal(r.pendingD, true);
  assert.equal(r.afterHide, false, 'pagehide ran the waiting flush');
  assert.equal(r.other, '~» >cd', "another binding's keystroke on the provider shows in the editor");
  await waitFor(async () => (await serverText(session.server.url, docId)) === '~» >cd', { what: 'every keystroke on the server' });
  assert.equal(r.text, '~» >cd');
  assert.deepEqual(errors, []);
  await ctx.close();
});

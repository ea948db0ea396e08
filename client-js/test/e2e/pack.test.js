// @ts-check
// The package as a user gets it: `npm pack` (which generates the type declarations), the tarball
// installed into a scratch app in a temporary folder, the app type-checked against the
// declarations, bundled with esbuild (one copy of CodeMirror: the editors are peer dependencies)
// and run in chromium against the real server. Nothing is fetched: the tarball has no
// dependencies (npm install --offline), and CodeMirror is linked from this package's own
// development install, as an app's own copy would be.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { useSession, waitFor, waitSynced, serverText, clientDir } from './harness.js';

const session = useSession();
const tmp = mkdtempSync(join(tmpdir(), 'tandem-pack-'));

after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/**
 * run runs a command and returns its stdout; it fails the test with its output otherwise.
 * @param {string} cmd
 * @param {string[]} args
 * @param {string} cwd
 */
function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}\n${r.error ?? ''}`);
  return r.stdout;
}

const appSource = `
import { Provider, TextareaBinding } from '@tandem/client';
import { codemirrorBinding } from '@tandem/client/bindings/codemirror';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';

const docId = new URLSearchParams(location.search).get('doc');
const host = document.querySelector('.editor');
host.replaceChildren();
const ta = document.createElement('textarea');
ta.id = 'packed-textarea';
const cmHost = document.createElement('div');
host.append(ta, cmHost);
const provider = new Provider({ url: location.origin, docId, storage: false });
await provider.ready;
new TextareaBinding(ta, provider);
const { extension } = codemirrorBinding(provider);
const view = new EditorView({ parent: cmHost, state: EditorState.create({ doc: provider.doc.text('body').toString(), extensions: [extension] }) });
window.tandem = { provider, view };
`;

const checkSource = `
import { Provider, CloseCode, type Doc } from '@tandem/client';
import { codemirrorBinding } from '@tandem/client/bindings/codemirror';
import { TextareaBinding } from '@tandem/client/bindings/textarea';

const p = new Provider({ url: 'https://example.com', docId: 'notes', connect: false, storage: false, getToken: async () => 'token' });
const status: 'connecting' | 'connected' | 'offline' | 'error' = p.status;
const doc: Doc = p.doc;
p.on('refused', (ev) => {
  const cause: 'invalid-document' | 'unauthorized' | 'forbidden' | 'deleted' | 'unsupported-version' | 'too-large' = ev.cause;
  const code: number = ev.code;
  void cause, code;
});
p.on('status', (ev) => void ev.retryInMs);
const deleted: boolean = p.deleted;
const n: number = CloseCode.DOCUMENT_DELETED;
const { extension } = codemirrorBinding(p);
declare const ta: HTMLTextAreaElement;
new TextareaBinding(ta, p).destroy();
// @ts-expect-error docId is required
new Provider({ url: 'https://example.com' });
// @ts-expect-error no such event
p.on('no-such-event', () => {});
void status, doc, deleted, n, extension;
`;

test('npm pack, install the tarball into a scratch app, type-check, bundle with esbuild, run in chromium', async () => {
  // Some npm versions print the prepack script's banner on stdout before the JSON.
  const packOut = run('npm', ['pack', '--json', '--pack-destination', tmp], clientDir);
  const packed = JSON.parse(packOut.slice(packOut.search(/^\[/m)));
  const files = /** @type {{ path: string }[]} */ (packed[0].files).map((f) => f.path);
  for (const want of ['package.json', 'README.md', 'src/index.js', 'src/provider.js', 'src/bindings/codemirror.js', 'types/index.d.ts', 'types/provider.d.ts', 'types/bindings/codemirror.d.ts', 'src/bindings/prosemirror.js', 'src/bindings/prosemirror-mapping.js', 'src/bindings/tiptap.js', 'src/richundo.js', 'types/bindings/prosemirror.d.ts', 'types/bindings/tiptap.d.ts', 'types/richundo.d.ts']) {
    assert.ok(files.includes(want), `${want} is in the package (files: ${files.join(' ')})`);
  }
  assert.deepEqual(files.filter((f) => /\.test\.js$|testdata|^test\/|^bench\/|^demo\/|node_modules/.test(f)), [], 'no tests, test data, demo or benchmarks');

  const app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }));
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(tmp, packed[0].filename)], app);
  // The app's own CodeMirror (linked from this package's development install).
  mkdirSync(join(app, 'node_modules', '@codemirror'), { recursive: true });
  for (const name of ['state', 'view']) symlinkSync(join(clientDir, 'node_modules', '@codemirror', name), join(app, 'node_modules', '@codemirror', name), 'dir');

  // The declarations serve a TypeScript app under strict settings, without node's types.
  writeFileSync(join(app, 'check.ts'), checkSource);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2023', 'dom', 'dom.iterable'], types: [], skipLibCheck: false }, files: ['check.ts'] }),
  );
  run(process.execPath, [join(clientDir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app);

  writeFileSync(join(app, 'app.js'), appSource);
  const out = await build({ absWorkingDir: app, entryPoints: ['app.js'], bundle: true, format: 'esm', target: 'es2022', write: false, metafile: true, logLevel: 'silent' });
  const inputs = Object.keys(out.metafile.inputs);
  const installed = realpathSync(join(app, 'node_modules', '@tandem', 'client'));
  assert.ok(
    inputs.some((p) => realpathSync(join(app, p)).startsWith(installed)),
    'the client comes from the installed tarball',
  );
  assert.ok(!inputs.some((p) => realpathSync(join(app, p)).startsWith(join(clientDir, 'src'))), 'not from the source folder');
  const stateCopies = new Set(inputs.filter((p) => /@codemirror\/state\/dist\/index\.js$/.test(p)).map((p) => realpathSync(join(app, p))));
  assert.equal(stateCopies.size, 1, `one copy of @codemirror/state: ${[...stateCopies].join(', ')}`);

  // The bundle runs on the server's page in place of the demo's module.
  const bundle = out.outputFiles[0].text;
  const docId = `packed-${Date.now()}`;
  const ctx = await session.browser.newContext({ serviceWorkers: 'block' });
  const page = await ctx.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.route(`${session.server.url}/demo.js`, (r) => r.fulfill({ contentType: 'text/javascript', body: bundle }));
  await page.goto(`${session.server.url}/?doc=${docId}`);
  await waitSynced(page);
  await page.click('.cm-content');
  await page.keyboard.type('from the packed client');
  await waitFor(async () => (await page.$eval('#packed-textarea', (el) => /** @type {HTMLTextAreaElement} */ (el).value)) === 'from the packed client', {
    what: 'CodeMirror typing shown in the textarea',
  });
  await waitFor(async () => (await serverText(session.server.url, docId)) === 'from the packed client', { what: 'the text on the server' });
  assert.deepEqual(errors, []);
  await ctx.close();
});

// Bundle size of the client's core (CRDT + protocol + provider, with its offline store and
// awareness), minified with esbuild and gzipped, next to yjs + y-websocket bundled the same way.
//
//   node bench/bundle-size.mjs            # installs yjs and y-websocket into a scratch folder
//   node bench/bundle-size.mjs --no-yjs   # our bundle only
//
// The comparison packages go to a folder under the system's temp directory, never into this
// package's dependencies.
import { build } from 'esbuild';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../src/', import.meta.url));
const withYjs = !process.argv.includes('--no-yjs');

/**
 * measure bundles the entry (its source given as a string, resolved from resolveDir) and returns
 * the minified, gzipped and brotli sizes.
 * @param {string} contents
 * @param {string} resolveDir
 */
async function measure(contents, resolveDir) {
  const out = await build({
    stdin: { contents, resolveDir, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
    nodePaths: [join(resolveDir, 'node_modules')],
  });
  const bytes = out.outputFiles[0].contents;
  return { min: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, brotli: brotliCompressSync(bytes).length };
}

const kib = (/** @type {number} */ n) => `${(n / 1024).toFixed(1)} KiB`;
/** @type {[string, { min: number, gzip: number, brotli: number }][]} */
const rows = [];

rows.push([
  'tandem core (crdt + protocol + provider)',
  await measure(`export { Provider } from './provider.js'; export * from './crdt/index.js'; export * from './protocol.js';`, src),
]);
rows.push([
  'tandem + textarea binding + undo',
  await measure(
    `export { Provider } from './provider.js'; export * from './crdt/index.js'; export * from './protocol.js'; export { TextareaBinding } from './bindings/textarea.js'; export { UndoManager } from './undo.js';`,
    src,
  ),
]);

if (withYjs) {
  const scratch = join(tmpdir(), 'tandem-bundle-compare');
  mkdirSync(scratch, { recursive: true });
  if (!existsSync(join(scratch, 'node_modules', 'y-websocket'))) {
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'bundle-compare', private: true }));
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--silent', 'yjs', 'y-websocket', 'y-indexeddb'], { cwd: scratch, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm install of yjs and y-websocket failed');
  }
  const version = (/** @type {string} */ name) =>
    JSON.parse(spawnSync(process.execPath, ['-p', `JSON.stringify(require('${name}/package.json').version)`], { cwd: scratch, encoding: 'utf8' }).stdout);
  rows.push([
    `yjs ${version('yjs')} + y-websocket ${version('y-websocket')}`,
    await measure(`export * from 'yjs'; export { WebsocketProvider } from 'y-websocket';`, scratch),
  ]);
  rows.push([
    `yjs + y-websocket + y-indexeddb ${version('y-indexeddb')}`,
    await measure(`export * from 'yjs'; export { WebsocketProvider } from 'y-websocket'; export { IndexeddbPersistence } from 'y-indexeddb';`, scratch),
  ]);
}

const w = Math.max(...rows.map((r) => r[0].length));
console.log(`${'bundle'.padEnd(w)}  ${'minified'.padStart(10)}  ${'gzip -9'.padStart(10)}  ${'brotli'.padStart(10)}`);
for (const [name, s] of rows) console.log(`${name.padEnd(w)}  ${kib(s.min).padStart(10)}  ${kib(s.gzip).padStart(10)}  ${kib(s.brotli).padStart(10)}`);

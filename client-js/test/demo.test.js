// @ts-check
// The demo page preloads every module it imports (so the browser fetches them in parallel instead
// of one level of the import graph at a time); this test keeps the list in index.html complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * graph returns every local module reachable from entry, as absolute paths.
 * @param {string} entry
 */
function graph(entry) {
  const seen = new Set();
  const todo = [entry];
  while (todo.length > 0) {
    const file = /** @type {string} */ (todo.pop());
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
      todo.push(resolve(dirname(file), m[1]));
    }
  }
  seen.delete(entry);
  return seen;
}

/** served maps a file of the package to its URL path on the server (demo/ is the root). */
const served = (/** @type {string} */ file) => {
  const rel = relative(root, file).split('\\').join('/');
  return rel.startsWith('demo/') ? `./${rel.slice(5)}` : `./${rel}`;
};

test('index.html preloads the whole module graph of the demo', () => {
  const html = readFileSync(join(root, 'demo', 'index.html'), 'utf8');
  const preloaded = new Set([...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]));
  const want = new Set([...graph(join(root, 'demo', 'demo.js'))].map(served));
  const missing = [...want].filter((p) => !preloaded.has(p)).sort();
  const extra = [...preloaded].filter((p) => !want.has(p)).sort();
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, 'update the modulepreload links in demo/index.html');
});

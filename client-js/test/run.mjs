// Runs node's test runner over the client's test files: `node test/run.mjs unit` runs
// src/**/*.test.js and test/*.test.js; `node test/run.mjs e2e` runs test/e2e/*.test.js (one file at
// a time: each starts a server and a browser). Node 20's runner takes no glob patterns, so the
// files are listed here. Extra arguments are passed to node --test.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [suite = 'unit', ...extra] = process.argv.slice(2);

/** @param {string} dir @param {boolean} deep @returns {string[]} */
function find(dir, deep) {
  /** @type {string[]} */
  const out = [];
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (deep && name !== 'node_modules' && name !== 'testdata') out.push(...find(p, deep));
    } else if (name.endsWith('.test.js')) {
      out.push(p);
    }
  }
  return out;
}

const files =
  suite === 'e2e'
    ? find(join(root, 'test', 'e2e'), false)
    : [...find(join(root, 'src'), true), ...find(join(root, 'test'), false)];
if (files.length === 0) {
  console.error(`no ${suite} test files found`);
  process.exit(1);
}
const args = ['--test', ...(suite === 'e2e' ? ['--test-concurrency=1'] : []), ...extra, ...files.map((f) => relative(root, f))];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);

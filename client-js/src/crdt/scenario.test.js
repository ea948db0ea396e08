// Runs the scenario files (testdata/crdt/scenarios/*.txt, the golden vectors
// whose expected output Go wrote, and this package's own testdata/*.txt) and
// compares every output line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScenario, runScenario, shuffle } from './scenario.js';

const here = dirname(fileURLToPath(import.meta.url));
const dirs = [resolve(here, '..', '..', '..', 'testdata', 'crdt', 'scenarios'), join(here, 'testdata')];

/**
 * checkFile runs one scenario file and compares its output with the expected part.
 * @param {string} path
 */
export function checkFile(path) {
  const sc = parseScenario(readFileSync(path, 'utf8'));
  assert.ok(sc.hasExpected, `${path}: no expected output`);
  const got = runScenario(sc, { checkChanges: true });
  for (let i = 0; i < Math.max(got.length, sc.expected.length); i++) {
    assert.equal(got[i], sc.expected[i], `${path}: output line ${i + 1}: got ${got[i]}; want ${sc.expected[i]}`);
  }
}

for (const dir of dirs) {
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
    test(`scenario ${f}`, () => checkFile(join(dir, f)));
  }
}

test('shuffle is the documented xorshift32 Fisher-Yates', () => {
  const cases = [
    { seed: 1, n: 5 },
    { seed: 0, n: 4 },
    { seed: 4294967295, n: 7 },
  ];
  for (const { seed, n } of cases) {
    const a = Array.from({ length: n }, (_, i) => i);
    shuffle(a, seed);
    // Reference: the same generator written out step by step.
    const b = Array.from({ length: n }, (_, i) => i);
    let x = BigInt(seed === 0 ? 0x9e3779b9 : seed);
    const m = 0xffffffffn;
    for (let i = n - 1; i > 0; i--) {
      x = (x ^ (x << 13n)) & m;
      x = (x ^ (x >> 17n)) & m;
      x = (x ^ (x << 5n)) & m;
      const j = Number(x % BigInt(i + 1));
      [b[i], b[j]] = [b[j], b[i]];
    }
    assert.deepEqual(a, b, `shuffle(seed ${seed}) = ${a}; want ${b}`);
  }
});

test('parseScenario refuses bad lines', () => {
  const cases = ['bogus a', 'insert a body 0', 'set a m "k"', 'insert a body 0 "unterminated', 'text a "x"y'];
  for (const src of cases) assert.throws(() => parseScenario(src), /scenario: line 1/, src);
});

// Cross-language check: Go writes seeded random scenarios with the Go CRDT's
// output (go run ./crdttest/cmd/scenarios), and the JavaScript twin must print
// the same lines: text, map values, snapshots, updates and state vectors, byte
// for byte. TANDEM_SEEDS=FIRST-LAST runs other seeds (default 1-100).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScenario, runScenario } from '../src/crdt/scenario.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const seeds = process.env.TANDEM_SEEDS || '1-100';
const hasGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;

test(`random scenarios, seeds ${seeds}: JavaScript prints what Go prints`, { skip: hasGo ? false : 'go is not on PATH' }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-crosslang-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('go', ['run', './crdttest/cmd/scenarios', '-seeds', seeds, '-dir', dir], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  const files = readdirSync(dir).filter((f) => f.endsWith('.txt'));
  assert.ok(files.length > 0, 'go wrote no scenario');
  for (const f of files.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
    const sc = parseScenario(readFileSync(join(dir, f), 'utf8'));
    const got = runScenario(sc);
    for (let i = 0; i < Math.max(got.length, sc.expected.length); i++) {
      if (got[i] !== sc.expected[i]) {
        assert.fail(`${f}: output line ${i + 1}:\n got ${got[i]}\nwant ${sc.expected[i]}\nrepeat: go run ./crdttest/cmd/scenarios -seeds ${f.replace(/\D/g, '')} -dir DIR`);
      }
    }
  }
});

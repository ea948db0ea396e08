// Replays the concurrent editing traces (../shared/traces/concurrent_traces, or
// $TANDEM_TRACES/concurrent_traces) under every assignment of client IDs to
// their agents, as crdt/traces_test.go does in Go: each agent is a replica;
// before each transaction its replica merges exactly the transactions that
// the trace names as ancestors, then makes the transaction's edits locally.
// Every replica, and a new one that receives every update in trace order,
// must end with endContent whatever the IDs (docs/crdt.md 1.3). Skipped
// without the traces.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Doc } from './index.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dir = join(process.env.TANDEM_TRACES || resolve(repo, '..', 'shared', 'traces'), 'concurrent_traces');
const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json.gz')).sort() : [];

/**
 * @typedef {object} Txn
 * @property {number[]} parents
 * @property {number} agent
 * @property {[number, number, string][]} patches
 */

/**
 * permutations returns every permutation of 0..n-1.
 * @param {number} n
 * @returns {number[][]}
 */
function permutations(n) {
  if (n === 0) return [[]];
  /** @type {number[][]} */
  const out = [];
  for (const p of permutations(n - 1)) {
    for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  }
  return out;
}

/**
 * replay replays a concurrent trace with agent a editing under client ID ids[a].
 * @param {{numAgents: number, endContent: string, txns: Txn[]}} tr
 * @param {number[]} ids
 */
function replay(tr, ids) {
  const n = tr.numAgents;
  const docs = ids.map((id) => new Doc(id));
  /** have[a][x]: how many of agent x's transactions replica a holds */
  const have = docs.map(() => new Array(n).fill(0));
  /** @type {Uint8Array[][]} per agent, the update of each of its transactions */
  const updates = docs.map(() => []);
  /** @type {number[][]} per transaction, its version */
  const versions = [];
  tr.txns.forEach((txn, i) => {
    const a = txn.agent;
    const v = new Array(n).fill(0);
    for (const p of txn.parents) {
      assert.ok(p >= 0 && p < i, `txn ${i}: parent ${p} is not an earlier transaction`);
      versions[p].forEach((k, x) => (v[x] = Math.max(v[x], k)));
    }
    assert.equal(have[a][a], v[a], `txn ${i}: agent ${a}'s own previous transaction is not an ancestor`);
    for (let x = 0; x < n; x++) {
      assert.ok(have[a][x] <= v[x], `txn ${i}: agent ${a} holds transactions of ${x} beyond the parents`);
      for (; have[a][x] < v[x]; have[a][x]++) docs[a].apply(updates[x][have[a][x]]);
    }
    const t = docs[a].text('body');
    for (const [pos, del, ins] of txn.patches) {
      if (del > 0) t.delete(pos, del);
      if (ins !== '') t.insert(pos, ins);
    }
    updates[a].push(docs[a].takeUpdate() ?? Uint8Array.of(1, 0, 0, 0, 0));
    have[a][a]++;
    v[a]++;
    versions.push(v);
  });
  const final = new Doc(n + 1); // the IDs are 1 to n
  const next = new Array(n).fill(0);
  for (const txn of tr.txns) final.apply(updates[txn.agent][next[txn.agent]++]);
  assert.ok(final.text('body').toString() === tr.endContent, 'merged text differs from endContent');
  assert.equal(final.pendingBytes(), 0);
  docs.forEach((d, a) => {
    d.apply(final.encodeUpdate(d.stateVector()));
    assert.ok(d.text('body').toString() === tr.endContent, `agent ${a}'s text differs from endContent`);
  });
}

test('concurrent traces reproduce endContent under every assignment of client IDs', { skip: files.length === 0 ? `no traces in ${dir}` : false }, async (tc) => {
  for (const f of files) {
    const tr = JSON.parse(gunzipSync(readFileSync(join(dir, f))).toString('utf8'));
    for (const p of permutations(tr.numAgents)) {
      const ids = p.map((k) => k + 1);
      await tc.test(`${f.replace('.json.gz', '')} ids=${ids.join(',')}`, () => replay(tr, ids));
    }
  }
});

// Cross-language checks: Go writes seeded random scenarios with the Go CRDT's
// output (go run ./crdttest/cmd/scenarios), and the JavaScript twin must print
// the same lines: text, map values, snapshots, updates and state vectors, byte
// for byte. TANDEM_SEEDS=FIRST-LAST runs other seeds (default 1-100). Then
// the editing traces, when present, give the same snapshots in both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScenario, runScenario, checkRichChange, cellsOf } from '../src/crdt/scenario.js';
import { Doc } from '../src/crdt/index.js';
import { richTrace, applyRich } from '../bench/richtrace.js';

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

// The same with rich text (go run ./crdttest/cmd/scenarios -rich): embeds, marks, unmarks and
// attributes among the text edits, each scenario ending with the spans of every root.
// TANDEM_RICH_SEEDS=FIRST-LAST runs other seeds (default 1-20; the long run takes 1-1000).
const richSeeds = process.env.TANDEM_RICH_SEEDS || '1-20';
test(`random rich-text scenarios, seeds ${richSeeds}: JavaScript prints what Go prints`, { skip: hasGo ? false : 'go is not on PATH' }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-crosslang-rich-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('go', ['run', './crdttest/cmd/scenarios', '-rich', '-seeds', richSeeds, '-dir', dir], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
  const files = readdirSync(dir).filter((f) => f.endsWith('.txt'));
  assert.ok(files.length > 0, 'go wrote no scenario');
  for (const f of files.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
    const sc = parseScenario(readFileSync(join(dir, f), 'utf8'));
    const got = runScenario(sc, { checkChanges: true });
    for (let i = 0; i < Math.max(got.length, sc.expected.length); i++) {
      if (got[i] !== sc.expected[i]) {
        assert.fail(`${f}: output line ${i + 1}:\n got ${got[i]}\nwant ${sc.expected[i]}\nrepeat: go run ./crdttest/cmd/scenarios -rich -seeds ${f.replace(/\D/g, '')} -dir DIR`);
      }
    }
  }
});

// Every sequential editing trace (../shared/traces or $TANDEM_TRACES, when
// present) replayed as one user's local edits: the JavaScript twin's snapshot
// and full update are the Go core's, byte for byte (compared by SHA-256; Go
// prints its own with go run ./crdttest/cmd/tracesnap).
const traces = process.env.TANDEM_TRACES || resolve(repo, '..', 'shared', 'traces');
const hasTraces = existsSync(join(traces, 'sequential_traces'));
test('editing traces: JavaScript snapshots and updates are Go\'s, byte for byte', { skip: !hasGo ? 'go is not on PATH' : !hasTraces ? `no traces in ${traces}` : false }, () => {
  const out = execFileSync('go', ['run', './crdttest/cmd/tracesnap', '-traces', traces], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 });
  const rows = out.toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(rows.length > 0, 'go replayed no trace');
  for (const row of rows) {
    const t = JSON.parse(gunzipSync(readFileSync(join(traces, 'sequential_traces', `${row.trace}.json.gz`))).toString('utf8'));
    const doc = new Doc(1);
    const text = doc.text('body');
    for (const x of t.txns) {
      for (const [p, d, s] of x.patches) {
        if (d > 0) text.delete(p, d);
        if (s !== '') text.insert(p, s);
      }
    }
    assert.equal(text.toString(), t.endContent, `${row.trace}: replay`);
    const snap = doc.encodeSnapshot();
    const upd = doc.encodeUpdate();
    assert.equal(snap.length, row.snapshotBytes, `${row.trace}: snapshot size`);
    assert.equal(createHash('sha256').update(snap).digest('hex'), row.snapshotSha256, `${row.trace}: snapshot bytes`);
    assert.equal(upd.length, row.updateBytes, `${row.trace}: update size`);
    assert.equal(createHash('sha256').update(upd).digest('hex'), row.updateSha256, `${row.trace}: update bytes`);
  }
});

// The generated rich-text trace of the benchmarks (bench/richtrace.js mirrors crdttest.RichTrace)
// replayed as local edits: the twins' snapshots and full updates are byte for byte the same, and
// a replica that loads the snapshot, or applies the update, has the author's spans and snapshot.
test('generated rich-text trace: JavaScript snapshot and update are Go\'s, byte for byte', { skip: hasGo ? false : 'go is not on PATH' }, () => {
  const n = 20_000;
  const out = execFileSync('go', ['run', './crdttest/cmd/tracesnap', '-rich', String(n)], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 });
  const row = JSON.parse(out.toString('utf8'));
  const doc = new Doc(1);
  for (const op of richTrace(1, n)) applyRich(doc, 'body', op);
  const snap = doc.encodeSnapshot();
  const upd = doc.encodeUpdate();
  assert.equal(snap.length, row.snapshotBytes, 'snapshot size');
  assert.equal(createHash('sha256').update(snap).digest('hex'), row.snapshotSha256, 'snapshot bytes');
  assert.equal(upd.length, row.updateBytes, 'update size');
  assert.equal(createHash('sha256').update(upd).digest('hex'), row.updateSha256, 'update bytes');
  // The public API stores JSON.stringify of values: given the values of the same compact JSON
  // texts Go was given, it writes the same bytes.
  const pub = new Doc(1);
  const t = pub.text('body');
  for (const op of richTrace(1, n)) {
    if (op.kind === 'embed') t.insertEmbed(op.pos, JSON.parse(op.value));
    else if (op.kind === 'format') t.format(op.pos, op.n, op.name, op.value === null ? null : JSON.parse(op.value), /** @type {any} */ (op.expand));
    else if (op.kind === 'attr' && t.slice(op.pos, 1).some((s) => 'embed' in s)) t.setAttr(op.pos, op.name, JSON.parse(op.value));
    else if (op.kind !== 'attr') applyRich(pub, 'body', op);
  }
  assert.equal(createHash('sha256').update(pub.encodeSnapshot()).digest('hex'), row.snapshotSha256, 'snapshot bytes through the public API');
  const spans = JSON.stringify(doc.text('body').spans());
  for (const bytes of [snap, upd]) {
    const r = new Doc(2);
    const changes = r.apply(bytes);
    // The change events of the load turn the empty text into the author's spans; its formats alone
    // give every mark (an editor that shows the inserted text plain applies them).
    const after = cellsOf(r).get('body') ?? [];
    const ch = changes.find((c) => c.root === 'body');
    checkRichChange('body', [], after, ch);
    const plain = after.map((c) => ({ ...c, marks: new Map() }));
    for (const f of ch?.formats ?? []) {
      for (let i = f.pos; i < f.pos + f.len; i++) {
        if (f.value === null) plain[i].marks.delete(f.name);
        else plain[i].marks.set(f.name, JSON.stringify(f.value));
      }
    }
    for (let i = 0; i < after.length; i++) {
      assert.deepEqual([...plain[i].marks].sort(), [...after[i].marks].sort(), `position ${i}: the marks the load's formats give`);
    }
    assert.equal(JSON.stringify(r.text('body').spans()), spans, 'spans after a load');
    assert.deepEqual(r.encodeSnapshot(), snap, 'snapshot after a load');
  }
});

// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import 'fake-indexeddb/auto';
import { MemoryStore, IndexedDBStore, openStore, shouldCompact } from './store.js';

let dbSeq = 0;
const impls = [
  { name: 'memory', open: async () => new MemoryStore() },
  { name: 'indexeddb', open: async () => IndexedDBStore.open(indexedDB, `test-${dbSeq++}`) },
];

const u = (/** @type {number[]} */ ...b) => new Uint8Array(b);

for (const impl of impls) {
  test(`${impl.name}: load of an unknown document is empty and writes nothing`, async () => {
    const s = await impl.open();
    const got = await s.load('nope');
    assert.deepEqual(got, { snapshot: null, updates: [], unsaved: [] });
    assert.deepEqual(await s.stats('nope'), { snapshotBytes: 0, logEntries: 0, logBytes: 0 });
    s.close();
  });

  test(`${impl.name}: append keeps order, documents are separate, load does not grow the log`, async () => {
    const s = await impl.open();
    await s.append('a', u(1));
    await s.append('b', u(9));
    await s.append('a', u(2, 2));
    for (let i = 0; i < 3; i++) await s.load('a');
    const got = await s.load('a');
    assert.deepEqual(got.updates, [u(1), u(2, 2)]);
    assert.deepEqual((await s.load('b')).updates, [u(9)]);
    assert.deepEqual(await s.stats('a'), { snapshotBytes: 0, logEntries: 2, logBytes: 3 });
    s.close();
  });

  test(`${impl.name}: compact folds snapshot and log into one snapshot`, async () => {
    const s = await impl.open();
    await s.append('a', u(1));
    await s.append('a', u(2));
    /** @type {unknown[]} */
    const seen = [];
    await s.compact('a', (snap, ups) => {
      seen.push(snap, ups);
      return u(7, 7, 7);
    });
    assert.deepEqual(seen, [null, [u(1), u(2)]]);
    await s.append('a', u(3));
    const got = await s.load('a');
    assert.deepEqual(got.snapshot, u(7, 7, 7));
    assert.deepEqual(got.updates, [u(3)], 'entries after compaction stay');
    await s.compact('a', (snap, ups) => {
      assert.deepEqual(snap, u(7, 7, 7));
      assert.deepEqual(ups, [u(3)]);
      return u(8);
    });
    assert.deepEqual(await s.load('a'), { snapshot: u(8), updates: [], unsaved: [] });
    s.close();
  });

  test(`${impl.name}: a failing fold changes nothing`, async () => {
    const s = await impl.open();
    await s.append('a', u(1));
    await assert.rejects(
      s.compact('a', () => {
        throw new Error('fold failed');
      }),
      /fold failed/,
    );
    assert.deepEqual((await s.load('a')).updates, [u(1)]);
    s.close();
  });

  test(`${impl.name}: append with a client ID marks it unsaved with the update`, async () => {
    const s = await impl.open();
    await s.append('a', u(1), 5);
    await s.append('a', u(2));
    await s.append('a', u(3), 5);
    assert.deepEqual(await s.load('a'), { snapshot: null, updates: [u(1), u(2), u(3)], unsaved: [5] });
    await s.markSaved('a', [5]);
    assert.deepEqual((await s.load('a')).unsaved, []);
    s.close();
  });

  test(`${impl.name}: unsaved client IDs survive compaction and clear`, async () => {
    const s = await impl.open();
    await s.markUnsaved('a', 2 ** 53 - 1);
    await s.markUnsaved('a', 5);
    await s.compact('a', () => u(1));
    assert.deepEqual((await s.load('a')).unsaved.sort(), [5, 2 ** 53 - 1].sort());
    await s.markSaved('a', [5]);
    assert.deepEqual((await s.load('a')).unsaved, [2 ** 53 - 1]);
    await s.clear('a');
    assert.deepEqual(await s.load('a'), { snapshot: null, updates: [], unsaved: [] });
    s.close();
  });
}

test('indexeddb: two handles (two tabs) on one database share the log', async () => {
  const name = `shared-${dbSeq++}`;
  const a = await IndexedDBStore.open(indexedDB, name);
  const b = await IndexedDBStore.open(indexedDB, name);
  await Promise.all([a.append('d', u(1)), b.append('d', u(2)), a.append('d', u(3))]);
  const got = (await b.load('d')).updates.map((x) => x[0]).sort();
  assert.deepEqual(got, [1, 2, 3], 'no append overwrote another');
  await a.compact('d', (_s, ups) => u(ups.length));
  assert.deepEqual(await b.load('d'), { snapshot: u(3), updates: [], unsaved: [] });
  a.close();
  b.close();
});

test('indexeddb: marking and clearing unsaved IDs leaves the snapshot record alone', async () => {
  const name = `marks-${dbSeq++}`;
  const s = await IndexedDBStore.open(indexedDB, name);
  await s.append('d', u(1));
  await s.compact('d', () => u(4, 4));
  const raw = await new Promise((resolve, reject) => {
    const r = indexedDB.open(name);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const db = /** @type {IDBDatabase} */ (raw);
  const record = () =>
    new Promise((resolve) => {
      const r = db.transaction('docs').objectStore('docs').get('d');
      r.onsuccess = () => resolve(r.result);
    });
  const before = await record();
  await s.markUnsaved('d', 5);
  await s.append('d', u(2), 6);
  assert.deepEqual(await record(), before, 'the snapshot record is not rewritten by marks');
  assert.deepEqual((await s.load('d')).unsaved.sort(), [5, 6]);
  await s.markSaved('d', [5, 6]);
  assert.deepEqual(await record(), before);
  assert.deepEqual((await s.load('d')).unsaved, []);
  db.close();
  s.close();
});

test('indexeddb: marks kept in the snapshot record by the older layout are read and moved', async () => {
  const name = `legacy-${dbSeq++}`;
  const s = await IndexedDBStore.open(indexedDB, name);
  await new Promise((resolve, reject) => {
    const r = indexedDB.open(name);
    r.onsuccess = () => {
      const tx = r.result.transaction('docs', 'readwrite');
      tx.objectStore('docs').put({ snapshot: u(9), unsaved: [5, 7] }, 'd');
      tx.oncomplete = () => {
        r.result.close();
        resolve(undefined);
      };
      tx.onerror = () => reject(tx.error);
    };
  });
  assert.deepEqual(await s.load('d'), { snapshot: u(9), updates: [], unsaved: [5, 7] });
  await s.markSaved('d', [5]);
  assert.deepEqual(await s.load('d'), { snapshot: u(9), updates: [], unsaved: [7] });
  await s.markUnsaved('d', 8);
  await s.compact('d', (snap) => /** @type {Uint8Array} */ (snap));
  assert.deepEqual((await s.load('d')).unsaved.sort(), [7, 8]);
  await s.markSaved('d', [7, 8]);
  assert.deepEqual(await s.load('d'), { snapshot: u(9), updates: [], unsaved: [] });
  s.close();
});

test('openStore falls back to memory without IndexedDB', async () => {
  const s = await openStore({ indexedDB: /** @type {any} */ (null) });
  assert.ok(s instanceof MemoryStore);
});

test('shouldCompact thresholds', () => {
  const cases = [
    [{ snapshotBytes: 0, logEntries: 1, logBytes: 10 }, false],
    [{ snapshotBytes: 0, logEntries: 501, logBytes: 10 }, true],
    [{ snapshotBytes: 100_000, logEntries: 10, logBytes: 150_000 }, false],
    [{ snapshotBytes: 100_000, logEntries: 10, logBytes: 170_000 }, true],
  ];
  for (const [s, want] of cases) assert.equal(shouldCompact(/** @type {any} */ (s)), want, JSON.stringify(s));
});

// @ts-check
/**
 * The offline store: where a tab keeps its replica of each document so that closing or reloading
 * it, online or not, loses nothing.
 *
 * Layout per document: one snapshot (the CRDT's snapshot bytes, docs/crdt.md 2.4) plus an append-only log of the updates
 * applied since (local edits and what the server sent). Opening a document reads the snapshot and
 * the log and writes nothing; the log is folded into a new snapshot only when it has grown past a
 * threshold (see `shouldCompact`), so a document that is opened often does not grow (the
 * y-indexeddb failure where every open re-appends the whole state).
 *
 * The store also remembers which client IDs have local changes the server has not acknowledged
 * (`unsaved`). A tab that reloads gets a new client ID; the old one's edits are in the stored state,
 * and the `unsaved` entry tells the new tab to push them to the server even if they are pure
 * deletions (which a state vector does not reveal). A local edit and its `unsaved` mark are written
 * in one transaction (`append` with a client ID), so a tab killed in between cannot keep the one
 * without the other. The marks are kept apart from the snapshot: marking and clearing them, which
 * happens with every burst of typing, never rewrites a large snapshot.
 *
 * Two implementations share one interface: `IndexedDBStore` in browsers and `MemoryStore`
 * elsewhere (node tests, private windows without IndexedDB). `openStore()` picks one.
 */

/**
 * @typedef {object} StoredDoc
 * @property {Uint8Array | null} snapshot  the latest snapshot, or null
 * @property {Uint8Array[]} updates         the log, oldest first
 * @property {number[]} unsaved             client IDs with unacknowledged local changes
 */

/**
 * @typedef {object} DocStore
 * @property {(docId: string) => Promise<StoredDoc>} load
 *   load reads a document's snapshot and log; it writes nothing.
 * @property {(docId: string, update: Uint8Array, unsavedId?: number) => Promise<void>} append
 *   append adds one update to the log; with unsavedId (a local edit), it also marks that client ID
 *   unsaved, atomically.
 * @property {(docId: string, fold: (snapshot: Uint8Array | null, updates: Uint8Array[]) => Uint8Array) => Promise<void>} compact
 *   compact atomically reads the snapshot and log, calls fold (synchronously) to produce the new
 *   snapshot, stores it and deletes the log entries fold saw. Entries appended by other tabs are
 *   never lost: fold sees them and must include them (apply them to the replica first).
 * @property {(docId: string, clientId: number) => Promise<void>} markUnsaved
 *   markUnsaved records that clientId has local changes not yet acknowledged.
 * @property {(docId: string, clientIds: number[]) => Promise<void>} markSaved
 *   markSaved removes clientIds from the unsaved set.
 * @property {(docId: string) => Promise<void>} clear
 *   clear deletes everything stored for a document.
 * @property {(docId: string) => Promise<{ snapshotBytes: number, logEntries: number, logBytes: number }>} stats
 *   stats reports how much is stored for a document.
 * @property {() => void} close
 *   close releases the store.
 */

/**
 * shouldCompact decides when the log is folded into a snapshot: past 500 entries, or when the log
 * holds more bytes than the snapshot plus 64 KiB. Either way the cost of compaction is paid at most
 * once per comparable amount of appended data.
 * @param {{ snapshotBytes: number, logEntries: number, logBytes: number }} s
 */
export function shouldCompact(s) {
  return s.logEntries > 500 || s.logBytes > s.snapshotBytes + 64 * 1024;
}

/**
 * MemoryStore keeps documents in memory: nothing survives the process, but the interface and the
 * semantics are those of IndexedDBStore, so the provider and its tests need no special case.
 * @implements {DocStore}
 */
export class MemoryStore {
  /** @type {Map<string, { snapshot: Uint8Array | null, updates: Uint8Array[], unsaved: Set<number> }>} */
  #docs = new Map();

  /** @param {string} docId */
  #get(docId) {
    let d = this.#docs.get(docId);
    if (!d) {
      d = { snapshot: null, updates: [], unsaved: new Set() };
      this.#docs.set(docId, d);
    }
    return d;
  }

  /** @param {string} docId */
  async load(docId) {
    const d = this.#docs.get(docId);
    if (!d) return { snapshot: null, updates: [], unsaved: [] };
    return { snapshot: d.snapshot, updates: [...d.updates], unsaved: [...d.unsaved] };
  }

  /** @param {string} docId @param {Uint8Array} update @param {number} [unsavedId] */
  async append(docId, update, unsavedId) {
    const d = this.#get(docId);
    d.updates.push(update.slice());
    if (unsavedId !== undefined) d.unsaved.add(unsavedId);
  }

  /**
   * @param {string} docId
   * @param {(snapshot: Uint8Array | null, updates: Uint8Array[]) => Uint8Array} fold
   */
  async compact(docId, fold) {
    const d = this.#get(docId);
    const seen = d.updates.length;
    const snap = fold(d.snapshot, d.updates.slice(0, seen));
    d.snapshot = snap.slice();
    d.updates.splice(0, seen);
  }

  /** @param {string} docId @param {number} clientId */
  async markUnsaved(docId, clientId) {
    this.#get(docId).unsaved.add(clientId);
  }

  /** @param {string} docId @param {number[]} clientIds */
  async markSaved(docId, clientIds) {
    const d = this.#docs.get(docId);
    if (!d) return;
    for (const c of clientIds) d.unsaved.delete(c);
  }

  /** @param {string} docId */
  async clear(docId) {
    this.#docs.delete(docId);
  }

  /** @param {string} docId */
  async stats(docId) {
    const d = this.#docs.get(docId);
    if (!d) return { snapshotBytes: 0, logEntries: 0, logBytes: 0 };
    let logBytes = 0;
    for (const u of d.updates) logBytes += u.byteLength;
    return { snapshotBytes: d.snapshot?.byteLength ?? 0, logEntries: d.updates.length, logBytes };
  }

  close() {}
}

const DOCS = 'docs';
const LOG = 'log';

/**
 * req turns an IDBRequest into a promise.
 * @template T
 * @param {IDBRequest<T>} r
 * @returns {Promise<T>}
 */
function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/**
 * done resolves when a transaction commits and rejects when it aborts.
 * @param {IDBTransaction} tx
 * @returns {Promise<void>}
 */
function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('store: transaction aborted'));
    tx.onerror = () => reject(tx.error ?? new Error('store: transaction failed'));
  });
}

/**
 * unsavedKey is the `docs` key of a document's unsaved client IDs: an array key, which no
 * document ID (a string key) can equal.
 * @param {string} docId
 */
function unsavedKey(docId) {
  return [docId, 'unsaved'];
}

/**
 * IndexedDBStore keeps documents in one IndexedDB database, shared by every tab of an origin.
 * Object stores: `docs` (key: document ID; value: { snapshot }; and key [document ID, 'unsaved'];
 * value: the unsaved client IDs) and `log` (key: [document ID, sequence]; value: update bytes).
 * Every method is one transaction. (Databases written before the marks had their own record keep
 * them in the snapshot's record as `unsaved`; they are read from there too and moved on the next
 * change.)
 * @implements {DocStore}
 */
export class IndexedDBStore {
  /** @type {IDBDatabase} */
  #db;

  /** @param {IDBDatabase} db */
  constructor(db) {
    this.#db = db;
  }

  /** name is the database's name: the tabs that share it share their documents. */
  get name() {
    return this.#db.name;
  }

  /**
   * open opens (creating if needed) the database named name.
   * @param {IDBFactory} [factory]  defaults to globalThis.indexedDB
   * @param {string} [name]
   * @returns {Promise<IndexedDBStore>}
   */
  static async open(factory = globalThis.indexedDB, name = 'tandem') {
    if (!factory) throw new Error('store: IndexedDB is not available');
    const r = factory.open(name, 1);
    r.onupgradeneeded = () => {
      const db = r.result;
      if (!db.objectStoreNames.contains(DOCS)) db.createObjectStore(DOCS);
      if (!db.objectStoreNames.contains(LOG)) db.createObjectStore(LOG);
    };
    const db = await req(r);
    // A newer version of this code opening the database in another tab must not be blocked by us.
    db.onversionchange = () => db.close();
    return new IndexedDBStore(db);
  }

  /** @param {string} docId */
  static #range(docId) {
    // Every key [docId, n] with n a number sorts between [docId, -Infinity] and [docId, []].
    return IDBKeyRange.bound([docId, -Infinity], [docId, []]);
  }

  /** @param {string} docId */
  async load(docId) {
    const tx = this.#db.transaction([DOCS, LOG], 'readonly');
    const docs = tx.objectStore(DOCS);
    const [meta, marks, updates] = await Promise.all([
      req(docs.get(docId)),
      req(docs.get(unsavedKey(docId))),
      req(tx.objectStore(LOG).getAll(IndexedDBStore.#range(docId))),
    ]);
    return {
      snapshot: meta?.snapshot ? new Uint8Array(meta.snapshot) : null,
      updates: updates.map((u) => new Uint8Array(u)),
      unsaved: [...new Set([...(Array.isArray(meta?.unsaved) ? meta.unsaved : []), ...(Array.isArray(marks) ? marks : [])])],
    };
  }

  /** @param {string} docId @param {Uint8Array} update @param {number} [unsavedId] */
  async append(docId, update, unsavedId) {
    const tx = this.#db.transaction(unsavedId === undefined ? [LOG] : [DOCS, LOG], 'readwrite');
    if (unsavedId !== undefined) IndexedDBStore.#changeUnsaved(tx, docId, (s) => s.add(unsavedId));
    const log = tx.objectStore(LOG);
    // The next sequence number is one past the last key of this document (read in the same
    // transaction, so two tabs appending at once cannot take the same key).
    const cursorReq = log.openKeyCursor(IndexedDBStore.#range(docId), 'prev');
    cursorReq.onsuccess = () => {
      const c = cursorReq.result;
      const last = c ? /** @type {[string, number]} */ (/** @type {unknown} */ (c.key))[1] : 0;
      log.put(update.slice(), [docId, last + 1]);
    };
    await done(tx);
  }

  /**
   * @param {string} docId
   * @param {(snapshot: Uint8Array | null, updates: Uint8Array[]) => Uint8Array} fold
   */
  async compact(docId, fold) {
    const tx = this.#db.transaction([DOCS, LOG], 'readwrite');
    const docs = tx.objectStore(DOCS);
    const log = tx.objectStore(LOG);
    const range = IndexedDBStore.#range(docId);
    /** @type {unknown} */
    let failure = null;
    const metaReq = docs.get(docId);
    metaReq.onsuccess = () => {
      const meta = metaReq.result ?? { snapshot: null, unsaved: [] };
      const keysReq = log.getAllKeys(range);
      keysReq.onsuccess = () => {
        const keys = keysReq.result;
        const valsReq = log.getAll(range);
        valsReq.onsuccess = () => {
          try {
            const snap = fold(
              meta.snapshot ? new Uint8Array(meta.snapshot) : null,
              valsReq.result.map((u) => new Uint8Array(u)),
            );
            docs.put({ snapshot: snap.slice() }, docId);
            if (Array.isArray(meta.unsaved) && meta.unsaved.length > 0) {
              IndexedDBStore.#changeUnsaved(tx, docId, (s) => meta.unsaved.forEach((/** @type {number} */ c) => s.add(c)));
            }
            // Delete exactly the entries fold saw; the transaction holds the lock, so no other
            // tab appended in between.
            if (keys.length > 0) log.delete(IDBKeyRange.bound(keys[0], keys[keys.length - 1]));
          } catch (err) {
            failure = err;
            tx.abort();
          }
        };
      };
    };
    try {
      await done(tx);
    } catch (err) {
      throw failure ?? err;
    }
  }

  /**
   * #changeUnsaved changes the unsaved set of docId within tx (which covers DOCS, read-write),
   * writing it only if it changed. A set still held in the snapshot's record (an older layout) is
   * moved to its own record on the way, when the change removes something.
   * @param {IDBTransaction} tx
   * @param {string} docId
   * @param {(s: Set<number>) => void} change
   */
  static #changeUnsaved(tx, docId, change) {
    const docs = tx.objectStore(DOCS);
    const r = docs.get(unsavedKey(docId));
    r.onsuccess = () => {
      const s = new Set(/** @type {number[]} */ (Array.isArray(r.result) ? r.result : []));
      const before = [...s];
      change(s);
      if (s.size !== before.length || before.some((c) => !s.has(c))) {
        if (s.size > 0) docs.put([...s], unsavedKey(docId));
        else docs.delete(unsavedKey(docId));
      }
    };
  }

  /**
   * #updateUnsaved changes the unsaved set of docId in one transaction.
   * @param {string} docId
   * @param {(s: Set<number>) => void} change
   */
  async #updateUnsaved(docId, change) {
    const tx = this.#db.transaction([DOCS], 'readwrite');
    IndexedDBStore.#changeUnsaved(tx, docId, change);
    // The older layout: marks inside the snapshot's record. Removing one there rewrites the
    // snapshot once; from then on the record holds no marks.
    const docs = tx.objectStore(DOCS);
    const m = docs.get(docId);
    m.onsuccess = () => {
      const meta = m.result;
      if (!meta || !Array.isArray(meta.unsaved) || meta.unsaved.length === 0) return;
      const s = new Set(/** @type {number[]} */ (meta.unsaved));
      change(s);
      IndexedDBStore.#changeUnsaved(tx, docId, (t) => s.forEach((c) => t.add(c)));
      docs.put({ snapshot: meta.snapshot }, docId);
    };
    await done(tx);
  }

  /** @param {string} docId @param {number} clientId */
  async markUnsaved(docId, clientId) {
    await this.#updateUnsaved(docId, (s) => s.add(clientId));
  }

  /** @param {string} docId @param {number[]} clientIds */
  async markSaved(docId, clientIds) {
    await this.#updateUnsaved(docId, (s) => clientIds.forEach((c) => s.delete(c)));
  }

  /** @param {string} docId */
  async clear(docId) {
    const tx = this.#db.transaction([DOCS, LOG], 'readwrite');
    tx.objectStore(DOCS).delete(docId);
    tx.objectStore(DOCS).delete(unsavedKey(docId));
    tx.objectStore(LOG).delete(IndexedDBStore.#range(docId));
    await done(tx);
  }

  /** @param {string} docId */
  async stats(docId) {
    const tx = this.#db.transaction([DOCS, LOG], 'readonly');
    const [meta, updates] = await Promise.all([
      req(tx.objectStore(DOCS).get(docId)),
      req(tx.objectStore(LOG).getAll(IndexedDBStore.#range(docId))),
    ]);
    let logBytes = 0;
    for (const u of updates) logBytes += u.byteLength;
    return { snapshotBytes: meta?.snapshot?.byteLength ?? 0, logEntries: updates.length, logBytes };
  }

  close() {
    this.#db.close();
  }
}

/**
 * openStore returns an IndexedDBStore when IndexedDB works here, and a MemoryStore otherwise
 * (node, or a browser that refuses IndexedDB, as some private modes do).
 * @param {{ name?: string, indexedDB?: IDBFactory | null }} [opts]  indexedDB: null forces memory
 * @returns {Promise<DocStore>}
 */
export async function openStore(opts = {}) {
  const factory = 'indexedDB' in opts ? opts.indexedDB : globalThis.indexedDB;
  if (!factory) return new MemoryStore();
  try {
    return await IndexedDBStore.open(factory, opts.name);
  } catch {
    return new MemoryStore();
  }
}

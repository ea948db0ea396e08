// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import 'fake-indexeddb/auto';
import { Provider, docUrl, accessUrl, tokenExpiry, randomClientId } from './provider.js';
import { MemoryStore, IndexedDBStore } from './store.js';
import { Decoder } from './varint.js';
import { Backoff } from './backoff.js';
import { Doc, encodeStateVector, decodeStateVector } from './crdt/index.js';
import { encodeFrame, decodeFrame, MessageType, FROM_CLIENT, FROM_SERVER, PROTOCOL_VERSION } from './protocol.js';

/**
 * decodeAuth reads an auth frame (type, channel, token), which protocol.js encodes but, being the
 * client's module, does not decode.
 * @param {Uint8Array} data
 */
function decodeAuth(data) {
  const d = new Decoder(data);
  d.pos = 1;
  const channel = d.readVarUint('channel');
  return { type: MessageType.AUTH, channel, token: d.readString('auth token') };
}

/**
 * FakeSocket is one connection as the provider sees it; the test plays the server through it.
 */
class FakeSocket {
  binaryType = '';
  readyState = 0;
  /** @type {any} */ onopen = null;
  /** @type {any} */ onmessage = null;
  /** @type {any} */ onclose = null;
  /** @type {any} */ onerror = null;
  /** @type {any[]} messages the client sent, decoded */
  sent = [];
  /** @type {{ code?: number, reason?: string } | null} */
  closedBy = null;
  /** how many updates the fake server acknowledged */
  acked = 0;

  /** @param {string} url */
  constructor(url) {
    this.url = url;
  }

  /** @type {number[]} the size of every update message the client sent */
  updateSizes = [];

  /** @param {Uint8Array} data */
  send(data) {
    const msg = data[0] === MessageType.AUTH ? decodeAuth(data) : decodeFrame(data, FROM_CLIENT);
    if (msg.type === MessageType.UPDATE) this.updateSizes.push(data.byteLength);
    this.sent.push(msg);
  }

  /** @param {number} [code] @param {string} [reason] */
  close(code, reason) {
    this.closedBy = { code, reason };
    this.readyState = 3;
  }

  // --- the server's side ---
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** @param {any} msg */
  deliver(msg) {
    const bytes = encodeFrame(msg, FROM_SERVER);
    // Deliver an ArrayBuffer holding exactly the frame, as a browser does.
    this.onmessage?.({ data: bytes.slice().buffer });
  }

  /** @param {number} code @param {string} [reason] */
  drop(code, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** @param {number} type */
  take(type) {
    const i = this.sent.findIndex((m) => m.type === type);
    assert.ok(i >= 0, `no message of type ${type} sent; sent: ${this.sent.map((m) => m.type)}`);
    return this.sent.splice(i, 1)[0];
  }
}

/**
 * FakeServer holds the server's replica and answers like the real one: sync by state vector,
 * apply + ack, awareness relay.
 */
class FakeServer {
  doc = new Doc(999);
  /** @type {FakeSocket[]} */
  sockets = [];
  autoAck = true;

  create = (/** @type {string} */ url) => {
    const s = new FakeSocket(url);
    this.sockets.push(s);
    return s;
  };

  get last() {
    const s = this.sockets.at(-1);
    assert.ok(s, 'no socket opened');
    return s;
  }

  /** handshake opens the last socket and answers its hello. */
  handshake() {
    const s = this.last;
    s.open();
    const hello = s.take(MessageType.HELLO);
    assert.equal(hello.version, PROTOCOL_VERSION);
    const sv = decodeStateVector(hello.stateVector);
    s.deliver({ type: MessageType.SYNC, update: this.doc.encodeUpdate(sv), stateVector: encodeStateVector(this.doc.stateVector()) });
    return hello;
  }

  /** pump applies the client's updates (acking them) as the real server does. */
  pump(s = this.last) {
    let seq = s.acked;
    for (const m of s.sent.filter((m) => m.type === MessageType.UPDATE)) {
      this.doc.apply(m.data);
      seq++;
    }
    s.sent = s.sent.filter((m) => m.type !== MessageType.UPDATE);
    if (this.autoAck && seq !== s.acked) {
      s.acked = seq;
      s.deliver({ type: MessageType.ACK, seq });
    }
  }
}

/** @param {Partial<import('./provider.js').ProviderOptions>} [opts] */
function setup(opts = {}) {
  const server = new FakeServer();
  /** @type {any[]} */
  const events = [];
  const p = new Provider({
    url: 'http://127.0.0.1:1/',
    docId: 'notes',
    clientId: 42,
    storage: new MemoryStore(),
    createSocket: server.create,
    backoff: new Backoff({ random: () => 0.5 }),
    fetch: null,
    ...opts,
  });
  for (const name of /** @type {const} */ (['status', 'synced', 'saved', 'unsaved', 'change', 'error', 'broadcast', 'refused'])) {
    p.on(name, (ev) => events.push([name, ev]));
  }
  return { server, p, events, text: () => p.doc.text('body').toString() };
}

/** tick lets promise callbacks (the store load) run. */
const settle = () => new Promise((r) => setImmediate(r));

test('docUrl builds the WebSocket URL', () => {
  const cases = [
    ['http://h:8080', 'notes', undefined, 'ws://h:8080/v1/docs/notes/ws'],
    ['https://h/base/', 'a:b', 'tok en', 'wss://h/base/v1/docs/a%3Ab/ws?token=tok+en'],
    ['ws://h', 'x', '', 'ws://h/v1/docs/x/ws'],
  ];
  for (const [base, id, token, want] of cases) {
    assert.equal(docUrl(/** @type {string} */ (base), /** @type {string} */ (id), token), want);
  }
  const id = randomClientId();
  assert.ok(Number.isInteger(id) && id >= 1 && id < 2 ** 53, `randomClientId() = ${id}`);
});

test('provider: hello, sync, local update, ack -> saved', async (t) => {
  const { server, p, events, text } = setup();
  t.after(() => p.destroy());
  await p.ready;
  server.doc.text('body').insert(0, 'from server');
  server.doc.takeUpdate();
  const hello = server.handshake();
  assert.equal(hello.clientId, 42);
  assert.equal(text(), 'from server');
  assert.equal(p.status, 'connected');
  assert.ok(p.synced && p.saved);
  assert.equal(server.last.sent.filter((m) => m.type === MessageType.UPDATE).length, 0, 'nothing to send when the server has it all');
  p.transact(() => p.doc.text('body').insert(0, '> '));
  assert.equal(p.saved, false);
  server.pump();
  assert.equal(server.doc.text('body').toString(), '> from server');
  assert.equal(p.saved, true);
  const names = events.map((e) => e[0]);
  assert.deepEqual(names.filter((n) => n !== 'change'), ['status', 'status', 'synced', 'unsaved', 'saved']);
  assert.deepEqual(events.find((e) => e[0] === 'change')?.[1].changes[0].edits, [{ pos: 0, delete: 0, insert: 'from server' }]);
});

test('provider: edits made offline are sent after sync, acknowledged once', async (t) => {
  const { server, p, text } = setup();
  t.after(() => p.destroy());
  await p.ready;
  p.transact(() => p.doc.text('body').insert(0, 'offline 😀'));
  p.transact(() => p.doc.text('body').delete(0, 3));
  assert.equal(server.last.sent.length, 0, 'not connected yet: nothing sent');
  server.handshake();
  const updates = server.last.sent.filter((m) => m.type === MessageType.UPDATE);
  assert.equal(updates.length, 1, 'one catch-up update');
  server.pump();
  assert.equal(server.doc.text('body').toString(), 'line 😀');
  assert.equal(text(), 'line 😀');
  assert.ok(p.saved);
});

test('provider: reconnects with backoff, resyncs, stops on terminal codes', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { server, p, events } = setup({ pingIntervalMs: 0 });
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  server.last.drop(1006);
  assert.equal(p.status, 'offline');
  const offline = events.filter((e) => e[0] === 'status').at(-1)[1];
  assert.deepEqual(offline, { status: 'offline', code: 1006, reason: '', retryInMs: 250 });
  p.transact(() => p.doc.text('body').insert(0, 'while away'));
  assert.equal(server.sockets.length, 1);
  t.mock.timers.tick(250);
  assert.equal(server.sockets.length, 2, 'reconnected after the backoff delay');
  server.handshake();
  server.pump();
  assert.equal(server.doc.text('body').toString(), 'while away');
  // A connection that stays synced for 10 s resets the backoff; a failure before syncing grows
  // the window.
  t.mock.timers.tick(10_000);
  server.last.drop(1013);
  assert.equal(events.filter((e) => e[0] === 'status').at(-1)[1].retryInMs, 250, 'a stable connection reset the backoff');
  t.mock.timers.tick(250);
  server.last.open();
  server.last.drop(1006);
  const retry = events.filter((e) => e[0] === 'status').at(-1)[1].retryInMs;
  assert.equal(retry, 500, 'second attempt without a sync: a wider window');
  t.mock.timers.tick(500);
  server.handshake();
  // Terminal: the server says forbidden and closes.
  server.last.deliver({ type: MessageType.ERROR, code: 4403, message: 'forbidden' });
  server.last.drop(4403, 'forbidden');
  assert.equal(p.status, 'error');
  assert.deepEqual(events.filter((e) => e[0] === 'status').at(-1)[1], { status: 'error', code: 4403, reason: 'forbidden' });
  const n = server.sockets.length;
  t.mock.timers.tick(60_000);
  assert.equal(server.sockets.length, n, 'no retry after a terminal code');
  p.connect();
  assert.equal(server.sockets.length, n + 1, 'connect() tries again');
});

test('provider: a server that closes right after every sync meets growing backoff windows, not a loop', async (t) => {
  // An update the server refuses (4422), a state too large (1009), rate limiting (4429): each
  // closes the connection just after the sync. Resetting the backoff on sync would retry within
  // 0.5 s forever.
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { server, p, events } = setup({ pingIntervalMs: 0 });
  t.after(() => p.destroy());
  await p.ready;
  /** @type {number[]} */
  const delays = [];
  for (let i = 0; i < 6; i++) {
    server.handshake();
    assert.equal(p.status, 'connected');
    server.last.drop(4422, 'invalid update');
    const ev = events.filter((e) => e[0] === 'status').at(-1)[1];
    delays.push(ev.retryInMs);
    t.mock.timers.tick(ev.retryInMs);
  }
  assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 8000]);
  // Once a connection has stayed up, the next failure starts from the first window again.
  server.handshake();
  t.mock.timers.tick(10_000);
  server.last.drop(1001);
  assert.equal(events.filter((e) => e[0] === 'status').at(-1)[1].retryInMs, 250);
});

test('provider: each terminal close code stops reconnection', async (t) => {
  for (const code of [4401, 4403, 4404, 4409, 4413]) {
    const { server, p } = setup({ pingIntervalMs: 0 });
    await p.ready;
    server.handshake();
    server.last.drop(code);
    assert.equal(p.status, 'error', `close ${code}`);
    await p.destroy();
  }
  for (const code of [1001, 1011, 1013, 4429, 4400]) {
    const { server, p } = setup({ pingIntervalMs: 0 });
    await p.ready;
    server.handshake();
    server.last.drop(code);
    assert.equal(p.status, 'offline', `close ${code} retries`);
    await p.destroy();
  }
  t.diagnostic('terminal codes checked');
});

test('provider: unacknowledged updates stay unsaved; acks are cumulative and never trusted beyond what was sent', async (t) => {
  const { server, p } = setup();
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  server.autoAck = false;
  for (const ch of 'abc') p.transact(() => p.doc.text('body').insert(p.doc.text('body').length, ch));
  server.pump();
  const s = server.last;
  s.deliver({ type: MessageType.ACK, seq: 2 });
  assert.equal(p.saved, false, '2 of 3 acknowledged');
  s.deliver({ type: MessageType.ACK, seq: 99 });
  assert.equal(p.saved, false, 'an ack beyond what was sent is ignored');
  s.deliver({ type: MessageType.ACK, seq: 3 });
  assert.equal(p.saved, true);
});

test('provider: an update larger than maxMessageBytes goes out in parts, and is saved once the last is acknowledged', async (t) => {
  const limit = 2048;
  const { server, p, text } = setup({ maxMessageBytes: limit });
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  server.autoAck = false;
  const big = 'pasted log line — ünïcödé 中文 😀\n'.repeat(600);
  p.transact(() => p.doc.text('body').insert(0, big));
  const s = server.last;
  const n = s.updateSizes.length;
  assert.ok(n >= 10, `${n} update messages for ${big.length} UTF-16 units`);
  for (const size of s.updateSizes) assert.ok(size <= limit, `an update message of ${size} bytes; limit ${limit}`);
  server.pump();
  assert.equal(server.doc.text('body').toString(), big);
  s.deliver({ type: MessageType.ACK, seq: n - 1 });
  assert.equal(p.saved, false, `${n - 1} of ${n} parts acknowledged`);
  s.deliver({ type: MessageType.ACK, seq: n });
  assert.equal(p.saved, true, 'every part acknowledged');

  // Offline: the catch-up update after the next sync is cut the same way.
  s.drop(1006);
  p.transact(() => p.doc.text('body').insert(0, big));
  p.transact(() => p.doc.text('body').delete(100, 5000));
  server.autoAck = true;
  p.connect();
  server.handshake();
  const c = server.last;
  assert.ok(c.updateSizes.length >= 10, `catch-up in ${c.updateSizes.length} messages`);
  for (const size of c.updateSizes) assert.ok(size <= limit, `a catch-up message of ${size} bytes; limit ${limit}`);
  server.pump();
  assert.equal(server.doc.text('body').toString(), text());
  assert.equal(p.saved, true);
});

test('provider: by default, 3 MiB of text go out in messages within the server default 1 MiB', async (t) => {
  const { server, p } = setup();
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  const big = 'x'.repeat(3 << 20);
  p.transact(() => p.doc.text('body').insert(0, big));
  const sizes = server.last.updateSizes;
  assert.equal(sizes.length, 4);
  for (const size of sizes) assert.ok(size <= 1 << 20, `an update message of ${size} bytes`);
  server.pump();
  assert.ok(server.doc.text('body').toString() === big);
  assert.equal(p.saved, true);
});

test('provider: a reload keeps offline edits (new client ID), including pure deletions', async (t) => {
  const store = new MemoryStore();
  const server = new FakeServer();
  server.doc.text('body').insert(0, 'hello world');
  server.doc.takeUpdate();
  // First tab: syncs, goes offline, deletes, closes.
  const p1 = new Provider({ url: 'http://h', docId: 'd', clientId: 1, storage: store, createSocket: server.create });
  await p1.ready;
  server.handshake();
  server.last.drop(1006);
  p1.transact(() => p1.doc.text('body').delete(5, 6));
  await p1.destroy();
  assert.deepEqual((await store.load('d')).unsaved, [1]);
  // Second tab, new client ID, same store: it shows the edit and pushes it on connect.
  const p2 = new Provider({ url: 'http://h', docId: 'd', clientId: 2, storage: store, createSocket: server.create });
  t.after(() => p2.destroy());
  await p2.ready;
  assert.equal(p2.doc.text('body').toString(), 'hello');
  assert.equal(p2.saved, false);
  server.handshake();
  server.pump();
  assert.equal(server.doc.text('body').toString(), 'hello', 'the deletion reached the server');
  assert.equal(p2.saved, true);
  await p2.whenStored();
  assert.deepEqual((await store.load('d')).unsaved, [], 'the stored unsaved marks are cleared');
});

/**
 * dyingStore wraps a store for a tab that is killed after `writes` store writes have been started:
 * later writes never happen (their promises never settle).
 * @param {MemoryStore} inner
 * @param {number} writes
 * @returns {import('./store.js').DocStore}
 */
function dyingStore(inner, writes) {
  const names = ['append', 'markUnsaved', 'markSaved', 'compact', 'clear'];
  return new Proxy(inner, {
    get(target, key) {
      const v = /** @type {any} */ (target)[key];
      if (typeof v !== 'function') return v;
      if (names.includes(String(key))) return (/** @type {any[]} */ ...args) => (writes-- > 0 ? v.apply(target, args) : new Promise(() => {}));
      return v.bind(target);
    },
  });
}

test('provider: a tab killed right after storing a pure deletion still gets it to the server', async (t) => {
  const store = new MemoryStore();
  const server = new FakeServer();
  server.doc.text('body').insert(0, 'hello world');
  server.doc.takeUpdate();
  // The first tab stores the server's text (one write), goes offline, deletes (one more write),
  // and dies there: no destroy(), no later write.
  const p1 = new Provider({ url: 'http://h', docId: 'd', clientId: 1, storage: dyingStore(store, 2), createSocket: server.create, pingIntervalMs: 0 });
  await p1.ready;
  server.handshake();
  server.last.drop(1006);
  p1.disconnect();
  p1.transact(() => p1.doc.text('body').delete(5, 6));
  await settle();
  const stored = await store.load('d');
  assert.equal(stored.updates.length, 2, 'the deletion is in the log');
  assert.deepEqual(stored.unsaved, [1], 'and marked unsaved by the same write');
  const p2 = new Provider({ url: 'http://h', docId: 'd', clientId: 2, storage: store, createSocket: server.create });
  t.after(() => p2.destroy());
  await p2.ready;
  server.handshake();
  server.pump();
  assert.equal(server.doc.text('body').toString(), 'hello', 'the deletion reached the server');
});

test('provider: edits made before the offline store is open are stored', async (t) => {
  const docId = `early-${Date.now()}`;
  const p = new Provider({ url: 'http://h', docId, clientId: 7, connect: false });
  t.after(() => p.destroy());
  p.transact(() => p.doc.text('body').insert(0, 'typed at once'));
  await p.whenStored();
  const other = await IndexedDBStore.open(indexedDB);
  t.after(() => other.close());
  const got = await other.load(docId);
  const d = new Doc(8);
  for (const u of got.updates) d.apply(u);
  assert.equal(d.text('body').toString(), 'typed at once');
  assert.deepEqual(got.unsaved, [7]);
});

test('provider: a document deleted on the server is deleted offline too, so no reload brings it back', async (t) => {
  const store = new MemoryStore();
  const server = new FakeServer();
  const p = new Provider({ url: 'http://h', docId: 'd', clientId: 1, storage: store, createSocket: server.create });
  await p.ready;
  server.handshake();
  p.transact(() => p.doc.text('body').insert(0, 'secret'));
  server.pump();
  await p.whenStored();
  assert.ok((await store.load('d')).updates.length > 0);
  // The document is deleted: the server says so and closes.
  server.doc = new Doc(999);
  server.last.deliver({ type: MessageType.ERROR, code: 4404, message: 'document deleted' });
  server.last.drop(4404, 'document deleted');
  assert.equal(p.status, 'error');
  p.transact(() => p.doc.text('body').insert(6, ' and more'));
  await p.destroy();
  assert.deepEqual(await store.load('d'), { snapshot: null, updates: [], unsaved: [] }, 'nothing of it is left offline');
  // The next page load opens an empty document and sends nothing back.
  const q = new Provider({ url: 'http://h', docId: 'd', clientId: 2, storage: store, createSocket: server.create });
  t.after(() => q.destroy());
  await q.ready;
  server.handshake();
  server.pump();
  assert.equal(server.doc.text('body').toString(), '', 'the deleted text did not come back');
});

test('provider: what a tab stores while offline reaches the server through another tab', async (t) => {
  // Two tabs of one browser: one IndexedDB database, two handles. Tab 1 is online; tab 2 cannot
  // reach the server (say its connection was refused), edits, and is closed.
  const name = `tabs-${Date.now()}`;
  const server = new FakeServer();
  server.doc.text('body').insert(0, 'hello world');
  server.doc.takeUpdate();
  const p1 = new Provider({ url: 'http://h', docId: 'd', clientId: 1, storage: await IndexedDBStore.open(indexedDB, name), createSocket: server.create });
  t.after(() => p1.destroy());
  await p1.ready;
  server.handshake();
  const tab1 = server.last;
  const p2 = new Provider({ url: 'http://h', docId: 'd', clientId: 2, storage: await IndexedDBStore.open(indexedDB, name), connect: false });
  await p2.ready;
  p2.transact(() => p2.doc.text('body').delete(5, 6)); // a pure deletion...
  p2.transact(() => p2.doc.text('body').insert(5, ', tabs')); // ...and an insertion
  await p2.destroy();
  // Tab 1 hears of it, reads the store and sends it on.
  for (let i = 0; i < 100 && server.doc.text('body').toString() !== 'hello, tabs'; i++) {
    await new Promise((r) => setTimeout(r, 10));
    await p1.whenStored();
    server.pump(tab1);
  }
  assert.equal(server.doc.text('body').toString(), 'hello, tabs', "tab 2's edits reached the server");
  assert.equal(p1.doc.text('body').toString(), 'hello, tabs');
  assert.ok(p1.saved, 'and tab 1 knows they are saved');
  await p1.whenStored();
  const check = await IndexedDBStore.open(indexedDB, name);
  t.after(() => check.close());
  assert.deepEqual((await check.load('d')).unsaved, [], 'the unsaved marks are cleared');
});

test('provider: opening does not grow the store; compaction folds the log', async (t) => {
  const store = new MemoryStore();
  const server = new FakeServer();
  const p = new Provider({ url: 'http://h', docId: 'd', clientId: 3, storage: store, createSocket: server.create, connect: false });
  await p.ready;
  for (let i = 0; i < 600; i++) p.transact(() => p.doc.text('body').insert(i, 'x'));
  await p.destroy();
  const stats = await store.stats('d');
  assert.ok(stats.logEntries < 600 && stats.snapshotBytes > 0, `compacted: ${JSON.stringify(stats)}`);
  for (let i = 0; i < 3; i++) {
    const q = new Provider({ url: 'http://h', docId: 'd', storage: store, createSocket: server.create, connect: false });
    await q.ready;
    assert.equal(q.doc.text('body').length, 600);
    await q.destroy();
  }
  assert.deepEqual(await store.stats('d'), stats, 'opening three times wrote nothing');
  t.diagnostic(`after 600 one-character edits: ${JSON.stringify(stats)}`);
});

test('provider: remote updates emit change events and are stored', async (t) => {
  const { server, p, events } = setup();
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  const other = new Doc(7);
  other.text('body').insert(0, 'hi 👋');
  server.last.deliver({ type: MessageType.UPDATE, data: /** @type {Uint8Array} */ (other.takeUpdate()) });
  const change = events.filter((e) => e[0] === 'change').at(-1)[1];
  assert.equal(change.origin, 'remote');
  assert.deepEqual(change.changes[0].edits, [{ pos: 0, delete: 0, insert: 'hi 👋' }]);
  // A malformed update is reported, not thrown, and changes nothing.
  server.last.deliver({ type: MessageType.UPDATE, data: new Uint8Array([1, 2, 3]) });
  assert.ok(events.some((e) => e[0] === 'error'));
  assert.equal(p.doc.text('body').toString(), 'hi 👋');
});

test('provider: awareness is announced after sync, received, and cleared on disconnect', async (t) => {
  const { server, p } = setup();
  t.after(() => p.destroy());
  await p.ready;
  p.awareness.setLocalState({ user: { name: 'ann' } });
  server.handshake();
  const aw = server.last.take(MessageType.AWARENESS);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(aw.state)), { user: { name: 'ann' } });
  server.last.deliver({ type: MessageType.AWARENESS, entries: [{ clientId: 8, clock: 1, state: new TextEncoder().encode('{"user":{"name":"bo"}}') }] });
  assert.deepEqual(p.awareness.getStates().get(8), { user: { name: 'bo' } });
  server.last.drop(1006);
  assert.equal(p.awareness.getStates().size, 0, 'no ghosts while offline');
  // The same when the application disconnects: the socket's handlers are gone by then, so the
  // provider must drop the states itself.
  p.connect();
  server.handshake();
  server.last.deliver({ type: MessageType.AWARENESS, entries: [{ clientId: 8, clock: 2, state: new TextEncoder().encode('{"user":{"name":"bo"}}') }] });
  assert.equal(p.awareness.getStates().size, 1);
  /** @type {number[]} */
  const removed = [];
  p.awareness.on('change', (c) => removed.push(...c.removed));
  p.disconnect();
  assert.equal(p.awareness.getStates().size, 0, 'no ghosts after disconnect()');
  assert.deepEqual(removed, [8], 'and the bindings are told');
});

test('provider: ping after silence, reconnect when nothing answers; server pings are answered', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { server, p } = setup({ pingIntervalMs: 1000, pongTimeoutMs: 500 });
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  server.last.deliver({ type: MessageType.PING, nonce: 7 });
  assert.equal(server.last.take(MessageType.PONG).nonce, 7);
  t.mock.timers.tick(1000);
  const ping = server.last.take(MessageType.PING);
  server.last.deliver({ type: MessageType.PONG, nonce: ping.nonce });
  t.mock.timers.tick(1000);
  server.last.take(MessageType.PING);
  t.mock.timers.tick(500);
  assert.equal(p.status, 'offline', 'dead connection detected');
  assert.ok(server.sockets[0].closedBy, 'the dead socket was closed');
});

test('provider: broadcast both ways', async (t) => {
  const { server, p, events } = setup();
  t.after(() => p.destroy());
  await p.ready;
  assert.equal(p.broadcast('early'), false, 'not sent before sync');
  server.handshake();
  assert.equal(p.broadcast('typing'), true);
  assert.equal(new TextDecoder().decode(server.last.take(MessageType.BROADCAST).payload), 'typing');
  server.last.deliver({ type: MessageType.BROADCAST, clientId: 5, payload: new Uint8Array([1]) });
  assert.deepEqual(events.filter((e) => e[0] === 'broadcast').at(-1)[1], { clientId: 5, payload: new Uint8Array([1]) });
});

test('provider: listener exceptions do not break the provider', async (t) => {
  const { server, p, text } = setup();
  t.after(() => p.destroy());
  p.on('change', () => {
    throw new Error('listener bug');
  });
  const origError = console.error;
  console.error = () => {};
  t.after(() => (console.error = origError));
  await p.ready;
  server.doc.text('body').insert(0, 'x');
  server.doc.takeUpdate();
  server.handshake();
  assert.equal(text(), 'x');
  assert.equal(p.status, 'connected');
  await settle();
});

/**
 * jwt returns an unsigned token shaped like a JWT whose payload holds claims (the provider reads
 * only `exp`, and never verifies).
 * @param {Record<string, unknown>} claims
 */
const jwt = (claims) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

/**
 * accessAnswer returns a fetch stub answering the access endpoint with body, recording the URLs.
 * @param {any} body
 */
function accessAnswer(body) {
  /** @type {string[]} */
  const urls = [];
  const fetch = async (/** @type {string} */ url) => {
    urls.push(url);
    return { status: body.ok ? 200 : 403, json: async () => body };
  };
  return { fetch, urls };
}

test('accessUrl and tokenExpiry', () => {
  assert.equal(accessUrl('https://h/base/', 'a:b', 't k'), 'https://h/base/v1/docs/a%3Ab/access?token=t+k');
  assert.equal(accessUrl('ws://h:1', 'x'), 'http://h:1/v1/docs/x/access');
  assert.equal(tokenExpiry(jwt({ sub: 'a', exp: 1700000000 })), 1700000000_000);
  for (const t of ['', 'opaque', 'a.b.c', jwt({ sub: 'a' }), jwt({ exp: 'soon' })]) assert.equal(tokenExpiry(t), null, t);
});

test('provider: while sent updates wait for their ack, a dead connection is found within 4 s', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { server, p } = setup();
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  // Idle: the slow schedule (a ping after 20 s of silence).
  t.mock.timers.tick(5_000);
  assert.equal(server.last.sent.filter((m) => m.type === MessageType.PING).length, 0, 'no ping while idle and saved');
  server.autoAck = false;
  p.transact(() => p.doc.text('body').insert(0, 'x'));
  t.mock.timers.tick(1_000);
  server.last.take(MessageType.PING);
  assert.equal(p.status, 'connected');
  t.mock.timers.tick(3_000);
  assert.equal(p.status, 'offline', 'no answer within 3 s of the ping: lost');
  assert.equal(p.saved, false, 'and not saved');
  assert.ok(server.sockets[0].closedBy);
});

test('provider: an answered fast ping keeps the connection; the ack brings back the slow schedule', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { server, p } = setup();
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  server.autoAck = false;
  p.transact(() => p.doc.text('body').insert(0, 'x'));
  t.mock.timers.tick(1_000);
  const ping = server.last.take(MessageType.PING);
  server.last.deliver({ type: MessageType.PONG, nonce: ping.nonce });
  server.autoAck = true;
  server.pump();
  assert.ok(p.saved);
  t.mock.timers.tick(15_000);
  assert.equal(p.status, 'connected');
  assert.equal(server.last.sent.filter((m) => m.type === MessageType.PING).length, 0, 'saved: back to pinging after 20 s');
});

test('provider: goOffline (the browser offline event) says offline at once, drops cursors, retries', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { server, p, events } = setup();
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  p.awareness.receive([{ clientId: 8, clock: 1, state: new TextEncoder().encode('{"user":{"name":"b"}}') }]);
  assert.equal(p.awareness.getStates().size, 1);
  p.goOffline();
  assert.equal(p.status, 'offline');
  assert.equal(p.awareness.getStates().size, 0, 'no ghost cursors');
  assert.equal(events.filter((e) => e[0] === 'status').at(-1)[1].reason, 'network offline');
  t.mock.timers.tick(250);
  assert.equal(server.sockets.length, 2, 'retried');
});

test('provider: a failed upgrade asks the access endpoint; a refusal stops the retries and names its cause', async (t) => {
  const cases = [
    { code: 4400, cause: 'bad document ID' , want: 'invalid-document' },
    { code: 4401, cause: 'token expired', want: 'unauthorized' },
    { code: 4403, cause: 'origin not allowed', want: 'forbidden' },
    { code: 4404, cause: 'document deleted', want: 'deleted' },
  ];
  for (const c of cases) {
    const { fetch, urls } = accessAnswer({ ok: false, code: c.code, error: c.cause });
    const { server, p, events } = setup({ fetch, token: 'tok', pingIntervalMs: 0 });
    await p.ready;
    await settle();
    server.last.drop(1006);
    assert.equal(p.status, 'offline', `${c.code}: offline until the answer`);
    await settle();
    assert.deepEqual(urls, ['http://127.0.0.1:1/v1/docs/notes/access?token=tok']);
    assert.equal(p.status, 'error', `${c.code}`);
    assert.deepEqual(events.filter((e) => e[0] === 'refused').map((e) => e[1]), [{ code: c.code, cause: c.want, reason: c.cause, via: 'access' }]);
    assert.deepEqual(events.filter((e) => e[0] === 'status').at(-1)[1], { status: 'error', code: c.code, reason: c.cause });
    assert.deepEqual(p.refusal, { code: c.code, cause: c.want, reason: c.cause, via: 'access' });
    assert.equal(p.deleted, c.code === 4404);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(server.sockets.length, 1, `${c.code}: no retry`);
    await p.destroy();
  }
});

test('provider: a failed upgrade with access ok, or no answer, goes on retrying', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  for (const fetch of [
    accessAnswer({ ok: true, role: 'write', subject: 'a', expires: null }).fetch,
    async () => {
      throw new TypeError('failed to fetch');
    },
    async () => ({ status: 404, json: async () => { throw new SyntaxError('not json'); } }),
  ]) {
    const { server, p, events } = setup({ fetch, pingIntervalMs: 0 });
    await p.ready;
    await settle();
    server.last.drop(1006);
    await settle();
    await settle();
    assert.equal(p.status, 'offline');
    t.mock.timers.tick(250);
    await settle();
    assert.equal(server.sockets.length, 2, 'retried');
    assert.equal(events.filter((e) => e[0] === 'refused').length, 0);
    await p.destroy();
  }
});

test('provider: a refused token is replaced by getToken, once; the same token again is terminal', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const tokens = ['t1', 't2', 't2'];
  let asked = 0;
  const { server, p, events } = setup({ getToken: () => tokens[asked++], pingIntervalMs: 0 });
  t.after(() => p.destroy());
  await p.ready;
  await settle();
  assert.match(server.last.url, /token=t1$/);
  server.handshake();
  // The server closes: the token expired.
  server.last.deliver({ type: MessageType.ERROR, code: 4401, message: 'token expired' });
  server.last.drop(4401, 'token expired');
  assert.equal(p.status, 'offline', 'not terminal yet: a refresher exists');
  t.mock.timers.tick(250);
  await settle();
  assert.equal(server.sockets.length, 2);
  assert.match(server.last.url, /token=t2$/);
  server.handshake();
  server.last.drop(4401, 'token revoked');
  t.mock.timers.tick(500);
  await settle();
  // The refresher has nothing newer than t2: terminal.
  assert.equal(server.sockets.length, 2, 'no third socket for the same token');
  assert.equal(p.status, 'error');
  assert.deepEqual(events.filter((e) => e[0] === 'refused').map((e) => e[1]), [{ code: 4401, cause: 'unauthorized', reason: 'token revoked', via: 'close' }]);
});

test('provider: a 4401 learnt from the access endpoint is retried with a fresh token', async (t) => {
  let n = 0;
  const { fetch } = accessAnswer({ ok: false, code: 4401, error: 'token expired' });
  const { server, p, events } = setup({ fetch, getToken: () => `t${++n}`, pingIntervalMs: 0 });
  t.after(() => p.destroy());
  await p.ready;
  await settle();
  server.last.drop(1006);
  await settle();
  await settle();
  assert.equal(server.sockets.length, 2, 'a new attempt at once');
  assert.match(server.last.url, /token=t2$/);
  server.handshake();
  assert.equal(p.status, 'connected');
  assert.equal(events.filter((e) => e[0] === 'refused').length, 0);
});

test('provider: getToken renews the token before it expires and sends it in band; setToken sends at once', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const exp = (/** @type {number} */ ms) => jwt({ sub: 'a', exp: Math.floor(ms / 1000) });
  let next = exp(1_000_000 + 600_000);
  const { server, p, events } = setup({ getToken: () => next, pingIntervalMs: 0 });
  t.after(() => p.destroy());
  await p.ready;
  await settle();
  server.handshake();
  const fresh = exp(1_000_000 + 1_200_000);
  next = fresh;
  t.mock.timers.tick(600_000 - 60_000 - 1);
  assert.equal(server.last.sent.filter((m) => m.type === MessageType.AUTH).length, 0, 'not before exp - 60 s');
  t.mock.timers.tick(1);
  await settle();
  assert.deepEqual(events.filter((e) => e[0] === 'error'), []);
  assert.equal(server.last.take(MessageType.AUTH).token, fresh);
  p.setToken('manual');
  assert.equal(server.last.take(MessageType.AUTH).token, 'manual');
  assert.equal(server.sockets.length, 1, 'the connection stays');
});

test('provider: after 4404 edits are neither stored nor marked unsaved, and the refusal says deleted', async (t) => {
  const store = new MemoryStore();
  const { server, p, events } = setup({ storage: store, pingIntervalMs: 0 });
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  server.last.deliver({ type: MessageType.ERROR, code: 4404, message: 'document deleted' });
  server.last.drop(4404, '');
  assert.ok(p.deleted);
  assert.deepEqual(p.refusal, { code: 4404, cause: 'deleted', reason: 'document deleted', via: 'close' });
  const unsaved = events.filter((e) => e[0] === 'unsaved').length;
  p.transact(() => p.doc.text('body').insert(0, 'lost'));
  await p.whenStored();
  assert.equal(events.filter((e) => e[0] === 'unsaved').length, unsaved, 'no "unsaved (kept offline)" for what nothing keeps');
  assert.deepEqual(await store.load('notes'), { snapshot: null, updates: [], unsaved: [] });
  assert.ok(events.some((e) => e[0] === 'error' && /deleted/.test(e[1].message)));
  p.connect();
  assert.equal(p.deleted, false, 'connect() starts over');
  assert.equal(p.refusal, null);
});

/**
 * fakeWindow stands in for a browser's window, as far as the provider listens to it: its events,
 * and navigator.onLine starting at online; the test's end puts the real globals back.
 * @param {import('node:test').TestContext} t
 * @param {boolean} online
 */
function fakeWindow(t, online) {
  const win = new EventTarget();
  const g = /** @type {any} */ (globalThis);
  const saved = { add: g.addEventListener, remove: g.removeEventListener, nav: Object.getOwnPropertyDescriptor(globalThis, 'navigator') };
  g.addEventListener = win.addEventListener.bind(win);
  g.removeEventListener = win.removeEventListener.bind(win);
  Object.defineProperty(globalThis, 'navigator', { value: { onLine: online }, configurable: true, writable: true });
  t.after(() => {
    g.addEventListener = saved.add;
    g.removeEventListener = saved.remove;
    if (saved.nav) Object.defineProperty(globalThis, 'navigator', saved.nav);
    else delete g.navigator;
  });
  return { win, g };
}

test('provider: the offline event drops the connection at once; online reconnects at once', async (t) => {
  const { win, g } = fakeWindow(t, true);
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { server, p, events } = setup();
  await p.ready;
  server.handshake();
  g.navigator.onLine = false;
  win.dispatchEvent(new Event('offline'));
  assert.equal(p.status, 'offline');
  assert.ok(server.sockets[0].closedBy, 'the socket was closed');
  assert.equal(events.filter((e) => e[0] === 'status').at(-1)[1].reason, 'network offline');
  g.navigator.onLine = true;
  win.dispatchEvent(new Event('online'));
  assert.equal(server.sockets.length, 2, 'reconnected without waiting for the backoff');
  server.handshake();
  assert.equal(p.status, 'connected');
  await p.destroy();
  win.dispatchEvent(new Event('offline'));
  assert.equal(server.sockets[1].closedBy?.reason, 'client disconnect', 'destroyed: the listeners are gone');
});

test('provider: with no network it says offline at once and opens no socket until online', async (t) => {
  const { win, g } = fakeWindow(t, false);
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { server, p, events } = setup();
  await p.ready;
  assert.equal(p.status, 'offline');
  assert.equal(server.sockets.length, 0, 'no socket while the platform says there is no network');
  assert.ok(!events.some((e) => e[0] === 'status' && e[1].status === 'connecting'), 'never said connecting');
  assert.equal(events.filter((e) => e[0] === 'status').at(-1)[1].reason, 'network offline');
  g.navigator.onLine = true;
  win.dispatchEvent(new Event('online'));
  assert.equal(server.sockets.length, 1, 'the online event opens the connection at once');
  server.handshake();
  assert.equal(p.status, 'connected');
  await p.destroy();
});

test('provider: a connection that opened and then dropped asks no access check', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { fetch, urls } = accessAnswer({ ok: false, code: 4403, error: 'forbidden' });
  const { server, p } = setup({ fetch, pingIntervalMs: 0 });
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  server.last.drop(1006);
  await settle();
  assert.deepEqual(urls, [], 'the upgrade succeeded: nothing to ask');
  assert.equal(p.status, 'offline');
  t.mock.timers.tick(250);
  assert.equal(server.sockets.length, 2, 'an ordinary retry');
});

/** untilFlushed lets the timers of a scheduled flush run (in node, afterPaint is a 0 ms timer). */
async function untilFlushed(/** @type {Provider} */ p) {
  for (let i = 0; i < 100 && p.flushPending; i++) await new Promise((r) => setTimeout(r, 0));
  assert.equal(p.flushPending, false, 'the scheduled flush ran');
}

test('provider: scheduleFlush says unsaved at once, then stores and sends the keystrokes of a frame as one update', async (t) => {
  const store = new MemoryStore();
  const { server, p, events } = setup({ storage: store });
  t.after(() => p.destroy());
  await p.ready;
  server.handshake();
  const body = p.doc.text('body');
  /** @type {any[]} */
  const local = [];
  p.on('local', (ev) => local.push(ev));
  for (const ch of 'abc') {
    body.insert(body.length, ch);
    p.scheduleFlush();
  }
  assert.equal(p.saved, false, 'a keystroke is unsaved at once');
  assert.deepEqual(events.filter((e) => e[0] === 'unsaved').length, 1);
  assert.equal(p.flushPending, true);
  assert.equal(server.last.sent.filter((m) => m.type === MessageType.UPDATE).length, 0, 'nothing sent before the frame');
  assert.equal((await store.load('notes')).updates.length, 0, 'nothing stored before the frame'); // whenStored() would flush
  await untilFlushed(p);
  assert.equal(server.last.sent.filter((m) => m.type === MessageType.UPDATE).length, 1, 'one message for the three keystrokes');
  await p.whenStored();
  const stored = await store.load('notes');
  assert.equal(stored.updates.length, 1, 'one store append for the three keystrokes');
  assert.deepEqual(stored.unsaved, [42]);
  assert.equal(local.length, 1);
  assert.equal(local[0].deferred, true, 'the local event says the flush was the scheduled one');
  server.pump();
  assert.equal(server.doc.text('body').toString(), 'abc');
  assert.equal(p.saved, true);
});

test("provider: a connection's catch-up takes the keystrokes a scheduled flush waits for, and that flush no longer runs", async (t) => {
  const store = new MemoryStore();
  const { server, p } = setup({ storage: store });
  t.after(() => p.destroy());
  await p.ready;
  /** @type {any[]} */
  const locals = [];
  p.on('local', (ev) => locals.push(ev));
  p.doc.text('body').insert(0, 'x');
  p.scheduleFlush();
  assert.equal(p.saved, false);
  server.handshake();
  assert.equal(p.flushPending, false, 'the catch-up ran the scheduled flush');
  assert.deepEqual(locals.map((ev) => ev.deferred), [true], 'said to be the scheduled flush: a binding that wrote it has nothing to render');
  assert.equal(server.last.sent.filter((m) => m.type === MessageType.UPDATE).length, 1, 'the keystroke went out with the catch-up');
  await p.whenStored();
  assert.equal((await store.load('notes')).updates.length, 1, 'and was stored once');
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  assert.equal(locals.length, 1, 'no flush ran after it');
  server.pump();
  assert.equal(server.doc.text('body').toString(), 'x');
  assert.equal(p.saved, true);
});

for (const { name, catchUp } of [
  { name: 'a scheduled flush', catchUp: false },
  { name: "a connection's catch-up that runs a scheduled flush", catchUp: true },
]) {
  test(`provider: ${name} finding no change takes back its unsaved mark`, async (t) => {
    const { server, p } = setup();
    t.after(() => p.destroy());
    await p.ready;
    if (!catchUp) server.handshake();
    p.scheduleFlush();
    assert.equal(p.saved, false);
    if (catchUp) {
      server.handshake();
      assert.equal(p.flushPending, false);
    }
    await untilFlushed(p);
    assert.equal(p.saved, true, 'nothing was changed: saved');
  });
}

test('provider: what a scheduled flush waits for runs it first', async (t) => {
  // A browser's window and document, as far as the provider listens to them.
  const win = new EventTarget();
  const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' });
  const g = /** @type {any} */ (globalThis);
  const saved = { add: g.addEventListener, remove: g.removeEventListener, doc: Object.getOwnPropertyDescriptor(globalThis, 'document') };
  g.addEventListener = win.addEventListener.bind(win);
  g.removeEventListener = win.removeEventListener.bind(win);
  Object.defineProperty(globalThis, 'document', { value: doc, configurable: true, writable: true });
  t.after(() => {
    g.addEventListener = saved.add;
    g.removeEventListener = saved.remove;
    if (saved.doc) Object.defineProperty(globalThis, 'document', saved.doc);
    else delete g.document;
  });
  /** @type {[string, (p: Provider, s: FakeSocket) => void | Promise<void>][]} */
  const cases = [
    ['flush', (p) => p.flush()],
    ['transact', (p) => p.transact(() => {})],
    ['destroy', (p) => void p.destroy()],
    ['whenStored', (p) => void p.whenStored()],
    ['storageStats', (p) => void p.storageStats()],
    ['pagehide', () => void win.dispatchEvent(new Event('pagehide'))],
    [
      'visibilitychange to hidden',
      () => {
        doc.visibilityState = 'hidden';
        doc.dispatchEvent(new Event('visibilitychange'));
        doc.visibilityState = 'visible';
      },
    ],
    [
      'an ack that would say saved',
      (p, s) => {
        // The update sent before the keystroke is acknowledged: the keystroke goes out, unsaved.
        /** @type {any[]} */
        const locals = [];
        const off = p.on('local', (ev) => locals.push(ev));
        s.acked = 1;
        s.deliver({ type: MessageType.ACK, seq: 1 });
        off();
        assert.equal(p.saved, false, 'not saved while a keystroke waits');
        // The scheduled flush run early, still said to be the scheduled one: a binding that wrote
        // the keystroke has nothing to render.
        assert.deepEqual(locals.map((ev) => ev.deferred), [true]);
      },
    ],
  ];
  for (const [name, trigger] of cases) {
    const store = new MemoryStore();
    const { server, p } = setup({ storage: store });
    await p.ready;
    server.handshake();
    const s = server.last;
    server.autoAck = false;
    p.transact(() => p.doc.text('body').insert(0, 'x'));
    assert.equal(s.sent.filter((m) => m.type === MessageType.UPDATE).length, 1, name);
    p.doc.text('body').insert(1, 'y');
    p.scheduleFlush();
    await trigger(p, s);
    assert.equal(p.flushPending, false, `${name}: the scheduled flush ran`);
    assert.equal(s.sent.filter((m) => m.type === MessageType.UPDATE).length, 2, `${name}: the keystroke was sent`);
    await p.whenStored();
    assert.equal((await store.load('notes')).updates.length, 2, `${name}: the keystroke was stored`);
    await p.destroy();
  }
});

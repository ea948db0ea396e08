// The demo's service worker: it keeps the page's shell (index.html, its script and stylesheet, and
// the client's modules it preloads) so that the editor opens, and shows what the offline copy
// holds, when the network is gone. Served at the site's root (/sw.js), so its scope is the whole
// demo. Network first: online, every page load gets the server's current files (and refreshes the
// copy); only when the network fails does the copy answer. The API (/v1/...) and anything not a
// GET are never touched.
// @ts-check

const CACHE = 'tandem-demo-shell-v1';
/** @type {any} the worker's global scope (the page's type library describes a window) */
const sw = self;

/** shellUrls reads index.html and lists it with everything it loads (the modulepreload links). */
async function shellUrls() {
  const res = await fetch('./', { cache: 'no-cache' });
  const html = await res.text();
  const urls = ['./', './demo.js', './demo.css'];
  for (const m of html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)) urls.push(m[1]);
  return urls;
}

sw.addEventListener('install', (/** @type {any} */ ev) => {
  ev.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(await shellUrls());
      await sw.skipWaiting();
    })(),
  );
});

sw.addEventListener('activate', (/** @type {any} */ ev) => {
  ev.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    })(),
  );
});

sw.addEventListener('fetch', (/** @type {any} */ ev) => {
  const req = /** @type {Request} */ (ev.request);
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/v1/') || url.pathname === '/healthz' || url.pathname === '/metrics') return;
  ev.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      // Every document's page is the same index.html: its query names the document.
      const key = req.mode === 'navigate' ? new URL('./', location.href).href : url.href;
      try {
        const res = await fetch(req);
        if (res.ok) await cache.put(key, res.clone());
        return res;
      } catch (err) {
        const hit = await cache.match(key, { ignoreSearch: req.mode === 'navigate' });
        if (hit) return hit;
        throw err;
      }
    })(),
  );
});

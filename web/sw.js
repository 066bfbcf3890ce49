// Stockline POS service worker: keeps the app shell (the page, its JS,
// wasm, CSS, manifest and icon) so the till opens with central down or the
// network off. The API is never cached here: the store node keeps its own
// replica and queue in IndexedDB and says how stale they are.
"use strict";

const SHELL = "stockline-shell-v1";
// A page request slower than this is answered from the cache: a till must
// open at once, even on a network that accepts connections but never answers.
const PAGE_TIMEOUT_MS = 3000;
// trunk names built assets with a content hash: such a name never changes
// its bytes, so a cached copy is always right.
const HASHED = /-[0-9a-f]{16}(_bg)?\.[a-z]+$/;
const NOT_SHELL = [/^\/v1\//, /^\/(metrics|healthz|readyz|docs|openapi\.json)/];
// The shell is the same whoever asks: a server's `Vary: Origin` (CORS) must
// not make a module script's request (which carries Origin) miss the cache.
const MATCH = { ignoreVary: true };

self.addEventListener("install", (event) => {
  event.waitUntil(cacheShell().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== SHELL) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (NOT_SHELL.some((re) => re.test(url.pathname))) return;
  event.respondWith(request.mode === "navigate" ? page(event) : asset(request));
});

// The page: the network first (a new build reaches the till when online),
// the cached shell when the network is slow or down.
async function page(event) {
  try {
    const response = await withTimeout(fetch(event.request), PAGE_TIMEOUT_MS);
    if (response.ok) event.waitUntil(cacheShell(response.clone()));
    return response;
  } catch (_) {
    const cached = await caches.match("/", MATCH);
    return cached || Response.error();
  }
}

// Assets: the cache first, else the network (and keep what came).
async function asset(request) {
  const cached = await caches.match(request, MATCH);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") {
    const cache = await caches.open(SHELL);
    await cache.put(request, response.clone());
  }
  return response;
}

// Caches the page and every same-origin asset it links, and forgets the
// assets an older build linked.
async function cacheShell(fresh) {
  const cache = await caches.open(SHELL);
  const response = fresh || await fetch("/", { cache: "no-cache" });
  if (!response.ok) return;
  const html = await response.clone().text();
  const assets = new Set(["/manifest.webmanifest", "/icon.svg"]);
  for (const [, link] of html.matchAll(/(?:href|src)="([^"#]+)"/g)) {
    const url = new URL(link, self.location.origin);
    if (url.origin === self.location.origin && url.pathname !== "/" &&
        !NOT_SHELL.some((re) => re.test(url.pathname))) {
      assets.add(url.pathname);
    }
  }
  await cache.put("/", response);
  await Promise.all([...assets].map(async (path) => {
    if (HASHED.test(path) && await cache.match(path, MATCH)) return;
    try {
      const got = await fetch(path, { cache: "no-cache" });
      if (got.ok) await cache.put(path, got);
    } catch (_) {
      // Offline meanwhile: keep what the cache has.
    }
  }));
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (path !== "/" && !assets.has(path)) await cache.delete(request);
  }
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timed out")), ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error) => { clearTimeout(timer); reject(error); },
    );
  });
}

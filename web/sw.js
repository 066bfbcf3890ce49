// Stockline POS service worker: keeps the app shell (the page, its JS,
// wasm, CSS, manifest and icon) so the till opens with central down or the
// network off. The API is never cached here: the store node keeps its own
// replica and queue in IndexedDB and says how stale they are.
"use strict";

const SHELL = "stockline-shell-v1";
// A page request slower than this is answered from the cache: a till must
// open at once, even on a network that accepts connections but never answers.
const PAGE_TIMEOUT_MS = 3000;
// trunk names built assets with a content hash (hex, up to 16 digits): such
// a name never changes its bytes, so a cached copy is always right.
const HASHED = /-[0-9a-f]{8,16}(_bg)?\.[a-z]+$/;
const NOT_SHELL = [/^\/v1\//, /^\/(metrics|healthz|readyz|docs|openapi\.json)/];
const PAGE_PATHS = ["/", "/index.html"];
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
  if (request.mode === "navigate" && PAGE_PATHS.includes(url.pathname)) {
    event.respondWith(page(event));
  } else if (request.mode !== "navigate") {
    event.respondWith(asset(request));
  }
});

const isHtml = (response) =>
  (response.headers.get("content-type") || "").startsWith("text/html");

// The page: the network first (a new build reaches the till when online),
// the cached shell when the network is slow, down, or a proxy answers in
// central's place with an error.
async function page(event) {
  const cached = await caches.match("/", MATCH);
  try {
    const response = await withTimeout(fetch(event.request), PAGE_TIMEOUT_MS);
    if (response.ok && isHtml(response)) {
      event.waitUntil(cacheShell(response.clone()));
      return response;
    }
    return cached && response.status >= 500 ? cached : response;
  } catch (_) {
    return cached || Response.error();
  }
}

// Assets: the cache first, else the network (and keep what came, unless it
// is a page: a server's fallback page must never be kept as a script).
async function asset(request) {
  const cached = await caches.match(request, MATCH);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok && response.type === "basic" && !isHtml(response)) {
    const cache = await caches.open(SHELL);
    await cache.put(request, response.clone());
  }
  return response;
}

// Caches the page and every same-origin asset it links, then forgets what an
// older build linked. All or nothing: if an asset cannot be fetched, the
// shell cached before stays whole.
async function cacheShell(fresh) {
  const cache = await caches.open(SHELL);
  const response = fresh || await fetch("/", { cache: "no-cache" });
  if (!response.ok || !isHtml(response)) return;
  const html = await response.clone().text();
  const assets = new Set(["/manifest.webmanifest", "/icon.svg"]);
  for (const [, link] of html.matchAll(/(?:href|src)="([^"#]+)"/g)) {
    const url = new URL(link, self.location.origin);
    if (url.origin === self.location.origin && !PAGE_PATHS.includes(url.pathname) &&
        !NOT_SHELL.some((re) => re.test(url.pathname))) {
      assets.add(url.pathname);
    }
  }
  const fetched = [];
  for (const path of assets) {
    if (HASHED.test(path) && await cache.match(path, MATCH)) continue;
    let got;
    try {
      got = await fetch(path, { cache: "no-cache" });
    } catch (_) {
      return; // offline meanwhile: keep the shell as it was
    }
    if (!got.ok || isHtml(got)) return;
    fetched.push([path, got]);
  }
  for (const [path, got] of fetched) await cache.put(path, got);
  await cache.put("/", response);
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

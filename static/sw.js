/**
 * sw.js — service worker: keeps the app shell so the pages open when the box is unreachable.
 *
 * Served at /sw.js (scope "/"). Only registered in a secure context (HTTPS or localhost); on a
 * plain-HTTP LAN address browsers don't allow service workers and the pages work without this file.
 *
 * Strategy: network first (the box is on the LAN, so this is fast and a deployed update shows at
 * once), falling back to the cached copy when the box can't be reached. Live data never goes
 * through the cache: /api/ and /socket.io/ are left to the network, and the pages keep their own
 * last known state in localStorage (see static/js/stream.js).
 */
const CACHE = "classroom-box-shell-v1";
const NETWORK_TIMEOUT_MS = 4000;

/** Pages, keyed by the URL they are cached under. */
const PAGES = ["/", "/student", "/teacher"];
const ASSETS = [
  "/manifest.webmanifest",
  "/static/css/app.css",
  "/static/js/api.js",
  "/static/js/ui.js",
  "/static/js/stream.js",
  "/static/js/stream-state.js",
  "/static/js/event_types.js",
  "/static/js/answers-state.js",
  "/static/js/outbox.js",
  "/static/js/patch-list.js",
  "/static/js/student-answers.js",
  "/static/js/teacher-answers.js",
  "/static/js/teacher-classes.js",
  "/static/js/teacher-forms.js",
  "/static/js/teacher-join.js",
  "/static/js/teacher-lecture.js",
  "/static/js/teacher-live.js",
  "/static/js/teacher-roster.js",
  "/static/js/teacher-state.js",
  "/static/js/index.js",
  "/static/js/student.js",
  "/static/js/teacher.js",
  "/static/js/records.js",
  "/static/vendor/socket.io-client/socket.io.esm.min.js",
  "/static/icons/icon.svg",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // One by one: a single missing file must not stop the rest of the shell from being cached.
    await Promise.all([...PAGES, ...ASSETS].map((url) =>
      cache.add(new Request(url, { cache: "no-cache", credentials: "same-origin" })).catch(() => {})));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key !== CACHE && key.startsWith("classroom-box-")) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

/** Which cached page answers a navigation to this path (or null: don't cache, e.g. /setup). */
function pageKey(pathname) {
  if (pathname === "/" || pathname === "/index.html") return "/";
  if (pathname === "/student" || pathname.startsWith("/join/")) return "/student";
  if (pathname === "/teacher") return "/teacher";
  return null;
}

function isShellAsset(url) {
  return url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest";
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    if (response.ok && response.type === "basic") {
      await cache.put(key, response.clone());
    }
    return response;
  } catch (err) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/socket.io")) return;

  if (request.mode === "navigate") {
    const key = pageKey(url.pathname);
    if (key) event.respondWith(networkFirst(request, key));
    return;
  }
  if (isShellAsset(url)) {
    event.respondWith(networkFirst(request, url.pathname));
  }
});

// The interviewer app's service worker: keeps the app shell so the app opens with no connection.
// Only the shell is cached; the API (/api/capi/...) always goes to the network (the app keeps its
// data in IndexedDB).
const CACHE = "spibot-capi-v1";
const SHELL = ["/capi/", "/capi/app.js", "/capi/app.css", "/capi/manifest.webmanifest", "/capi/icon.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !url.pathname.startsWith("/capi/")) {
    return;
  }
  const key = url.pathname === "/capi/index.html" ? "/capi/" : url.pathname;
  // Cache first (a flaky connection never stalls the shell), refreshed from the network when it answers.
  event.respondWith(caches.open(CACHE).then((cache) => cache.match(key).then((hit) => {
    const fresh = fetch(event.request).then((resp) => {
      if (resp.ok) cache.put(key, resp.clone());
      return resp;
    });
    if (hit) {
      fresh.catch(() => undefined);
      return hit;
    }
    return fresh;
  })));
});

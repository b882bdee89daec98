// The crew page's service worker: keeps the page's own files so the page opens without
// signal. Network first (a phone online always gets the relay's current page), the cache
// when the network fails. The sheet itself is kept by the page (crew.js), with the link key.
const CACHE = "setlink-crew-v1";
const SHELL = ["/crew/", "/crew/crew.js", "/crew/crew.css", "/crew/manifest.webmanifest", "/crew/icon.svg",
  "/crew/icon-192.png", "/crew/icon-512.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!SHELL.includes(url.pathname)) return; // the API is the page's business
  event.respondWith(
    fetch(event.request)
      .then((resp) => {
        if (resp.ok) {
          const copy = resp.clone();
          caches.open(CACHE).then((c) => c.put(url.pathname, copy));
        }
        return resp;
      })
      .catch(() => caches.match(url.pathname).then((hit) => hit || Response.error())),
  );
});

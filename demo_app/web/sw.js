// Offline support: app, runtime (vendor) and bundle files are served cache-first once seen.
// /bundle/metadata.json goes to the network first: when the served bundle changed, the
// cached bundle files are dropped so a new model is never mixed with an old tokenizer.
const CACHE = "edgebert-demo-v2";
const APP = ["/", "/index.html", "/app.js", "/bundle.js", "/tokenizer.js", "/unicode_tables.js", "/hf_tokenizer.js", "/sequence.js",
             "/engines/onnx.js", "/engines/litert.js", "/style.css", "/manifest.webmanifest", "/icon.svg", "/icon-192.png", "/icon-512.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(APP)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  const res = await fetch(request);
  if (res.ok && res.status === 200) await cache.put(request, res.clone());
  return res;
}

async function bundleMetadata(request) {
  const cache = await caches.open(CACHE);
  try {
    const res = await fetch(request);
    if (res.ok) {
      const fresh = await res.clone().text();
      const old = await cache.match(request);
      if (old && (await old.text()) !== fresh) {
        for (const key of await cache.keys()) {
          if (new URL(key.url).pathname.startsWith("/bundle/")) await cache.delete(key);
        }
      }
      await cache.put(request, res.clone());
    }
    return res;
  } catch (err) {
    const hit = await cache.match(request);
    if (hit) return hit;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname === "/bench.html" || url.pathname === "/bench.js") return;
  if (url.pathname === "/bundle/metadata.json") {
    event.respondWith(bundleMetadata(event.request));
  } else {
    event.respondWith(cacheFirst(event.request));
  }
});

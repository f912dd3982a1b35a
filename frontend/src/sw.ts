/// <reference lib="webworker" />
/**
 * The service worker: the app shell, the runtime and ONNX Runtime Web's wasm
 * work offline after the first visit. Model artifacts are cached by the
 * runtime itself (Cache Storage keyed by sha256); the catalog answers from the
 * network first and from the cache when offline.
 */

const sw = self as unknown as ServiceWorkerGlobalScope;

const SHELL_CACHE = "browserml-shell-v1";

// Precache the whole build (listed in /shell.json at build time: the page, the
// runtime, hashed bundles and ONNX Runtime Web's plain WASM build), so the second
// visit works offline no matter which files the first visit happened to request.
// The jsep build (WebGPU only, 28 MB) is left out of the list: a WASM page never
// downloads it; a WebGPU worker's first fetch of it is cached below (cacheFirst).
// So is TensorFlow.js (assets/tfjs/ and its wasm in /tfjs/): a page that never asks for a
// tfjs backend downloads none of it, and one that did finds it cached on its next visit.
sw.addEventListener("install", (event: ExtendableEvent) => {
  event.waitUntil(
    (async () => {
      const files = (await (await fetch("/shell.json", { cache: "no-cache" })).json()) as string[];
      const cache = await caches.open(SHELL_CACHE);
      await cache.addAll(files);
      await sw.skipWaiting();
    })(),
  );
});

sw.addEventListener("activate", (event: ExtendableEvent) => {
  event.waitUntil(sw.clients.claim());
});

async function cacheFirst(request: Request): Promise<Response> {
  const cache = await caches.open(SHELL_CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

async function networkFirst(request: Request): Promise<Response> {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const hit = await cache.match(request, { ignoreSearch: false });
    if (hit) return hit;
    throw err;
  }
}

sw.addEventListener("fetch", (event: FetchEvent) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== sw.location.origin) return;
  // Hashed bundles and the versioned ORT and TF.js files never change under their URL.
  if (url.pathname.startsWith("/assets/") || url.pathname.startsWith("/ort/") || url.pathname.startsWith("/tfjs/")) {
    event.respondWith(cacheFirst(request));
  } else if (
    url.pathname === "/" ||
    url.pathname.startsWith("/lib/") ||
    url.pathname.startsWith("/api/v1/models")
  ) {
    event.respondWith(networkFirst(request));
  }
  // Everything else (artifacts, predict, v2) goes to the network untouched.
});

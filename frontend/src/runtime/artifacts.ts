/**
 * Downloading artifacts: progress, sha256 verification, Cache Storage.
 *
 * An artifact is fetched once, its sha256 checked against the manifest before
 * anything uses it (a mismatch is an error, never a silent load), and the
 * verified bytes are kept in Cache Storage under a key made of the sha256, so a
 * second visit (or another version with the same bytes) downloads nothing and
 * works offline. `cache.put` is awaited: a cache write that is still pending
 * when the page goes away is the classic cause of re-downloads.
 */

export const CACHE_NAME = "browserml-artifacts-v1";

export interface ArtifactRef {
  /** File name, for messages and progress. */
  file: string;
  url: string;
  sha256: string;
  bytes: number;
}

export interface Progress {
  file: string;
  loaded: number;
  total: number;
  fromCache: boolean;
}

export type ProgressCallback = (progress: Progress) => void;

/** The artifact's bytes did not match the manifest's sha256. */
export class IntegrityError extends Error {
  override name = "IntegrityError";
}

export async function sha256Hex(data: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function cacheKey(sha256: string): string {
  // A synthetic same-origin URL: the key is the content, not where it came from.
  return new URL(`/__browserml__/sha256/${sha256}`, self.location.origin).href;
}

async function openCache(): Promise<Cache | null> {
  try {
    return typeof caches === "undefined" ? null : await caches.open(CACHE_NAME);
  } catch {
    return null; // Cache Storage can be unavailable (opaque origins, some private modes)
  }
}

/** Fetches under way, by sha256: two models asking for the same file at once (the text page's
 * tokenizer, or a shared backbone) wait for one download. */
const inflight = new Map<string, Promise<{ data: ArrayBuffer; fromCache: boolean }>>();

/** The verified bytes of `ref`, from Cache Storage when present, else downloaded with progress. */
export async function fetchVerified(ref: ArtifactRef, onProgress?: ProgressCallback): Promise<ArrayBuffer> {
  const pending = inflight.get(ref.sha256);
  if (pending) {
    const { data, fromCache } = await pending;
    onProgress?.({ file: ref.file, loaded: data.byteLength, total: data.byteLength, fromCache });
    return data;
  }
  const fetching = fetchOnce(ref, onProgress);
  inflight.set(ref.sha256, fetching);
  try {
    return (await fetching).data;
  } finally {
    inflight.delete(ref.sha256);
  }
}

async function fetchOnce(ref: ArtifactRef, onProgress?: ProgressCallback): Promise<{ data: ArrayBuffer; fromCache: boolean }> {
  const cache = await openCache();
  const key = cacheKey(ref.sha256);
  const hit = cache ? await cache.match(key) : undefined;
  if (hit) {
    const data = await hit.arrayBuffer();
    if ((await sha256Hex(data)) === ref.sha256) {
      onProgress?.({ file: ref.file, loaded: data.byteLength, total: data.byteLength, fromCache: true });
      return { data, fromCache: true };
    }
    await cache?.delete(key); // corrupted in storage: drop it and download again
  }
  const data = await download(ref, onProgress);
  const actual = await sha256Hex(data);
  if (actual !== ref.sha256) {
    throw new IntegrityError(
      `${ref.file}: sha256 ${actual.slice(0, 12)}... does not match the manifest's ` +
        `${ref.sha256.slice(0, 12)}...; the file was altered or corrupted in transit, so it is not loaded`,
    );
  }
  if (cache) {
    try {
      await cache.put(key, new Response(data, { headers: { "Content-Type": "application/octet-stream" } }));
    } catch {
      // Quota exceeded: the model still runs, it just is not kept for next time.
    }
  }
  return { data, fromCache: false };
}

/** The host's `{"error": "..."}` message of a failed response, else its status text. */
export async function errorMessage(response: Response): Promise<string> {
  try {
    return ((await response.json()) as { error?: string }).error ?? response.statusText;
  } catch {
    return response.statusText; // not JSON
  }
}

async function download(ref: ArtifactRef, onProgress?: ProgressCallback): Promise<ArrayBuffer> {
  let response: Response;
  try {
    response = await fetch(ref.url);
  } catch (err) {
    throw new Error(`${ref.file}: download failed (${String(err)}); offline and not cached?`);
  }
  if (!response.ok) {
    throw new Error(`${ref.file}: download failed with ${response.status}: ${await errorMessage(response)}`);
  }
  const total = ref.bytes || Number(response.headers.get("Content-Length")) || 0;
  if (!response.body) {
    const data = await response.arrayBuffer();
    onProgress?.({ file: ref.file, loaded: data.byteLength, total, fromCache: false });
    return data;
  }
  const reader = response.body.getReader();
  const buffer = new Uint8Array(total || 1 << 20);
  let target = buffer;
  let loaded = 0;
  let lastReport = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > target.byteLength) {
      const grown = new Uint8Array(Math.max(target.byteLength * 2, loaded + value.byteLength));
      grown.set(target.subarray(0, loaded));
      target = grown;
    }
    target.set(value, loaded);
    loaded += value.byteLength;
    if (loaded - lastReport >= 256 * 1024 || loaded === total) {
      lastReport = loaded;
      onProgress?.({ file: ref.file, loaded, total, fromCache: false });
    }
  }
  onProgress?.({ file: ref.file, loaded, total: Math.max(total, loaded), fromCache: false });
  return target.buffer.slice(0, loaded) as ArrayBuffer;
}

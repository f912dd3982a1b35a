/**
 * One build, three products in dist/ (served by the Flask host):
 * - the demo app (index.html + hashed bundles in assets/),
 * - the runtime library at the stable URL /lib/browserml.js (+ /lib/worker.js),
 * - the service worker /sw.js,
 * plus ONNX Runtime Web's wasm files copied to /ort/ (same origin, no CDN).
 *
 * ONNX Runtime Web is resolved with the "onnxruntime-web-use-extern-wasm"
 * condition: its glue .mjs and .wasm are loaded from /ort/ at run time
 * instead of being bundled, so WASM threads start from their own file.
 * Two builds, one per backend (the worker imports the one it needs): the
 * plain WASM build (`onnxruntime-web/wasm`) and the jsep build (the default
 * entry, WebGPU). The service worker precaches only the plain one; the jsep
 * files are cached the first time a WebGPU worker fetches them.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { constants, gzipSync } from "node:zlib";

import { defaultClientConditions, type Plugin } from "vite";
import { defineConfig } from "vitest/config";

const here = dirname(fileURLToPath(import.meta.url));
const ORT_FILES = [
  "ort-wasm-simd-threaded.mjs", // onnxruntime-web/wasm: every WASM worker
  "ort-wasm-simd-threaded.wasm",
  "ort-wasm-simd-threaded.jsep.mjs", // onnxruntime-web (jsep): WebGPU workers only
  "ort-wasm-simd-threaded.jsep.wasm",
];
/** Files the service worker does not precache: a page that never uses WebGPU never downloads them. */
const ON_DEMAND = /^\/ort\/ort-wasm-simd-threaded\.jsep\./;

function copyOrtWasm(): Plugin {
  return {
    name: "browserml-copy-ort-wasm",
    apply: "build",
    writeBundle(options) {
      const out = resolve(options.dir ?? resolve(here, "dist"), "ort");
      mkdirSync(out, { recursive: true });
      for (const file of ORT_FILES) {
        const source = resolve(here, "node_modules/onnxruntime-web/dist", file);
        copyFileSync(source, resolve(out, file));
        // Precompressed beside it (28 MB -> 6.6 MB for the wasm): the host sends it to
        // browsers that accept gzip, so a first visit downloads a quarter of the bytes.
        writeFileSync(resolve(out, `${file}.gz`), gzipSync(readFileSync(source), { level: constants.Z_BEST_COMPRESSION }));
      }
    },
  };
}

/** Every file of the build the app needs offline (WASM), for the service worker to precache. */
function writeShellList(): Plugin {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  return {
    name: "browserml-shell-list",
    apply: "build",
    writeBundle: {
      order: "post",
      handler(options) {
        const out = options.dir ?? resolve(here, "dist");
        const files = walk(out)
          .map((file) => "/" + relative(out, file).split("\\").join("/"))
          .filter((url) => !/\.(map|gz)$/.test(url) && url !== "/sw.js" && url !== "/shell.json")
          .filter((url) => !ON_DEMAND.test(url))
          .map((url) => (url === "/index.html" ? "/" : url))
          .sort();
        writeFileSync(join(out, "shell.json"), JSON.stringify(files, null, 1));
      },
    },
  };
}

const FIXED_NAMES: Record<string, string> = {
  browserml: "lib/browserml.js",
  worker: "lib/worker.js",
  sw: "sw.js",
};

export default defineConfig({
  plugins: [copyOrtWasm(), writeShellList()],
  resolve: { conditions: ["onnxruntime-web-use-extern-wasm", ...defaultClientConditions] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
    // The worker imports ONNX Runtime Web dynamically (one build per backend): Vite's preload
    // helper for such imports adds <link rel=modulepreload> to `document`, which a worker has not.
    modulePreload: {
      resolveDependencies: (_file, deps, { hostId }) => (hostId === FIXED_NAMES.worker ? [] : deps),
    },
    rollupOptions: {
      input: {
        index: resolve(here, "index.html"),
        browserml: resolve(here, "src/lib/browserml.ts"),
        worker: resolve(here, "src/runtime/worker.ts"),
        sw: resolve(here, "src/sw.ts"),
      },
      preserveEntrySignatures: "exports-only",
      output: {
        entryFileNames: (chunk) => FIXED_NAMES[chunk.name] ?? "assets/[name]-[hash].js",
        chunkFileNames: "assets/[name]-[hash].js",
        assetFileNames: "assets/[name]-[hash][extname]",
      },
    },
  },
  test: {
    environment: "node",
    include: ["tests/**/*.test.ts"],
  },
});

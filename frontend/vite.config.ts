/**
 * One build, three products in dist/ (served by the Flask host):
 * - the demo app (index.html + hashed bundles in assets/),
 * - the runtime library at the stable URL /lib/browserml.js (+ /lib/worker.js),
 * - the service worker /sw.js,
 * plus ONNX Runtime Web's wasm files copied to /ort/ and TensorFlow.js's WASM backend's to
 * /tfjs/ (same origin, no CDN).
 *
 * ONNX Runtime Web is resolved with the "onnxruntime-web-use-extern-wasm"
 * condition: its glue .mjs and .wasm are loaded from /ort/ at run time
 * instead of being bundled, so WASM threads start from their own file.
 * Two builds, one per backend (the worker imports the one it needs): the
 * plain WASM build (`onnxruntime-web/wasm`) and the jsep build (the default
 * entry, WebGPU). The service worker precaches only the plain one; the jsep
 * files are cached the first time a WebGPU worker fetches them.
 * TensorFlow.js (runtime/tfjs.ts, tfjs-core, tfjs-converter, and each TF.js backend) is imported
 * on demand by a tfjs worker only: its chunks go to assets/tfjs/, and neither they nor /tfjs/ are
 * precached, so a page that never asks for TF.js downloads no byte of it (the service worker
 * caches them the first time a tfjs worker fetches them).
 * Every wasm, JS, CSS and JSON file of 1 KiB or more gets a brotli (.br) and a
 * gzip (.gz) copy beside it, for the host to send by Accept-Encoding.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { brotliCompress, constants, gzipSync } from "node:zlib";

import { defaultClientConditions, type Plugin } from "vite";
import { defineConfig } from "vitest/config";

const here = dirname(fileURLToPath(import.meta.url));
const ORT_FILES = [
  "ort-wasm-simd-threaded.mjs", // onnxruntime-web/wasm: every WASM worker
  "ort-wasm-simd-threaded.wasm",
  "ort-wasm-simd-threaded.jsep.mjs", // onnxruntime-web (jsep): WebGPU workers only
  "ort-wasm-simd-threaded.jsep.wasm",
];
/**
 * tfjs-backend-wasm's builds without threads (4.22's threaded one is broken, tfjs#8513, so the
 * runtime never loads it): SIMD, and plain for browsers without SIMD.
 */
const TFJS_WASM_FILES = ["tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm.wasm"];
/**
 * Files the service worker does not precache: a page that never uses WebGPU never downloads the
 * jsep build, a page that never asks for TF.js none of TF.js (assets/tfjs/ and /tfjs/).
 */
const ON_DEMAND = /^\/(ort\/ort-wasm-simd-threaded\.jsep\.|tfjs\/|assets\/tfjs\/)/;
/** The jsep build: brotli at quality 9 (below). */
const JSEP = /^\/ort\/ort-wasm-simd-threaded\.jsep\./;
/** The modules of TensorFlow.js's chunks (assets/tfjs/): the packages and the runtime's own TF.js module... */
const TFJS_MODULE = /[\\/](node_modules[\\/]@tensorflow[\\/]|src[\\/]runtime[\\/]tfjs\.ts$)/;
/** ...and what only they import (tfjs-core's random numbers, Vite's stub for its Node.js imports). */
const TFJS_DEPENDENCY = /([\\/]node_modules[\\/](seedrandom|long)[\\/]|__vite-browser-external)/;

/** A chunk of TF.js only: some of its modules are TF.js's own, and the rest only TF.js imports. */
function isTfjsChunk(moduleIds: readonly string[]): boolean {
  return (
    moduleIds.some((id) => TFJS_MODULE.test(id)) &&
    moduleIds.every((id) => TFJS_MODULE.test(id) || TFJS_DEPENDENCY.test(id))
  );
}

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
      }
      const tfjs = resolve(options.dir ?? resolve(here, "dist"), "tfjs");
      mkdirSync(tfjs, { recursive: true });
      for (const file of TFJS_WASM_FILES) {
        copyFileSync(resolve(here, "node_modules/@tensorflow/tfjs-backend-wasm/dist", file), resolve(tfjs, file));
      }
    },
  };
}

/** What the host may send compressed: the wasm, JavaScript, CSS and JSON of the build, from 1 KiB. */
const COMPRESSIBLE = /\.(wasm|m?js|css|json|svg|webmanifest)$/;
const brotli = promisify(brotliCompress);
/** Brotli output by the sha256 of its input and quality: quality 11 of the wasm takes 20-50 s, paid once. */
const BROTLI_CACHE = resolve(here, "node_modules/.cache/browserml-brotli");

async function brotliCached(data: Buffer, quality: number, text: boolean): Promise<Buffer> {
  const key = createHash("sha256").update(data).digest("hex");
  const cached = join(BROTLI_CACHE, `${key}.q${quality}.br`);
  if (existsSync(cached)) return readFileSync(cached);
  const packed = await brotli(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: quality,
      [constants.BROTLI_PARAM_MODE]: text ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
  mkdirSync(BROTLI_CACHE, { recursive: true });
  const partial = `${cached}.${process.pid}.tmp`; // two builds at once: the rename is atomic
  writeFileSync(partial, packed);
  renameSync(partial, cached);
  return packed;
}

/** Every file under `dir`, recursively. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/**
 * `file.br` and `file.gz` beside every compressible file of the build (the host picks one by the
 * request's Accept-Encoding, app/pages.py). Brotli at quality 11 (plain ORT wasm 14.2 MB -> 2.36 MB,
 * gzip -9 3.69 MB), except the jsep build at 9 (WebGPU pages only; 28.3 MB -> 4.64 MB in 2 s instead
 * of 3.95 MB in 47 s); cached in node_modules/.cache, so only the first build pays for it.
 */
function precompress(): Plugin {
  return {
    name: "browserml-precompress",
    apply: "build",
    writeBundle: {
      order: "post",
      async handler(options) {
        const out = options.dir ?? resolve(here, "dist");
        const files = walk(out).filter((file) => COMPRESSIBLE.test(file) && readFileSync(file).length >= 1024);
        await Promise.all(
          files.map(async (file) => {
            const data = readFileSync(file);
            const quality = JSEP.test("/" + relative(out, file)) ? 9 : 11;
            writeFileSync(`${file}.gz`, gzipSync(data, { level: constants.Z_BEST_COMPRESSION }));
            writeFileSync(`${file}.br`, await brotliCached(data, quality, !file.endsWith(".wasm")));
          }),
        );
      },
    },
  };
}

/** Every file of the build the app needs offline (WASM), for the service worker to precache. */
function writeShellList(): Plugin {
  return {
    name: "browserml-shell-list",
    apply: "build",
    writeBundle: {
      order: "post",
      handler(options) {
        const out = options.dir ?? resolve(here, "dist");
        const files = walk(out)
          .map((file) => "/" + relative(out, file).split("\\").join("/"))
          .filter((url) => !/\.(map|gz|br)$/.test(url) && url !== "/sw.js" && url !== "/shell.json")
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
  plugins: [copyOrtWasm(), writeShellList(), precompress()],
  resolve: { conditions: ["onnxruntime-web-use-extern-wasm", ...defaultClientConditions] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
    // The worker imports ONNX Runtime Web dynamically (one build per backend), and TF.js's own
    // chunk its backend: Vite's preload helper for such imports adds <link rel=modulepreload> to
    // `document`, which a worker has not.
    modulePreload: {
      resolveDependencies: (_file, deps, { hostId }) =>
        hostId === FIXED_NAMES.worker || hostId.startsWith("assets/tfjs/") ? [] : deps,
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
        // TF.js's chunks apart (assets/tfjs/), for the service worker to leave them out of its precache.
        chunkFileNames: (chunk) =>
          isTfjsChunk(chunk.moduleIds) ? "assets/tfjs/[name]-[hash].js"
            : "assets/[name]-[hash].js",
        assetFileNames: "assets/[name]-[hash][extname]",
      },
    },
  },
  test: {
    environment: "node",
    include: ["tests/**/*.test.ts"],
  },
});

// Loads LiteRT.js (@litertjs/core, Google's TFLite runtime compiled to
// WebAssembly) inside Node.
//
// The package is written for browsers: its loader fetches the Emscripten glue
// script with importScripts() (in a worker) or a <script> tag, and that
// script expects a CommonJS world (require, __dirname) when it sees Node.
// We provide exactly those names:
//   require        createRequire() anchored in the package's wasm/ folder
//   __dirname      that folder, so the glue finds its .wasm next to it
//   self           globalThis (the glue and the loader look up ModuleFactory there)
//   importScripts  runs a script file in this realm with vm.runInThisContext,
//                  so its top-level `var ModuleFactory` becomes a global
// and route the runtime's own log lines (Emscripten's print/printErr) into a
// buffer instead of the terminal, so callers decide what to show.
//
// The package ships three CPU builds; we name the file instead of letting
// the loader pick by feature detection, so a run says which one it used:
//   compat        WebAssembly SIMD128, single thread (the default; runs on a
//                 plain `node`, and its results do not depend on the host CPU)
//   relaxed-simd  adds relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd)
//   threads       relaxed SIMD + a pthread pool of Node workers
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const LITERT_VERSION = '2.5.3';

const here = path.dirname(fileURLToPath(import.meta.url));
// tests/conformance/litert -> project root
export const PROJECT_ROOT = path.resolve(here, '..', '..', '..');

export const VARIANTS = {
  'compat': 'litert_wasm_compat_internal.js',
  'relaxed-simd': 'litert_wasm_internal.js',
  'threads': 'litert_wasm_threaded_internal.js',
};

// A module whose one function uses i8x16.relaxed_swizzle (opcode 0xfd 0x100)
// on two v128 constants: it validates only when the engine has relaxed SIMD
// (Node 22+, or Node 20 with the flag below).
const V128_ZERO = [0xfd, 0x0c, ...new Array(16).fill(0)];
const PROBE_BODY = [0x00, ...V128_ZERO, ...V128_ZERO, 0xfd, 0x80, 0x02, 0x0b];
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,  // \0asm, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,        // types: () -> v128
  0x03, 0x02, 0x01, 0x00,                          // one function of type 0
  0x0a, PROBE_BODY.length + 2, 0x01, PROBE_BODY.length, ...PROBE_BODY,
]);
export function hasRelaxedSimd() {
  return WebAssembly.validate(RELAXED_SIMD_PROBE);
}
export const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';

// Where scripts/setup-litert.sh installed the package: an explicit folder,
// else $QTL_LITERT_DIR, else <project root>/build/litert.
export function resolveInstallDir(explicit) {
  return path.resolve(explicit || process.env.QTL_LITERT_DIR || path.join(PROJECT_ROOT, 'build', 'litert'));
}

let loaded;  // the runtime is a process-wide singleton (loadLiteRt() refuses a second call)

// Returns { api, variant, wasmFile, threadPool, logs }: `api` is the
// @litertjs/core module, `logs` collects every line the runtime prints.
export async function loadLiteRtInNode(installDir, variant = 'compat') {
  if (loaded) {
    if (loaded.variant !== variant) throw new Error(`LiteRT is already loaded as ${loaded.variant}, cannot switch to ${variant}`);
    return loaded;
  }
  if (!(variant in VARIANTS)) throw new Error(`unknown LiteRT build '${variant}'; one of: ${Object.keys(VARIANTS).join(', ')}`);
  if (variant !== 'compat' && !hasRelaxedSimd()) {
    throw new Error(`the ${variant} build needs relaxed SIMD; run node with ${RELAXED_SIMD_FLAG}`);
  }
  const coreDir = path.join(installDir, 'node_modules', '@litertjs', 'core');
  const pkgFile = path.join(coreDir, 'package.json');
  if (!fs.existsSync(pkgFile)) {
    throw new Error(`LiteRT is not installed in ${installDir} (no ${pkgFile}); run: bash scripts/setup-litert.sh ${installDir}`);
  }
  const version = JSON.parse(fs.readFileSync(pkgFile, 'utf8')).version;
  if (version !== LITERT_VERSION) {
    throw new Error(`${installDir} holds @litertjs/core ${version}, expected ${LITERT_VERSION}; rerun scripts/setup-litert.sh`);
  }
  const indexJs = path.join(coreDir, 'dist', 'index.js');
  if (!fs.readFileSync(indexJs, 'utf8').includes('/* qtl: int8/int16/int64 rows added by')) {
    throw new Error(`${indexJs} lacks the int8/int16 dtype patch; rerun scripts/setup-litert.sh ${installDir}`);
  }

  const wasmDir = path.join(coreDir, 'wasm');
  const glue = path.join(wasmDir, VARIANTS[variant]);
  const logs = [];
  globalThis.require = createRequire(glue);
  globalThis.__dirname = wasmDir;
  globalThis.self = globalThis;
  globalThis.importScripts = (file) => {
    const filePath = file.startsWith('file:') ? fileURLToPath(file) : file;
    vm.runInThisContext(fs.readFileSync(filePath, 'utf8'), { filename: filePath });
  };
  // The loader hands globalThis.Module to the Emscripten factory as its
  // module argument; print/printErr are where the runtime writes its logs.
  globalThis.Module = {
    print: (line) => logs.push(String(line)),
    printErr: (line) => logs.push(String(line)),
  };
  if (variant === 'threads') {
    // The pool size comes from navigator.hardwareConcurrency, and each
    // worker starts from our bootstrap (see pthread_worker.cjs).
    if (typeof globalThis.navigator === 'undefined') {
      globalThis.navigator = { hardwareConcurrency: os.availableParallelism?.() ?? os.cpus().length };
    }
    process.env.QTL_LITERT_THREADED_JS = glue;
    globalThis.Module.mainScriptUrlOrBlob = path.join(here, 'pthread_worker.cjs');
  }

  const api = await import(pathToFileURL(indexJs).href);
  // Without a GPU the default environment logs a warning while probing
  // navigator.gpu; that is expected here, so keep it in the log buffer.
  const warn = console.warn;
  console.warn = (...args) => logs.push(args.map(String).join(' '));
  let liteRt;
  try {
    liteRt = await api.loadLiteRt(glue);
  } finally {
    console.warn = warn;
  }
  loaded = {
    api,
    variant,
    wasmFile: VARIANTS[variant].replace(/\.js$/, '.wasm'),
    threadPool: liteRt.liteRtWasm.getThreadCount(),
    logs,
  };
  return loaded;
}

// The lines of `logs` from index `from` on that report an error, each once
// with its count: LiteRT's thrown Error often only names a source line,
// while the reason ("quantized_dimension must be in range ...") went to the log.
export function errorLines(logs, from = 0) {
  const counts = new Map();
  for (const line of logs.slice(from)) {
    if (!/^ERROR\b/.test(line)) continue;
    counts.set(line, (counts.get(line) || 0) + 1);
  }
  return [...counts].map(([line, n]) => (n > 1 ? `${line} (x${n})` : line));
}

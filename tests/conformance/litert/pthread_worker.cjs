// Bootstrap of one worker thread of LiteRT's threaded WebAssembly build.
//
// Emscripten starts each pthread as a Node Worker running the glue script
// itself. That script sits in a "type": "module" package and expects
// CommonJS names, so Node cannot start it directly; litert_node.mjs points
// the glue at this file instead (Module.mainScriptUrlOrBlob), and we run the
// glue here the same way the main thread does: with require, __dirname and
// __filename defined, in this worker's global scope.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire } = require('node:module');

const glue = process.env.QTL_LITERT_THREADED_JS;
if (!glue || !fs.existsSync(glue)) {
  throw new Error(`pthread_worker.cjs: QTL_LITERT_THREADED_JS does not name the threaded glue script (got ${glue})`);
}
globalThis.require = createRequire(glue);
globalThis.__dirname = path.dirname(glue);
globalThis.__filename = glue;
vm.runInThisContext(fs.readFileSync(glue, 'utf8'), { filename: glue });

#!/usr/bin/env node
// Runs a .tflite model in LiteRT (Google's TFLite runtime, WebAssembly build
// from npm @litertjs/core 2.5.3) on .npy inputs and writes its outputs as .npy:
// the real-runtime oracle for the models qtl writes. See docs/litert.md.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  LITERT_VERSION, VARIANTS, RELAXED_SIMD_FLAG, hasRelaxedSimd, resolveInstallDir,
  loadLiteRtInNode, errorLines,
} from './litert_node.mjs';
import { readNpy, writeNpy } from './npy.mjs';
import { describeModel, pinDynamicDims } from './tflite_model.mjs';

const USAGE = `usage: node run_model.mjs --model M.tflite --in a.npy [--in b.npy ...] --out DIR
                         [--repeat N] [--time] [--build compat|relaxed-simd|threads]
                         [--threads N] [--pin-dynamic-dims] [--litert DIR] [--verbose]

  --model F          the .tflite file
  --in F | NAME=F    one .npy per model input, in the order LiteRT lists the inputs
                     (the "inputs" of the JSON line; the subgraph's input order when
                     the model has no signature), or by input name
  --out DIR          writes DIR/output_<k>.npy for each output k (DIR is created)
  --repeat N         runs N times (default 1); every run must give the same bytes
  --time             adds one untimed warm-up run and reports the median/min latency
                     of the N runs
  --build B          which LiteRT CPU build: compat (default; SIMD128), relaxed-simd,
                     threads (both need relaxed SIMD: the runner restarts node with
                     ${RELAXED_SIMD_FLAG} when needed)
  --threads N        CPU threads for the model (default 1; N > 1 implies --build threads)
  --pin-dynamic-dims LiteRT.js refuses inputs whose shape_signature has -1; this
                     rewrites every -1 to the stored shape (what TFLite allocates when
                     nobody resizes), in memory, so such models run at that shape
  --litert DIR       where scripts/setup-litert.sh installed LiteRT
                     (default: $QTL_LITERT_DIR, else <project>/build/litert)
  --verbose          copies LiteRT's own log to stderr

Prints one JSON line (names, dtypes, shapes, quantization of inputs and outputs,
build, timings). XNNPACK cannot be turned off: LiteRT.js 2.5.3 has no such option.
Exit code 0 on success, 1 on any error (message on stderr), 2 on bad usage.`;

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = { inputs: [], repeat: 1, time: false, build: null, threads: 1, pin: false, verbose: false };
  const value = (i, flag) => {
    if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return argv[i + 1];
  };
  const positiveInt = (text, flag) => {
    if (!/^[1-9]\d*$/.test(text)) throw new UsageError(`${flag} wants a positive integer, got '${text}'`);
    return Number(text);
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    switch (a) {
      case '--model': opts.model = value(i++, a); break;
      case '--in': opts.inputs.push(value(i++, a)); break;
      case '--out': opts.out = value(i++, a); break;
      case '--repeat': opts.repeat = positiveInt(value(i++, a), a); break;
      case '--time': opts.time = true; break;
      case '--build': opts.build = value(i++, a); break;
      case '--threads': opts.threads = positiveInt(value(i++, a), a); break;
      case '--pin-dynamic-dims': opts.pin = true; break;
      case '--litert': opts.litert = value(i++, a); break;
      case '--verbose': opts.verbose = true; break;
      case '--help': case '-h': console.log(USAGE); process.exit(0); break;
      default: throw new UsageError(`unknown argument '${a}'`);
    }
  }
  if (!opts.model) throw new UsageError('--model is required');
  if (!opts.out) throw new UsageError('--out is required');
  if (opts.build === null) opts.build = opts.threads > 1 ? 'threads' : 'compat';
  if (!(opts.build in VARIANTS)) throw new UsageError(`--build must be one of ${Object.keys(VARIANTS).join(', ')}`);
  if (opts.threads > 1 && opts.build !== 'threads') throw new UsageError('--threads N > 1 needs --build threads');
  return opts;
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const fmt = (shape) => `[${Array.from(shape).join(',')}]`;

// Quantization and stored shapes of the inputs/outputs LiteRT lists, read
// from the flatbuffer: through the signature when the model has one (LiteRT
// then names tensors by their signature names), else by position.
function modelTensorInfo(model, compiled, kind) {
  const details = kind === 'inputs' ? compiled.getInputDetails() : compiled.getOutputDetails();
  const sig = model.signatures.find((s) => s.key === compiled.key) || model.signatures[0];
  return details.map((d, i) => (sig ? sig[kind][d.name] : model[kind][i]) || null);
}

function describeTensor(detail, info, extra = {}) {
  const out = { name: detail.name, dtype: detail.dtype, shape: Array.from(detail.shape) };
  if (info && info.scale) {
    out.scale = info.scale;
    out.zero_point = info.zero_point;
    if (info.quantized_dimension !== undefined) out.quantized_dimension = info.quantized_dimension;
  }
  return { ...out, ...extra };
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

let runtime = null;  // set once LiteRT loaded, for --verbose

async function run(opts) {
  const t0 = performance.now();
  const rt = await loadLiteRtInNode(resolveInstallDir(opts.litert), opts.build);
  runtime = rt;
  const { api, logs } = rt;
  const loadMs = performance.now() - t0;
  // LiteRT's exception often only names a source line ("ERROR: [...litert_web.cc:245]");
  // the reason went to its log, so quote the log's ERROR lines when there are any.
  const fail = (what, error, since) => {
    const reasons = errorLines(logs, since);
    const thrown = String(error?.message ?? error).split('\n')[0];
    const sourceLineOnly = /^ERROR: \[[^\]]*\]$/.test(thrown);
    const head = reasons.length && sourceLineOnly ? what : `${what}: ${thrown}`;
    return new Error(reasons.length ? `${head}\n  LiteRT log:\n    ${reasons.join('\n    ')}` : head);
  };

  if (!fs.existsSync(opts.model)) throw new Error(`model file not found: ${opts.model}`);
  let bytes = new Uint8Array(fs.readFileSync(opts.model));
  const model = describeModel(bytes, opts.model);
  let pinned = null;
  if (opts.pin) {
    const p = pinDynamicDims(bytes, opts.model);
    bytes = p.bytes;
    pinned = p.changed;
  }

  const logStart = logs.length;
  const t1 = performance.now();
  let compiled;
  try {
    compiled = await api.loadAndCompile(bytes, { accelerator: 'wasm', cpuOptions: { numThreads: opts.threads } });
  } catch (e) {
    throw fail(`LiteRT refused the model ${opts.model}`, e, logStart);
  }
  const compileMs = performance.now() - t1;
  const inDetails = compiled.getInputDetails();
  const outDetails = compiled.getOutputDetails();
  const inInfo = modelTensorInfo(model, compiled, 'inputs');
  const outInfo = modelTensorInfo(model, compiled, 'outputs');

  // Inputs: by position, or NAME=file when NAME is an input's name.
  if (opts.inputs.length !== inDetails.length) {
    throw new Error(`the model has ${inDetails.length} input(s) (${inDetails.map((d) => `'${d.name}'`).join(', ')}), got ${opts.inputs.length} --in`);
  }
  const files = new Array(inDetails.length).fill(null);
  const positional = [];
  for (const spec of opts.inputs) {
    const eq = spec.indexOf('=');
    const k = eq > 0 ? inDetails.findIndex((d) => d.name === spec.slice(0, eq)) : -1;
    if (k >= 0) {
      if (files[k] !== null) throw new Error(`input '${inDetails[k].name}' given twice`);
      files[k] = spec.slice(eq + 1);
    } else {
      positional.push(spec);
    }
  }
  for (let k = 0; k < files.length; ++k) if (files[k] === null) files[k] = positional.shift();

  const tensors = [];
  try {
    for (let k = 0; k < inDetails.length; ++k) {
      const d = inDetails[k];
      const where = `input ${k} '${d.name}'`;
      const arr = readNpy(files[k]);
      if (Array.from(d.shape).some((x) => x < 0)) {
        throw new Error(`${where} has a dynamic shape ${fmt(d.shape)} (-1 in shape_signature), which LiteRT.js refuses at run time; ` +
          `rerun with --pin-dynamic-dims to run it at its stored shape ${fmt(inInfo[k]?.shape ?? [])}`);
      }
      if (arr.dtype !== d.dtype || !same(arr.shape, Array.from(d.shape))) {
        throw new Error(`${where}: ${files[k]} is ${arr.dtype} ${fmt(arr.shape)}, the model wants ${d.dtype} ${fmt(d.shape)}`);
      }
      tensors.push(new api.Tensor(arr.data, Array.from(d.shape)));
    }

    // One inference; `ms` times compiled.run() alone (inputs are already
    // in Wasm memory; copying the outputs out is not counted).
    const runOnce = async () => {
      const since = logs.length;
      let outs;
      const start = performance.now();
      try {
        outs = await compiled.run(tensors);
      } catch (e) {
        throw fail(`LiteRT failed to run ${opts.model}`, e, since);
      }
      const ms = performance.now() - start;
      // run() can return normally after an operator failed (its outputs then
      // hold stale or zero bytes): an ERROR line in the log is a failure too.
      const reasons = errorLines(logs, since);
      if (reasons.length) throw new Error(`LiteRT reported errors running ${opts.model}:\n    ${reasons.join('\n    ')}`);
      try {
        return {
          ms,
          outputs: outs.map((o) => ({ dims: Array.from(o.type.layout.dimensions), dtype: o.type.dtype, data: o.toTypedArray() })),
        };
      } finally {
        outs.forEach((o) => o.delete());
      }
    };
    const bytesOf = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

    // With --time the first run is a warm-up and N more are timed;
    // otherwise the first run is run 1 of N. Every run must equal the first.
    const first = (await runOnce()).outputs;
    const totalRuns = opts.repeat + (opts.time ? 1 : 0);
    const times = [];
    for (let run = 2; run <= totalRuns; ++run) {
      const { ms, outputs: outs } = await runOnce();
      times.push(ms);
      outs.forEach((o, k) => {
        if (!bytesOf(o.data).equals(bytesOf(first[k].data))) {
          throw new Error(`output ${k} '${outDetails[k].name}' differs between run 1 and run ${run}: LiteRT is not deterministic here`);
        }
      });
    }

    fs.mkdirSync(opts.out, { recursive: true });
    const outputs = first.map((o, k) => {
      const file = path.join(opts.out, `output_${k}.npy`);
      writeNpy(file, o.dtype, o.dims, o.data);
      return describeTensor({ ...outDetails[k], shape: o.dims, dtype: o.dtype }, outInfo[k], { file });
    });
    const report = {
      model: opts.model,
      runtime: `@litertjs/core ${LITERT_VERSION}`,
      build: rt.variant,
      wasm: rt.wasmFile,
      accelerator: 'wasm (XNNPACK delegate + TFLite builtin kernels)',
      threads: opts.threads,
      ...(pinned ? { pinned_dynamic_dims: pinned } : {}),
      inputs: inDetails.map((d, k) => describeTensor(d, inInfo[k], { file: files[k] })),
      outputs,
      runs: totalRuns,
      load_ms: +loadMs.toFixed(1),
      compile_ms: +compileMs.toFixed(1),
      ...(opts.time ? { repeat: opts.repeat, median_ms: +median(times).toFixed(3), min_ms: +Math.min(...times).toFixed(3) } : {}),
    };
    return report;
  } finally {
    tensors.forEach((t) => t.delete());
    compiled.delete();
  }
}

// Relaxed-SIMD builds need a V8 flag on Node 20: restart under it once.
function restartWithRelaxedSimd() {
  const script = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [...process.execArgv, RELAXED_SIMD_FLAG, script, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.error) throw r.error;
  process.exit(r.status ?? 1);
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`run_model: ${e.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (opts.build !== 'compat' && !hasRelaxedSimd()) {
    if (process.execArgv.includes(RELAXED_SIMD_FLAG)) throw new Error(`this node (${process.version}) lacks relaxed SIMD even with ${RELAXED_SIMD_FLAG}`);
    restartWithRelaxedSimd();
  }
  try {
    const report = await run(opts);
    process.stdout.write(JSON.stringify(report) + '\n');
    return 0;
  } catch (e) {
    console.error(`run_model: error: ${e.message}`);
    return 1;
  } finally {
    if (opts.verbose && runtime) console.error(runtime.logs.join('\n'));
  }
}

// The threaded build keeps worker threads alive: exit explicitly.
main().then((code) => process.exit(code), (e) => {
  console.error(`run_model: error: ${e.message}`);
  process.exit(1);
});

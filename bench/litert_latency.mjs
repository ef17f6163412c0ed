#!/usr/bin/env node
// Times whole int8 models in LiteRT (npm @litertjs/core 2.5.3: TFLite's
// runtime compiled to WebAssembly, XNNPACK inside), one thread, and writes
// Google Benchmark's JSON shape, so scripts/bench.sh can merge it with
// bench_models' results: the same names (<model>/<backend>), the same
// counters as bench/bench_models.cpp.
//
//   node bench/litert_latency.mjs --out FILE [--litert DIR] [--shared DIR]
//        [--build compat|relaxed-simd] [--repetitions N] [--filter REGEX]
//
//   --out FILE        the JSON file to write
//   --litert DIR      where scripts/setup-litert.sh installed LiteRT
//                     (default $QTL_LITERT_DIR, else <project>/build/litert)
//   --shared DIR      the shared data folder (default $QTL_SHARED_DIR, else
//                     ../shared beside the project)
//   --build B         LiteRT's CPU build: compat (SIMD128; the default, the
//                     one the conformance suite runs; backend name `litert`)
//                     or relaxed-simd (backend `litert_relaxed`; restarts node
//                     with the flag Node 20 needs)
//   --repetitions N   repetitions (default 1), each with its own median
//   --filter REGEX    only the models whose name matches
//
// Each repetition runs the model at least 5 times and 1 s (at most 50 runs)
// after one untimed warm-up run, on random int8 inputs, and reports
//   real_time   median wall-clock latency of compiled.run() (ms)
//   cpu_time    CPU time of the node process over all runs (ms)
//   latency_ms, cpu_ms (median per run), min_ms, runs
// plus mean / median / stddev aggregates when N > 1, as Google Benchmark does.
// Inputs are already in Wasm memory; copying outputs out is not timed.
// person_detect is repaired in memory (quantized_dimension of its 14
// depthwise biases set to 0), as ../shared/models/README.md describes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  LITERT_VERSION, PROJECT_ROOT, RELAXED_SIMD_FLAG, hasRelaxedSimd, resolveInstallDir, loadLiteRtInNode, errorLines,
} from '../tests/conformance/litert/litert_node.mjs';
import { repairQuantizedDimensions } from '../tests/conformance/litert/tflite_model.mjs';

const MODELS = [
  { name: 'mobilenet_v2', file: 'mobilenet_v2_quantized_1x3x224x224.tflite', repair: false },
  { name: 'person_detect', file: 'person_detect.tflite', repair: true },
];
const BACKEND = { 'compat': 'litert', 'relaxed-simd': 'litert_relaxed' };
const MIN_RUNS = 5, MAX_RUNS = 50, MIN_SECONDS = 1.0;

const USAGE = 'usage: node bench/litert_latency.mjs --out FILE [--litert DIR] [--shared DIR] ' +
  '[--build compat|relaxed-simd] [--repetitions N] [--filter REGEX]';

function parseArgs(argv) {
  const opts = { build: 'compat', repetitions: 1, filter: null };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value\n${USAGE}`);
      return argv[++i];
    };
    switch (a) {
      case '--out': opts.out = value(); break;
      case '--litert': opts.litert = value(); break;
      case '--shared': opts.shared = value(); break;
      case '--build': opts.build = value(); break;
      case '--repetitions': opts.repetitions = Number(value()); break;
      case '--filter': opts.filter = new RegExp(value()); break;
      case '--help': case '-h': console.log(USAGE); process.exit(0); break;
      default: throw new Error(`unknown argument '${a}'\n${USAGE}`);
    }
  }
  if (!opts.out) throw new Error(`--out is required\n${USAGE}`);
  if (!(opts.build in BACKEND)) throw new Error(`--build must be one of ${Object.keys(BACKEND).join(', ')}`);
  if (!Number.isInteger(opts.repetitions) || opts.repetitions < 1) throw new Error('--repetitions wants a positive integer');
  return opts;
}

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
const stddev = (v) => {
  if (v.length < 2) return 0;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) * (b - m), 0) / (v.length - 1));
};

// Deterministic int8 values (a small LCG): latency does not depend on them.
function randomInt8(count, seed) {
  const out = new Int8Array(count);
  let x = seed >>> 0;
  for (let i = 0; i < count; ++i) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = (x >>> 24) - 128;
  }
  return out;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function timeModel(rt, spec, shared, repetitions) {
  const { api, logs } = rt;
  const file = path.join(shared, 'models', spec.file);
  let bytes = new Uint8Array(fs.readFileSync(file));
  if (spec.repair) bytes = repairQuantizedDimensions(bytes, file).bytes;
  const since = logs.length;
  let compiled;
  try {
    compiled = await api.loadAndCompile(bytes, { accelerator: 'wasm', cpuOptions: { numThreads: 1 } });
  } catch (e) {
    const reasons = errorLines(logs, since);
    throw new Error(`LiteRT refused ${file}: ${e?.message ?? e}${reasons.length ? `\n  ${reasons.join('\n  ')}` : ''}`);
  }
  const tensors = compiled.getInputDetails().map((d, k) => {
    if (d.dtype !== 'int8') throw new Error(`${file}: input ${k} is ${d.dtype}, this benchmark feeds int8`);
    const shape = Array.from(d.shape);
    return new api.Tensor(randomInt8(shape.reduce((a, b) => a * b, 1), 2024 + k), shape);
  });
  const runOnce = async () => {
    const c0 = cpuMs();
    const t0 = performance.now();
    const outs = await compiled.run(tensors);
    const wall = performance.now() - t0;
    const cpu = cpuMs() - c0;
    outs.forEach((o) => o.delete());
    return { wall, cpu };
  };
  try {
    await runOnce();  // warm-up
    const reps = [];
    for (let r = 0; r < repetitions; ++r) {
      const wall = [], cpu = [];
      let total = 0;
      while (wall.length < MIN_RUNS || (total < MIN_SECONDS * 1000 && wall.length < MAX_RUNS)) {
        const t = await runOnce();
        wall.push(t.wall);
        cpu.push(t.cpu);
        total += t.wall;
      }
      reps.push({
        real_time: median(wall),
        cpu_time: cpu.reduce((a, b) => a + b, 0),
        latency_ms: median(wall),
        cpu_ms: median(cpu),
        min_ms: Math.min(...wall),
        runs: wall.length,
      });
    }
    return reps;
  } finally {
    tensors.forEach((t) => t.delete());
    compiled.delete();
  }
}

// Google Benchmark's JSON entries: one per repetition, then the aggregates.
function entries(name, familyIndex, reps, label) {
  const base = (runType, extra) => ({
    name, family_index: familyIndex, per_family_instance_index: 0, run_name: name, run_type: runType,
    repetitions: reps.length, threads: 1, ...extra,
  });
  const fields = ['real_time', 'cpu_time', 'latency_ms', 'cpu_ms', 'min_ms', 'runs'];
  const out = reps.map((r, i) => base('iteration', {
    repetition_index: i, iterations: 1, real_time: r.real_time, cpu_time: r.cpu_time, time_unit: 'ms',
    latency_ms: r.latency_ms, cpu_ms: r.cpu_ms, min_ms: r.min_ms, runs: r.runs, label,
  }));
  if (reps.length > 1) {
    for (const [agg, fn] of [['mean', mean], ['median', median], ['stddev', stddev]]) {
      const e = base('aggregate', { aggregate_name: agg, aggregate_unit: 'time', iterations: reps.length });
      e.name = `${name}_${agg}`;
      for (const f of fields) e[f] = fn(reps.map((r) => r[f]));
      e.time_unit = 'ms';
      e.label = label;
      out.push(e);
    }
  }
  return out;
}

function restartWithRelaxedSimd() {
  const script = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [...process.execArgv, RELAXED_SIMD_FLAG, script, ...process.argv.slice(2)],
    { stdio: 'inherit' });
  if (r.error) throw r.error;
  process.exit(r.status ?? 1);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.build !== 'compat' && !hasRelaxedSimd()) {
    if (process.execArgv.includes(RELAXED_SIMD_FLAG)) throw new Error(`node ${process.version} lacks relaxed SIMD`);
    restartWithRelaxedSimd();
  }
  const shared = path.resolve(opts.shared || process.env.QTL_SHARED_DIR || path.join(PROJECT_ROOT, '..', 'shared'));
  const rt = await loadLiteRtInNode(resolveInstallDir(opts.litert), opts.build);
  const label = `@litertjs/core ${LITERT_VERSION} ${rt.wasmFile}`;
  const benchmarks = [];
  let family = 0;
  for (const spec of MODELS) {
    const name = `${spec.name}/${BACKEND[opts.build]}`;
    if (opts.filter && !opts.filter.test(name)) continue;
    const reps = await timeModel(rt, spec, shared, opts.repetitions);
    for (const r of reps) console.error(`${name}: median ${r.latency_ms.toFixed(2)} ms, cpu ${r.cpu_ms.toFixed(2)} ms, ${r.runs} runs`);
    benchmarks.push(...entries(name, family++, reps, label));
  }
  const context = {
    date: new Date().toISOString(),
    host_name: os.hostname(),
    executable: `node ${process.version} bench/litert_latency.mjs`,
    num_cpus: os.cpus().length,
    library_build_type: 'release',
    litert: `@litertjs/core ${LITERT_VERSION}`,
    litert_build: rt.variant,
    litert_wasm: rt.wasmFile,
    litert_threads: 1,
  };
  fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
  fs.writeFileSync(opts.out, JSON.stringify({ context, benchmarks }, null, 2) + '\n');
  console.error(`litert_latency: wrote ${opts.out}`);
}

// LiteRT keeps the event loop alive: exit explicitly.
main().then(() => process.exit(0), (e) => {
  console.error(`litert_latency: error: ${e.message}`);
  process.exit(1);
});

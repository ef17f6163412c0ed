#!/usr/bin/env node
// qtl's executor (tools/qtl-run) against LiteRT (tests/conformance/litert/
// run_model.mjs) on dynamic-range ("hybrid") models written by qtl's
// convert_dynamic_range(): float input, int8 weights (or int4 block-wise
// FULLY_CONNECTED weights: the dense_bw* models), float output.  The
// models and their float inputs come from tests/conformance/
// make_hybrid_models.cpp, which this script compiles (with $CXX, default c++)
// unless --maker names a built one.
//
//   node hybrid_models.mjs --qtl-run BUILD/tools/qtl-run [--maker PATH] [--litert DIR] [--summary FILE.md]
//
// For each model and input: the largest |qtl - LiteRT| over the outputs, and
// the same relative to the largest |output|.  Both runtimes quantize each
// input row / image on the fly; they agree to float rounding unless they
// pick a different input code somewhere (a value on a rounding tie, or a
// runtime that computes the input scale its own way), which moves the result
// by about one input step times a weight: ~1e-3 of the output range here.
// The bar: every difference below 1e-4 of the largest |output| (measured:
// ~2e-7, float rounding only).
// Exit code 0 when the bar holds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from './litert/litert_node.mjs';
import { readNpy } from './litert/npy.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const value = (flag, fallback) => {
  const i = args.indexOf(flag);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const qtlRun = value('--qtl-run');
if (!qtlRun) {
  console.error('usage: node hybrid_models.mjs --qtl-run PATH [--maker PATH] [--litert DIR] [--summary FILE]');
  process.exit(2);
}
const litertArgs = value('--litert') ? ['--litert', value('--litert')] : [];
const summaryFile = value('--summary');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qtl-hybrid-'));

const run = (cmd, argv) => {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r;
};

// The model maker: given, or compiled here (header-only qtl, one translation unit).
let maker = value('--maker');
if (!maker) {
  maker = path.join(work, 'make_hybrid_models');
  const cxx = process.env.CXX || 'c++';
  run(cxx, ['-std=c++20', '-O2', '-I', path.join(PROJECT_ROOT, 'include'),
    path.join(here, 'make_hybrid_models.cpp'), '-o', maker]);
}
const models = path.join(work, 'models');
run(maker, [models]);

const names = ['dense', 'dense_pt', 'conv', 'conv_stride', 'float_dense', 'dense_bw32', 'dense_bw64', 'dense_bw16'];
const rows = [];
let failed = false;
for (const name of names) {
  const model = path.join(models, `${name}.tflite`);
  const inputs = fs.readdirSync(models).filter((f) => f.startsWith(`${name}_input_`)).sort();
  const r = { name, samples: inputs.length, elements: 0, maxAbs: 0, maxRel: 0, exact: 0 };
  for (const input of inputs) {
    const qtlOut = path.join(work, `${input}_qtl`), litertOut = path.join(work, `${input}_litert`);
    run(qtlRun, [model, '--in', path.join(models, input), '--out', qtlOut]);
    run(process.execPath, [path.join(here, 'litert', 'run_model.mjs'), '--model', model, '--in',
      path.join(models, input), '--out', litertOut, ...litertArgs]);
    const a = readNpy(path.join(qtlOut, 'output_0.npy')), b = readNpy(path.join(litertOut, 'output_0.npy'));
    if (a.data.length !== b.data.length) throw new Error(`${name}: output sizes differ (${a.data.length} vs ${b.data.length})`);
    let top = 0, diff = 0;
    for (let i = 0; i < a.data.length; ++i) {
      top = Math.max(top, Math.abs(b.data[i]));
      const d = Math.abs(a.data[i] - b.data[i]);
      diff = Math.max(diff, d);
      if (d === 0) ++r.exact;
    }
    r.elements += a.data.length;
    r.maxAbs = Math.max(r.maxAbs, diff);
    r.maxRel = Math.max(r.maxRel, diff / Math.max(top, 1e-30));
  }
  if (!(r.maxRel < 1e-4)) failed = true;
  rows.push(r);
}

const lines = ['Dynamic-range (hybrid) models written by `convert_dynamic_range()`, qtl (`tools/qtl-run`) vs LiteRT,',
  'float inputs from a fixed seed (`tests/conformance/hybrid_models.mjs`):', '',
  '| model | samples | output elements | bit-exact | max abs diff | max diff / max abs output |', '|---|---|---|---|---|---|'];
for (const r of rows) {
  lines.push(`| ${r.name} | ${r.samples} | ${r.elements} | ${r.exact} | ${r.maxAbs.toExponential(3)} | ${r.maxRel.toExponential(3)} |`);
}
console.log(lines.join('\n'));
if (summaryFile) fs.writeFileSync(summaryFile, lines.join('\n') + '\n');
fs.rmSync(work, { recursive: true, force: true });
console.log(failed ? 'hybrid_models: FAILED (a difference of 1e-4 of the output range or more)' : 'hybrid_models: passed');
process.exit(failed ? 1 : 0);

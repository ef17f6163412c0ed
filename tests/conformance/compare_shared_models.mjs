#!/usr/bin/env node
// qtl's executor (tools/qtl-run) against LiteRT (the real TFLite runtime,
// tests/conformance/litert/run_model.mjs) on the published int8 models in
// ../shared/models, on the same random inputs.  LiteRT runs XNNPACK, which
// requantizes in fp32: rare off-by-one elements are expected.
//
//  - whole model: the model outputs, counted exact / off by one / worse.
//    Off-by-one elements inside the network spread through later layers, so
//    deep models (MobileNetV2) differ by more than 1 at the end: reported,
//    not judged.
//  - operator by operator: every operator is run by qtl on LiteRT's own
//    values of its inputs (read from LiteRT by exposing each tensor as the
//    model output) and compared with LiteRT's value of its output.  The bar,
//    over all models: no element differs by more than 1, at least 99% exact.
//
//   node compare_shared_models.mjs --qtl-run BUILD/tools/qtl-run [--shared DIR] [--litert DIR]
//          [--samples N] [--summary FILE.md]
// Exit code 0 when the operator-by-operator bar holds (over all models: no
// element off by more than 1, at least 99% exact).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from './litert/litert_node.mjs';
import { readNpy, writeNpy } from './litert/npy.mjs';
import { describeModel, describeOperators, exposeTensor, repairQuantizedDimensions } from './litert/tflite_model.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const value = (flag, fallback) => {
  const i = args.indexOf(flag);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const qtlRun = value('--qtl-run');
if (!qtlRun) {
  console.error('usage: node compare_shared_models.mjs --qtl-run PATH [--shared DIR] [--litert DIR] [--samples N] [--summary FILE]');
  process.exit(2);
}
const sharedDir = path.resolve(value('--shared', process.env.QTL_SHARED_DIR || path.join(PROJECT_ROOT, '..', 'shared')));
const litertArgs = value('--litert') ? ['--litert', value('--litert')] : [];
const samples = Number(value('--samples', '4'));
const summaryFile = value('--summary');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qtl-conformance-'));

// A small deterministic generator (xorshift32), so every run sees the same inputs.
let state = 0x9e3779b9;
const nextByte = () => {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return (state & 0xff) - 128;
};

const only = process.env.QTL_CONFORMANCE_ONLY;
const allModels = [
  { name: 'hello_world_int8', shape: [1, 1], litert: ['--pin-dynamic-dims'] },
  { name: 'micro_speech_quantized', shape: [1, 1960] },
  { name: 'person_detect', shape: [1, 96, 96, 1], repair: true },
  { name: 'mobilenet_v2_quantized_1x3x224x224', shape: [1, 3, 224, 224] },
];
const models = only ? allModels.filter((m) => m.name === only) : allModels;

const run = (cmd, argv) => {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r;
};

const rows = [];
const opRows = new Map();  // builtin-less summary: per model, per operator index range
let failed = false;
const count = () => ({ exact: 0, one: 0, worse: 0, maxDiff: 0 });
const compare = (c, a, b, what) => {
  if (a.data.length !== b.data.length) throw new Error(`${what}: sizes differ (${a.data.length} vs ${b.data.length})`);
  for (let i = 0; i < a.data.length; ++i) {
    const d = Math.abs(Number(a.data[i]) - Number(b.data[i]));
    c.maxDiff = Math.max(c.maxDiff, d);
    if (d === 0) ++c.exact; else if (d === 1) ++c.one; else ++c.worse;
  }
};
const litert = (model, input, out, extra = []) =>
  run(process.execPath, [path.join(here, 'litert', 'run_model.mjs'), '--model', model, '--in', input, '--out', out,
    ...extra, ...litertArgs]);

for (const m of models) {
  const file = path.join(sharedDir, 'models', `${m.name}.tflite`);
  if (!fs.existsSync(file)) {
    console.error(`compare_shared_models: ${file} not found (../shared must sit beside the checkout)`);
    process.exit(1);
  }
  const qtlFlags = [];
  let litertBytes = new Uint8Array(fs.readFileSync(file));
  if (m.repair) {
    // LiteRT refuses the published file; it runs a repaired copy, qtl repairs on reading.
    litertBytes = repairQuantizedDimensions(litertBytes, file).bytes;
    qtlFlags.push('--repair-quantized-dimension');
  }
  const litertFile = path.join(work, `${m.name}_litert.tflite`);
  fs.writeFileSync(litertFile, litertBytes);
  const n = m.shape.reduce((a, b) => a * b, 1);

  // Whole model.
  const whole = count();
  for (let s = 0; s < samples; ++s) {
    const data = new Int8Array(n);
    for (let i = 0; i < n; ++i) data[i] = nextByte();
    const input = path.join(work, `${m.name}_${s}.npy`);
    writeNpy(input, 'int8', m.shape, data);
    const qtlOut = path.join(work, `${m.name}_${s}_qtl`), litertOut = path.join(work, `${m.name}_${s}_litert`);
    run(qtlRun, [file, '--in', input, '--out', qtlOut, ...qtlFlags]);
    litert(litertFile, input, litertOut, m.litert || []);
    compare(whole, readNpy(path.join(qtlOut, 'output_0.npy')), readNpy(path.join(litertOut, 'output_0.npy')), m.name);
  }
  rows.push({ model: m.name, samples, total: whole.exact + whole.one + whole.worse, ...whole });

  // Operator by operator, on the first sample's input.
  const input = path.join(work, `${m.name}_0.npy`);
  const ops = describeOperators(litertBytes, file);
  const values = new Map();  // tensor index -> .npy file with LiteRT's values
  // A model input exposed as an output reads back as zeros in LiteRT.js: use the file itself.
  values.set(describeModel(litertBytes, file).inputs[0].index, input);
  const litertValue = (t) => {
    if (!values.has(t)) {
      const exposed = path.join(work, `${m.name}_t${t}.tflite`), out = path.join(work, `${m.name}_t${t}`);
      fs.writeFileSync(exposed, exposeTensor(litertBytes, t, file));
      litert(exposed, input, out, m.litert || []);
      values.set(t, path.join(out, 'output_0.npy'));
    }
    return values.get(t);
  };
  const perOp = count();
  let worstOp = -1;
  for (const op of ops) {
    const sets = op.inputs.filter((i) => !i.constant).flatMap((i) => ['--set-tensor', `${i.tensor}=${litertValue(i.tensor)}`]);
    const out = path.join(work, `${m.name}_op${op.index}`);
    run(qtlRun, [file, '--operators', `${op.index}:${op.index + 1}`, ...sets, '--dump-tensor', String(op.outputs[0]),
      '--out', out, ...qtlFlags]);
    const before = perOp.worse + perOp.one;
    compare(perOp, readNpy(path.join(out, `tensor_${op.outputs[0]}.npy`)), readNpy(litertValue(op.outputs[0])),
      `${m.name} operator ${op.index}`);
    if (perOp.worse + perOp.one > before && worstOp < 0) worstOp = op.index;
    if (process.env.QTL_CONFORMANCE_VERBOSE) console.log(`${m.name} operator ${op.index}: ${JSON.stringify(perOp)} work ${work}`);
  }
  opRows.set(m.name, { ops: ops.length, total: perOp.exact + perOp.one + perOp.worse, ...perOp, firstDiff: worstOp });
}
// The bar, over all models together (a small model alone has too few elements for a percentage).
const sum = (k) => [...opRows.values()].reduce((a, r) => a + r[k], 0);
const exactShare = sum('exact') / Math.max(1, sum('total'));
if (sum('worse') > 0 || exactShare < 0.99) failed = true;

const lines = ['Operator by operator (qtl on LiteRT\'s inputs of each operator vs LiteRT\'s output):', '',
  '| model | operators | elements | exact | off by 1 | worse | max diff |', '|---|---|---|---|---|---|---|'];
for (const [name, r] of opRows) lines.push(`| ${name} | ${r.ops} | ${r.total} | ${r.exact} | ${r.one} | ${r.worse} | ${r.maxDiff} |`);
lines.push(`| all | ${sum('ops')} | ${sum('total')} | ${sum('exact')} (${(100 * exactShare).toFixed(3)}%) | ${sum('one')} | ${sum('worse')} | ${Math.max(...[...opRows.values()].map((r) => r.maxDiff))} |`);
lines.push('', 'Whole model (model outputs; differences inside the network accumulate):', '',
  '| model | samples | output elements | exact | off by 1 | worse | max diff |', '|---|---|---|---|---|---|---|');
for (const r of rows) lines.push(`| ${r.model} | ${r.samples} | ${r.total} | ${r.exact} | ${r.one} | ${r.worse} | ${r.maxDiff} |`);
console.log(lines.join('\n'));
if (summaryFile) fs.writeFileSync(summaryFile, lines.join('\n') + '\n');
if (!process.env.QTL_CONFORMANCE_VERBOSE) fs.rmSync(work, { recursive: true, force: true });
console.log(failed ? 'compare_shared_models: FAILED (operator by operator, an element differs by more than 1, or fewer than 99% are exact)'
                   : 'compare_shared_models: passed');
process.exit(failed ? 1 : 0);

#!/usr/bin/env node
// Self-check of the LiteRT runner (run_model.mjs) on the published models in
// ../shared/models (read in place, never copied):
//   seanet/*.tflite   16x8 single-op models: LiteRT's output must equal the
//                     golden written by TFLite's reference kernels, bit for bit
//   hello_world_int8  dynamic batch: refused as is, runs with --pin-dynamic-dims;
//                     compared with the float model and with sin(x)
//   micro_speech      runs; its softmax output must sum to 1 within rounding
//   mobilenet_v2      random int8 input, latency of each CPU build, and whether
//                     the builds agree
//   person_detect     must be refused as published (invalid quantized_dimension);
//                     the repaired copy (in memory / temp dir) must run
// Exit code 0 when every expectation holds, 1 otherwise.
//
//   node check_shared_models.mjs [--shared DIR] [--litert DIR] [--keep]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT, resolveInstallDir } from './litert_node.mjs';
import { ARRAY_TYPES, readNpy, writeNpy } from './npy.mjs';
import { describeModel, repairQuantizedDimensions } from './tflite_model.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const runner = path.join(here, 'run_model.mjs');

const USAGE = 'usage: node check_shared_models.mjs [--shared DIR] [--litert DIR] [--keep]\n' +
  '  --shared DIR   the shared data folder holding models/ (default: $QTL_SHARED_DIR, else <project>/../shared)\n' +
  '  --litert DIR   where scripts/setup-litert.sh installed LiteRT (default: $QTL_LITERT_DIR, else <project>/build/litert)\n' +
  '  --keep         keep the temporary inputs/outputs and print where they are';
const args = process.argv.slice(2);
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--shared' || args[i] === '--litert') {
    if (i + 1 >= args.length) { console.error(`${args[i]} needs a value\n${USAGE}`); process.exit(2); }
    ++i;
  } else if (args[i] === '--help' || args[i] === '-h') {
    console.log(USAGE); process.exit(0);
  } else if (args[i] !== '--keep') {
    console.error(`unknown argument '${args[i]}'\n${USAGE}`); process.exit(2);
  }
}
const argValue = (flag) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const sharedDir = path.resolve(argValue('--shared') || process.env.QTL_SHARED_DIR || path.join(PROJECT_ROOT, '..', 'shared'));
const litertDir = resolveInstallDir(argValue('--litert'));
const keep = args.includes('--keep');
const modelsDir = path.join(sharedDir, 'models');
if (!fs.existsSync(path.join(modelsDir, 'seanet'))) {
  console.error(`check_shared_models: ${modelsDir}/seanet not found; put the shared models beside the checkout (../shared) or pass --shared DIR`);
  process.exit(1);
}
if (!fs.existsSync(path.join(litertDir, 'node_modules', '@litertjs', 'core', 'package.json'))) {
  console.error(`check_shared_models: LiteRT is not installed in ${litertDir}; run: bash scripts/setup-litert.sh ${litertDir}`);
  process.exit(1);
}
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qtl-litert-check-'));

const failures = [];
const expect = (ok, what) => {
  if (!ok) failures.push(what);
  return ok;
};

// Runs the CLI; returns { status, report (parsed JSON line or null), stderr }.
function runCli(cliArgs) {
  const r = spawnSync(process.execPath, [runner, '--litert', litertDir, ...cliArgs], { encoding: 'utf8' });
  if (r.error) throw r.error;
  let report = null;
  if (r.status === 0) {
    const lines = r.stdout.trim().split('\n');
    report = JSON.parse(lines[lines.length - 1]);
  }
  return { status: r.status, report, stderr: r.stderr.trim() };
}

// Reads a one-line CSV of integers (a seanet input or golden) as numbers.
function readCsvIntegers(file) {
  const cells = fs.readFileSync(file, 'utf8').split(',').map((s) => s.trim());
  if (cells.length && cells[cells.length - 1] === '') cells.pop();
  return cells.map((c, i) => {
    if (!/^-?\d+$/.test(c)) throw new Error(`${file}: element ${i} '${c}' is not an integer`);
    return Number(c);
  });
}

const RANGES = { int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], int32: [-(2 ** 31), 2 ** 31 - 1] };
function toTypedArray(values, dtype, what) {
  const [lo, hi] = RANGES[dtype] || [];
  if (lo === undefined) throw new Error(`${what}: dtype ${dtype} has no CSV conversion here`);
  values.forEach((v, i) => {
    if (v < lo || v > hi) throw new Error(`${what}: element ${i} = ${v} outside ${dtype}`);
  });
  return ARRAY_TYPES[dtype].from(values);
}

const numel = (shape) => shape.reduce((a, b) => a * b, 1);

// A small deterministic generator (LCG, Numerical Recipes constants) so the
// "random" inputs are the same on every run.
function lcgBytes(n, seed) {
  const out = new Int8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 24) - 128;
  }
  return out;
}

// ---------------------------------------------------------------- seanet
function checkSeanet() {
  console.log('seanet (16x8 single-op models) vs TFLite reference goldens:');
  const dir = path.join(modelsDir, 'seanet');
  const names = fs.readdirSync(dir).filter((f) => f.endsWith('.tflite')).map((f) => f.slice(0, -7)).sort();
  expect(names.length > 0, 'no seanet models found');
  for (const name of names) {
    const model = describeModel(new Uint8Array(fs.readFileSync(path.join(dir, `${name}.tflite`))), `${name}.tflite`);
    const inFiles = [];
    model.inputs.forEach((t, k) => {
      const csv = fs.readdirSync(dir).find((f) => f.startsWith(`${name}_input${k}_`) && f.endsWith('.csv'));
      if (!csv) throw new Error(`${name}: no ${name}_input${k}_<type>.csv`);
      const csvType = csv.slice(`${name}_input${k}_`.length, -4);
      if (csvType !== t.dtype) throw new Error(`${name}: ${csv} says ${csvType}, the model's input ${k} is ${t.dtype}`);
      const values = readCsvIntegers(path.join(dir, csv));
      if (values.length !== numel(t.shape)) throw new Error(`${name}: ${csv} has ${values.length} values, input ${k} has shape [${t.shape}]`);
      const file = path.join(work, `${name}_in${k}.npy`);
      writeNpy(file, t.dtype, t.shape, toTypedArray(values, t.dtype, csv));
      inFiles.push(file);
    });
    const out = path.join(work, `${name}_out`);
    const r = runCli(['--model', path.join(dir, `${name}.tflite`), ...inFiles.flatMap((f) => ['--in', f]), '--out', out, '--repeat', '2']);
    if (!expect(r.status === 0, `seanet ${name}: run failed`)) {
      console.log(`  ${name.padEnd(16)} FAILED: ${r.stderr}`);
      continue;
    }
    const golden = readCsvIntegers(path.join(dir, `${name}_golden_int16.csv`));
    const got = readNpy(path.join(out, 'output_0.npy'));
    let exact = 0;
    let offByOne = 0;
    let maxDiff = 0;
    const n = Math.min(golden.length, got.data.length);
    for (let i = 0; i < n; ++i) {
      const d = Math.abs(Number(got.data[i]) - golden[i]);
      if (d === 0) ++exact; else if (d === 1) ++offByOne;
      maxDiff = Math.max(maxDiff, d);
    }
    const shapeOk = got.dtype === 'int16' && golden.length === got.data.length;
    const ok = shapeOk && exact === golden.length;
    expect(ok, `seanet ${name}: ${exact}/${golden.length} exact`);
    console.log(`  ${name.padEnd(16)} ${ok ? 'exact' : 'DIFFERS'} ${exact}/${golden.length}` +
      `${ok ? '' : ` (off by one: ${offByOne}, max |diff| ${maxDiff}, output ${got.dtype} [${got.shape}])`}`);
  }
}

// ---------------------------------------------------------------- hello_world
function checkHelloWorld() {
  console.log('hello_world (dynamic batch [-1,1]):');
  const int8Model = path.join(modelsDir, 'hello_world_int8.tflite');
  const floatModel = path.join(modelsDir, 'hello_world_float.tflite');
  const info = describeModel(new Uint8Array(fs.readFileSync(int8Model)), int8Model);
  const inQ = { s: info.inputs[0].scale[0], z: info.inputs[0].zero_point[0] };
  const outQ = { s: info.outputs[0].scale[0], z: info.outputs[0].zero_point[0] };

  const probe = path.join(work, 'hw_probe.npy');
  writeNpy(probe, 'int8', [1, 1], new Int8Array([0]));
  const refused = runCli(['--model', int8Model, '--in', probe, '--out', path.join(work, 'hw_refused')]);
  expect(refused.status === 1 && /dynamic shape/.test(refused.stderr), 'hello_world_int8 without --pin-dynamic-dims should be refused');
  console.log(`  as published: exit ${refused.status}: ${refused.stderr.replace(/^run_model: error: /, '')}`);

  console.log('     x      q_in  q_out  int8 model  float model    sin(x)');
  let maxVsFloat = 0;
  let maxVsSin = 0;
  let maxFloatVsSin = 0;
  for (const x of [0, 0.5, 1, Math.PI / 2, 2.5, Math.PI, 4.5, 3 * Math.PI / 2, 6]) {
    const q = Math.max(-128, Math.min(127, Math.round(x / inQ.s) + inQ.z));
    const qFile = path.join(work, 'hw_q.npy');
    const fFile = path.join(work, 'hw_f.npy');
    writeNpy(qFile, 'int8', [1, 1], new Int8Array([q]));
    writeNpy(fFile, 'float32', [1, 1], new Float32Array([x]));
    const ri = runCli(['--model', int8Model, '--in', qFile, '--out', path.join(work, 'hw_qo'), '--pin-dynamic-dims']);
    const rf = runCli(['--model', floatModel, '--in', fFile, '--out', path.join(work, 'hw_fo'), '--pin-dynamic-dims']);
    if (!expect(ri.status === 0 && rf.status === 0, `hello_world at x=${x}: run failed`)) {
      console.log(`  x=${x}: FAILED: ${ri.stderr} ${rf.stderr}`);
      continue;
    }
    const qOut = readNpy(path.join(work, 'hw_qo', 'output_0.npy')).data[0];
    const yInt8 = (qOut - outQ.z) * outQ.s;
    const yFloat = readNpy(path.join(work, 'hw_fo', 'output_0.npy')).data[0];
    maxVsFloat = Math.max(maxVsFloat, Math.abs(yInt8 - yFloat));
    maxVsSin = Math.max(maxVsSin, Math.abs(yInt8 - Math.sin(x)));
    maxFloatVsSin = Math.max(maxFloatVsSin, Math.abs(yFloat - Math.sin(x)));
    console.log(`  ${x.toFixed(4).padStart(7)} ${String(q).padStart(6)} ${String(qOut).padStart(6)} ${yInt8.toFixed(4).padStart(11)} ${yFloat.toFixed(4).padStart(12)} ${Math.sin(x).toFixed(4).padStart(9)}`);
  }
  // The int8 model is TensorFlow's quantization of the float one: with
  // output scale ~0.0083, a handful of LSBs of difference is normal; 0.1
  // would mean the runtime (or the runner's dequantization) is broken.
  expect(maxVsFloat < 0.1, `hello_world: int8 vs float model differ by ${maxVsFloat}`);
  console.log(`  max |int8 - float model| = ${maxVsFloat.toFixed(4)}, max |int8 - sin| = ${maxVsSin.toFixed(4)}, ` +
    `max |float model - sin| = ${maxFloatVsSin.toFixed(4)}`);
}

// ---------------------------------------------------------------- micro_speech
function checkMicroSpeech() {
  const file = path.join(modelsDir, 'micro_speech_quantized.tflite');
  const info = describeModel(new Uint8Array(fs.readFileSync(file)), file);
  const inFile = path.join(work, 'ms_in.npy');
  writeNpy(inFile, 'int8', info.inputs[0].shape, lcgBytes(numel(info.inputs[0].shape), 7));
  const r = runCli(['--model', file, '--in', inFile, '--out', path.join(work, 'ms_out'), '--repeat', '3']);
  if (!expect(r.status === 0, 'micro_speech: run failed')) {
    console.log(`micro_speech_quantized: FAILED: ${r.stderr}`);
    return;
  }
  const out = readNpy(path.join(work, 'ms_out', 'output_0.npy'));
  const s = info.outputs[0].scale[0];
  const z = info.outputs[0].zero_point[0];
  const probs = Array.from(out.data, (q) => (q - z) * s);
  const sum = probs.reduce((a, b) => a + b, 0);
  // Each of the 4 probabilities is rounded to a multiple of 1/256.
  expect(Math.abs(sum - 1) <= 4 * s, `micro_speech: softmax sums to ${sum}`);
  console.log(`micro_speech_quantized: runs; output int8 [${out.shape}] = [${Array.from(out.data)}], probabilities sum to ${sum.toFixed(4)}`);
}

// ---------------------------------------------------------------- mobilenet
function checkMobileNet() {
  const file = path.join(modelsDir, 'mobilenet_v2_quantized_1x3x224x224.tflite');
  const info = describeModel(new Uint8Array(fs.readFileSync(file)), file);
  const inFile = path.join(work, 'mb_in.npy');
  writeNpy(inFile, 'int8', info.inputs[0].shape, lcgBytes(numel(info.inputs[0].shape), 2024));
  console.log(`mobilenet_v2_quantized_1x3x224x224 (random int8 input [${info.inputs[0].shape}], 1 warm-up + 10 timed runs):`);
  const outputs = {};
  for (const [label, extra] of [['compat', []], ['relaxed-simd', ['--build', 'relaxed-simd']], ['threads x2', ['--threads', '2']]]) {
    const out = path.join(work, `mb_out_${label.replace(/\W/g, '_')}`);
    const r = runCli(['--model', file, '--in', inFile, '--out', out, '--repeat', '10', '--time', ...extra]);
    if (!expect(r.status === 0, `mobilenet (${label}): run failed`)) {
      console.log(`  ${label}: FAILED: ${r.stderr}`);
      continue;
    }
    const o = readNpy(path.join(out, 'output_0.npy'));
    outputs[label] = o.data;
    let top = 0;
    o.data.forEach((v, i) => { if (v > o.data[top]) top = i; });
    console.log(`  ${label.padEnd(12)} median ${r.report.median_ms.toFixed(1)} ms, min ${r.report.min_ms.toFixed(1)} ms ` +
      `(compile ${r.report.compile_ms.toFixed(0)} ms, ${r.report.wasm}); top-1 class ${top}`);
  }
  const base = outputs.compat;
  for (const [label, data] of Object.entries(outputs)) {
    if (label === 'compat' || !base) continue;
    let diff = 0;
    let maxDiff = 0;
    data.forEach((v, i) => {
      const d = Math.abs(v - base[i]);
      if (d) ++diff;
      maxDiff = Math.max(maxDiff, d);
    });
    // Reported, not required: relaxed SIMD lets the engine pick the rounding
    // of some instructions per CPU.
    console.log(`  ${label} vs compat: ${data.length - diff}/${data.length} outputs equal${diff ? `, max |diff| ${maxDiff}` : ''}`);
  }
}

// ---------------------------------------------------------------- person_detect
function checkPersonDetect() {
  const file = path.join(modelsDir, 'person_detect.tflite');
  const info = describeModel(new Uint8Array(fs.readFileSync(file)), file);
  const inFile = path.join(work, 'pd_in.npy');
  writeNpy(inFile, 'int8', info.inputs[0].shape, lcgBytes(numel(info.inputs[0].shape), 96));
  const r = runCli(['--model', file, '--in', inFile, '--out', path.join(work, 'pd_out')]);
  expect(r.status === 1 && /quantized_dimension must be in range \[0, 1\)\. Was 3\./.test(r.stderr),
    'person_detect as published should be refused for its quantized_dimension');
  console.log(`person_detect as published: exit ${r.status}:\n    ${r.stderr.split('\n').slice(0, 4).join('\n    ')}\n    ...`);

  const repaired = repairQuantizedDimensions(new Uint8Array(fs.readFileSync(file)), file);
  const fixedFile = path.join(work, 'person_detect_repaired.tflite');
  fs.writeFileSync(fixedFile, repaired.bytes);
  const rf = runCli(['--model', fixedFile, '--in', inFile, '--out', path.join(work, 'pd_fixed_out'), '--repeat', '5', '--time']);
  if (!expect(rf.status === 0, 'person_detect repaired: run failed')) {
    console.log(`person_detect repaired: FAILED: ${rf.stderr}`);
    return;
  }
  const out = readNpy(path.join(work, 'pd_fixed_out', 'output_0.npy'));
  console.log(`person_detect with ${repaired.changed.length} quantized_dimension values set to 0: runs; output [${Array.from(out.data)}], ` +
    `median ${rf.report.median_ms.toFixed(2)} ms`);
}

// ---------------------------------------------------------------- npy.mjs vs NumPy
// The runner's .npy reader/writer against NumPy (Debian's python3-numpy) in
// both directions, plus the files it must refuse.
const PY_WRITE = `
import sys, numpy as np
d = sys.argv[1]
def values(dtype, shape):
    n = int(np.prod(shape))
    if dtype == 'float32':
        return ((np.arange(n) - 3.5) * 0.25).astype(np.float32).reshape(shape)
    info = np.iinfo(dtype)
    a = np.arange(n, dtype=np.int64) * 7919 - 50000
    a = np.where(a % 3 == 0, info.min, np.where(a % 5 == 0, info.max, a))
    return a.astype(dtype).reshape(shape)
for dtype in ['int8', 'uint8', 'int16', 'int32', 'int64', 'float32']:
    for shape in [(), (0,), (5,), (2, 3, 4)]:
        a = values(dtype, shape)
        tag = dtype + '_' + 'x'.join(map(str, shape))
        np.save(f'{d}/np_{tag}_v1.npy', a)
        with open(f'{d}/np_{tag}_v2.npy', 'wb') as f:
            np.lib.format.write_array(f, a, version=(2, 0))
np.save(f'{d}/bad_bigendian.npy', np.arange(4, dtype='>i2'))
np.save(f'{d}/bad_fortran.npy', np.asfortranarray(np.arange(6, dtype='<i2').reshape(2, 3)))
np.save(f'{d}/bad_float64.npy', np.arange(3, dtype='<f8'))
`;
const PY_READ = `
import sys, json, numpy as np
out = {}
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        version = np.lib.format.read_magic(f)
    a = np.load(path)
    out[path] = {'descr': a.dtype.str, 'shape': list(a.shape), 'version': list(version),
                 'values': [repr(v) for v in a.ravel().tolist()]}
print(json.dumps(out))
`;

function checkNpyWithNumpy() {
  const py = '/usr/bin/python3';
  const probe = spawnSync(py, ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log('npy.mjs vs NumPy: skipped (/usr/bin/python3 with numpy not found)');
    return;
  }
  const dir = path.join(work, 'npy');
  fs.mkdirSync(dir);
  const w = spawnSync(py, ['-c', PY_WRITE, dir], { encoding: 'utf8' });
  if (w.status !== 0) throw new Error(`numpy writer failed: ${w.stderr}`);

  // NumPy -> npy.mjs: same dtype, shape and values as NumPy reads back.
  const npFiles = fs.readdirSync(dir).filter((f) => f.startsWith('np_')).map((f) => path.join(dir, f));
  const r = spawnSync(py, ['-c', PY_READ, ...npFiles], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`numpy reader failed: ${r.stderr}`);
  const truth = JSON.parse(r.stdout);
  const DTYPE_OF_DESCR = { '|i1': 'int8', '|u1': 'uint8', '<i2': 'int16', '<i4': 'int32', '<i8': 'int64', '<f4': 'float32' };
  const equalValues = (dtype, data, strs) => data.length === strs.length &&
    strs.every((s, i) => (dtype === 'float32' ? Number(s) === data[i] : BigInt(s) === BigInt(data[i])));
  let readOk = 0;
  for (const f of npFiles) {
    const t = truth[f];
    const a = readNpy(f);
    const ok = a.dtype === DTYPE_OF_DESCR[t.descr] && a.shape.join() === t.shape.join() && equalValues(a.dtype, a.data, t.values);
    if (expect(ok, `npy.mjs reads ${path.basename(f)} differently from NumPy`)) ++readOk;
  }

  // npy.mjs -> NumPy: write what we just read, under a new name; NumPy must
  // see the same descr, shape and values, in a version 1.0 file.
  const ours = npFiles.map((f) => {
    const a = readNpy(f);
    const file = path.join(dir, `ours_${path.basename(f)}`);
    writeNpy(file, a.dtype, a.shape, a.data);
    return [f, file];
  });
  const r2 = spawnSync(py, ['-c', PY_READ, ...ours.map(([, o]) => o)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r2.status !== 0) throw new Error(`numpy could not read npy.mjs output: ${r2.stderr}`);
  const back = JSON.parse(r2.stdout);
  let writeOk = 0;
  for (const [f, o] of ours) {
    const t = truth[f];
    const b = back[o];
    const ok = b.descr === t.descr && b.shape.join() === t.shape.join() && b.values.join() === t.values.join() && b.version.join() === '1,0';
    if (expect(ok, `NumPy reads npy.mjs's ${path.basename(o)} differently`)) ++writeOk;
  }

  // Files the reader must refuse, each with a message that says why.
  const refusals = [
    ['bad_bigendian.npy', /big-endian/],
    ['bad_fortran.npy', /fortran_order is True/],
    ['bad_float64.npy', /dtype '<f8' is not supported/],
  ];
  const good = fs.readFileSync(path.join(dir, 'np_int16_2x3x4_v1.npy'));
  const mutated = [
    ['truncated data', good.subarray(0, good.length - 1), /needs 48 data bytes, the file has 47/],
    ['bad magic', Buffer.concat([Buffer.from('XNUMPY'), good.subarray(6)]), /bad magic/],
    ['version 3.0', Buffer.concat([good.subarray(0, 6), Buffer.from([3, 0]), good.subarray(8)]), /version 3\.0/],
  ];
  for (const [name, bytes, pattern] of mutated) fs.writeFileSync(path.join(dir, `bad_${name.replace(/\W/g, '_')}.npy`), bytes);
  let refusedOk = 0;
  for (const [name, pattern] of [...refusals, ...mutated.map(([n, , p]) => [`bad_${n.replace(/\W/g, '_')}.npy`, p])]) {
    let message = null;
    try {
      readNpy(path.join(dir, name));
    } catch (e) {
      message = e.message;
    }
    if (expect(message !== null && pattern.test(message), `npy.mjs should refuse ${name} saying ${pattern} (got: ${message})`)) ++refusedOk;
  }
  console.log(`npy.mjs vs NumPy ${spawnSync(py, ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' }).stdout.trim()}: ` +
    `reads ${readOk}/${npFiles.length} NumPy files (v1.0 and v2.0), NumPy reads ${writeOk}/${ours.length} of ours, ` +
    `${refusedOk}/${refusals.length + mutated.length} bad files refused`);
}

const started = performance.now();
try {
  for (const step of [checkNpyWithNumpy, checkSeanet, checkHelloWorld, checkMicroSpeech, checkMobileNet, checkPersonDetect]) {
    try {
      step();
    } catch (e) {
      failures.push(`${step.name}: ${e.message}`);
      console.log(`  ${step.name} stopped: ${e.message}`);
    }
  }
} finally {
  if (!keep) fs.rmSync(work, { recursive: true, force: true });
  else console.log(`(work files kept in ${work})`);
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (failures.length) {
  console.log(`\nlitert self-check: FAILED (${failures.length}) in ${seconds} s:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`\nlitert self-check: all expectations hold (${seconds} s)`);

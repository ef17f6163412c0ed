#!/usr/bin/env node
// The converter conformance matrix: every model qtl-make-conformance-models
// wrote (qtl::convert output) is run in LiteRT (the real TFLite runtime) and
// with qtl's integer executor (tools/qtl-run) on the same inputs, and each
// output element is counted exact / off by one / worse.  XNNPACK requantizes
// in fp32, so rare off-by-one elements are expected.
//
//   node compare_converted_models.mjs --models DIR --qtl-run PATH [--litert DIR] [--summary FILE.md]
//          [--check-skipped]
//
// The bar (exit code 0): every model loads and runs in LiteRT and in qtl-run,
// no element is off by more than 1, and at least 99% are exact overall.
// Besides, an accuracy check catches conversions both runtimes agree on but
// that compute the wrong thing: LiteRT's output, dequantized, against the
// float graph on the same input (CASE_float_output<k>.npy), clamped to the
// range calibration saw (the test sample may go beyond it, and saturating
// there is right); a case whose worst element is off by more than
// ACCURACY_LIMIT of the output's quantized range fails.
// --check-skipped: the skipped cases written by the generator's
// --include-skipped are loaded in LiteRT too, to re-check the skip reasons.
// Cases listed in KNOWN_FAILURES below are run and reported but do not fail
// the bar; remove a mark once the converter is fixed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadLiteRtInNode, resolveInstallDir, errorLines } from './litert/litert_node.mjs';
import { readNpy } from './litert/npy.mjs';
import { describeModel } from './litert/tflite_model.mjs';

// case name -> why it is expected to fail (a converter defect to fix, see docs/conformance.md).
const KNOWN_FAILURES = {};
const ACCURACY_LIMIT = 0.1;  // of the output's range (scale * levels)

const args = process.argv.slice(2);
const value = (flag, fallback) => {
  const i = args.indexOf(flag);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const modelsDir = value('--models');
const qtlRun = value('--qtl-run');
if (!modelsDir || !qtlRun) {
  console.error('usage: node compare_converted_models.mjs --models DIR --qtl-run PATH [--litert DIR] [--summary FILE.md]');
  process.exit(2);
}
const summaryFile = value('--summary');
const checkSkipped = args.includes('--check-skipped');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qtl-converted-'));
const manifest = fs.readFileSync(path.join(modelsDir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

const rt = await loadLiteRtInNode(resolveInstallDir(value('--litert')), 'compat');
const { api, logs } = rt;

// LiteRT's inputs/outputs are listed by signature name; map them to the
// subgraph's input/output positions (the order of CASE_input<k>.npy and of
// qtl-run's output_<k>.npy).
function positions(model, details, kind) {
  const sig = model.signatures[0];
  return details.map((d, i) => {
    if (!sig) return i;
    const t = sig[kind][d.name];
    const k = model[kind].findIndex((x) => x.index === t.index);
    if (k < 0) throw new Error(`signature ${kind} '${d.name}' is not a subgraph ${kind.slice(0, -1)}`);
    return k;
  });
}

async function runLiteRt(file, inputs) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const model = describeModel(bytes, file);
  const since = logs.length;
  let compiled;
  try {
    compiled = await api.loadAndCompile(bytes, { accelerator: 'wasm', cpuOptions: { numThreads: 1 } });
  } catch (e) {
    const reasons = errorLines(logs, since);
    throw Object.assign(new Error(`LiteRT refused the model: ${String(e?.message ?? e).split('\n')[0]}${reasons.length ? ` (${reasons.join('; ')})` : ''}`), { load: true });
  }
  const tensors = [];
  try {
    const inPos = positions(model, compiled.getInputDetails(), 'inputs');
    const outPos = positions(model, compiled.getOutputDetails(), 'outputs');
    for (const k of inPos) tensors.push(new api.Tensor(inputs[k].data, inputs[k].shape));
    let outs;
    try {
      outs = await compiled.run(tensors);
    } catch (e) {
      const reasons = errorLines(logs, since);
      throw Object.assign(new Error(`LiteRT failed to run the model: ${String(e?.message ?? e).split('\n')[0]}${reasons.length ? ` (${reasons.join('; ')})` : ''}`), { load: true });
    }
    // LiteRT.js 2.5.3 does not throw when a kernel fails to invoke (it logs
    // "Node number N (OP) failed to invoke" and returns zeros): read the log.
    const invokeErrors = errorLines(logs, since);
    if (invokeErrors.length) {
      outs.forEach((o) => o.delete());
      throw Object.assign(new Error(`LiteRT failed to run the model (${invokeErrors.join('; ')})`), { load: true });
    }
    const result = [];
    outs.forEach((o, i) => {
      result[outPos[i]] = { dtype: o.type.dtype, data: o.toTypedArray().slice() };
      o.delete();
    });
    return result;
  } finally {
    tensors.forEach((t) => t.delete());
    compiled.delete();
  }
}

// The worst |LiteRT output dequantized - float graph output| of a case, as a
// share of the output's quantized range; the float value is clamped to the
// range calibration saw (a test sample beyond it saturates, rightly).
function floatError(c, outputs) {
  let worst = 0;
  outputs.forEach((o, k) => {
    const ref = readNpy(path.join(modelsDir, `${c.case}_float_output${k}.npy`));
    const q = c.outputs[k];
    const range = q.scale * q.levels;
    const [lo, hi] = q.calibrated;
    for (let i = 0; i < o.data.length; ++i) {
      const y = q.float ? Number(o.data[i]) : (Number(o.data[i]) - q.zero_point) * q.scale;
      const want = Math.min(hi, Math.max(lo, ref.data[i]));
      worst = Math.max(worst, Math.abs(y - want) / range);
    }
  });
  return worst;
}

const groups = new Map();  // "op|scheme" -> counts
const group = (c) => {
  const scheme = `${c.activations} / ${c.weights}${c.io !== 'native' ? ` / ${c.io} I/O` : ''}`;
  const key = `${c.op}|${scheme}`;
  if (!groups.has(key)) groups.set(key, { op: c.op, scheme, cases: 0, total: 0, exact: 0, one: 0, worse: 0, maxDiff: 0, loadFailures: 0, floatErr: 0 });
  return groups.get(key);
};
const skipped = [], failures = [], known = [];
const start = performance.now();

for (const c of manifest) {
  if (c.status === 'skipped') {
    if (checkSkipped) {
      if (c.convert_refused) c.litert = `qtl's converter refuses it (${c.convert_refused.split('\n')[0]})`;
      else if (!c.outputs) c.litert = 'not generated (run the generator with --include-skipped)';
      else {
        const files = Array.from({ length: c.inputs }, (_, k) => path.join(modelsDir, `${c.case}_input${k}.npy`));
        try {
          // LiteRT.js does not always report a kernel that fails to invoke:
          // judge the output against the float graph as well.
          const err = floatError(c, await runLiteRt(path.join(modelsDir, `${c.case}.tflite`), files.map(readNpy)));
          c.litert = err > ACCURACY_LIMIT
            ? `LiteRT loads it but its output is garbage (${(100 * err).toFixed(0)}% of the output range from the float graph's)`
            : `LiteRT runs it correctly (within ${(100 * err).toFixed(1)}% of the float graph): the skip may be stale`;
        } catch (e) {
          c.litert = e.message;
        }
      }
    }
    skipped.push(c);
    continue;
  }
  const g = group(c);
  const knownReason = KNOWN_FAILURES[c.case];
  const fail = (why) => (knownReason ? known : failures).push({ case: c.case, why, known: knownReason });
  if (c.status !== 'ok') { ++g.loadFailures; fail(`qtl's converter refused it: ${c.reason}`); continue; }
  const file = path.join(modelsDir, `${c.case}.tflite`);
  const inputFiles = Array.from({ length: c.inputs }, (_, k) => path.join(modelsDir, `${c.case}_input${k}.npy`));
  const inputs = inputFiles.map(readNpy);
  let litert;
  try {
    litert = await runLiteRt(file, inputs);
  } catch (e) {
    ++g.loadFailures;
    fail(e.message);
    continue;
  }
  const out = path.join(work, c.case);
  const r = spawnSync(qtlRun, [file, ...inputFiles.flatMap((f) => ['--in', f]), '--out', out], { encoding: 'utf8' });
  if (r.status !== 0) { ++g.loadFailures; fail(`qtl-run failed: ${r.stderr.trim()}`); continue; }
  ++g.cases;
  const before = { exact: g.exact, one: g.one, worse: g.worse, maxDiff: 0 };
  litert.forEach((o, k) => {
    const q = readNpy(path.join(out, `output_${k}.npy`));
    if (q.dtype !== o.dtype || q.data.length !== o.data.length) {
      fail(`output ${k}: qtl-run gives ${q.dtype}[${q.data.length}], LiteRT ${o.dtype}[${o.data.length}]`);
      return;
    }
    // Quantized outputs are compared in LSBs; a float32 output (float I/O)
    // in LSBs of the quantized tensor it was dequantized from (the manifest
    // gives that scale).
    const lsb = o.dtype === 'float32' ? c.outputs[k].scale : 1;
    for (let i = 0; i < o.data.length; ++i) {
      const d = Math.round(Math.abs(Number(q.data[i]) - Number(o.data[i])) / lsb);
      g.maxDiff = Math.max(g.maxDiff, d);
      before.maxDiff = Math.max(before.maxDiff, d);
      ++g.total;
      if (d === 0) ++g.exact; else if (d === 1) ++g.one; else ++g.worse;
    }
  });
  // Accuracy: LiteRT's output dequantized against the float graph.
  const caseFloatErr = floatError(c, litert);
  g.floatErr = Math.max(g.floatErr, caseFloatErr);
  if (caseFloatErr > ACCURACY_LIMIT) {
    fail(`inaccurate: an output element is ${(100 * caseFloatErr).toFixed(1)}% of the output range away from the float graph's value`);
  }
  const caseWorse = g.worse - before.worse;
  if (caseWorse > 0) fail(`${caseWorse} element(s) off by more than 1 LSB (max ${before.maxDiff})`);
  if (process.env.QTL_CONFORMANCE_VERBOSE) console.log(`${c.case}: exact ${g.exact - before.exact}, off by 1 ${g.one - before.one}, worse ${caseWorse}, float error ${(100 * caseFloatErr).toFixed(2)}%`);
}

const seconds = (performance.now() - start) / 1000;
const rows = [...groups.values()];
const sum = (k) => rows.reduce((a, r) => a + r[k], 0);
const exactShare = sum('exact') / Math.max(1, sum('total'));
const pct = (r) => (r.total ? (100 * r.exact / r.total).toFixed(2) : '-');
const knownCases = new Set(known.map((k) => k.case));
const failed = failures.length > 0 || exactShare < 0.99;

const lines = [
  `Converted models (\`qtl::convert\` output, ${manifest.length - skipped.length} cases): LiteRT vs qtl-run on the same input, model outputs.`,
  '',
  '| op | activations / weights | cases | elements | exact % | off by 1 | worse | LiteRT/qtl failures | max error vs float |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.op} | ${r.scheme} | ${r.cases} | ${r.total} | ${pct(r)} | ${r.one} | ${r.worse} | ${r.loadFailures} | ${(100 * r.floatErr).toFixed(1)}% |`),
  `| all | | ${sum('cases')} | ${sum('total')} | ${(100 * exactShare).toFixed(3)} | ${sum('one')} | ${sum('worse')} | ${sum('loadFailures')} | ${(100 * Math.max(...rows.map((r) => r.floatErr))).toFixed(1)}% |`,
  '',
  '"max error vs float": the worst |LiteRT output dequantized - float graph output| of the row (the float',
  "value clamped to the range calibration saw), in % of the output's quantized range (scale x 255, or",
  `x 65535 in 16x8); a case above ${100 * ACCURACY_LIMIT}% fails.`,
];
if (skipped.length) {
  lines.push('', 'Skipped (TFLite defines no such kernel):', '');
  const reasons = new Map();
  for (const x of skipped) {
    const checked = !x.litert ? '' : x.convert_refused ? "qtl's converter refuses it"
      : x.litert.replace(/ \(\d+% of the output range.*\)$/, '');  // one line for cases that differ only in numbers
    const key = `${x.reason}${checked ? `. Checked: ${checked}` : ''}`;
    reasons.set(key, [...(reasons.get(key) || []), x.case]);
  }
  for (const [why, cases] of reasons) lines.push(`- ${why} (${cases.length}: ${cases.map((x) => `\`${x}\``).join(', ')})`);
}
if (known.length) {
  lines.push('', 'Known failures (converter defects, marked in compare_converted_models.mjs):', '');
  for (const k of known) lines.push(`- \`${k.case}\`: ${k.known} (observed: ${k.why})`);
}
const fixed = Object.keys(KNOWN_FAILURES).filter((k) => !knownCases.has(k) && manifest.some((c) => c.case === k && c.status === 'ok'));
if (fixed.length) {
  lines.push('', 'Marked as known failures but passing now (remove their marks in compare_converted_models.mjs):', '');
  for (const k of fixed) lines.push(`- \`${k}\``);
}
if (failures.length) {
  lines.push('', 'Failures:', '');
  for (const f of failures) lines.push(`- \`${f.case}\`: ${f.why}`);
}
console.log(lines.join('\n'));
console.log(`\ncompare_converted_models: ${sum('cases')} cases compared in ${seconds.toFixed(1)} s`);
if (summaryFile) fs.writeFileSync(summaryFile, lines.join('\n') + '\n');
fs.rmSync(work, { recursive: true, force: true });
console.log(failed ? 'compare_converted_models: FAILED (a model failed to load or run, an element is off by more than 1, fewer than 99% are exact, or an output is far from the float graph\'s)'
                   : 'compare_converted_models: passed');
process.exit(failed ? 1 : 0);

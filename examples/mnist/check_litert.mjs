#!/usr/bin/env node
// Replays examples/mnist's int8 model in LiteRT (Google's TFLite runtime,
// npm @litertjs/core 2.5.3, WebAssembly + XNNPACK; scripts/setup-litert.sh
// installs it) on the test images qtl evaluated, and compares LiteRT's int8
// outputs with qtl's element by element.
//
//   node examples/mnist/check_litert.mjs [OUT_DIR] [--litert DIR]
//        [--model F] [--inputs F] [--outputs F] [--labels F]
//
// OUT_DIR is example_mnist's output folder (default ./mnist_out); the files
// default to mnist_int8.tflite, test_inputs_int8.npy [N, 784] (int8, already
// quantized with the model's input parameters), qtl_outputs_int8.npy
// [N, 10] and test_labels.npy [N] in it.
//
// XNNPACK requantizes in fp32, so an element may differ from TFLite's
// integer reference arithmetic (qtl's) by 1 LSB; more is a bug.  Exit code 1
// if any element differs by more than 1 or LiteRT's accuracy differs from
// qtl's by more than 0.1 points; 2 on bad usage.
import fs from 'node:fs';
import path from 'node:path';
import { loadLiteRtInNode, resolveInstallDir, errorLines } from '../../tests/conformance/litert/litert_node.mjs';
import { readNpy } from '../../tests/conformance/litert/npy.mjs';

const USAGE = 'usage: node check_litert.mjs [OUT_DIR] [--litert DIR] [--model F] [--inputs F] [--outputs F] [--labels F]';

function parseArgs(argv) {
  const o = { dir: null };
  const flags = { '--litert': 'litert', '--model': 'model', '--inputs': 'inputs', '--outputs': 'outputs', '--labels': 'labels' };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    if (a in flags) {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      o[flags[a]] = argv[++i];
    } else if (!a.startsWith('--') && o.dir === null) {
      o.dir = a;
    } else {
      throw new Error(`unknown argument '${a}'`);
    }
  }
  const dir = o.dir ?? 'mnist_out';
  o.model ??= path.join(dir, 'mnist_int8.tflite');
  o.inputs ??= path.join(dir, 'test_inputs_int8.npy');
  o.outputs ??= path.join(dir, 'qtl_outputs_int8.npy');
  o.labels ??= path.join(dir, 'test_labels.npy');
  return o;
}

// First index of the largest value (the same rule as example_mnist).
function argmax(a) {
  let best = 0;
  for (let i = 1; i < a.length; ++i) if (a[i] > a[best]) best = i;
  return best;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`check_litert: ${e.message}\n${USAGE}`);
    return 2;
  }
  const inputs = readNpy(opts.inputs);
  const expected = readNpy(opts.outputs);
  const labels = readNpy(opts.labels);
  if (inputs.dtype !== 'int8' || inputs.shape.length !== 2) throw new Error(`${opts.inputs}: expected int8 [N, 784], got ${inputs.dtype} [${inputs.shape}]`);
  const [n, features] = inputs.shape;
  if (expected.dtype !== 'int8' || expected.shape.length !== 2 || expected.shape[0] !== n) {
    throw new Error(`${opts.outputs}: expected int8 [${n}, classes], got ${expected.dtype} [${expected.shape}]`);
  }
  const classes = expected.shape[1];
  if (labels.shape.length !== 1 || labels.shape[0] !== n) throw new Error(`${opts.labels}: expected [${n}] labels, got [${labels.shape}]`);

  const rt = await loadLiteRtInNode(resolveInstallDir(opts.litert), 'compat');
  const { api, logs } = rt;
  const bytes = new Uint8Array(fs.readFileSync(opts.model));
  const since = logs.length;
  let compiled;
  try {
    compiled = await api.loadAndCompile(bytes, { accelerator: 'wasm', cpuOptions: { numThreads: 1 } });
  } catch (e) {
    const why = errorLines(logs, since);
    throw new Error(`LiteRT refused ${opts.model}: ${e.message}${why.length ? `\n  ${why.join('\n  ')}` : ''}`);
  }
  const inDetail = compiled.getInputDetails()[0];
  const outDetail = compiled.getOutputDetails()[0];
  const inShape = Array.from(inDetail.shape);
  if (inDetail.dtype !== 'int8' || inShape.reduce((a, b) => a * b, 1) !== features) {
    throw new Error(`the model's input is ${inDetail.dtype} [${inShape}], expected int8 with ${features} values`);
  }

  let exact = 0, offByOne = 0, worse = 0, maxDiff = 0;
  let litertCorrect = 0, qtlCorrect = 0, sameClass = 0;
  const worst = [];
  const start = performance.now();
  for (let i = 0; i < n; ++i) {
    const x = inputs.data.slice(i * features, (i + 1) * features);
    const t = new api.Tensor(x, inShape);
    let outs;
    const before = logs.length;
    try {
      outs = await compiled.run([t]);
    } finally {
      t.delete();
    }
    // run() can return normally after a kernel failed to invoke: read the log.
    const failed = errorLines(logs, before);
    if (failed.length) throw new Error(`LiteRT failed on test digit ${i}: ${failed.join('; ')}`);
    const y = outs[0].toTypedArray();
    outs.forEach((o) => o.delete());
    if (!(y instanceof Int8Array) || y.length !== classes) {
      throw new Error(`LiteRT's output is ${y.constructor.name}[${y.length}], expected Int8Array[${classes}]`);
    }
    const q = expected.data.subarray(i * classes, (i + 1) * classes);
    for (let k = 0; k < classes; ++k) {
      const d = Math.abs(y[k] - q[k]);
      if (d === 0) ++exact;
      else if (d === 1) ++offByOne;
      else {
        ++worse;
        if (worst.length < 5) worst.push(`image ${i} class ${k}: LiteRT ${y[k]}, qtl ${q[k]}`);
      }
      maxDiff = Math.max(maxDiff, d);
    }
    const label = Number(labels.data[i]);
    const a = argmax(y), b = argmax(q);
    litertCorrect += a === label;
    qtlCorrect += b === label;
    sameClass += a === b;
  }
  const ms = performance.now() - start;
  compiled.delete();

  const total = n * classes;
  const pct = (k, of) => (100 * k / of).toFixed(3);
  const accL = 100 * litertCorrect / n, accQ = 100 * qtlCorrect / n;
  console.log(`LiteRT @litertjs/core (${rt.wasmFile}, XNNPACK) ran ${path.basename(opts.model)} on ${n} test images in ${(ms / 1000).toFixed(1)} s`);
  console.log(`  output elements vs qtl: ${exact} exact (${pct(exact, total)}%), ${offByOne} off by one, ${worse} worse (max |diff| ${maxDiff}) of ${total}`);
  console.log(`  accuracy: LiteRT ${accL.toFixed(2)}%, qtl ${accQ.toFixed(2)}%; same predicted digit on ${sameClass}/${n} images`);
  let ok = true;
  if (worse > 0) {
    ok = false;
    console.log(`  FAIL: ${worse} elements differ by more than 1 LSB, e.g.\n    ${worst.join('\n    ')}`);
  }
  if (Math.abs(accL - accQ) > 0.1) {
    ok = false;
    console.log(`  FAIL: the accuracies differ by ${(accL - accQ).toFixed(2)} points (> 0.1)`);
  }
  console.log(ok ? '  PASS: LiteRT agrees with qtl (every element within 1 LSB, accuracy within 0.1 points)' : '  LiteRT check FAILED');
  return ok ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`check_litert: error: ${e.message}`);
  process.exit(1);
});

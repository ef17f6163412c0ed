// Extends the dtype table of an installed @litertjs/core 2.5.3 so that int8,
// int16 and int64 tensors can cross the JS <-> Wasm boundary.
//
//   node patch_dtypes.mjs <install dir>      (the folder holding node_modules/)
//
// Why: the runtime itself handles every TFLite type, but the JS wrapper maps
// dtypes through a table (DATATYPES in dist/index.js) that lists only
// float32, int32 and uint8. Any model with an int8 or int16 input or output
// then fails in loadAndCompile() with "Element type INT8 is not supported."
// We add three rows (int8 -> Int8Array, int16 -> Int16Array,
// int64 -> BigInt64Array); the element type numbers are LiteRT's own
// (ElementType in the same file). Each typed array class stays unique, so
// the lookup by TypedArray class still finds exactly one row.
//
// Idempotent: a second run finds the marker and only re-checks it. If the
// file does not look exactly like the one we know (another version, or a
// change upstream), we stop with an error instead of guessing.
import fs from 'node:fs';
import path from 'node:path';

const EXPECTED_VERSION = '2.5.3';
const MARKER = '/* qtl: int8/int16/int64 rows added by tests/conformance/litert/patch_dtypes.mjs */';

// The end of the original table, verbatim.
const TABLE_END = [
  '  {',
  '    dtype: "uint8",',
  '    typedArrayConstructor: Uint8Array,',
  '    elementType: ElementType.UINT8',
  '  }',
  ']);',
].join('\n');

const ADDED_ROWS = [
  '  {',
  '    dtype: "uint8",',
  '    typedArrayConstructor: Uint8Array,',
  '    elementType: ElementType.UINT8',
  '  },',
  `  ${MARKER}`,
  '  {',
  '    dtype: "int8",',
  '    typedArrayConstructor: Int8Array,',
  '    elementType: ElementType.INT8',
  '  },',
  '  {',
  '    dtype: "int16",',
  '    typedArrayConstructor: Int16Array,',
  '    elementType: ElementType.INT16',
  '  },',
  '  {',
  '    dtype: "int64",',
  '    typedArrayConstructor: BigInt64Array,',
  '    elementType: ElementType.INT64',
  '  }',
  ']);',
].join('\n');

// The element type numbers the new rows rely on, as the file defines them.
const ELEMENT_TYPES = ['  INT64: 4,', '  INT16: 7,', '  INT8: 9,'];

function fail(message) {
  console.error(`patch_dtypes: ${message}`);
  process.exit(1);
}

function countOf(haystack, needle) {
  let n = 0;
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + 1)) ++n;
  return n;
}

const installDir = process.argv[2];
if (!installDir || process.argv.length !== 3) fail('usage: node patch_dtypes.mjs <install dir>');
const coreDir = path.join(installDir, 'node_modules', '@litertjs', 'core');
const pkgFile = path.join(coreDir, 'package.json');
const jsFile = path.join(coreDir, 'dist', 'index.js');
if (!fs.existsSync(pkgFile) || !fs.existsSync(jsFile)) {
  fail(`no @litertjs/core in ${installDir} (expected ${jsFile}); run scripts/setup-litert.sh first`);
}
const version = JSON.parse(fs.readFileSync(pkgFile, 'utf8')).version;
if (version !== EXPECTED_VERSION) {
  fail(`@litertjs/core is ${version}, this patch is written for ${EXPECTED_VERSION}; check the table by hand and update the patch`);
}

const source = fs.readFileSync(jsFile, 'utf8');
for (const line of ELEMENT_TYPES) {
  if (countOf(source, line) !== 1) fail(`${jsFile}: ElementType line '${line.trim()}' not found exactly once; the file changed shape`);
}
if (countOf(source, 'var DATATYPES = Object.freeze([') !== 1) {
  fail(`${jsFile}: 'var DATATYPES = Object.freeze([' not found exactly once; the file changed shape`);
}

const markers = countOf(source, MARKER);
if (markers === 1) {
  if (countOf(source, ADDED_ROWS) !== 1) fail(`${jsFile}: marker present but the patched table differs; reinstall the package`);
  console.log('patch_dtypes: already patched');
  process.exit(0);
}
if (markers > 1) fail(`${jsFile}: marker found ${markers} times; reinstall the package`);
if (countOf(source, TABLE_END) !== 1) fail(`${jsFile}: the end of the DATATYPES table is not where it was in ${EXPECTED_VERSION}; the file changed shape`);

const patched = source.replace(TABLE_END, ADDED_ROWS);
const tmp = `${jsFile}.qtl-tmp`;
fs.writeFileSync(tmp, patched);
fs.renameSync(tmp, jsFile);  // atomic: a reader never sees half a file
console.log('patch_dtypes: added int8, int16, int64 to DATATYPES');

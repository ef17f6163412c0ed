// Minimal .npy reader and writer (NumPy's format, versions 1.0 and 2.0),
// for the little-endian C-order arrays the LiteRT runner exchanges:
// int8, uint8, int16, int32, int64, float32.
//
// File layout: "\x93NUMPY", major, minor, header length (uint16 in 1.0,
// uint32 in 2.0, little-endian), an ASCII header that is a Python dict
// literal {'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ended by '\n', then the raw elements.
import fs from 'node:fs';

// descr -> dtype name and TypedArray class. '|' (not applicable) and '<'
// (little-endian) are both accepted for one-byte types, as NumPy writes '|'.
const DESCRS = {
  '|i1': 'int8', '<i1': 'int8',
  '|u1': 'uint8', '<u1': 'uint8',
  '<i2': 'int16',
  '<i4': 'int32',
  '<i8': 'int64',
  '<f4': 'float32',
};
export const ARRAY_TYPES = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  float32: Float32Array,
};
const DESCR_OF = { int8: '|i1', uint8: '|u1', int16: '<i2', int32: '<i4', int64: '<i8', float32: '<f4' };

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];  // \x93NUMPY

// TypedArrays use the machine's byte order; the files are little-endian.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('npy.mjs: this machine is big-endian; the reader assumes little-endian typed arrays');
}

function bad(file, message) {
  return new Error(`${file}: not a supported .npy file: ${message}`);
}

// Parses the header dict. Strict on purpose: the three keys, nothing else.
function parseHeader(text, file) {
  const body = text.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) throw bad(file, `header is not a dict: ${JSON.stringify(body)}`);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(body);
  const order = /'fortran_order'\s*:\s*(True|False)/.exec(body);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(body);
  if (!descr || !order || !shape) throw bad(file, `header lacks descr, fortran_order or shape: ${body}`);
  const rest = body.slice(1, -1).replace(descr[0], '').replace(order[0], '').replace(shape[0], '');
  if (rest.replace(/[\s,]/g, '') !== '') throw bad(file, `unexpected header content: ${body}`);
  const dtype = DESCRS[descr[1]];
  if (!dtype) {
    const hint = descr[1].startsWith('>') ? ' (big-endian; save as little-endian)' : '';
    throw bad(file, `dtype '${descr[1]}' is not supported${hint}; supported: ${Object.keys(DESCRS).join(' ')}`);
  }
  if (order[1] === 'True') throw bad(file, 'fortran_order is True; only C order is supported (use np.ascontiguousarray)');
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '');
  const parsed = dims.map((d) => {
    if (!/^\d+$/.test(d)) throw bad(file, `shape entry '${d}' is not a non-negative integer`);
    return Number(d);
  });
  return { dtype, shape: parsed };
}

// Returns { dtype, shape, data } with data a TypedArray that owns its bytes.
export function decodeNpy(bytes, file = '<buffer>') {
  if (bytes.length < 10) throw bad(file, `only ${bytes.length} bytes`);
  for (let i = 0; i < MAGIC.length; ++i) {
    if (bytes[i] !== MAGIC[i]) throw bad(file, 'bad magic (expected \\x93NUMPY)');
  }
  const major = bytes[6];
  const minor = bytes[7];
  if ((major !== 1 && major !== 2) || minor !== 0) throw bad(file, `version ${major}.${minor}; supported: 1.0, 2.0`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthSize = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthSize) throw bad(file, 'truncated header length');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lengthSize + headerLength;
  if (dataStart > bytes.length) throw bad(file, `header length ${headerLength} runs past the end of the file`);
  const header = Buffer.from(bytes.subarray(8 + lengthSize, dataStart)).toString('latin1');
  const { dtype, shape } = parseHeader(header, file);
  const Type = ARRAY_TYPES[dtype];
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = count * Type.BYTES_PER_ELEMENT;
  const got = bytes.length - dataStart;
  if (got !== expected) {
    throw bad(file, `shape (${shape.join(', ')}) of ${dtype} needs ${expected} data bytes, the file has ${got}`);
  }
  // Copy into a fresh, aligned buffer (the data offset need not be aligned).
  const own = new Uint8Array(expected);
  own.set(bytes.subarray(dataStart));
  return { dtype, shape, data: new Type(own.buffer) };
}

export function readNpy(file) {
  let bytes;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  return decodeNpy(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}

// Encodes a TypedArray of a supported dtype as a version 1.0 file (2.0 when
// the header would not fit in 65535 bytes), header padded so that the data
// starts at a multiple of 64 bytes, as NumPy does.
export function encodeNpy(dtype, shape, data) {
  const descr = DESCR_OF[dtype];
  if (!descr) throw new Error(`encodeNpy: dtype ${dtype} is not supported`);
  if (!(data instanceof ARRAY_TYPES[dtype])) throw new Error(`encodeNpy: data is a ${data.constructor.name}, expected ${ARRAY_TYPES[dtype].name} for ${dtype}`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`encodeNpy: shape (${shape.join(', ')}) has ${count} elements, data has ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let major = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const header = dict + ' '.repeat(total - prefix - dict.length - 1) + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), prefix);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

export function writeNpy(file, dtype, shape, data) {
  fs.writeFileSync(file, encodeNpy(dtype, shape, data));
}

// Reads the few facts the runner needs from a .tflite flatbuffer (no schema
// compiler): for the main subgraph's inputs and outputs the name, type,
// shape, shape_signature and quantization (scale, zero_point); and it can
// pin dynamic dimensions (-1 in shape_signature) to the stored shape.
//
// Flatbuffer basics used here: a table starts with an int32 offset back to
// its vtable; the vtable holds uint16 [vtable size, table size, field
// offsets...]; a field offset of 0 (or past the vtable) means "absent".
// Reference fields (tables, vectors, strings) hold a uint32 offset relative
// to the field itself; a vector starts with its uint32 length.
//
// Field numbers of the TFLite schema used below:
//   Model:       2 subgraphs, 7 signature_defs
//   SubGraph:    0 tensors, 1 inputs, 2 outputs
//   Tensor:      0 shape, 1 type, 3 name, 4 quantization, 7 shape_signature
//   QuantizationParameters: 2 scale (float), 3 zero_point (long),
//                6 quantized_dimension
//   SignatureDef: 0 inputs, 1 outputs, 2 signature_key, 4 subgraph_index
//   TensorMap:   0 name, 1 tensor_index

const TENSOR_TYPES = [
  'float32', 'float16', 'int32', 'uint8', 'int64', 'string', 'bool', 'int16',
  'complex64', 'int8', 'float64', 'complex128', 'uint64', 'resource', 'variant',
  'uint32', 'uint16', 'int4',
];

class FlatReader {
  constructor(bytes, file) {
    this.bytes = bytes;
    this.file = file;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(what) {
    throw new Error(`${this.file}: malformed .tflite flatbuffer (${what})`);
  }
  check(pos, size, what) {
    if (!Number.isInteger(pos) || pos < 0 || pos + size > this.bytes.length) this.fail(`${what} out of bounds at ${pos}`);
  }
  u8(p) { this.check(p, 1, 'byte'); return this.view.getUint8(p); }
  u16(p) { this.check(p, 2, 'uint16'); return this.view.getUint16(p, true); }
  i32(p) { this.check(p, 4, 'int32'); return this.view.getInt32(p, true); }
  u32(p) { this.check(p, 4, 'uint32'); return this.view.getUint32(p, true); }
  f32(p) { this.check(p, 4, 'float'); return this.view.getFloat32(p, true); }
  i64(p) { this.check(p, 8, 'int64'); return this.view.getBigInt64(p, true); }

  // Position of field `index` of the table at `table`, or null if absent.
  field(table, index) {
    const vtable = table - this.i32(table);
    const vsize = this.u16(vtable);
    const slot = 4 + 2 * index;
    if (slot + 2 > vsize) return null;
    const offset = this.u16(vtable + slot);
    return offset === 0 ? null : table + offset;
  }
  deref(pos) { return pos + this.u32(pos); }
  table(table, index) {
    const p = this.field(table, index);
    return p === null ? null : this.deref(p);
  }
  // [position of element 0, length] of a vector field, or null.
  vector(table, index, elementSize) {
    const p = this.field(table, index);
    if (p === null) return null;
    const v = this.deref(p);
    const n = this.u32(v);
    this.check(v + 4, n * elementSize, 'vector');
    return [v + 4, n];
  }
  ints(table, index) {
    const v = this.vector(table, index, 4);
    if (!v) return null;
    return Array.from({ length: v[1] }, (_, i) => this.i32(v[0] + 4 * i));
  }
  tables(table, index) {
    const v = this.vector(table, index, 4);
    if (!v) return [];
    return Array.from({ length: v[1] }, (_, i) => this.deref(v[0] + 4 * i));
  }
  string(table, index) {
    const v = this.vector(table, index, 1);
    if (!v) return null;
    return Buffer.from(this.bytes.subarray(v[0], v[0] + v[1])).toString('utf8');
  }
}

function readRoot(bytes, file) {
  const r = new FlatReader(bytes, file);
  if (bytes.length < 8) r.fail('file too short');
  const ident = Buffer.from(bytes.subarray(4, 8)).toString('latin1');
  if (ident !== 'TFL3') r.fail(`file identifier is '${ident}', expected 'TFL3'`);
  return [r, r.deref(0)];
}

function readTensor(r, tensors, index) {
  if (!Number.isInteger(index) || index < 0 || index >= tensors.length) r.fail(`tensor index ${index} of ${tensors.length}`);
  const t = tensors[index];
  const typeField = r.field(t, 1);
  const typeCode = typeField === null ? 0 : r.u8(typeField);
  const shape = r.ints(t, 0) || [];
  const signature = r.ints(t, 7);
  const info = {
    index,
    name: r.string(t, 3) || '',
    dtype: TENSOR_TYPES[typeCode] || `type${typeCode}`,
    shape,
    shape_signature: signature || shape.slice(),
  };
  const q = r.table(t, 4);
  if (q !== null) {
    const sv = r.vector(q, 2, 4);
    const zv = r.vector(q, 3, 8);
    if (sv && sv[1] > 0) {
      info.scale = Array.from({ length: sv[1] }, (_, i) => r.f32(sv[0] + 4 * i));
      info.zero_point = zv ? Array.from({ length: zv[1] }, (_, i) => Number(r.i64(zv[0] + 8 * i))) : [];
      const qd = r.field(q, 6);
      if (sv[1] > 1) info.quantized_dimension = qd === null ? 0 : r.i32(qd);
    }
  }
  return info;
}

// { inputs: [...], outputs: [...], signatures: [{key, inputs: {name: tensor}, outputs}] }
// for subgraph 0 (the one LiteRT runs by default).
export function describeModel(bytes, file = '<model>') {
  const [r, model] = readRoot(bytes, file);
  const subgraphs = r.tables(model, 2);
  if (subgraphs.length === 0) r.fail('no subgraphs');
  const describeSubgraph = (s) => {
    const tensors = r.tables(s, 0);
    return {
      inputs: (r.ints(s, 1) || []).map((i) => readTensor(r, tensors, i)),
      outputs: (r.ints(s, 2) || []).map((i) => readTensor(r, tensors, i)),
      tensorAt: (i) => readTensor(r, tensors, i),
    };
  };
  const main = describeSubgraph(subgraphs[0]);
  const signatures = r.tables(model, 7).map((sig) => {
    const si = r.field(sig, 4);
    const subgraphIndex = si === null ? 0 : r.u32(si);
    if (subgraphIndex >= subgraphs.length) r.fail(`signature subgraph ${subgraphIndex} of ${subgraphs.length}`);
    const sg = describeSubgraph(subgraphs[subgraphIndex]);
    const maps = (index) => Object.fromEntries(r.tables(sig, index).map((m) => {
      const ti = r.field(m, 1);
      return [r.string(m, 0) || '', sg.tensorAt(ti === null ? 0 : r.u32(ti))];
    }));
    return { key: r.string(sig, 2) || '', subgraphIndex, inputs: maps(0), outputs: maps(1) };
  });
  return { inputs: main.inputs, outputs: main.outputs, signatures };
}

// Returns a copy of the model in which every -1 in every tensor's
// shape_signature is replaced by the same dimension of its stored shape
// (what TFLite's interpreter allocates when nobody resizes the inputs), and
// the list of tensors changed. Same size, edited in place in the copy.
export function pinDynamicDims(bytes, file = '<model>') {
  const copy = new Uint8Array(bytes);
  const [r, model] = readRoot(copy, file);
  const changed = [];
  for (const s of r.tables(model, 2)) {
    for (const t of r.tables(s, 0)) {
      const sig = r.vector(t, 7, 4);
      if (!sig) continue;
      const shape = r.ints(t, 0) || [];
      for (let i = 0; i < sig[1]; ++i) {
        const p = sig[0] + 4 * i;
        if (r.i32(p) !== -1) continue;
        if (shape.length !== sig[1] || shape[i] < 0) r.fail(`tensor '${r.string(t, 3)}': shape_signature has -1 at ${i} but shape is [${shape}]`);
        r.view.setInt32(p, shape[i], true);
        changed.push(r.string(t, 3) || '?');
      }
    }
  }
  return { bytes: copy, changed: [...new Set(changed)] };
}

// Returns a copy of the model in which every tensor whose quantized_dimension
// is out of range for its rank gets quantized_dimension 0 -- when that makes
// sense: one scale, or as many scales as dimension 0 has entries -- and the
// names of the tensors changed. This is the repair ../shared/models/README.md
// describes for person_detect.tflite, whose rank-1 depthwise biases say
// quantized_dimension 3 ("quantized_dimension must be in range [0, 1). Was 3.").
export function repairQuantizedDimensions(bytes, file = '<model>') {
  const copy = new Uint8Array(bytes);
  const [r, model] = readRoot(copy, file);
  const changed = [];
  for (const s of r.tables(model, 2)) {
    for (const t of r.tables(s, 0)) {
      const q = r.table(t, 4);
      if (q === null) continue;
      const qd = r.field(q, 6);
      const scales = r.vector(q, 2, 4);
      if (qd === null || !scales) continue;
      const shape = r.ints(t, 0) || [];
      const dim = r.i32(qd);
      if (dim >= 0 && dim < Math.max(shape.length, 1)) continue;
      const name = r.string(t, 3) || '?';
      if (scales[1] !== 1 && shape[0] !== scales[1]) {
        r.fail(`tensor '${name}': quantized_dimension ${dim} out of range and its ${scales[1]} scales do not fit dimension 0 of [${shape}]`);
      }
      r.view.setInt32(qd, 0, true);
      changed.push(name);
    }
  }
  return { bytes: copy, changed };
}

// For each operator of subgraph 0: its input and output tensor indices and,
// per input, whether the tensor is a constant (its buffer holds data).
// Inputs of -1 (optional, absent) are dropped.
export function describeOperators(bytes, file = '<model>') {
  const [r, model] = readRoot(bytes, file);
  const subgraphs = r.tables(model, 2);
  if (subgraphs.length === 0) r.fail('no subgraphs');
  const buffers = r.tables(model, 4);
  const tensors = r.tables(subgraphs[0], 0);
  const isConstant = (i) => {
    if (i < 0 || i >= tensors.length) r.fail(`tensor index ${i} of ${tensors.length}`);
    const b = r.field(tensors[i], 2);
    const index = b === null ? 0 : r.u32(b);
    if (index === 0 || index >= buffers.length) return false;
    const data = r.vector(buffers[index], 0, 1);
    return data !== null && data[1] > 0;
  };
  return r.tables(subgraphs[0], 3).map((op, index) => {
    const inputs = (r.ints(op, 1) || []).filter((i) => i >= 0);
    return {
      index,
      inputs: inputs.map((i) => ({ tensor: i, constant: isConstant(i) })),
      outputs: r.ints(op, 2) || [],
    };
  });
}

// Returns a copy of the model whose first output (in subgraph 0 and in every
// signature) is tensor `index` instead: a way to read any intermediate tensor
// from a runtime that only returns outputs.  Same size, edited in place.
export function exposeTensor(bytes, index, file = '<model>') {
  const copy = new Uint8Array(bytes);
  const [r, model] = readRoot(copy, file);
  const subgraphs = r.tables(model, 2);
  if (subgraphs.length === 0) r.fail('no subgraphs');
  const outputs = r.vector(subgraphs[0], 2, 4);
  if (!outputs || outputs[1] === 0) r.fail('subgraph 0 has no outputs');
  r.view.setInt32(outputs[0], index, true);
  for (const sig of r.tables(model, 7)) {
    const maps = r.tables(sig, 1);
    if (maps.length === 0) continue;
    const ti = r.field(maps[0], 1);
    if (ti !== null) r.view.setUint32(ti, index, true);
  }
  return copy;
}

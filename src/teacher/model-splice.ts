// Editing a teacher's graph without re-serializing its weights.
//
// Decoding a ModelProto with protobufjs and encoding it again copies every initializer
// through JavaScript: seconds for a 0.5 GB inline-weight model, before ONNX Runtime even
// starts. The head surgery only appends nodes and small initializers and replaces the output
// list, so this module walks the protobuf wire format instead, without protobufjs
// (proto-decode.ts, proto-encode.ts: the teacher worker never loads the ONNX bindings): it
// decodes the small parts (nodes, inputs, outputs, opsets), reads each initializer's name,
// dims and data location without touching its weights, lets the caller mutate that light ModelProto, and then splices the
// result back: every original field is copied byte for byte (one memcpy of the file), the
// graph's `output` entries are dropped, and one encoded GraphProto fragment holding the new
// nodes, initializers and outputs is appended to the graph field. Protobuf concatenates
// repeated fields across occurrences, so ONNX Runtime parses the same graph a full
// re-encode would have produced. External-data models stay by reference (only the small
// .onnx is read), so a 7B teacher's weights are never copied.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { GraphProto, ModelProto, TensorProto } from './onnx-types.js';
import { decodeNode, decodeOpset, decodeValueInfo } from './proto-decode.js';
import { encodeGraphFragment } from './proto-encode.js';
import {
  type ByteSource, type Field, fields, fileSource, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_NODE, GRAPH_OUTPUT, memorySource, MODEL_GRAPH, MODEL_OPSET_IMPORT,
  readVarint, TENSOR_DATA_LOCATION, TENSOR_DATA_TYPE, TENSOR_DIMS, TENSOR_INT32_DATA, TENSOR_INT64_DATA, TENSOR_NAME, TENSOR_RAW_DATA,
} from './proto-wire.js';

export { type ByteSource, fileSource, memorySource } from './proto-wire.js';


/** A ModelProto with real nodes, inputs and outputs but initializer stubs (name, location). */
export interface LightModel {
  proto: ModelProto;
  /** The original file; spliceModel copies from it. */
  readonly bytes: Uint8Array;
  readonly nodeCount: number;
  readonly initializerCount: number;
  readonly graphField: Field;
  readonly graphFields: Field[];
  readonly modelFields: Field[];
}

/** Raw data up to this size is kept in a stub (small integer tables: Slice axes, shapes). */
const SMALL_RAW = 256;

/**
 * Initializer stub: its name, dims, element type, whether its bytes live in a side file, and
 * its values only when they are small (declaredContextLength reads Slice axes); the weights
 * themselves are never read.
 */
function tensorStub(src: ByteSource, f: Field, label: string): TensorProto {
  const stub: TensorProto = {};
  const ints = (t: Field): number[] => {
    if (t.wireType === 0) return [readVarint(src, t.valueStart, t.end, label)[0]];
    const out: number[] = [];
    for (let pos = t.valueStart; pos < t.end;) {
      const [v, next] = readVarint(src, pos, t.end, label);
      out.push(v);
      pos = next;
    }
    return out;
  };
  for (const t of fields(src, f.valueStart, f.end, label)) {
    if (t.field === TENSOR_NAME && t.wireType === 2) stub.name = src.text(t.valueStart, t.end);
    else if (t.field === TENSOR_DATA_LOCATION && t.wireType === 0) stub.dataLocation = readVarint(src, t.valueStart, t.end, label)[0];
    else if (t.field === TENSOR_DIMS) (stub.dims ??= []).push(...ints(t));
    else if (t.field === TENSOR_DATA_TYPE && t.wireType === 0) stub.dataType = readVarint(src, t.valueStart, t.end, label)[0];
    else if (t.field === TENSOR_RAW_DATA && t.wireType === 2 && t.end - t.valueStart <= SMALL_RAW) stub.rawData = src.slice(t.valueStart, t.end).slice();
    // Typed integer fields, when small. Negative values come back as large unsigned numbers
    // (no BigInt here): fine for what reads them, which tests for 0.
    else if (t.field === TENSOR_INT64_DATA && t.end - t.valueStart <= SMALL_RAW) (stub.int64Data ??= []).push(...ints(t));
    else if (t.field === TENSOR_INT32_DATA && t.end - t.valueStart <= SMALL_RAW) (stub.int32Data ??= []).push(...ints(t));
  }
  return stub;
}

/** The light model of bytes in memory (kept, for spliceModel / graphAppendix). */
export function readModelLight(bytes: Uint8Array, label: string): LightModel {
  return { ...readLight(memorySource(bytes), label), bytes };
}

/** The light model of a file, reading only field headers and the small fields. */
export function readModelLightFile(file: string, label: string): ModelProto {
  const fd = openSync(file, 'r');
  try {
    return readLight(fileSource(fd), label).proto;
  } finally {
    closeSync(fd);
  }
}

function readLight(bytes: ByteSource, label: string): Omit<LightModel, 'bytes'> {
  const modelFields = fields(bytes, 0, bytes.length, label);
  const graphs = modelFields.filter((f) => f.field === MODEL_GRAPH && f.wireType === 2);
  if (graphs.length !== 1) throw new Error(`teacher ${label}: ${graphs.length === 0 ? 'model has no graph' : 'not an ONNX ModelProto (several graph fields)'}`);
  const graphField = graphs[0];
  const graphFields = fields(bytes, graphField.valueStart, graphField.end, label);
  // Only what the head surgery, the context-length check and inspect read is decoded: opsets,
  // nodes, inputs, outputs, initializer stubs (see proto-decode.ts); never the weights.
  const of = (field: number) => graphFields.filter((f) => f.field === field && f.wireType === 2);
  const graph: GraphProto = {
    node: of(GRAPH_NODE).map((f) => decodeNode(bytes, f, label)),
    input: of(GRAPH_INPUT).map((f) => decodeValueInfo(bytes, f, label)),
    output: of(GRAPH_OUTPUT).map((f) => decodeValueInfo(bytes, f, label)),
    initializer: of(GRAPH_INITIALIZER).map((f) => tensorStub(bytes, f, label)),
  };
  const proto: ModelProto = {
    opsetImport: modelFields.filter((f) => f.field === MODEL_OPSET_IMPORT && f.wireType === 2).map((f) => decodeOpset(bytes, f, label)),
    graph,
  };
  return {
    proto, graphField, graphFields, modelFields,
    nodeCount: graph.node!.length,
    initializerCount: graph.initializer!.length,
  };
}

function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/**
 * The model bytes after the caller appended nodes and initializers to `light.proto.graph` and
 * rewrote its output list. Existing nodes and initializers must not have been changed (they are
 * copied from the original bytes, not from the proto). The graph's output entries are replaced
 * by the proto's list; this costs one copy of the file (the graph field's length changes).
 * `dropNodes` (indices into the original node list) leaves those nodes out: ONNX Runtime runs
 * every node of a graph, also one whose outputs nobody reads, so a head that replaces the
 * model's own output layer has to remove it, not just stop fetching it.
 */
export function spliceModel(light: LightModel, dropNodes: ReadonlySet<number> = new Set()): Uint8Array {
  const { bytes, proto, graphField } = light;
  const graph = proto.graph!;
  const tail = encodeGraphFragment({
    node: (graph.node ?? []).slice(light.nodeCount),
    initializer: (graph.initializer ?? []).slice(light.initializerCount),
    output: graph.output ?? [],
  });
  let nodeIndex = 0;
  const kept = light.graphFields.filter((f) => f.field !== GRAPH_OUTPUT && !(f.field === GRAPH_NODE && f.wireType === 2 && dropNodes.has(nodeIndex++)));
  let graphLen = tail.length;
  for (const f of kept) graphLen += f.end - f.start;
  const header = fieldHeader(MODEL_GRAPH, graphLen);
  let total = header.length + graphLen;
  for (const f of light.modelFields) if (f !== graphField) total += f.end - f.start;
  const out = new Uint8Array(total);
  let at = 0;
  const put = (part: Uint8Array): void => {
    out.set(part, at);
    at += part.length;
  };
  for (const f of light.modelFields) {
    if (f !== graphField) {
      put(bytes.subarray(f.start, f.end));
      continue;
    }
    put(header);
    for (const g of kept) put(bytes.subarray(g.start, g.end));
    put(tail);
  }
  return out;
}

/**
 * The graph additions as a second `graph` field, to be appended after the original model bytes:
 * a protobuf parser merges it into the first (repeated fields concatenate), so nothing of the
 * original is moved or copied. Outputs the caller removed stay graph outputs of the parsed
 * model (a session simply does not fetch them); outputs it added are appended.
 */
export function graphAppendix(light: LightModel, originalOutputs: readonly string[]): Uint8Array {
  const graph = light.proto.graph!;
  const before = new Set(originalOutputs);
  const tail = encodeGraphFragment({
    node: (graph.node ?? []).slice(light.nodeCount),
    initializer: (graph.initializer ?? []).slice(light.initializerCount),
    output: (graph.output ?? []).filter((o) => !before.has(o.name ?? '')),
  });
  const header = fieldHeader(MODEL_GRAPH, tail.length);
  const out = new Uint8Array(header.length + tail.length);
  out.set(header);
  out.set(tail, header.length);
  return out;
}

function fieldHeader(field: number, length: number): Uint8Array {
  return Uint8Array.from([...varintBytes(field * 8 + 2), ...varintBytes(length)]);
}

/** Head room read buffers keep after the file, so graphAppendix bytes fit without a copy. */
const APPENDIX_ROOM = 1 << 16;

/** The model file, read once into a buffer with room after it for a graph appendix. */
export function readModelFile(file: string): Uint8Array {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(size + APPENDIX_ROOM);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, buf, at, size - at, at);
      if (n === 0) throw new Error(`teacher ${file}: file shrank while reading (${at} of ${size} bytes)`);
      at += n;
    }
    return buf.subarray(0, size);
  } finally {
    closeSync(fd);
  }
}

/** `bytes` followed by `appendix`, in place when `bytes` came from readModelFile. */
export function withAppendix(bytes: Uint8Array, appendix: Uint8Array): Uint8Array {
  const room = bytes.buffer.byteLength - bytes.byteOffset - bytes.length;
  if (room >= appendix.length) {
    const whole = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length + appendix.length);
    whole.set(appendix, bytes.length);
    return whole;
  }
  const out = new Uint8Array(bytes.length + appendix.length);
  out.set(bytes);
  out.set(appendix, bytes.length);
  return out;
}

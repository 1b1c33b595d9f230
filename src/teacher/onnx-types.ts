// The ONNX message shapes the teacher code edits, as plain objects, with the helpers that
// build them. No runtime import of onnx-proto: its static protobufjs classes cost the
// teacher worker ~0.1 s to load, and the worker reads and writes the few messages it needs at
// the wire level (proto-decode.ts, proto-encode.ts). onnx-model.ts adds the full
// protobufjs decode/encode for the synthetic builders and tests.
import type { onnx as OnnxTypes } from 'onnx-proto';

export type ModelProto = OnnxTypes.IModelProto;
export type GraphProto = OnnxTypes.IGraphProto;
export type NodeProto = OnnxTypes.INodeProto;
export type TensorProto = OnnxTypes.ITensorProto;
export type ValueInfoProto = OnnxTypes.IValueInfoProto;
export type AttributeProto = OnnxTypes.IAttributeProto;
export type Dimension = OnnxTypes.TensorShapeProto.IDimension;

/** AttributeProto.AttributeType values (onnx.proto numbering). */
export const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7 } as const;
/** TensorProto.DataLocation.EXTERNAL. */
export const DATA_LOCATION_EXTERNAL = 1;

/** TensorProto.DataType values used here (onnx.proto numbering). */
export const DT = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;

/** protobufjs hands int64 fields back as Long objects (or numbers); both become numbers. */
export function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** Version of the default ("" or "ai.onnx") operator set the model imports. */
export function defaultOpset(model: ModelProto): number {
  for (const op of model.opsetImport ?? []) {
    if (!op.domain || op.domain === 'ai.onnx') return toNumber(op.version);
  }
  return 0;
}

export function attrInt(name: string, i: number): AttributeProto {
  return { name, type: ATTR.INT, i };
}

export function attrInts(name: string, ints: number[]): AttributeProto {
  return { name, type: ATTR.INTS, ints };
}

export function attrFloat(name: string, f: number): AttributeProto {
  return { name, type: ATTR.FLOAT, f };
}

export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attribute: AttributeProto[] = [],
): NodeProto {
  return { opType, input: inputs, output: outputs, name, attribute };
}

export function int64Tensor(name: string, values: number[], dims: number[] = [values.length]): TensorProto {
  const raw = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) raw[i] = BigInt(values[i]);
  return { name, dims, dataType: DT.INT64, rawData: new Uint8Array(raw.buffer) };
}

/** A float32 initializer holding a view of `values` (raw little-endian bytes, no copy). */
export function floatTensor(name: string, values: Float32Array, dims: number[]): TensorProto {
  let n = 1;
  for (const d of dims) n *= d;
  if (n !== values.length) throw new Error(`onnx ${name}: dims [${dims}] hold ${n} values, got ${values.length}`);
  return {
    name,
    dims,
    dataType: DT.FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

/** Tensor value info; a string dim is symbolic (e.g. "batch"), a number is fixed. */
export function tensorInfo(name: string, elemType: number, dims: Array<string | number>): ValueInfoProto {
  const dim: Dimension[] = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/** Every value name the graph defines or consumes, to pick names that cannot collide. */
export function graphNames(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  for (const v of graph.input ?? []) if (v.name) names.add(v.name);
  for (const v of graph.output ?? []) if (v.name) names.add(v.name);
  for (const t of graph.initializer ?? []) if (t.name) names.add(t.name);
  for (const n of graph.node ?? []) {
    for (const s of n.input ?? []) names.add(s);
    for (const s of n.output ?? []) names.add(s);
    if (n.name) names.add(n.name);
  }
  return names;
}

/** True when any initializer keeps its bytes in a side file. */
export function usesExternalData(model: ModelProto): boolean {
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation === DATA_LOCATION_EXTERNAL) return true;
  }
  return false;
}

// The logits width of a teacher straight from the wire format, for the precompute's main
// thread: it needs the vocabulary before it can check token ids and size inference batches,
// and decoding the graph through onnx-proto would add the bindings' load time to start-up
// (the teacher worker, which loads them anyway, runs in parallel).
import { closeSync, openSync } from 'node:fs';
import {
  type ByteSource, DIM_VALUE, fields, fileSource, GRAPH_OUTPUT, MODEL_GRAPH, readVarint, SHAPE_DIM, TENSOR_ELEM_TYPE, TENSOR_SHAPE,
  TYPE_TENSOR, VALUE_INFO_NAME, VALUE_INFO_TYPE,
} from './proto-wire.js';

/** FLOAT, FLOAT16, DOUBLE, BFLOAT16: the element types findLogitsOutput accepts. */
const FLOAT_TYPES = new Set([1, 10, 11, 16]);

/**
 * Fixed last dimension of graph output `name` (null when symbolic), or undefined whenever the
 * output is missing, not a float tensor, or shaped unusually: the caller then takes the full
 * decoding path (inspectTeacher), which explains what is wrong.
 */
export function lightLogitsWidth(file: string, name: string, label: string): number | null | undefined {
  const fd = openSync(file, 'r');
  try {
    return widthOf(fileSource(fd), name, label);
  } finally {
    closeSync(fd);
  }
}

function widthOf(src: ByteSource, name: string, label: string): number | null | undefined {
  const wanted = Buffer.from(name, 'utf8');
  const graphs = fields(src, 0, src.length, label).filter((f) => f.field === MODEL_GRAPH && f.wireType === 2);
  if (graphs.length !== 1) return undefined;
  const outputs = fields(src, graphs[0].valueStart, graphs[0].end, label).filter((f) => f.field === GRAPH_OUTPUT && f.wireType === 2);
  for (const out of outputs) {
    const parts = fields(src, out.valueStart, out.end, label);
    const nameField = parts.find((f) => f.field === VALUE_INFO_NAME && f.wireType === 2);
    if (!nameField || !wanted.equals(src.slice(nameField.valueStart, nameField.end))) continue;
    const type = only(parts, VALUE_INFO_TYPE, src, label);
    const tensor = type && only(type, TYPE_TENSOR, src, label);
    if (!tensor) return undefined;
    const elem = tensor.find((f) => f.field === TENSOR_ELEM_TYPE && f.wireType === 0);
    if (!elem || !FLOAT_TYPES.has(readVarint(src, elem.valueStart, elem.end, label)[0])) return undefined;
    const shape = only(tensor, TENSOR_SHAPE, src, label);
    if (!shape) return null;
    const dims = shape.filter((f) => f.field === SHAPE_DIM && f.wireType === 2);
    if (dims.length === 0) return null;
    const last = fields(src, dims[dims.length - 1].valueStart, dims[dims.length - 1].end, label);
    const value = last.find((f) => f.field === DIM_VALUE && f.wireType === 0);
    if (!value) return null;
    const v = readVarint(src, value.valueStart, value.end, label)[0];
    return Number.isSafeInteger(v) && v > 0 && v < 2 ** 31 ? v : undefined;
  }
  return undefined;
}

/** The sub-fields of the single length-delimited field `field` of `parts`, or null. */
function only(parts: ReturnType<typeof fields>, field: number, src: ByteSource, label: string): ReturnType<typeof fields> | null {
  const hits = parts.filter((f) => f.field === field && f.wireType === 2);
  return hits.length === 1 ? fields(src, hits[0].valueStart, hits[0].end, label) : null;
}

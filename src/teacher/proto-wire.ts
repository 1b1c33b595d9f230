// The protobuf wire format, walked field by field without protobufjs or the ONNX bindings:
// loading onnx-proto costs a few hundred milliseconds of CPU, which the main thread of a
// precompute would pay at start-up only to learn the logits width (see logits-width.ts).
// model-splice.ts builds on the same walker.
import { fstatSync, readSync } from 'node:fs';

export interface Field {
  field: number;
  wireType: number;
  /** Offset of the tag. */
  start: number;
  /** Offset of the payload (after tag and, for length-delimited fields, the length). */
  valueStart: number;
  end: number;
}

/** Random access to model bytes: a buffer in memory, or a file read piecewise (inspect). */
export interface ByteSource {
  readonly length: number;
  byte(pos: number): number;
  slice(start: number, end: number): Uint8Array;
  /** The UTF-8 text of [start, end) (names, op types), decoded without a copy in memory. */
  text(start: number, end: number): string;
  /** The bytes themselves when they are in memory: the walkers index them directly. */
  readonly memory?: Uint8Array;
}

export function memorySource(bytes: Uint8Array): ByteSource {
  // The walk runs once per start-up, mostly before V8 has compiled it: a Buffer view decodes
  // each name in place, where Buffer.from(subarray) made two objects and a copy per name.
  const view = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    length: bytes.length, memory: bytes, byte: (pos) => bytes[pos], slice: (start, end) => bytes.subarray(start, end),
    text: (start, end) => view.toString('utf8', start, end),
  };
}

/**
 * A file read in 64 KiB pieces: walking the fields of a 0.5 GB model touches a few hundred
 * headers, not the weights between them. The descriptor is closed by the caller.
 */
export function fileSource(fd: number): ByteSource {
  const size = fstatSync(fd).size;
  const CHUNK = 1 << 16;
  let chunkStart = -1;
  let chunk: Uint8Array = new Uint8Array(0);
  const read = (start: number, end: number): Uint8Array => {
    const out = Buffer.allocUnsafe(end - start);
    let at = 0;
    while (at < out.length) {
      const n = readSync(fd, out, at, out.length - at, start + at);
      if (n === 0) break;
      at += n;
    }
    return out.subarray(0, at);
  };
  return {
    length: size,
    text: (start, end) => Buffer.from(read(start, end)).toString('utf8'),
    byte(pos) {
      if (pos < chunkStart || pos >= chunkStart + chunk.length) {
        chunkStart = pos;
        chunk = read(pos, Math.min(size, pos + CHUNK));
      }
      return chunk[pos - chunkStart];
    },
    slice: read,
  };
}

export function readVarint(src: ByteSource, pos: number, end: number, label: string): [number, number] {
  const value = varint(src, pos, end, label);
  return [value, varintEnd];
}

/** Where the varint varint() read last ended: the walk's hot path allocates no pair per read. */
let varintEnd = 0;

/** The varint at `pos` (its end in varintEnd). */
export function varint(src: ByteSource, pos: number, end: number, label: string): number {
  // Plain arithmetic, not bit operations: lengths and offsets may exceed 2^31.
  const mem = src.memory;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new Error(`teacher ${label}: not an ONNX ModelProto (truncated varint)`);
    const b = mem ? mem[pos++] : src.byte(pos++);
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      varintEnd = pos;
      return value;
    }
    scale *= 128;
  }
  throw new Error(`teacher ${label}: not an ONNX ModelProto (varint too long)`);
}

/** The end of the varint the last varint() call read. */
export const lastVarintEnd = (): number => varintEnd;

export function fields(src: ByteSource, start: number, end: number, label: string): Field[] {
  const out: Field[] = [];
  let pos = start;
  while (pos < end) {
    const tagStart = pos;
    const tag = varint(src, pos, end, label);
    const afterTag = varintEnd;
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    let valueStart = afterTag;
    let next: number;
    if (wireType === 0) {
      varint(src, afterTag, end, label);
      next = varintEnd;
    } else if (wireType === 1) next = afterTag + 8;
    else if (wireType === 5) next = afterTag + 4;
    else if (wireType === 2) {
      const len = varint(src, afterTag, end, label);
      valueStart = varintEnd;
      next = valueStart + len;
    } else throw new Error(`teacher ${label}: not an ONNX ModelProto (wire type ${wireType} at byte ${tagStart})`);
    if (field === 0 || next > end) throw new Error(`teacher ${label}: not an ONNX ModelProto (bad field at byte ${tagStart})`);
    out.push({ field, wireType, start: tagStart, valueStart, end: next });
    pos = next;
  }
  return out;
}

/** Field numbers from onnx.proto that the wire-level readers (model-splice, logits-width) walk. */
export const MODEL_GRAPH = 7;
export const MODEL_OPSET_IMPORT = 8;
export const GRAPH_NODE = 1;
export const GRAPH_INPUT = 11;
export const GRAPH_INITIALIZER = 5;
export const GRAPH_OUTPUT = 12;
export const GRAPH_SPARSE_INITIALIZER = 15;
export const TENSOR_DIMS = 1;
export const TENSOR_DATA_TYPE = 2;
export const TENSOR_INT32_DATA = 5;
export const TENSOR_INT64_DATA = 7;
export const TENSOR_NAME = 8;
export const TENSOR_RAW_DATA = 9;
export const TENSOR_DATA_LOCATION = 14;
export const VALUE_INFO_NAME = 1;
export const VALUE_INFO_TYPE = 2;
export const TYPE_TENSOR = 1;
export const TENSOR_ELEM_TYPE = 1;
export const TENSOR_SHAPE = 2;
export const SHAPE_DIM = 1;
export const DIM_VALUE = 1;

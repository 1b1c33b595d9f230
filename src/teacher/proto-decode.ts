// Wire-level decoding of the small parts of an ONNX model the teacher reads: the opset
// imports, the graph's inputs, outputs and nodes (op type, names, integer/float attributes).
// It replaces onnx-proto's protobufjs decoder on the teacher's path (model-splice.ts), so the
// worker that opens the session does not load those bindings. Fields the head surgery never
// reads (doc strings, string/tensor/graph attributes, value_info) are skipped: the original
// bytes of everything decoded here are copied into the session's model unchanged, never
// re-encoded from these objects.
import {
  type ByteSource, type Field, fields, lastVarintEnd, varint,
} from './proto-wire.js';
import type { AttributeProto, Dimension, NodeProto, ValueInfoProto } from './onnx-types.js';

const text = (src: ByteSource, f: Field): string => src.text(f.valueStart, f.end);

/** An int64 varint as a number (negative values, ten bytes on the wire, included). */
function int64(src: ByteSource, f: Field, label: string): number {
  const v = varint(src, f.valueStart, f.end, label);
  const end = lastVarintEnd();
  // Values up to 2^53 are exact as read; a ten-byte varint is a negative two's complement.
  if (end - f.valueStart < 10) return v;
  let big = 0n;
  for (let i = 9; i >= 0; i--) big = (big << 7n) | BigInt(src.byte(f.valueStart + i) & 0x7f);
  return Number(BigInt.asIntN(64, big));
}

/** The values of a repeated int64 field occurrence, packed or not. */
function int64s(src: ByteSource, f: Field, label: string): number[] {
  if (f.wireType === 0) return [int64(src, f, label)];
  const out: number[] = [];
  for (let pos = f.valueStart; pos < f.end;) {
    const start = pos;
    varint(src, pos, f.end, label);
    pos = lastVarintEnd();
    out.push(int64(src, { field: f.field, wireType: 0, start, valueStart: start, end: pos }, label));
  }
  return out;
}

// Field numbers (onnx.proto).
const OPSET_DOMAIN = 1, OPSET_VERSION = 2;
const NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5, NODE_DOMAIN = 7;
const ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_INTS = 8, ATTR_TYPE = 20;
const VI_NAME = 1, VI_TYPE = 2, TYPE_TENSOR = 1, TT_ELEM = 1, TT_SHAPE = 2, SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2;

export function decodeOpset(src: ByteSource, f: Field, label: string): { domain?: string; version?: number } {
  const out: { domain?: string; version?: number } = {};
  for (const g of fields(src, f.valueStart, f.end, label)) {
    if (g.field === OPSET_DOMAIN && g.wireType === 2) out.domain = text(src, g);
    else if (g.field === OPSET_VERSION && g.wireType === 0) out.version = int64(src, g, label);
  }
  return out;
}

function decodeAttribute(src: ByteSource, f: Field, label: string): AttributeProto {
  const a: AttributeProto = {};
  for (const g of fields(src, f.valueStart, f.end, label)) {
    if (g.field === ATTR_NAME && g.wireType === 2) a.name = text(src, g);
    else if (g.field === ATTR_TYPE && g.wireType === 0) a.type = int64(src, g, label);
    else if (g.field === ATTR_I && g.wireType === 0) a.i = int64(src, g, label);
    else if (g.field === ATTR_F && g.wireType === 5) a.f = Buffer.from(src.slice(g.valueStart, g.end)).readFloatLE(0);
    else if (g.field === ATTR_INTS) (a.ints ??= []).push(...int64s(src, g, label));
  }
  return a;
}

export function decodeNode(src: ByteSource, f: Field, label: string): NodeProto {
  const n: NodeProto = { input: [], output: [], attribute: [] };
  for (const g of fields(src, f.valueStart, f.end, label)) {
    if (g.wireType !== 2) continue;
    if (g.field === NODE_INPUT) n.input!.push(text(src, g));
    else if (g.field === NODE_OUTPUT) n.output!.push(text(src, g));
    else if (g.field === NODE_NAME) n.name = text(src, g);
    else if (g.field === NODE_OP_TYPE) n.opType = text(src, g);
    else if (g.field === NODE_DOMAIN) n.domain = text(src, g);
    else if (g.field === NODE_ATTRIBUTE) n.attribute!.push(decodeAttribute(src, g, label));
  }
  return n;
}

function decodeDim(src: ByteSource, f: Field, label: string): Dimension {
  const d: Dimension = {};
  for (const g of fields(src, f.valueStart, f.end, label)) {
    if (g.field === DIM_VALUE && g.wireType === 0) d.dimValue = int64(src, g, label);
    else if (g.field === DIM_PARAM && g.wireType === 2) d.dimParam = text(src, g);
  }
  return d;
}

/** Name, and for tensors element type and shape; other types (sequences, maps) stay empty. */
export function decodeValueInfo(src: ByteSource, f: Field, label: string): ValueInfoProto {
  const v: ValueInfoProto = {};
  for (const g of fields(src, f.valueStart, f.end, label)) {
    if (g.field === VI_NAME && g.wireType === 2) v.name = text(src, g);
    else if (g.field === VI_TYPE && g.wireType === 2) {
      v.type = {};
      for (const t of fields(src, g.valueStart, g.end, label)) {
        if (t.field !== TYPE_TENSOR || t.wireType !== 2) continue;
        const tensor: { elemType?: number; shape?: { dim: Dimension[] } } = {};
        for (const e of fields(src, t.valueStart, t.end, label)) {
          if (e.field === TT_ELEM && e.wireType === 0) tensor.elemType = int64(src, e, label);
          else if (e.field === TT_SHAPE && e.wireType === 2) {
            tensor.shape = { dim: fields(src, e.valueStart, e.end, label).filter((s) => s.field === SHAPE_DIM && s.wireType === 2).map((s) => decodeDim(src, s, label)) };
          }
        }
        v.type.tensorType = tensor;
      }
    }
  }
  return v;
}

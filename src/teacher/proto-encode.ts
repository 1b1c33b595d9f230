// Wire-level encoding of the GraphProto fragment the head surgery appends (model-splice.ts):
// new nodes with integer/float attributes, small raw-data initializers, tensor outputs. It
// writes what onnx-proto's protobufjs encoder writes for the same objects, byte for byte
// (fields in number order, repeated integers packed; test/teacher/proto-encode.test.ts
// compares the two), without loading those bindings in the teacher worker. A field it does
// not know is refused rather than dropped.
import { ATTR, type AttributeProto, type Dimension, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto } from './onnx-types.js';

class Writer {
  private readonly parts: number[] = [];
  private readonly blobs: { at: number; bytes: Uint8Array }[] = [];

  varint(n: number | bigint): void {
    // int64 semantics: a negative value is its 64-bit two's complement (ten bytes).
    let v = BigInt.asUintN(64, BigInt(n));
    while (v >= 0x80n) {
      this.parts.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.parts.push(Number(v));
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  bytes(field: number, bytes: Uint8Array): void {
    this.tag(field, 2);
    this.varint(bytes.length);
    this.blobs.push({ at: this.parts.length, bytes });
  }

  string(field: number, s: string): void {
    this.bytes(field, Buffer.from(s, 'utf8'));
  }

  message(field: number, body: Writer): void {
    this.bytes(field, body.finish());
  }

  float(field: number, f: number): void {
    this.tag(field, 5);
    const b = Buffer.alloc(4);
    b.writeFloatLE(f);
    for (const x of b) this.parts.push(x);
  }

  packedInt64(field: number, values: ArrayLike<number | bigint>): void {
    const body = new Writer();
    for (let i = 0; i < values.length; i++) body.varint(values[i]);
    this.message(field, body);
  }

  finish(): Uint8Array {
    let n = this.parts.length;
    for (const b of this.blobs) n += b.bytes.length;
    const out = new Uint8Array(n);
    let src = 0, dst = 0;
    for (const b of this.blobs) {
      for (; src < b.at; src++) out[dst++] = this.parts[src];
      out.set(b.bytes, dst);
      dst += b.bytes.length;
    }
    for (; src < this.parts.length; src++) out[dst++] = this.parts[src];
    return out;
  }
}

/** Refuses fields of `obj` outside `known`: silently dropping one would change the model. */
function only(what: string, obj: object, known: readonly string[]): void {
  for (const [key, value] of Object.entries(obj)) {
    if (value === undefined || value === null || known.includes(key)) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    throw new Error(`onnx encode: ${what} field "${key}" is not supported by the wire encoder (proto-encode.ts)`);
  }
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v as never));

function attribute(a: AttributeProto): Writer {
  only('AttributeProto', a, ['name', 'f', 'i', 'ints', 'type']);
  const w = new Writer();
  if (a.name != null) w.string(1, a.name);
  if (a.f != null) w.float(2, a.f);
  if (a.i != null) {
    w.tag(3, 0);
    w.varint(num(a.i));
  }
  if (a.ints?.length) w.packedInt64(8, a.ints.map(num));
  if (a.type != null) {
    if (a.type !== ATTR.FLOAT && a.type !== ATTR.INT && a.type !== ATTR.INTS) throw new Error(`onnx encode: attribute type ${a.type} is not supported by the wire encoder`);
    w.tag(20, 0);
    w.varint(a.type);
  }
  return w;
}

function nodeProto(n: NodeProto): Writer {
  only('NodeProto', n, ['input', 'output', 'name', 'opType', 'attribute', 'domain']);
  const w = new Writer();
  for (const s of n.input ?? []) w.string(1, s);
  for (const s of n.output ?? []) w.string(2, s);
  if (n.name != null) w.string(3, n.name);
  if (n.opType != null) w.string(4, n.opType);
  for (const a of n.attribute ?? []) w.message(5, attribute(a));
  if (n.domain != null) w.string(7, n.domain);
  return w;
}

function tensorProto(t: TensorProto): Writer {
  only('TensorProto', t, ['dims', 'dataType', 'name', 'rawData']);
  const w = new Writer();
  if (t.dims?.length) w.packedInt64(1, t.dims.map(num));
  if (t.dataType != null) {
    w.tag(2, 0);
    w.varint(t.dataType);
  }
  if (t.name != null) w.string(8, t.name);
  if (t.rawData != null) w.bytes(9, t.rawData);
  return w;
}

function dimension(d: Dimension): Writer {
  only('Dimension', d, ['dimValue', 'dimParam']);
  const w = new Writer();
  if (d.dimValue != null) {
    w.tag(1, 0);
    w.varint(num(d.dimValue));
  }
  if (d.dimParam != null) w.string(2, d.dimParam);
  return w;
}

function valueInfo(v: ValueInfoProto): Writer {
  only('ValueInfoProto', v, ['name', 'type']);
  const w = new Writer();
  if (v.name != null) w.string(1, v.name);
  if (v.type != null) {
    only('TypeProto', v.type, ['tensorType']);
    const type = new Writer();
    const tt = v.type.tensorType;
    if (tt != null) {
      only('TypeProto.Tensor', tt, ['elemType', 'shape']);
      const tensor = new Writer();
      if (tt.elemType != null) {
        tensor.tag(1, 0);
        tensor.varint(tt.elemType);
      }
      if (tt.shape != null) {
        only('TensorShapeProto', tt.shape, ['dim']);
        const shape = new Writer();
        for (const d of tt.shape.dim ?? []) shape.message(1, dimension(d));
        tensor.message(2, shape);
      }
      type.message(1, tensor);
    }
    w.message(2, type);
  }
  return w;
}

/** A GraphProto holding only `node`, `initializer` and `output` entries, encoded. */
export function encodeGraphFragment(graph: Pick<GraphProto, 'node' | 'initializer' | 'output'>): Uint8Array {
  const w = new Writer();
  for (const n of graph.node ?? []) w.message(1, nodeProto(n));
  for (const t of graph.initializer ?? []) w.message(5, tensorProto(t));
  for (const o of graph.output ?? []) w.message(12, valueInfo(o));
  return w.finish();
}

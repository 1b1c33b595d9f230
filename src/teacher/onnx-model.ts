// Full protobufjs decoding and encoding of ONNX models (onnx-proto), for the synthetic
// teacher builders, external-data conversion and tests. The teacher's runtime path (session,
// worker, head surgery) uses onnx-types.ts and the wire-level readers instead.
// onnx-proto is CommonJS: in ESM only its default export is reliable.
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { TeacherError } from './errors.js';
import type { ModelProto } from './onnx-types.js';

export * from './onnx-types.js';

export const onnx = onnxProto.onnx;
/** A decoded model (a protobufjs message instance). */
export type OnnxModel = OnnxTypes.ModelProto;

export function decodeModel(bytes: Uint8Array, label: string): OnnxModel {
  let model: OnnxModel;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new TeacherError(`teacher ${label}: not an ONNX ModelProto (${(err as Error).message})`);
  }
  if (!model.graph) throw new TeacherError(`teacher ${label}: model has no graph`);
  return model;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

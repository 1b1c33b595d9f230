// Reading a teacher's interface from the file alone (no ORT session), for CLIs and planners
// that need the vocabulary size before deciding batch sizes.
import path from 'node:path';
import { findLogitsOutput } from './fuse-head.js';
import { readModelLightFile } from './model-splice.js';
import { defaultOpset, usesExternalData } from './onnx-types.js';

export interface TeacherInfo {
  inputs: string[];
  outputs: string[];
  opset: number;
  externalData: boolean;
  /** ONNX element type of the logits (1 float32, 10 float16, 16 bfloat16, 11 float64). */
  logitsElemType: number;
  /** Fixed last dim of the logits, or null when symbolic. */
  logitsWidth: number | null;
}

export function inspectTeacher(modelPath: string, logitsOutput = 'logits'): TeacherInfo {
  const label = path.basename(modelPath);
  // Only field headers and the small fields are read: a 0.5 GB inline-weight model costs
  // a few hundred small reads, not a decode.
  const proto = readModelLightFile(modelPath, label);
  const info = findLogitsOutput(proto, logitsOutput, label);
  const graph = proto.graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  return {
    // Older exporters list initializers among the inputs; they are not feeds.
    inputs: (graph.input ?? []).map((i) => i.name ?? '').filter((n) => !initializers.has(n)),
    outputs: (graph.output ?? []).map((o) => o.name ?? ''),
    opset: defaultOpset(proto),
    externalData: usesExternalData(proto),
    logitsElemType: info.elemType,
    logitsWidth: info.vocab,
  };
}

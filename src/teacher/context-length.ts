// The longest input a teacher accepts, when its graph states it: a fixed sequence dimension
// of input_ids, or the rows of a position table (learned position embeddings gathered by
// position, or RoPE cos/sin tables sliced to the sequence length). A sample longer than that
// fails deep inside onnxruntime with a broadcast or index error that names no sample, so the
// precompute checks it before anything is written.
//
// It reads the light model (model-splice.ts: nodes, inputs, initializer names, dims and small
// values; never the weights), so the teacher worker computes it while opening its session and
// hands it over with "ready": the main thread neither reads the model again nor loads the ONNX
// bindings for it.
import path from 'node:path';
import { readModelLightFile } from './model-splice.js';
import { type GraphProto, type TensorProto, toNumber } from './onnx-types.js';

export interface ContextLength {
  tokens: number;
  /** What in the graph states it, for messages ("input_ids dim 1", "position table \"cosT\" [512, 8]"). */
  source: string;
}

/** Values of a small integer initializer (int64/int32, raw or typed), or null. */
function intValues(t: TensorProto): number[] | null {
  if (t.int64Data && t.int64Data.length) return t.int64Data.map((v) => toNumber(v as never));
  if (t.int32Data && t.int32Data.length) return [...t.int32Data];
  const raw = t.rawData;
  if (!raw || !raw.length) return null;
  const bytes = new Uint8Array(raw).slice();
  if (t.dataType === 7) return Array.from(new BigInt64Array(bytes.buffer), Number);
  if (t.dataType === 6) return Array.from(new Int32Array(bytes.buffer));
  return null;
}

/** Names that carry input_ids unchanged in value (casts, identities): indices of a token embedding. */
function idsAliases(graph: GraphProto): Set<string> {
  const names = new Set(['input_ids']);
  for (const n of graph.node ?? []) {
    if ((n.opType === 'Cast' || n.opType === 'Identity') && names.has(n.input?.[0] ?? '')) for (const o of n.output ?? []) names.add(o);
  }
  return names;
}

/** The context `modelPath` states, read from the file (only its small fields). */
export function declaredContextLength(modelPath: string): ContextLength | null {
  return contextLengthOf(readModelLightFile(modelPath, path.basename(modelPath)).graph!);
}

/** The context a (light or full) graph states; call before a head is appended to it. */
export function contextLengthOf(graph: GraphProto): ContextLength | null {
  const seqDim = (graph.input ?? []).find((i) => i.name === 'input_ids')?.type?.tensorType?.shape?.dim?.[1];
  const fixed = seqDim?.dimValue === undefined || seqDim.dimValue === null ? 0 : toNumber(seqDim.dimValue);
  if (fixed > 0) return { tokens: fixed, source: 'the fixed sequence dimension of input_ids' };

  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const ids = idsAliases(graph);
  let best: ContextLength | null = null;
  const consider = (table: TensorProto) => {
    const dims = (table.dims ?? []).map((d) => toNumber(d as never));
    if (dims.length !== 2 || dims[0] < 1) return;
    if (!best || dims[0] < best.tokens) best = { tokens: dims[0], source: `position table "${table.name}" [${dims.join(', ')}]` };
  };
  for (const n of graph.node ?? []) {
    const table = inits.get(n.input?.[0] ?? '');
    if (!table) continue;
    if (n.opType === 'Gather') {
      const axis = n.attribute?.find((a) => a.name === 'axis');
      if ((axis ? toNumber(axis.i as never) : 0) !== 0 || ids.has(n.input?.[1] ?? '')) continue;
      consider(table);
    } else if (n.opType === 'Slice') {
      // Slice(data, starts, ends, axes?): a table cut along its rows to the sequence length.
      const axesName = n.input?.[3];
      const axes = axesName ? inits.get(axesName) : undefined;
      if (axesName && !(axes && intValues(axes)?.every((a) => a === 0))) continue;
      consider(table);
    }
  }
  return best;
}

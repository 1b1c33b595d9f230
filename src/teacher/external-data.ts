// Moving initializer bytes into a side file, the layout large teachers ship in (a .onnx graph
// plus one or more data files, referenced by relative `location`).
import { onnx, type ModelProto } from './onnx-model.js';

/**
 * Move every initializer of at least `minBytes` raw bytes into one blob referenced as
 * `location` (relative to the model file). Mutates `proto`; returns the blob to write there.
 */
export function externalizeInitializers(proto: ModelProto, location: string, minBytes = 1024): Uint8Array {
  const inits = proto.graph?.initializer ?? [];
  // Offsets aligned to 64 bytes so a loader may map tensors without copying.
  const align = (n: number): number => Math.ceil(n / 64) * 64;
  let total = 0;
  for (const t of inits) {
    const n = t.rawData?.length ?? 0;
    if (n >= minBytes) total = align(total) + n;
  }
  const blob = new Uint8Array(total);
  let offset = 0;
  for (const t of inits) {
    const raw = t.rawData;
    if (!raw || raw.length < minBytes) continue;
    offset = align(offset);
    blob.set(raw, offset);
    t.rawData = new Uint8Array(0);
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
    offset += raw.length;
  }
  return blob;
}

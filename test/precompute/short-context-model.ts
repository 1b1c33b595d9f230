// A tiny teacher whose context (40 positions) is not stated where the graph check looks: its
// position table is sliced along an axis computed at run time (a Constant node, not an
// initializer), so only running it tells. Longer inputs fail inside onnxruntime (broadcast).
import { writeFileSync } from 'node:fs';
import {
  DT, encodeModel, floatTensor, int64Tensor, node, onnx, tensorInfo,
} from '../../src/teacher/onnx-model.js';

export const SHORT_CONTEXT = 40;

export function writeShortContextTeacher(path: string, vocab = 300, d = 8): string {
  const fill = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  const axisTensor = int64Tensor('axis_value', [0]);
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'short_context',
      initializer: [
        floatTensor('tok', fill(vocab * d, (i) => Math.sin(i * 0.37)), [vocab, d]),
        floatTensor('pos', fill(SHORT_CONTEXT * d, (i) => Math.cos(i * 0.11) * 0.1), [SHORT_CONTEXT, d]),
        floatTensor('head', fill(d * vocab, (i) => Math.sin(i * 0.013)), [d, vocab]),
        int64Tensor('zero', [0]), int64Tensor('one', [1]),
      ],
      node: [
        node('Gather', ['tok', 'input_ids'], ['x'], 'embed'),
        node('Shape', ['input_ids'], ['shape'], 'shape'),
        node('Slice', ['shape', 'one', 'shape_end'], ['seq'], 'seq'),
        node('Constant', [], ['shape_end'], 'shape_end', [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: int64Tensor('v', [2]) }]),
        node('Constant', [], ['axes'], 'axes', [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: axisTensor }]),
        node('Slice', ['pos', 'zero', 'seq', 'axes'], ['p'], 'pos_slice'),
        node('Add', ['x', 'p'], ['h'], 'add_pos'),
        node('MatMul', ['h', 'head'], ['logits'], 'head'),
      ],
      input: [tensorInfo('input_ids', DT.INT64, ['batch', 'seq'])],
      output: [tensorInfo('logits', DT.FLOAT, ['batch', 'seq', vocab])],
    },
  });
  writeFileSync(path, encodeModel(proto));
  return path;
}

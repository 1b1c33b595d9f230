// A tiny model whose logits reveal what it was fed: the top-1 id at each position is
// position_id + shift * (1 - attention_mask), so a test can read the feeds back from run().
import { DT, attrInt, encodeModel, floatTensor, int64Tensor, node, onnx, tensorInfo, type NodeProto } from '../../src/teacher/onnx-model.js';

export interface ProbeOptions {
  vocabSize: number;
  /** Inputs declared besides input_ids (attention_mask, position_ids, or anything else). */
  inputs?: string[];
  /** Offset added to the target at padded positions. */
  padShift?: number;
  /** Token ids below 2.5 give NaN logits at their position. */
  nanBelow3?: boolean;
  opset?: number;
}

export function buildProbeModel(opts: ProbeOptions): Uint8Array {
  const v = opts.vocabSize;
  const extra = opts.inputs ?? [];
  const nodes: NodeProto[] = [
    node('Cast', ['input_ids'], ['ids_f'], 'ids_f', [attrInt('to', DT.FLOAT)]),
    node('Mul', ['ids_f', 'zero'], ['target0'], 'target0'),
  ];
  let target = 'target0';
  for (const name of extra) {
    nodes.push(node('Cast', [name], [`${name}_f`], `${name}_f`, [attrInt('to', DT.FLOAT)]));
    let term = `${name}_f`;
    if (name === 'attention_mask') {
      nodes.push(
        node('Sub', ['one', term], ['pad_f'], 'pad_f'),
        node('Mul', ['pad_f', 'shift'], ['pad_term'], 'pad_term'),
      );
      term = 'pad_term';
    } else if (name !== 'position_ids') {
      // Declared but irrelevant to the value: still consumed so ORT keeps the input.
      nodes.push(node('Mul', [term, 'zero'], [`${name}_z`], `${name}_z`));
      term = `${name}_z`;
    }
    nodes.push(node('Add', [target, term], [`t_${name}`], `t_${name}`));
    target = `t_${name}`;
  }
  nodes.push(
    node('Unsqueeze', [target, 'last_axis'], ['target3'], 'target3'),
    node('Sub', ['arange', 'target3'], ['diff'], 'diff'),
    node('Mul', ['diff', 'diff'], ['sq'], 'sq'),
    node('Neg', ['sq'], [opts.nanBelow3 ? 'clean' : 'logits'], 'neg'),
  );
  if (opts.nanBelow3) {
    nodes.push(
      node('Sub', ['ids_f', 'two_half'], ['ids_shift'], 'ids_shift'),
      node('Log', ['ids_shift'], ['ids_log'], 'ids_log'),
      node('Mul', ['ids_log', 'zero'], ['nan_or_zero'], 'nan_or_zero'),
      node('Unsqueeze', ['nan_or_zero', 'last_axis'], ['nan3'], 'nan3'),
      node('Add', ['clean', 'nan3'], ['logits'], 'nan_add'),
    );
  }
  const arange = new Float32Array(v);
  for (let i = 0; i < v; i++) arange[i] = i;
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: opts.opset ?? 17 }],
    graph: {
      name: 'probe',
      node: nodes,
      initializer: [
        floatTensor('zero', Float32Array.of(0), []),
        floatTensor('one', Float32Array.of(1), []),
        floatTensor('two_half', Float32Array.of(2.5), []),
        floatTensor('shift', Float32Array.of(opts.padShift ?? Math.floor(v / 2)), []),
        floatTensor('arange', arange, [v]),
        int64Tensor('last_axis', [-1]),
      ],
      input: ['input_ids', ...extra].map((n) => tensorInfo(n, DT.INT64, ['batch', 'seq'])),
      output: [tensorInfo('logits', DT.FLOAT, ['batch', 'seq', v])],
    },
  });
  return encodeModel(proto);
}

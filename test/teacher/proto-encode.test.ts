// The teacher's wire-level ONNX reader and writer (proto-decode.ts, proto-encode.ts) against
// onnx-proto's protobufjs classes: the head fragment it appends must be the very bytes
// protobufjs writes for the same objects (so the session's model, and with it every stored
// log-probability, is unchanged), and the parts it decodes must read as protobufjs reads them.
import { describe, expect, it } from 'vitest';
import { buildSyntheticTeacher } from '../../src/teacher/index.js';
import { appendTopkHead, castLogitsToFloat32, type LseMode } from '../../src/teacher/fuse-head.js';
import { readModelLight } from '../../src/teacher/model-splice.js';
import { ATTR, DT, decodeModel, encodeModel, node, onnx, toNumber } from '../../src/teacher/onnx-model.js';
import { encodeGraphFragment } from '../../src/teacher/proto-encode.js';

const modes: LseMode[] = ['blocked', 'logsoftmax', 'reduce', 'sum32', 'sum64', 'none'];

/** The model with its opset set and, when asked, float16 logits (a Cast node before the output). */
function teacher(vocabSize: number, opset: number, f16 = false): Uint8Array {
  const proto = decodeModel(buildSyntheticTeacher({ vocabSize, dModel: 8, layers: 1, seed: 4 }).model, 't');
  proto.opsetImport = [{ domain: '', version: opset }];
  if (f16) {
    const graph = proto.graph!;
    graph.node!.push(node('Cast', ['logits'], ['logits16'], 'to16', [{ name: 'to', type: ATTR.INT, i: DT.FLOAT16 }]));
    graph.output![0] = { name: 'logits16', type: { tensorType: { elemType: DT.FLOAT16, shape: graph.output![0].type!.tensorType!.shape } } };
  }
  return encodeModel(proto);
}

function fragmentOf(bytes: Uint8Array, edit: (p: ReturnType<typeof readModelLight>['proto']) => void) {
  const light = readModelLight(bytes, 'm');
  edit(light.proto);
  const graph = light.proto.graph!;
  return { node: graph.node!.slice(light.nodeCount), initializer: graph.initializer!.slice(light.initializerCount), output: graph.output! };
}

describe('wire-level head encoding', () => {
  it('writes the bytes protobufjs writes, for every head formulation, opset, padding, cast and tail mass', () => {
    let compared = 0;
    // 1031 is prime: the blocked sum pads; opsets 11, 13 and 18 move reduction axes between attribute and input.
    for (const opset of [11, 13, 18]) {
      for (const [vocab, f16] of [[1031, false], [1024, true]] as const) {
        const bytes = teacher(vocab, opset, f16);
        for (const lse of modes) {
          for (const tailMass of lse === 'none' ? [false] : [false, true]) {
            for (const vocabSize of [undefined, vocab - 7]) {
              const frag = fragmentOf(bytes, (p) => appendTopkHead(p, { k: 5, lse, tailMass, vocabSize, logitsOutput: f16 ? 'logits16' : 'logits' }, 'm'));
              const ours = encodeGraphFragment(frag);
              const theirs = onnx.GraphProto.encode(frag).finish();
              expect(Buffer.from(ours).equals(Buffer.from(theirs)), `opset ${opset} V ${vocab} ${lse} tail ${tailMass} vocabSize ${vocabSize}`).toBe(true);
              compared++;
            }
          }
        }
      }
    }
    expect(compared).toBe(3 * 2 * (5 * 2 * 2 + 2));
    const cast = fragmentOf(teacher(64, 17, true), (p) => { castLogitsToFloat32(p, 'logits16', 'm'); });
    expect(Buffer.from(encodeGraphFragment(cast)).equals(Buffer.from(onnx.GraphProto.encode(cast).finish()))).toBe(true);
  });

  it('encodes negative integers as protobuf int64 (ten bytes) and refuses fields it does not know', () => {
    const frag = { node: [node('Concat', ['a', 'b'], ['c'], 'n', [{ name: 'axis', type: ATTR.INT, i: -3 }, { name: 'axes', type: ATTR.INTS, ints: [-1, 0, 2 ** 40] }, { name: 'alpha', type: ATTR.FLOAT, f: 0.25 }])] };
    const ours = encodeGraphFragment(frag);
    expect(Buffer.from(ours).equals(Buffer.from(onnx.GraphProto.encode(frag).finish()))).toBe(true);
    const back = onnx.GraphProto.decode(ours).node[0].attribute!;
    expect([toNumber(back[0].i), (back[1].ints ?? []).map((v) => toNumber(v)), back[2].f]).toEqual([-3, [-1, 0, 2 ** 40], 0.25]);
    expect(() => encodeGraphFragment({ node: [{ ...node('Identity', ['a'], ['b'], 'n'), docString: 'x' }] })).toThrow(/NodeProto field "docString" is not supported/);
    expect(() => encodeGraphFragment({ node: [node('Identity', ['a'], ['b'], 'n', [{ name: 's', type: ATTR.STRING, s: Uint8Array.of(1) }])] })).toThrow(/AttributeProto field "s"/);
  });
});

describe('wire-level light decoding', () => {
  it('reads nodes, inputs, outputs and opsets as protobufjs does', () => {
    const bytes = teacher(300, 17, true);
    const full = decodeModel(bytes, 'm');
    const light = readModelLight(bytes, 'm').proto;
    const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && 'low' in x && 'high' in x ? toNumber(x) : x)));
    const g = full.graph!;
    const nodes = g.node!.map((n) => ({
      input: n.input, output: n.output, name: n.name, opType: n.opType, ...(n.domain ? { domain: n.domain } : {}),
      attribute: n.attribute!.map((a) => ({ name: a.name, type: a.type, ...(a.type === ATTR.INT ? { i: a.i } : {}), ...(a.type === ATTR.FLOAT ? { f: a.f } : {}), ...(a.ints?.length ? { ints: a.ints } : {}) })),
    }));
    expect(plain(light.graph!.node)).toEqual(plain(nodes));
    const infos = (vs: typeof g.input) => vs!.map((v) => ({ name: v.name, type: { tensorType: { elemType: v.type!.tensorType!.elemType, shape: { dim: v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? { dimParam: d.dimParam } : { dimValue: d.dimValue })) } } } }));
    expect(plain(light.graph!.input)).toEqual(plain(infos(g.input)));
    expect(plain(light.graph!.output)).toEqual(plain(infos(g.output)));
    expect(plain(light.opsetImport)).toEqual(plain(full.opsetImport!.map((o) => ({ domain: o.domain, version: o.version }))));
    // The Cast's integer attribute made it through with its value.
    expect(light.graph!.node!.some((n) => n.opType === 'Cast' && n.attribute![0].i === DT.FLOAT16)).toBe(true);
  });
});

// The spliced head (original bytes copied, graph tail appended) must parse to exactly the
// model a full protobuf decode + append + encode produces, for inline and external weights,
// and must keep every original weight byte untouched.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSyntheticTeacher, writeSyntheticTeacher } from '../../src/teacher/index.js';
import { appendTopkHead, castLogitsToFloat32 } from '../../src/teacher/fuse-head.js';
import { graphAppendix, readModelFile, readModelLight, spliceModel, withAppendix } from '../../src/teacher/model-splice.js';
import { DT, decodeModel, encodeModel, toNumber, usesExternalData, type ModelProto } from '../../src/teacher/onnx-model.js';
import { tempDir } from './helpers.js';
import { onnx } from '../../src/teacher/onnx-model.js';

const ModelProtoClass = onnx.ModelProto;

const asObject = (bytes: Uint8Array) => ModelProtoClass.toObject(decodeModel(bytes, 'm'), { bytes: Array, longs: Number, defaults: false });

function viaFullReencode(bytes: Uint8Array, edit: (p: ModelProto) => void): Uint8Array {
  const proto = decodeModel(bytes, 'full');
  edit(proto);
  return encodeModel(proto);
}

function viaSplice(bytes: Uint8Array, edit: (p: ModelProto) => void): Uint8Array {
  const light = readModelLight(bytes, 'light');
  edit(light.proto);
  return spliceModel(light);
}

describe('model splice', () => {
  const inline = buildSyntheticTeacher({ vocabSize: 777, dModel: 16, layers: 2, seed: 3 }).model;

  it('fused head: same parsed model as a full re-encode (inline weights)', () => {
    for (const opts of [{ k: 8 }, { k: 4, vocabSize: 700 }, { k: 3, lse: 'reduce' as const }]) {
      const edit = (p: ModelProto) => appendTopkHead(p, opts, 'm');
      const spliced = viaSplice(inline, edit);
      expect(asObject(spliced)).toEqual(asObject(viaFullReencode(inline, edit)));
      // The head is a few hundred bytes; everything else is the original file.
      expect(spliced.length - inline.length).toBeLessThan(4096);
    }
  });

  it('appendix after the untouched file parses as the merged graph (sessions load this)', () => {
    const dir = tempDir('splice-app');
    const file = writeSyntheticTeacher(dir, { vocabSize: 640, dModel: 16, seed: 6 });
    const bytes = readModelFile(file);
    const light = readModelLight(bytes, 'm');
    appendTopkHead(light.proto, { k: 6, vocabSize: 600 }, 'm');
    const merged = withAppendix(bytes, graphAppendix(light, ['logits']));
    // No copy: the appendix went into the read buffer's spare room behind the file.
    expect(merged.buffer).toBe(bytes.buffer);
    expect(Buffer.from(merged.subarray(0, bytes.length)).equals(readFileSync(file))).toBe(true);
    // protobufjs replaces a repeated singular field instead of merging it (ONNX Runtime's C++
    // protobuf merges, which the session tests exercise), so the merge is done by hand here.
    const original = decodeModel(readFileSync(file), 'o').graph!;
    const appendix = graphAppendix(light, ['logits']);
    // The appendix is itself a ModelProto holding only a graph field.
    const extra = decodeModel(appendix, 'appendix').graph!;
    const full = asObject(viaFullReencode(readFileSync(file), (p) => appendTopkHead(p, { k: 6, vocabSize: 600 }, 'm'))).graph;
    const byHand = onnx.GraphProto.toObject(onnx.GraphProto.create({
      ...original, node: [...original.node!, ...extra.node!], initializer: [...original.initializer!, ...extra.initializer!], output: [...original.output!, ...extra.output!],
    }), { bytes: Array, longs: Number, defaults: false });
    expect(byHand.node).toEqual(full.node);
    expect(byHand.initializer).toEqual(full.initializer);
    // The replaced logits output stays declared (a session just does not fetch it).
    expect(byHand.output.map((o: { name: string }) => o.name)).toEqual(['logits', 'topk_ids', 'topk_logprobs']);
    // Copy fallback when there is no room behind the bytes.
    const copy = withAppendix(new Uint8Array(bytes), graphAppendix(light, ['logits']));
    expect(Buffer.from(copy).equals(Buffer.from(merged))).toBe(true);
  });

  it('keeps external-data references as they are (weights are not read)', () => {
    const dir = tempDir('splice-ext');
    const file = writeSyntheticTeacher(dir, { vocabSize: 900, dModel: 16, externalData: true, seed: 4 });
    const bytes = readFileSync(file);
    const light = readModelLight(bytes, 'ext');
    expect(usesExternalData(light.proto)).toBe(true);
    appendTopkHead(light.proto, { k: 5 }, 'ext');
    const spliced = spliceModel(light);
    expect(asObject(spliced)).toEqual(asObject(viaFullReencode(bytes, (p) => appendTopkHead(p, { k: 5 }, 'ext'))));
    const head = decodeModel(spliced, 'x').graph!.initializer!.find((t) => t.name === 'head')!;
    expect(head.externalData!.find((e) => e.key === 'location')!.value).toBe('model.onnx.data');
    expect(path.basename(file)).toBe('model.onnx');
  });

  it('cast of half-precision logits splices the same way', () => {
    const proto = decodeModel(inline, 'f16');
    const graph = proto.graph!;
    graph.node!.push({ opType: 'Cast', input: ['logits'], output: ['logits16'], name: 'to16', attribute: [{ name: 'to', type: 2, i: DT.FLOAT16 }] });
    graph.output![0] = { name: 'logits16', type: { tensorType: { elemType: DT.FLOAT16, shape: graph.output![0].type!.tensorType!.shape } } };
    const f16 = encodeModel(proto);
    const edit = (p: ModelProto) => { castLogitsToFloat32(p, 'logits16', 'f16'); };
    expect(asObject(viaSplice(f16, edit))).toEqual(asObject(viaFullReencode(f16, edit)));
  });

  it('initializer stubs carry names, dims and types, data only when small; malformed bytes are refused', () => {
    const light = readModelLight(inline, 'm');
    const full = decodeModel(inline, 'm').graph!.initializer!;
    const stubs = light.proto.graph!.initializer!;
    expect(stubs.map((t) => t.name)).toEqual(full.map((t) => t.name));
    expect(stubs.map((t) => (t.dims ?? []).map((d) => toNumber(d as never)))).toEqual(full.map((t) => (t.dims ?? []).map((d) => toNumber(d as never))));
    expect(stubs.map((t) => t.dataType)).toEqual(full.map((t) => t.dataType));
    // Weights are never read; small tables (at most 256 bytes) are, byte for byte.
    const small = full.map((t) => (t.rawData?.length ?? 0) <= 256);
    expect(small).toContain(true);
    expect(small).toContain(false);
    stubs.forEach((t, i) => {
      if (small[i]) expect(Buffer.from(t.rawData ?? [])).toEqual(Buffer.from(full[i].rawData ?? []));
      else expect(t.rawData).toBeUndefined();
    });
    expect(() => readModelLight(Uint8Array.of(0xff, 0xff, 0xff), 'bad')).toThrow(/teacher bad: not an ONNX ModelProto/);
    expect(() => readModelLight(inline.subarray(0, inline.length - 10), 'cut')).toThrow(/teacher cut: not an ONNX ModelProto/);
  });
});

// Levels for nested columns beyond today's shapes: list<list<uint16>> with empty inner and outer
// lists (ragged top-p lists), three list levels, and a flat column, each shredded and assembled
// back to the same offsets and values; inconsistent levels are refused.
import { Field, FixedSizeList, List, makeData, Schema, Uint16, type Data, type DataType } from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble, shred } from '../../../src/shard/parquet/levels.js';
import { leafColumns } from '../../../src/shard/parquet/parquet-schema.js';

const listOf = (t: DataType) => new List(new Field('item', t, false));
type Nested = number | Nested[];

/** Arrow Data for rows of nested JS arrays (depth given by the type). */
function build(type: DataType, rows: Nested[]): Data {
  if (!(type instanceof List) && !(type instanceof FixedSizeList)) return makeData({ type: type as Uint16, length: rows.length, nullCount: 0, data: Uint16Array.from(rows as number[]) });
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => { offsets[i + 1] = offsets[i] + (r as Nested[]).length; });
  const child = build(type.children[0].type, (rows as Nested[][]).flat(1));
  return type instanceof List
    ? makeData({ type, length: rows.length, nullCount: 0, valueOffsets: offsets, child } as never)
    : makeData({ type, length: rows.length, nullCount: 0, child } as never);
}

/** Nested JS arrays back from Arrow Data. */
function unbuild(d: Data): Nested[] {
  if (!d.children.length) return Array.from(d.values as Uint16Array).slice(d.offset, d.offset + d.length);
  const inner = unbuild(d.children[0]);
  const out: Nested[] = [];
  for (let i = 0; i < d.length; i++) {
    const [s, e] = d.valueOffsets ? [d.valueOffsets[d.offset + i], d.valueOffsets[d.offset + i + 1]] : [(d.offset + i) * (d.type as FixedSizeList).listSize, (d.offset + i + 1) * (d.type as FixedSizeList).listSize];
    out.push(inner.slice(s, e));
  }
  return out;
}

const id = fc.integer({ min: 0, max: 65535 });
const cases: [string, DataType, fc.Arbitrary<Nested[]>][] = [
  ['list<list<uint16>> (ragged top-p)', listOf(listOf(new Uint16())), fc.array(fc.array(fc.array(id, { maxLength: 5 }), { maxLength: 6 }), { minLength: 1, maxLength: 8 })],
  ['list<fixed_size_list<uint16, 3>>', listOf(new FixedSizeList(3, new Field('item', new Uint16(), false))), fc.array(fc.array(fc.tuple(id, id, id), { maxLength: 6 }), { minLength: 1, maxLength: 8 })],
  ['list<list<list<uint16>>>', listOf(listOf(listOf(new Uint16()))), fc.array(fc.array(fc.array(fc.array(id, { maxLength: 3 }), { maxLength: 3 }), { maxLength: 3 }), { minLength: 1, maxLength: 6 })],
  ['uint16', new Uint16(), fc.array(id, { minLength: 1, maxLength: 20 })],
];

describe('shred / assemble', () => {
  for (const [name, type, rows] of cases) {
    it(`${name}: round trip, empty lists included`, () => {
      const [leaf] = leafColumns(new Schema([new Field('c', type, false)]));
      fc.assert(fc.property(rows, (r) => {
        const data = build(type, r);
        const s = shred(data, leaf);
        const back = assemble(type, leaf, r.length, s.rep, s.def, s.levels, s.values.slice() as Uint16Array, 'c');
        expect(unbuild(back)).toEqual(r);
      }), { numRuns: 200 });
    });
  }

  it('refuses levels that describe other rows or values than the page holds', () => {
    const type = listOf(listOf(new Uint16()));
    const [leaf] = leafColumns(new Schema([new Field('c', type, false)]));
    const s = shred(build(type, [[[1, 2], []], [], [[3]]]), leaf);
    expect(() => assemble(type, leaf, 2, s.rep, s.def, s.levels, s.values, 'col c')).toThrow(/col c: levels describe 3 rows, expected 2/);
    expect(() => assemble(type, leaf, 3, s.rep, s.def, s.levels, s.values.subarray(1), 'col c')).toThrow(/levels describe 3 values, page holds 2/);
    const bad = s.def.slice();
    bad[0] = 0; // repetition 0 with definition 0 mid-list, then a deeper repeat: inconsistent
    const rep = s.rep.slice();
    rep[1] = 2;
    bad[1] = 1;
    expect(() => assemble(type, leaf, 3, rep, bad, s.levels, s.values, 'col c')).toThrow(/col c: level entry 1 \(repetition 2, definition 1\) out of range/);
  });
});

// Dremel repetition/definition levels for the columns shards hold: a required leaf inside
// zero or more required List / FixedSizeList levels. With nothing nullable, a leaf value's
// definition level is always the nesting depth D, and only an empty list at level L (1-based)
// gives a shorter one, L - 1. shred() goes from Arrow Data to levels (plus the contiguous range
// of leaf values, never copied); assemble() goes back, rebuilding each level's offsets.
import { type Data, type DataType, makeData, Type } from 'apache-arrow';
import type { LeafColumn } from './parquet-schema.js';

export type LeafValues = Uint8Array | Uint16Array | Uint32Array | Int32Array | Float32Array | Float64Array | BigUint64Array | BigInt64Array;

export interface Shredded {
  /** Level entries (leaf values plus empty lists); 0 for a flat column, whose entries are its values. */
  levels: number;
  rep: Uint8Array;
  def: Uint8Array;
  /** The leaf values the rows hold, in order (a view into the Arrow buffer). */
  values: LeafValues;
}

interface Level { data: Data; fixed: number }

/** Levels and leaf values of `rows` rows of one top-level column. */
export function shred(column: Data, leaf: LeafColumn): Shredded {
  const rows = column.length;
  const chain: Level[] = [];
  let d: Data = column;
  for (const n of leaf.nesting) {
    chain.push({ data: d, fixed: n.kind === 'fixed' ? n.size : 0 });
    d = d.children[0];
  }
  // Leaf range: map the row range down through each level.
  let a = 0, b = rows, slots = 0;
  for (const { data, fixed } of chain) {
    slots += b - a;
    if (fixed) { a = (a + data.offset) * fixed; b = (b + data.offset) * fixed; } else { const vo = data.valueOffsets as Int32Array; a = vo[a + data.offset]; b = vo[b + data.offset]; }
  }
  const leafValues = d.values as LeafValues;
  const values = leafValues.subarray(a + d.offset, b + d.offset) as LeafValues;
  if (chain.length === 0) return { levels: 0, rep: new Uint8Array(0), def: new Uint8Array(0), values };
  // At most one entry per leaf value plus one per (empty) slot.
  const rep = new Uint8Array(values.length + slots);
  const def = new Uint8Array(values.length + slots);
  const depth = chain.length;
  let n = 0;
  // Slot `i` (logical) of level `l`, whose first entry repeats at `r`.
  const walk = (l: number, i: number, r: number): void => {
    const { data, fixed } = chain[l];
    const p = i + data.offset;
    let s: number, e: number;
    if (fixed) { s = p * fixed; e = s + fixed; } else { const vo = data.valueOffsets as Int32Array; s = vo[p]; e = vo[p + 1]; }
    if (s === e) { rep[n] = r; def[n] = l; n++; return; }
    if (l === depth - 1) {
      for (let j = s; j < e; j++) { rep[n] = j === s ? r : depth; def[n] = depth; n++; }
      return;
    }
    for (let j = s; j < e; j++) walk(l + 1, j, j === s ? r : l + 1);
  };
  for (let i = 0; i < rows; i++) walk(0, i, 0);
  return { levels: n, rep: rep.subarray(0, n), def: def.subarray(0, n), values };
}

/**
 * Rebuilds one top-level column (`type`, `rows` rows) from its levels and leaf values.
 * Every count is checked: a fixed-size level must have exactly its size everywhere, and the
 * levels must describe exactly `rows` rows and `values.length` leaf values.
 */
export function assemble(type: DataType, leaf: LeafColumn, rows: number, rep: Uint8Array, def: Uint8Array, levels: number, values: LeafValues, where: string): Data {
  const depth = leaf.nesting.length;
  const types: DataType[] = [];
  let t = type;
  for (let l = 0; l < depth; l++) { types.push(t); t = t.children[0].type; }
  if (depth === 0) {
    if (values.length !== rows) throw new Error(`${where}: ${values.length} values for ${rows} rows`);
    return makeData({ type: t, length: rows, nullCount: 0, data: values } as never);
  }
  const offsets = leaf.nesting.map(() => new Int32Array(levels + 1));
  const slots = new Int32Array(depth);
  const elems = new Int32Array(depth);
  const leaves = depth === 1 ? levelsOne(rep, def, levels, offsets[0], slots, elems, where)
    : depth === 2 ? levelsTwo(rep, def, levels, offsets[0], offsets[1], slots, elems, where)
      : levelsAny(rep, def, levels, depth, offsets, slots, elems, where);
  for (let l = 0; l < depth; l++) offsets[l][slots[l]] = elems[l];
  if (slots[0] !== rows) throw new Error(`${where}: levels describe ${slots[0]} rows, expected ${rows}`);
  if (leaves !== values.length) throw new Error(`${where}: levels describe ${leaves} values, page holds ${values.length}`);
  let child = makeData({ type: t, length: values.length, nullCount: 0, data: values } as never) as Data;
  for (let l = depth - 1; l >= 0; l--) {
    const n = slots[l];
    const nest = leaf.nesting[l];
    const offs = offsets[l].subarray(0, n + 1);
    if (nest.kind === 'fixed') {
      for (let i = 0; i < n; i++) if (offs[i + 1] - offs[i] !== nest.size) throw new Error(`${where}: a fixed-size list of ${nest.size} holds ${offs[i + 1] - offs[i]} items at slot ${i}`);
      child = makeData({ type: types[l], length: n, nullCount: 0, child } as never) as Data;
    } else {
      if (types[l].typeId !== Type.List) throw new Error(`${where}: Arrow type ${String(types[l])} is not a list`);
      child = makeData({ type: types[l], length: n, nullCount: 0, valueOffsets: offs, child } as never) as Data;
    }
  }
  return child;
}

// The level walk of assemble(): level l (0-based) starts a slot when the entry repeats at or
// above it (r <= l) and its parent exists (d >= l), and gains an element when the entry
// repeats at or above l + 1 and reaches it (d >= l + 1). Every format-valid entry has
// r <= d <= depth (nothing is nullable) and the first entry starts a row. One and two list
// levels (every column today) have their own loops: they run once per value of a batch.

const badEntry = (where: string, x: number, r: number, d: number) => new Error(`${where}: level entry ${x} (repetition ${r}, definition ${d}) out of range`);

function levelsOne(rep: Uint8Array, def: Uint8Array, n: number, off: Int32Array, slots: Int32Array, elems: Int32Array, where: string): number {
  let s = 0, e = 0;
  for (let x = 0; x < n; x++) {
    const r = rep[x], d = def[x];
    if (r > d || d > 1 || (x === 0 && r !== 0)) throw badEntry(where, x, r, d);
    if (r === 0) off[s++] = e;
    e += d;
  }
  slots[0] = s; elems[0] = e;
  return e;
}

function levelsTwo(rep: Uint8Array, def: Uint8Array, n: number, off0: Int32Array, off1: Int32Array, slots: Int32Array, elems: Int32Array, where: string): number {
  let s0 = 0, e0 = 0, s1 = 0, e1 = 0;
  for (let x = 0; x < n; x++) {
    const r = rep[x], d = def[x];
    if (r > d || d > 2 || (x === 0 && r !== 0)) throw badEntry(where, x, r, d);
    if (r === 0) off0[s0++] = e0;
    if (r <= 1 && d >= 1) { e0++; off1[s1++] = e1; }
    if (d === 2) e1++;
  }
  slots[0] = s0; elems[0] = e0; slots[1] = s1; elems[1] = e1;
  return e1;
}

function levelsAny(rep: Uint8Array, def: Uint8Array, n: number, depth: number, offsets: Int32Array[], slots: Int32Array, elems: Int32Array, where: string): number {
  let leaves = 0;
  for (let x = 0; x < n; x++) {
    const r = rep[x], d = def[x];
    if (r > d || d > depth || (x === 0 && r !== 0)) throw badEntry(where, x, r, d);
    for (let l = 0; l < depth; l++) {
      if (r <= l && d >= l) offsets[l][slots[l]++] = elems[l];
      if (r <= l + 1 && d >= l + 1) elems[l]++;
    }
    if (d === depth) leaves++;
  }
  return leaves;
}

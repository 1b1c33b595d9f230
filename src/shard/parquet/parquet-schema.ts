// An Arrow schema as Parquet schema elements, generic over what shards hold: non-nullable
// fields of (nested) List / FixedSizeList around an integer or float leaf. Lists become the
// standard three-level LIST groups (`<name> (LIST) { repeated group list { element } }`, as
// pyarrow writes them); FixedSizeList is a LIST too, its size restored by readers from the
// ARROW:schema footer key. Anything else (nulls, structs, strings) is refused by name.
import { type DataType, type Field, type Schema, Type } from 'apache-arrow';
import { i32, type ThriftStruct, bin, struct } from './thrift-writer.js';

export const PARQUET_MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // "PAR1"
/** Footer key holding the Arrow IPC schema message, base64 (what Arrow C++ and pyarrow read). */
export const ARROW_SCHEMA_KEY = 'ARROW:schema';

export type PhysicalType = 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'FIXED_LEN_BYTE_ARRAY';
export const PHYSICAL_ID: Record<PhysicalType, number> = { INT32: 1, INT64: 2, FLOAT: 4, DOUBLE: 5, FIXED_LEN_BYTE_ARRAY: 7 };

/** One nesting level of a leaf column, outermost first: a variable list or a fixed-size one. */
export type Nesting = { kind: 'list' } | { kind: 'fixed'; size: number };

/** A Parquet leaf column: one top-level Arrow field, its nesting and its primitive values. */
export interface LeafColumn {
  field: string;
  path: string[];
  physical: PhysicalType;
  /** Bytes per value as stored (PLAIN); FIXED_LEN_BYTE_ARRAY's type_length. */
  width: number;
  /** Bytes per value in the Arrow buffer (uint8/uint16 widen to INT32 in Parquet). */
  arrowWidth: number;
  nesting: Nesting[];
  /** Repetition and definition level maxima: one of each per list level (everything is required). */
  maxRep: number;
  leafType: DataType;
  /** Signed/unsigned integer leaf as Arrow holds it (for widening and narrowing INT32). */
  int?: { bits: number; signed: boolean };
}

interface LeafKind { physical: PhysicalType; width: number; arrowWidth: number; int?: { bits: number; signed: boolean }; annotate: ThriftStruct }

const REQUIRED = 0, REPEATED = 2;
const CONVERTED_LIST = 3;
const UNSIGNED_CONVERTED: Record<number, number> = { 8: 11, 16: 12, 32: 13, 64: 14 };
const SIGNED_CONVERTED: Record<number, number> = { 8: 15, 16: 16, 32: 17, 64: 18 };

function leafKind(t: DataType, where: string): LeafKind {
  if (t.typeId === Type.Int) {
    const { bitWidth: bits, isSigned: signed } = t as unknown as { bitWidth: number; isSigned: boolean };
    // Logical INTEGER(bits, signed) plus the legacy converted type, as pyarrow writes them.
    const annotate: ThriftStruct = [
      [6, i32((signed ? SIGNED_CONVERTED : UNSIGNED_CONVERTED)[bits])],
      [10, struct([[10, struct([[1, { t: 'i8', v: bits }], [2, { t: 'bool', v: signed }]])]])],
    ];
    return { physical: bits === 64 ? 'INT64' : 'INT32', width: bits === 64 ? 8 : 4, arrowWidth: bits / 8, int: { bits, signed }, annotate };
  }
  if (t.typeId === Type.Float) {
    const precision = (t as unknown as { precision: number }).precision;
    if (precision === 0) return { physical: 'FIXED_LEN_BYTE_ARRAY', width: 2, arrowWidth: 2, annotate: [[10, struct([[15, struct([])]])]] };
    return precision === 1 ? { physical: 'FLOAT', width: 4, arrowWidth: 4, annotate: [] } : { physical: 'DOUBLE', width: 8, arrowWidth: 8, annotate: [] };
  }
  throw new Error(`${where}: Arrow type ${String(t)} has no Parquet mapping in this writer`);
}

/** The leaf columns of `schema`, one per top-level field, in order. */
export function leafColumns(schema: Schema): LeafColumn[] {
  return schema.fields.map((f) => {
    const nesting: Nesting[] = [];
    const path = [f.name];
    let t: DataType = f.type;
    let field: Field = f;
    for (;;) {
      if (field.nullable) throw new Error(`column ${f.name}: nullable fields are not written to Parquet shards`);
      if (t.typeId === Type.List || t.typeId === Type.FixedSizeList) {
        nesting.push(t.typeId === Type.List ? { kind: 'list' } : { kind: 'fixed', size: (t as unknown as { listSize: number }).listSize });
        path.push('list', 'element');
        field = t.children[0];
        t = field.type;
        continue;
      }
      break;
    }
    const kind = leafKind(t, `column ${f.name}`);
    return { field: f.name, path, physical: kind.physical, width: kind.width, arrowWidth: kind.arrowWidth, nesting, maxRep: nesting.length, leafType: t, ...(kind.int ? { int: kind.int } : {}) };
  });
}

/** The flattened Parquet schema (root first, depth-first), as thrift SchemaElement structs. */
export function schemaElements(schema: Schema): ThriftStruct[] {
  const out: ThriftStruct[] = [[[4, bin('schema')], [5, i32(schema.fields.length)]]];
  for (const leaf of leafColumns(schema)) {
    const kind = leafKind(leaf.leafType, `column ${leaf.field}`);
    let name = leaf.field;
    for (let d = 0; d < leaf.nesting.length; d++) {
      out.push([[3, i32(REQUIRED)], [4, bin(name)], [5, i32(1)], [6, i32(CONVERTED_LIST)], [10, struct([[3, struct([])]])]]);
      out.push([[3, i32(REPEATED)], [4, bin('list')], [5, i32(1)]]);
      name = 'element';
    }
    const typeLength = leaf.physical === 'FIXED_LEN_BYTE_ARRAY' ? i32(leaf.width) : undefined;
    const el: [number, ReturnType<typeof i32> | undefined][] = [[1, i32(PHYSICAL_ID[leaf.physical])], [2, typeLength], [3, i32(REQUIRED)], [4, bin(name)]];
    out.push([...el, ...kind.annotate].sort((a, b) => a[0] - b[0]));
  }
  return out;
}

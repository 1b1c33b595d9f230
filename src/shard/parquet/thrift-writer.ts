// Thrift compact protocol, the writing half: just what a Parquet footer and page headers use
// (structs, i8/i32/i64, binary, lists of structs/i32/binary, bool fields). Reading goes through
// hyparquet's deserializer (src/shard/parquet/footer.ts, page-codec.ts).

// Compact protocol type ids.
const T_TRUE = 1, T_FALSE = 2, T_BYTE = 3, T_I32 = 5, T_I64 = 6, T_BINARY = 8, T_LIST = 9, T_STRUCT = 12;

/** A thrift value by its wire type. Fields are written in ascending id order as given. */
export type ThriftValue =
  | { t: 'i8'; v: number } | { t: 'i32'; v: number } | { t: 'i64'; v: number | bigint } | { t: 'bool'; v: boolean }
  | { t: 'binary'; v: Uint8Array | string } | { t: 'struct'; v: ThriftStruct }
  | { t: 'list'; elem: 'i32'; v: readonly number[] } | { t: 'list'; elem: 'binary'; v: readonly string[] }
  | { t: 'list'; elem: 'struct'; v: readonly ThriftStruct[] };
/** Field id -> value; undefined fields are skipped (optional fields). */
export type ThriftStruct = ReadonlyArray<readonly [number, ThriftValue | undefined]>;

const utf8 = new TextEncoder();

export class ThriftWriter {
  private buf = new Uint8Array(256);
  private n = 0;

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }

  struct(fields: ThriftStruct): this {
    let last = 0;
    for (const [id, value] of fields) {
      if (value === undefined) continue;
      const type = value.t === 'bool' ? (value.v ? T_TRUE : T_FALSE) : typeId(value);
      const delta = id - last;
      if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
      else {
        this.byte(type);
        this.varint(zigzag32(id));
      }
      last = id;
      if (value.t !== 'bool') this.value(value);
    }
    this.byte(0); // STOP
    return this;
  }

  private value(value: ThriftValue): void {
    switch (value.t) {
      case 'i8': this.byte(value.v & 0xff); return;
      case 'i32': this.varint(zigzag32(value.v)); return;
      case 'i64': this.varint64(BigInt(value.v)); return;
      case 'binary': {
        const b = typeof value.v === 'string' ? utf8.encode(value.v) : value.v;
        this.varint(b.length);
        this.raw(b);
        return;
      }
      case 'struct': this.struct(value.v); return;
      case 'list': {
        const elemType = value.elem === 'i32' ? T_I32 : value.elem === 'binary' ? T_BINARY : T_STRUCT;
        const size = value.v.length;
        if (size < 15) this.byte((size << 4) | elemType);
        else {
          this.byte(0xf0 | elemType);
          this.varint(size);
        }
        for (const e of value.v) {
          if (value.elem === 'i32') this.varint(zigzag32(e as number));
          else if (value.elem === 'binary') this.value({ t: 'binary', v: e as string });
          else this.struct(e as ThriftStruct);
        }
        return;
      }
      default: throw new Error(`thrift: cannot write ${(value as { t: string }).t}`);
    }
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.n++] = b;
  }

  private raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  private varint(u: number): void {
    // u is a non-negative int below 2^32 here (zigzagged i32 or a length).
    let x = u >>> 0;
    while (x >= 0x80) {
      this.byte((x & 0x7f) | 0x80);
      x >>>= 7;
    }
    this.byte(x);
  }

  private varint64(v: bigint): void {
    let x = (v << 1n) ^ (v >> 63n); // zigzag
    x = BigInt.asUintN(64, x);
    while (x >= 0x80n) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }

  private ensure(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + extra));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
}

function typeId(v: ThriftValue): number {
  switch (v.t) {
    case 'i8': return T_BYTE;
    case 'i32': return T_I32;
    case 'i64': return T_I64;
    case 'binary': return T_BINARY;
    case 'list': return T_LIST;
    case 'struct': return T_STRUCT;
    default: return T_TRUE;
  }
}

const zigzag32 = (n: number): number => ((n << 1) ^ (n >> 31)) >>> 0;

export const i32 = (v: number): ThriftValue => ({ t: 'i32', v });
export const i64 = (v: number | bigint): ThriftValue => ({ t: 'i64', v });
export const bin = (v: Uint8Array | string): ThriftValue => ({ t: 'binary', v });
export const struct = (v: ThriftStruct): ThriftValue => ({ t: 'struct', v });
export const encodeStruct = (fields: ThriftStruct): Uint8Array => new ThriftWriter().struct(fields).bytes();

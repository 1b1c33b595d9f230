import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdScratch, scanIdField } from '../../src/data/jsonl-scan.js';

const enc = new TextEncoder();
const KEY = 'input_ids';

/** Scanner result as plain data: the ids, or 'error'. */
function scan(line: string, key = KEY): number[] | 'error' {
  const b = enc.encode(line);
  const scratch = new IdScratch();
  try {
    const n = scanIdField(b, 0, b.length, enc.encode(key), key, scratch);
    return Array.from(scratch.ids.subarray(0, n));
  } catch {
    return 'error';
  }
}

/** Reference: JSON.parse, then the same acceptance rules spelled out directly. */
function reference(line: string, key = KEY): number[] | 'error' {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'error';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'error';
  if (!Object.prototype.hasOwnProperty.call(v, key)) return 'error';
  const ids = (v as Record<string, unknown>)[key];
  if (!Array.isArray(ids)) return 'error';
  for (const x of ids) if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= 2 ** 31) return 'error';
  return ids.map((x: number) => x + 0); // -0 → 0
}

const validId = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const row = fc.record({
  input_ids: fc.array(validId, { maxLength: 40 }),
  other: fc.jsonValue({ maxDepth: 3 }),
});

describe('scanIdField', () => {
  it('agrees with JSON.parse on well-formed rows with other fields around the ids', () => {
    fc.assert(
      fc.property(row, fc.boolean(), (r, idsFirst) => {
        const obj = idsFirst ? { input_ids: r.input_ids, other: r.other } : { other: r.other, input_ids: r.input_ids };
        const line = JSON.stringify(obj, null, idsFirst ? 0 : 1).replace(/\n/g, ' ');
        expect(scan(line)).toEqual(r.input_ids);
      }),
    );
  });

  it('accepts and rejects exactly what JSON.parse + the id rules accept, on mutated lines', () => {
    // A few character edits of valid rows hit the grammar's corners: broken strings and
    // escapes, raw control characters, commas, brackets, signs, exponents, literals.
    const alphabet = fc.constantFrom(...'{}[]",:.-+eE0123456789 tfnulrx\\\t\u0001'.split(''));
    const edit = fc.tuple(fc.nat(), alphabet, fc.constantFrom('replace', 'insert', 'delete'));
    fc.assert(
      fc.property(row, fc.array(edit, { minLength: 1, maxLength: 3 }), (r, edits) => {
        let line = JSON.stringify({ a: r.other, input_ids: r.input_ids, z: 'ok' });
        for (const [at, ch, op] of edits) {
          const i = at % (line.length + 1);
          line =
            op === 'replace' ? line.slice(0, i) + ch + line.slice(i + 1)
            : op === 'insert' ? line.slice(0, i) + ch + line.slice(i)
            : line.slice(0, i) + line.slice(i + 1);
        }
        expect(scan(line)).toEqual(reference(line));
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with JSON.parse on arbitrary JSON text', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 3 }), (text) => {
        expect(scan(text)).toEqual(reference(text));
      }),
    );
  });

  it('handles number spellings that are integers in JSON (1.0, 2e1, -0) like JSON.parse', () => {
    expect(scan('{"input_ids":[1.0, 2e1, 30E-1, -0, 0.0]}')).toEqual([1, 20, 3, 0, 0]);
    expect(scan('{"input_ids":[1.5]}')).toBe('error');
    expect(scan('{"input_ids":[01]}')).toBe('error');
  });

  it('takes the last value of a repeated key, as JSON.parse does', () => {
    const line = '{"input_ids":[1,2],"x":1,"input_ids":[3]}';
    expect(scan(line)).toEqual(reference(line));
    expect(scan(line)).toEqual([3]);
  });

  it('matches a key written with escapes', () => {
    expect(scan('{"input\\u005fids":[7,8]}')).toEqual([7, 8]);
  });

  it('reads a custom key and ignores the default one', () => {
    expect(scan('{"input_ids":[1],"labels":[4,5]}', 'labels')).toEqual([4, 5]);
  });

  it('says what was wrong', () => {
    const msg = (line: string) => {
      const b = enc.encode(line);
      try {
        scanIdField(b, 0, b.length, enc.encode(KEY), KEY, new IdScratch());
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(msg('{"text":"x"}')).toMatch(/no "input_ids" field/);
    expect(msg('{"input_ids":"1 2 3"}')).toMatch(/"input_ids" is not an array \(found "1 2 3"\)/);
    expect(msg('{"input_ids":[4,5,-1]}')).toMatch(/input_ids\[2\] is -1; ids must be non-negative integers/);
    expect(msg('{"input_ids":[4,2.5]}')).toMatch(/input_ids\[1\] is 2\.5/);
    expect(msg('{"input_ids":[2147483648]}')).toMatch(/input_ids\[0\] is 2147483648/);
    expect(msg('{"input_ids":[1,"2"]}')).toMatch(/input_ids\[1\] is "2"/);
    expect(msg('{"input_ids":[1,2}')).toMatch(/invalid JSON at byte 18: expected ',' or ']', found '}'/);
    expect(msg('[1,2]')).toMatch(/JSON object/);
  });

  it('reports byte positions relative to the line, wherever it sits in the buffer', () => {
    const b = enc.encode('{"input_ids":[1]}\n{"input_ids":[1,2}\n');
    expect(() => scanIdField(b, 18, b.length - 1, enc.encode(KEY), KEY, new IdScratch())).toThrow(/at byte 18:/);
  });

  it('reuses the scratch buffer across lines and grows it for long arrays', () => {
    const scratch = new IdScratch();
    const long = Array.from({ length: 5000 }, (_, i) => i);
    for (const ids of [long, [9, 9], long.slice(0, 3)]) {
      const b = enc.encode(JSON.stringify({ input_ids: ids }));
      const n = scanIdField(b, 0, b.length, enc.encode(KEY), KEY, scratch);
      expect(Array.from(scratch.ids.subarray(0, n))).toEqual(ids);
    }
  });
});

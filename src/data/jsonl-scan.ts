/**
 * Pulls one integer-array field out of a JSON object line without building the object.
 *
 * Why not JSON.parse: tokenized datasets usually carry the source text next to the ids, often
 * many times larger than the ids themselves. JSON.parse would decode every string into a JS
 * string and every id into a boxed array slot only for us to copy them into an Int32Array.
 * This scanner walks the UTF-8 bytes once, skips other values in place (still checking that
 * they are well-formed JSON) and writes the wanted ids straight into a reusable Int32Array.
 * Measured on stories.jsonl lines (bench/read-dataset.ts) its throughput is on par with
 * readline + JSON.parse, not faster: the gain is no per-line strings or arrays for the GC.
 *
 * Errors thrown here are located inside the line only; the JSONL reader prefixes file and line.
 */

import { MAX_TOKEN_ID_EXCLUSIVE, badIdMessage } from './sample.js';

const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;
const LBRACE = 0x7b, RBRACE = 0x7d, LBRACKET = 0x5b, RBRACKET = 0x5d;
const MINUS = 0x2d, PLUS = 0x2b, DOT = 0x2e, ZERO = 0x30, NINE = 0x39;
// Deep nesting is legal JSON but never occurs in a dataset row; the cap keeps recursion bounded.
const MAX_DEPTH = 256;

const textDecoder = new TextDecoder();

/** Growable id buffer reused across lines so a line costs one exact-size copy, not a growth chain. */
export class IdScratch {
  ids = new Int32Array(1024);
  length = 0;
  push(id: number): void {
    if (this.length === this.ids.length) {
      const bigger = new Int32Array(this.ids.length * 2);
      bigger.set(this.ids);
      this.ids = bigger;
    }
    this.ids[this.length++] = id;
  }
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** A short, printable excerpt of the bytes at [from, to) for error messages. */
function excerpt(b: Uint8Array, from: number, to: number): string {
  const end = Math.min(to, from + 40);
  const s = textDecoder.decode(b.subarray(from, end));
  return end < to ? `${s}…` : s;
}

class Scanner {
  p: number;
  constructor(readonly b: Uint8Array, readonly start: number, readonly end: number) {
    this.p = start;
  }

  fail(what: string): never {
    const found = this.p < this.end ? `'${excerpt(this.b, this.p, this.end)}'` : 'end of line';
    throw new Error(`invalid JSON at byte ${this.p - this.start + 1}: expected ${what}, found ${found}`);
  }

  ws(): void {
    const { b, end } = this;
    let p = this.p;
    while (p < end && isWs(b[p])) p++;
    this.p = p;
  }

  expect(c: number, what: string): void {
    if (this.p >= this.end || this.b[this.p] !== c) this.fail(what);
    this.p++;
  }

  /** At an opening quote: move past the closing one. Returns whether the string had escapes. */
  skipString(): boolean {
    const { b, end } = this;
    let p = this.p + 1;
    let escaped = false;
    for (;;) {
      if (p >= end) { this.p = p; this.fail('closing quote of string'); }
      const c = b[p];
      if (c === QUOTE) break;
      if (c < 0x20) { this.p = p; this.fail('no raw control character inside a string'); }
      if (c === BACKSLASH) {
        escaped = true;
        const e = b[p + 1];
        if (e === 0x75 /* u */) {
          for (let k = 2; k < 6; k++) {
            const h = b[p + k];
            const hex = (h >= 0x30 && h <= 0x39) || (h >= 0x41 && h <= 0x46) || (h >= 0x61 && h <= 0x66);
            if (p + k >= end || !hex) { this.p = p; this.fail('4 hex digits after \\u'); }
          }
          p += 6;
          continue;
        }
        // " \ / b f n r t
        if (!(e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74)) {
          this.p = p;
          this.fail('a valid escape sequence');
        }
        p += 2;
        continue;
      }
      p++;
    }
    this.p = p + 1;
    return escaped;
  }

  /** Moves past a JSON number; returns true when it has no fraction or exponent part. */
  skipNumber(): boolean {
    const { b, end } = this;
    let p = this.p;
    if (b[p] === MINUS) p++;
    if (p < end && b[p] === ZERO) p++;
    else if (p < end && isDigit(b[p])) while (p < end && isDigit(b[p])) p++;
    else { this.p = p; this.fail('a digit'); }
    let plain = true;
    if (p < end && b[p] === DOT) {
      plain = false;
      p++;
      if (!(p < end && isDigit(b[p]))) { this.p = p; this.fail('a digit after the decimal point'); }
      while (p < end && isDigit(b[p])) p++;
    }
    if (p < end && (b[p] === 0x65 || b[p] === 0x45)) {
      plain = false;
      p++;
      if (p < end && (b[p] === PLUS || b[p] === MINUS)) p++;
      if (!(p < end && isDigit(b[p]))) { this.p = p; this.fail('a digit in the exponent'); }
      while (p < end && isDigit(b[p])) p++;
    }
    this.p = p;
    return plain;
  }

  skipLiteral(word: string): void {
    for (let k = 0; k < word.length; k++) {
      if (this.p + k >= this.end || this.b[this.p + k] !== word.charCodeAt(k)) this.fail(`'${word}'`);
    }
    this.p += word.length;
  }

  skipValue(depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`nesting of at most ${MAX_DEPTH} levels`);
    this.ws();
    const c = this.p < this.end ? this.b[this.p] : -1;
    if (c === QUOTE) this.skipString();
    else if (c === MINUS || isDigit(c)) this.skipNumber();
    else if (c === 0x74) this.skipLiteral('true');
    else if (c === 0x66) this.skipLiteral('false');
    else if (c === 0x6e) this.skipLiteral('null');
    else if (c === LBRACKET) {
      this.p++;
      this.ws();
      if (this.b[this.p] === RBRACKET && this.p < this.end) { this.p++; return; }
      for (;;) {
        this.skipValue(depth + 1);
        this.ws();
        if (this.p < this.end && this.b[this.p] === COMMA) { this.p++; continue; }
        this.expect(RBRACKET, "',' or ']'");
        return;
      }
    } else if (c === LBRACE) {
      this.p++;
      this.ws();
      if (this.b[this.p] === RBRACE && this.p < this.end) { this.p++; return; }
      for (;;) {
        this.ws();
        if (!(this.p < this.end && this.b[this.p] === QUOTE)) this.fail('a quoted key');
        this.skipString();
        this.ws();
        this.expect(COLON, "':'");
        this.skipValue(depth + 1);
        this.ws();
        if (this.p < this.end && this.b[this.p] === COMMA) { this.p++; continue; }
        this.expect(RBRACE, "',' or '}'");
        return;
      }
    } else this.fail('a JSON value');
  }
}

function keyMatches(b: Uint8Array, from: number, to: number, escaped: boolean, key: Uint8Array, keyText: string): boolean {
  if (escaped) {
    // Rare: a key spelled with escapes; decode it properly rather than byte-compare.
    return JSON.parse(textDecoder.decode(b.subarray(from - 1, to + 1))) === keyText;
  }
  if (to - from !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (b[from + k] !== key[k]) return false;
  return true;
}

/** Reads the id array at s.p into scratch; keyText names the field in messages. */
function readIdArray(s: Scanner, scratch: IdScratch, keyText: string): void {
  const { b, end } = s;
  if (!(s.p < end && b[s.p] === LBRACKET)) {
    const start = s.p;
    s.skipValue(1);
    throw new Error(`"${keyText}" is not an array (found ${excerpt(b, start, s.p)})`);
  }
  s.p++;
  scratch.length = 0;
  s.ws();
  if (s.p < end && b[s.p] === RBRACKET) { s.p++; return; }
  for (;;) {
    s.ws();
    const start = s.p;
    const c = start < end ? b[start] : -1;
    const position = scratch.length;
    if (isDigit(c)) {
      // Fast path: plain decimal digits. Values stay exact up to 2^53, far past the bound.
      let v = 0;
      let p = start;
      while (p < end && isDigit(b[p])) { v = v * 10 + (b[p] - ZERO); p++; }
      const plain = s.skipNumber(); // validates the grammar (leading zeros, fraction, exponent)
      if (!plain) v = Number(excerpt(b, start, s.p));
      if (!(Number.isInteger(v) && v < MAX_TOKEN_ID_EXCLUSIVE)) {
        throw new Error(badIdMessage(keyText, position, excerpt(b, start, s.p)));
      }
      scratch.push(v);
    } else {
      // Anything else (negative number, string, null, nested value) is a bad id: say what it was.
      s.skipValue(1);
      const text = excerpt(b, start, s.p);
      // -0 is the integer 0 in JSON's number model; accept it like JSON.parse + Number.isInteger would.
      if (c === MINUS && Number(text) === 0) { scratch.push(0); } else {
        throw new Error(badIdMessage(keyText, position, text));
      }
    }
    s.ws();
    if (s.p < end && b[s.p] === COMMA) { s.p++; continue; }
    s.expect(RBRACKET, "',' or ']'");
    return;
  }
}

/**
 * Scan the JSON object in b[start, end) for top-level field `key` (UTF-8 bytes of `keyText`)
 * and write its ids into scratch. Throws when the line is not a well-formed JSON object, the
 * field is missing or not an array, or an element is not an id. A key given twice takes the
 * last value, as JSON.parse does.
 */
export function scanIdField(
  b: Uint8Array,
  start: number,
  end: number,
  key: Uint8Array,
  keyText: string,
  scratch: IdScratch,
): number {
  const s = new Scanner(b, start, end);
  s.ws();
  s.expect(LBRACE, "'{' (each line must be a JSON object)");
  let found = false;
  s.ws();
  if (s.p < end && b[s.p] === RBRACE) s.p++;
  else for (;;) {
    s.ws();
    if (!(s.p < end && b[s.p] === QUOTE)) s.fail('a quoted key');
    const keyStart = s.p + 1;
    const escaped = s.skipString();
    const isKey = keyMatches(b, keyStart, s.p - 1, escaped, key, keyText);
    s.ws();
    s.expect(COLON, "':'");
    if (isKey) {
      s.ws();
      readIdArray(s, scratch, keyText);
      found = true;
    } else s.skipValue(1);
    s.ws();
    if (s.p < end && b[s.p] === COMMA) { s.p++; continue; }
    s.expect(RBRACE, "',' or '}'");
    break;
  }
  s.ws();
  if (s.p < end) s.fail('end of line after the object');
  if (!found) throw new Error(`no "${keyText}" field`);
  return scratch.length;
}

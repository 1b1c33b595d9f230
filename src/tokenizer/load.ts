// Reading a tokenizer file for display: either a Hugging Face tokenizer.json (decoded with
// @huggingface/tokenizers) or a plain JSON list of token strings in id order.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Tokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from './errors.js';
import { displayVocabEntry } from './pieces.js';

export type TokenizerKind = 'hf-tokenizer-json' | 'vocab-list';

/** The manifest's optional `tokenizer` object (schemas/manifest.schema.json). */
export interface TokenizerRef {
  file: string;
  kind: TokenizerKind;
  sha256: string;
  bytes: number;
  vocabSize: number;
}

export interface LoadedTokenizer {
  kind: TokenizerKind;
  sha256: string;
  bytes: Buffer;
  /** Ids the tokenizer can show (the largest id + 1). */
  vocabSize: number;
  /** Display text of one id, or null when the tokenizer has no such id. */
  piece(id: number): string | null;
}

/** Where the file lives beside the manifest, by kind: fixed names, so a manifest cannot point elsewhere. */
export const TOKENIZER_FILES: Record<TokenizerKind, string> = { 'hf-tokenizer-json': 'tokenizer.json', 'vocab-list': 'vocab.json' };

export function loadTokenizerFile(path: string): LoadedTokenizer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new TokenizerError('LC_ERR_TOKENIZER_INVALID', `${path}: cannot read tokenizer: ${(e as Error).message}`);
  }
  return parseTokenizer(bytes, path);
}

/** `where` names the file in errors. */
export function parseTokenizer(bytes: Buffer, where: string): LoadedTokenizer {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new TokenizerError('LC_ERR_TOKENIZER_INVALID', `${where}: not JSON: ${(e as Error).message}`);
  }
  if (Array.isArray(json)) return vocabList(json, bytes, sha256, where);
  if (json !== null && typeof json === 'object' && 'model' in json) return hfTokenizer(json, bytes, sha256, where);
  throw new TokenizerError('LC_ERR_TOKENIZER_INVALID',
    `${where}: neither a Hugging Face tokenizer.json (an object with "model") nor a JSON list of token strings`);
}

function vocabList(list: unknown[], bytes: Buffer, sha256: string, where: string): LoadedTokenizer {
  if (list.length === 0) throw new TokenizerError('LC_ERR_TOKENIZER_INVALID', `${where}: empty token list`);
  const pieces: string[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const s = list[i];
    if (typeof s !== 'string') throw new TokenizerError('LC_ERR_TOKENIZER_INVALID', `${where}: entry ${i} is ${JSON.stringify(s)}, not a string`);
    pieces[i] = displayVocabEntry(s);
  }
  return { kind: 'vocab-list', sha256, bytes, vocabSize: pieces.length, piece: (id) => (id >= 0 && id < pieces.length ? pieces[id] : null) };
}

function hfTokenizer(json: object, bytes: Buffer, sha256: string, where: string): LoadedTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, {});
  } catch (e) {
    throw new TokenizerError('LC_ERR_TOKENIZER_INVALID', `${where}: @huggingface/tokenizers cannot load it: ${(e as Error).message}`);
  }
  let vocabSize = 0;
  for (const id of tok.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
  if (vocabSize === 0) throw new TokenizerError('LC_ERR_TOKENIZER_INVALID', `${where}: the tokenizer has an empty vocabulary`);
  // Decoding every id up front would cost seconds for 150k vocabularies; a page needs a few hundred.
  const cache = new Map<number, string | null>();
  const piece = (id: number): string | null => {
    const hit = cache.get(id);
    if (hit !== undefined) return hit;
    const raw = tok.id_to_token(id);
    let p: string | null = null;
    if (raw !== undefined) {
      const text = tok.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
      // Decoders drop the leading space of a sequence's first word; alone, every token is first.
      p = (raw.startsWith('\u2581') || raw.startsWith('\u0120')) && !text.startsWith(' ') ? ` ${text}` : text;
    }
    if (cache.size < 1 << 16) cache.set(id, p);
    return p;
  };
  return { kind: 'hf-tokenizer-json', sha256, bytes, vocabSize, piece };
}

/**
 * Whether this tokenizer can belong to a teacher with `teacherVocab` outputs: it must not
 * name ids the teacher cannot produce, and may be smaller only by output-layer padding
 * (models pad the head to a round size), taken as at most 10% here.
 */
export function checkTokenizerFits(tok: LoadedTokenizer, teacherVocab: number, where: string): void {
  if (tok.vocabSize > teacherVocab || tok.vocabSize < teacherVocab * 0.9) {
    throw new TokenizerError('LC_ERR_TOKENIZER_MISMATCH',
      `${where}: tokenizer has ${tok.vocabSize} ids but the teacher's vocabulary is ${teacherVocab}; wrong tokenizer for this teacher?`);
  }
}

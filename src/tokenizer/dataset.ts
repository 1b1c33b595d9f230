// A dataset's own tokenizer: stored beside manifest.json under a fixed name, with its
// sha256 in the manifest's optional `tokenizer` object.
import { readFileSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import { MANIFEST_FILE, parseManifest, writeManifest } from '../shard/manifest.js';
import { writeFileAtomic } from '../shard/fs-atomic.js';
import { TokenizerError } from './errors.js';
import { checkTokenizerFits, type LoadedTokenizer, parseTokenizer, TOKENIZER_FILES, type TokenizerRef } from './load.js';

/** The manifest's tokenizer reference, if it has one (the field is optional and additive). */
export function tokenizerRefOf(manifest: object): TokenizerRef | null {
  const ref = (manifest as { tokenizer?: TokenizerRef }).tokenizer;
  return ref ?? null;
}

/**
 * Stores `tok` beside the dataset's manifest and names it there. The tokenizer file is
 * committed first and the manifest (validated, written atomically) second, so a reader
 * never sees a manifest naming a file that is not whole.
 */
export function attachTokenizer(datasetDir: string, tok: LoadedTokenizer, source: string): TokenizerRef {
  const manifestPath = join(datasetDir, MANIFEST_FILE);
  const manifest = parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath);
  checkTokenizerFits(tok, manifest.teacher.vocabSize, source);
  const ref: TokenizerRef = { file: TOKENIZER_FILES[tok.kind], kind: tok.kind, sha256: tok.sha256, bytes: tok.bytes.length, vocabSize: tok.vocabSize };
  writeFileAtomic(join(datasetDir, ref.file), tok.bytes);
  writeManifest(datasetDir, { ...manifest, tokenizer: ref } as typeof manifest);
  return ref;
}

/**
 * Reads the tokenizer a manifest names, refusing a file that is missing, resolves outside
 * the dataset folder, or whose bytes do not hash to the manifest's sha256.
 */
export function loadDatasetTokenizer(datasetDir: string, datasetId: string, ref: TokenizerRef): LoadedTokenizer {
  const where = `dataset "${datasetId}" ${ref.file}`;
  let bytes: Buffer;
  try {
    const dir = realpathSync(datasetDir);
    const path = realpathSync(join(datasetDir, ref.file));
    if (!path.startsWith(dir + sep)) throw new Error('resolves outside the dataset folder');
    bytes = readFileSync(path);
  } catch (e) {
    throw new TokenizerError('LC_ERR_TOKENIZER_CORRUPT', `${where}: ${(e as Error).message.split(datasetDir).join('<dataset>')}`);
  }
  const tok = parseTokenizer(bytes, where);
  if (tok.sha256 !== ref.sha256 || tok.bytes.length !== ref.bytes) {
    throw new TokenizerError('LC_ERR_TOKENIZER_CORRUPT', `${where}: sha256 ${tok.sha256} (${tok.bytes.length} bytes) does not match the manifest's ${ref.sha256} (${ref.bytes} bytes)`);
  }
  return tok;
}

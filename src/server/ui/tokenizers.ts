// Which tokenizer shows a dataset's ids: its own (named in its manifest, hash-checked),
// else the one `serve --tokenizer` supplied, else none (the page shows ids).
import type { Dataset } from '../catalog.js';
import { checkTokenizerFits, type LoadedTokenizer, loadDatasetTokenizer, tokenizerRefOf } from '../../tokenizer/index.js';

export interface TokenizerChoice {
  tokenizer: LoadedTokenizer | null;
  source: 'dataset' | 'serve' | 'none';
  /** Why the dataset's own tokenizer could not be used (the page says so). */
  error: string | null;
}

export class TokenizerCache {
  // Keyed by manifest hash: a rewritten dataset may carry another tokenizer.
  private readonly byManifest = new Map<string, TokenizerChoice>();

  constructor(private readonly fallback: LoadedTokenizer | null, private readonly maxEntries = 32) {}

  for(ds: Dataset): TokenizerChoice {
    const hit = this.byManifest.get(ds.manifestSha256);
    if (hit) return hit;
    const choice = this.choose(ds);
    if (this.byManifest.size >= this.maxEntries) this.byManifest.delete(this.byManifest.keys().next().value as string);
    this.byManifest.set(ds.manifestSha256, choice);
    return choice;
  }

  private choose(ds: Dataset): TokenizerChoice {
    const ref = tokenizerRefOf(ds.manifest);
    const none = (error: string | null): TokenizerChoice => {
      if (!this.fallback) return { tokenizer: null, source: 'none', error };
      try {
        // One serve --tokenizer may face datasets of several teachers; it shows only those it fits.
        checkTokenizerFits(this.fallback, ds.manifest.teacher.vocabSize, 'serve --tokenizer');
      } catch (e) {
        return { tokenizer: null, source: 'none', error: [error, `${(e as { code?: string }).code}: ${(e as Error).message}`].filter(Boolean).join('; ') };
      }
      return { tokenizer: this.fallback, source: 'serve', error };
    };
    if (!ref) return none(null);
    try {
      return { tokenizer: loadDatasetTokenizer(ds.dir, ds.id, ref), source: 'dataset', error: null };
    } catch (e) {
      return none(`${(e as { code?: string }).code ?? 'LC_ERR_TOKENIZER_CORRUPT'}: ${(e as Error).message}`);
    }
  }
}

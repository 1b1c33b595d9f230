// Tokenizer problems carry a registered code like every other layer's errors (src/errors.ts),
// and always name the file at fault.
import { CodedError } from '../errors.js';

export type TokenizerErrorCode = 'LC_ERR_TOKENIZER_INVALID' | 'LC_ERR_TOKENIZER_MISMATCH' | 'LC_ERR_TOKENIZER_CORRUPT';

export class TokenizerError extends CodedError {
  constructor(override readonly code: TokenizerErrorCode, message: string) {
    super(code, message);
    this.name = 'TokenizerError';
  }
}

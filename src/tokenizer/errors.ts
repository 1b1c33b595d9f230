// Tokenizer problems carry a code like every other layer's errors (LC_ERR_TOKENIZER_*),
// and always name the file at fault.
export type TokenizerErrorCode = 'LC_ERR_TOKENIZER_INVALID' | 'LC_ERR_TOKENIZER_MISMATCH' | 'LC_ERR_TOKENIZER_CORRUPT';

export class TokenizerError extends Error {
  constructor(readonly code: TokenizerErrorCode, message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

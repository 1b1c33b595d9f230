// Tokenizers for showing cached ids as text (the inspector page); never used to tokenize data.
export { TokenizerError, type TokenizerErrorCode } from './errors.js';
export { checkTokenizerFits, loadTokenizerFile, parseTokenizer, TOKENIZER_FILES, type LoadedTokenizer, type TokenizerKind, type TokenizerRef } from './load.js';
export { attachTokenizer, loadDatasetTokenizer, tokenizerRefOf } from './dataset.js';
export { displayVocabEntry } from './pieces.js';

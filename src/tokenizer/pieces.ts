// How one token id is shown on its own: the text it stands for, with the markers
// tokenizers use for spaces and raw bytes turned back into what a reader expects.

/** `<0x41>` style byte tokens (SentencePiece byte fallback, llama2.c vocabularies). */
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/**
 * A vocabulary-list entry as display text. Printable ASCII bytes and whitespace become the
 * character; other single bytes (parts of a UTF-8 sequence) stay as `<0xNN>`, since alone
 * they are not text. SentencePiece's U+2581 is its space.
 */
export function displayVocabEntry(entry: string): string {
  const m = BYTE_TOKEN.exec(entry);
  if (m) {
    const b = parseInt(m[1], 16);
    if ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x09 || b === 0x0d) return String.fromCharCode(b);
    return entry;
  }
  return entry.replace(/\u2581/g, ' ');
}

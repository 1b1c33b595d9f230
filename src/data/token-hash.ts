/**
 * Content hash of a token stream, independent of the file format that carried it.
 *
 * Definition (normative; docs/FORMAT.md quotes it):
 *   sha256 over the concatenation, for each sample in dataset order, of
 *     - the sample's token count as uint32 little-endian (4 bytes), then
 *     - each token id as int32 little-endian (4 bytes per id).
 *   The digest is written as 64 lowercase hex characters.
 * The length prefix makes sample boundaries part of the hash, so [1,2][3] and [1][2,3] differ.
 * An empty dataset hashes to sha256 of zero bytes. The hash covers the ids the caller passes
 * in: hash after truncation to describe what the teacher saw.
 */

import { createHash } from 'node:crypto';

export interface TokenStreamHasher {
  update(inputIds: Int32Array): void;
  /** Finishes the hash; the hasher cannot be updated afterwards. */
  digest(): string;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function tokenStreamHasher(): TokenStreamHasher {
  const hash = createHash('sha256');
  const header = new DataView(new ArrayBuffer(4));
  const headerBytes = new Uint8Array(header.buffer);
  let swapped: DataView | undefined;
  return {
    update(inputIds: Int32Array): void {
      header.setUint32(0, inputIds.length, true);
      hash.update(headerBytes);
      if (LITTLE_ENDIAN) {
        // The array's own bytes are already the int32 LE encoding: hash them in place.
        hash.update(new Uint8Array(inputIds.buffer, inputIds.byteOffset, inputIds.byteLength));
        return;
      }
      if (!swapped || swapped.byteLength < inputIds.byteLength) swapped = new DataView(new ArrayBuffer(inputIds.byteLength));
      for (let i = 0; i < inputIds.length; i++) swapped.setInt32(i * 4, inputIds[i], true);
      hash.update(new Uint8Array(swapped.buffer, 0, inputIds.byteLength));
    },
    digest(): string {
      return hash.digest('hex');
    },
  };
}

// The major number of a MAJOR.MINOR format version. Its own module: the manifest reads it, and
// a module that only opens a dataset folder (before a precompute's first teacher call) must not
// load apache-arrow through schema.ts for it.
import { FormatVersionError } from './errors.js';

export function parseMajor(version: string, where: string): number {
  const m = /^([0-9]+)\.([0-9]+)$/.exec(String(version));
  if (!m) throw new FormatVersionError(where, `format version "${version}" is not MAJOR.MINOR`);
  return Number(m[1]);
}

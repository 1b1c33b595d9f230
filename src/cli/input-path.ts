// Paths given on the command line are checked where the flag is known, so a mistake reads
// "--data x.jsonl: no such file" with a code, not a bare ENOENT/EISDIR from deep inside a reader.
import { statSync } from 'node:fs';
import { CodedError } from '../errors.js';

export type PathKind = 'file' | 'directory';

/** Throws LC_ERR_INPUT_PATH naming `flag` and `path` unless `path` exists and is a `kind`. */
export function checkInputPath(flag: string, path: string, kind: PathKind, what: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    const why = errno === 'ENOENT' ? 'no such file or directory' : errno === 'EACCES' ? 'permission denied' : (errno ?? (e as Error).message);
    throw new CodedError('LC_ERR_INPUT_PATH', `${flag} ${path}: ${why} (expected ${what})`, { flag, path });
  }
  const isKind = kind === 'file' ? st.isFile() : st.isDirectory();
  if (!isKind) {
    const actual = st.isDirectory() ? 'a directory' : st.isFile() ? 'a file' : 'not a regular file or directory';
    throw new CodedError('LC_ERR_INPUT_PATH', `${flag} ${path}: is ${actual}; expected ${what}`, { flag, path });
  }
}

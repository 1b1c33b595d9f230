// Durable file primitives: write to a temporary name, fsync, rename, fsync the folder.
// A reader therefore sees either the old state or the whole new file, never a prefix.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Commits `tmp` as `target` after flushing it to disk. */
export function commitFile(fd: number, tmp: string, target: string): void {
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, target);
  fsyncDir(dirname(target));
}

export function writeFileAtomic(target: string, bytes: Uint8Array | string): void {
  // A per-process name: two workers finalizing at once must not share (and truncate) one tmp file.
  const tmp = `${target}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  writeAll(fd, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
  commitFile(fd, tmp, target);
}

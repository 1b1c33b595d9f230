// Durable file primitives: write to a temporary name, fsync, rename, fsync the folder.
// A reader therefore sees either the old state or the whole new file, never a prefix.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { CodedError, describeWriteFailure } from '../errors.js';
import { onInterrupt } from './cleanup.js';

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

/** Suffix of every temporary file the writer makes: `<target>.<pid>-<random>.tmp`. */
export const TEMP_SUFFIX = /\.\d+-[0-9a-f]{8}\.tmp$/;

/**
 * A name no other process or earlier run uses: pid and random bytes, so two processes writing
 * the same target never share (and truncate or rename away) one temporary file.
 */
export function temporaryName(target: string): string {
  return `${target}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
}

/**
 * Writes `target` atomically. A failure (disk full, size limit) removes the temporary file and
 * raises LC_ERR_WRITE_FAILED naming `target`; an interrupt removes it too.
 */
export function writeFileAtomic(target: string, bytes: Uint8Array | string): void {
  const tmp = temporaryName(target);
  let fd = -1;
  const undo = () => {
    if (fd >= 0) try { closeSync(fd); } catch { /* already closed */ }
    fd = -1;
    rmSync(tmp, { force: true });
  };
  const dropUndo = onInterrupt(undo);
  try {
    fd = openSync(tmp, 'wx');
    writeAll(fd, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
    const committing = fd;
    fd = -1; // commitFile closes it
    commitFile(committing, tmp, target);
  } catch (e) {
    undo();
    throw new CodedError('LC_ERR_WRITE_FAILED', `${target}: write failed (${describeWriteFailure(e)}); nothing was replaced`, { file: target }, { cause: e });
  } finally {
    dropUndo();
  }
}

// One writer per dataset folder (per worker slot): a lock file created with O_EXCL holding the
// holder's pid and host. Two identical commands on one folder used to race on the same files;
// now the second is refused with LC_ERR_DATASET_LOCKED naming the holder. A lock whose holder
// is gone (same host, pid no longer alive) is stale and taken over; the same process may take
// its own lock again (an abandoned writer object, in tests or library use).
import { closeSync, linkSync, openSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CodedError } from '../errors.js';
import { onInterrupt } from './cleanup.js';
import { temporaryName, writeAll } from './fs-atomic.js';

export interface LockHolder { pid: number; host: string; since: string; command: string }

/** Lock file of a dataset folder: one per worker slot, so workers of one run do not exclude each other. */
export function lockFileName(worker: { index: number; count: number }): string {
  return worker.count === 1 ? '.lock' : `.lock-${worker.index}-of-${worker.count}`;
}

/** True when a process with this pid exists on this host (EPERM: it exists but is someone else's). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return Number.isInteger(h.pid) && typeof h.host === 'string' ? h : null;
  } catch {
    return null; // vanished, or half-written by a holder killed while creating it
  }
}

export class DatasetLock {
  private released = false;
  private readonly dropInterruptUndo: () => void;

  private constructor(readonly path: string) {
    this.dropInterruptUndo = onInterrupt(() => this.release());
  }

  /** Takes the lock or throws LC_ERR_DATASET_LOCKED naming the live holder. */
  static acquire(dir: string, worker: { index: number; count: number } = { index: 0, count: 1 }): DatasetLock {
    const path = join(dir, lockFileName(worker));
    const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), command: process.argv.slice(1).join(' ').slice(0, 500) };
    // The holder is written to a private file first and linked into place: link() fails with
    // EEXIST when the lock exists, and a lock file is never seen half-written.
    const tmp = temporaryName(path);
    const fd = openSync(tmp, 'wx');
    try {
      writeAll(fd, Buffer.from(JSON.stringify(me)));
    } finally {
      closeSync(fd);
    }
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          linkSync(tmp, path);
          return new DatasetLock(path);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        const holder = readHolder(path);
        if (holder === null) continue; // released (or unreadable) just now: try again
        if (holder.pid === process.pid || (holder.host === me.host && !isProcessAlive(holder.pid))) {
          // Stale. Only remove it if it is still the stale one (another process may have taken over).
          if (readFileSync(path, 'utf8') === JSON.stringify(holder)) rmSync(path, { force: true });
          continue;
        }
        const where = holder.host === me.host ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.host}`;
        throw new CodedError('LC_ERR_DATASET_LOCKED',
          `dataset ${dir} is being written by ${where} since ${holder.since} (${holder.command}); wait for it to finish or stop it${holder.host === me.host ? '' : `; if that process is gone, delete ${path}`}`,
          { dir, lockFile: path, holder });
      }
    } finally {
      rmSync(tmp, { force: true });
    }
    throw new CodedError('LC_ERR_DATASET_LOCKED', `dataset ${dir}: could not take the lock ${path} (it keeps changing hands)`, { dir, lockFile: path });
  }

  /** Gives the lock up (idempotent); only removes the file while it is still ours. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.dropInterruptUndo();
    if (readHolder(this.path)?.pid === process.pid) rmSync(this.path, { force: true });
  }
}

import { appendFileSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileIdentity, VerifiedBatches } from '../../src/server/verified-batches.js';

describe('VerifiedBatches', () => {
  it('remembers exactly the batches marked, per key', () => {
    const v = new VerifiedBatches(4);
    v.mark('a', 0, 20);
    v.mark('a', 9, 20);
    v.mark('a', 19, 20);
    expect([0, 1, 8, 9, 10, 18, 19].map((i) => v.has('a', i))).toEqual([true, false, false, true, false, false, true]);
    expect(v.has('b', 0)).toBe(false);
  });

  it('forgets the least recently marked file beyond maxFiles', () => {
    const v = new VerifiedBatches(2);
    v.mark('a', 1, 8);
    v.mark('b', 1, 8);
    v.mark('a', 2, 8); // a is now more recent than b
    v.mark('c', 1, 8); // b goes
    expect([v.has('a', 1), v.has('b', 1), v.has('c', 1)]).toEqual([true, false, true]);
  });
});

describe('fileIdentity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-identity-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const id = (p: string) => fileIdentity(statSync(p, { bigint: true }));

  it('is stable while the file is untouched', () => {
    const p = join(dir, 'same');
    writeFileSync(p, 'abc');
    expect(id(p)).toBe(id(p));
  });

  it('changes when the file is written in place, even when the old mtime is put back', () => {
    const p = join(dir, 'rewritten');
    writeFileSync(p, 'abcdef');
    utimesSync(p, 1_000_000, 1_000_000); // whole seconds, so it can be restored exactly
    const was = id(p);
    const before = statSync(p, { bigint: true });
    writeFileSync(p, 'abcxef'); // same size, same inode
    utimesSync(p, 1_000_000, 1_000_000); // what cp -p / rsync -t would do
    const after = statSync(p, { bigint: true });
    expect([after.ino, after.size, after.mtimeNs]).toEqual([before.ino, before.size, before.mtimeNs]);
    expect(id(p)).not.toBe(was);
  });

  it('changes when the file grows', () => {
    const p = join(dir, 'grown');
    writeFileSync(p, 'abc');
    const was = id(p);
    appendFileSync(p, 'd');
    expect(id(p)).not.toBe(was);
  });
});

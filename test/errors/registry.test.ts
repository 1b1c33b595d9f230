// The one registry of LC_ERR_* codes (src/errors.ts) against what uses and documents it: every
// code the sources raise is registered, the server's constructors answer with the registry's
// status, and docs/ERRORS.md (and docs/HTTP.md's table) say the same as the registry.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CodedError, codeOf, ERRORS, exitCodeOf, isErrorCode } from '../../src/errors.js';
import * as serverErrors from '../../src/server/errors.js';
import { ShardCorruptError } from '../../src/shard/index.js';
import { TeacherError, TeacherNonFiniteError } from '../../src/teacher/index.js';
import { UsageError } from '../../src/precompute/index.js';
import { repoRoot } from '../python.js';

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Rows of the first markdown table whose header starts with `| code |` (or `| status | code |`). */
function tableRows(markdown: string): string[][] {
  return markdown.split('\n').filter((l) => /^\|\s*`?(LC_ERR_|\d{3})/.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim().replace(/`/g, '')));
}

describe('error registry', () => {
  it('registers every LC_ERR_* code that appears in src/', () => {
    const used = new Set(files(join(repoRoot, 'src')).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/LC_ERR_[A-Z0-9_]*[A-Z0-9]/g)].map((m) => m[0])));
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((c) => !isErrorCode(c))).toEqual([]);
  });

  it('gives the server constructors the registry status, and the error classes their codes', () => {
    const ctors = Object.entries(serverErrors).filter(([, v]) => typeof v === 'function' && 'prototype' in v && v !== serverErrors.httpStatusOf);
    expect(ctors.length).toBeGreaterThanOrEqual(11);
    for (const [name, Ctor] of ctors) {
      const e = new (Ctor as new (...a: unknown[]) => { code: string; statusCode: number })('x', 'y', 'z');
      expect(isErrorCode(e.code), name).toBe(true);
      expect(e.statusCode, name).toBe(ERRORS[e.code as keyof typeof ERRORS].http);
    }
    expect(codeOf(new ShardCorruptError('shards/a.arrow', 3, 'bad'))).toBe('LC_ERR_SHARD_CORRUPT');
    expect(codeOf(new TeacherError('teacher m: no input'))).toBe('LC_ERR_TEACHER_INVALID');
    expect(codeOf(new TeacherNonFiniteError('m', 1, 2, NaN))).toBe('LC_ERR_TEACHER_NON_FINITE');
    expect(exitCodeOf(new UsageError('--x'))).toBe(2);
    expect(exitCodeOf(new CodedError('LC_ERR_INTERRUPTED', 'stop'))).toBe(130);
    // An error without a registered code is a bug.
    expect(codeOf(Object.assign(new Error('raw'), { code: 'ENOENT' }))).toBe('LC_ERR_INTERNAL');
    expect(exitCodeOf(new Error('raw'))).toBe(1);
    expect(new CodedError('LC_ERR_SEQ_TOO_LONG', 'm', { sample: 4 }).fields).toEqual({ sample: 4 });
  });

  it('is documented, row for row, in docs/ERRORS.md', () => {
    const rows = tableRows(readFileSync(join(repoRoot, 'docs/ERRORS.md'), 'utf8'));
    const documented = Object.fromEntries(rows.map(([code, , exit, http]) => [code, { exit: Number(exit), http: http === '—' ? null : Number(http) }]));
    const registry = Object.fromEntries(Object.entries(ERRORS).map(([code, s]) => [code, { exit: s.exit, http: s.http }]));
    expect(documented).toEqual(registry);
  });

  it("agrees with docs/HTTP.md's status table", () => {
    const rows = tableRows(readFileSync(join(repoRoot, 'docs/HTTP.md'), 'utf8')).filter(([status, code]) => /^\d{3}$/.test(status) && code?.startsWith('LC_ERR_'));
    expect(rows.length).toBeGreaterThan(8);
    for (const [status, code] of rows) {
      expect(isErrorCode(code), code).toBe(true);
      expect(ERRORS[code as keyof typeof ERRORS].http, code).toBe(Number(status));
    }
  });
});

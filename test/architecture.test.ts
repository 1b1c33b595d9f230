// The dependency rules of DESIGN.md, checked on the import statements of src/.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './python.js';

const src = join(repoRoot, 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** module -> what it imports (static and dynamic), with relative imports resolved to src/ paths. */
const imports = new Map(files(src).map((f) => {
  const text = readFileSync(f, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]);
  const resolved = specs.map((s) => (s.startsWith('.') ? relative(src, join(f, '..', s)).replace(/\.js$/, '') : s));
  return [relative(src, f), resolved] as const;
}));

function offenders(where: (file: string) => boolean, banned: (spec: string) => boolean): string[] {
  return [...imports].filter(([f]) => where(f)).flatMap(([f, specs]) => specs.filter(banned).map((s) => `${f} imports ${s}`));
}

describe('dependency rules', () => {
  it('only src/teacher imports onnxruntime-node', () => {
    expect(offenders((f) => !f.startsWith('teacher/'), (s) => s.startsWith('onnxruntime'))).toEqual([]);
  });
  it('the server never imports the teacher or the precompute pipeline', () => {
    expect(offenders((f) => f.startsWith('server/'), (s) => s.startsWith('teacher') || s.startsWith('precompute') || s.startsWith('onnx'))).toEqual([]);
  });
  it('src/shard knows neither onnxruntime nor HTTP', () => {
    expect(offenders((f) => f.startsWith('shard/'), (s) => /^(onnx|fastify|@fastify|teacher|server|precompute|node:http)/.test(s))).toEqual([]);
  });
  it('readers in src/data know no model', () => {
    expect(offenders((f) => f.startsWith('data/'), (s) => /^(onnx|teacher|server|precompute)/.test(s))).toEqual([]);
  });
  it('nothing under src/ but src/cli imports a command', () => {
    expect(offenders((f) => !f.startsWith('cli/'), (s) => s.startsWith('cli/'))).toEqual([]);
  });
  it('sees the imports it checks', () => {
    expect(imports.get('teacher/session.ts')).toContain('onnxruntime-node');
    expect(imports.get('cli/logit-cache.ts')).toContain('cli/serve');
  });
});

// Start-up guards that a timed test cannot give (bench/precompute.ts measures them): the
// teacher worker and the precompute's main thread must not load the ONNX protobuf bindings
// (onnx-proto/protobufjs, ~0.1-0.25 s each) on their way to the first teacher call. Checked on
// the runtime import graph of src/ (type-only imports are erased and do not count).
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../python.js';

const src = join(repoRoot, 'src');

/** Runtime imports of a module: static `import ... from`, side-effect imports, dynamic import(). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+['"]([^'"]+)['"]/gm)) if (!m[2]) out.push(m[3]);
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push(m[1]);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

/** Every module reachable from `entry` (src-relative paths) and every package it reaches. */
function closure(entry: string, followDynamic: boolean): { modules: Set<string>; packages: Set<string> } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    const rel = relative(src, file);
    if (modules.has(rel)) return;
    modules.add(rel);
    const text = readFileSync(file, 'utf8');
    for (const spec of runtimeImports(file)) {
      const dynamic = new RegExp(`import\\(\\s*['"]${spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}['"]`).test(text);
      if (dynamic && !followDynamic) continue;
      if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  visit(join(src, entry));
  return { modules, packages };
}

describe('start-up import graph', () => {
  it('the teacher worker loads onnxruntime but not the ONNX protobuf bindings', () => {
    const { modules, packages } = closure('teacher/teacher-worker.ts', true);
    expect(packages).toContain('onnxruntime-node');
    expect(modules).toContain('teacher/proto-encode.ts');
    expect([...packages].filter((p) => /onnx-proto|protobufjs/.test(p))).toEqual([]);
    expect(modules).not.toContain('teacher/onnx-model.ts');
  });

  it('the teacher worker loads the graph code (head surgery, wire-format walkers) only by dynamic import', () => {
    // The main thread prepares the worker's model (prepare-model.ts): the worker's own load,
    // on the critical path of start-up, must not parse that code for nothing.
    const eager = closure('teacher/teacher-worker.ts', false).modules;
    expect(eager).toContain('teacher/session.ts');
    const graphCode = ['teacher/prepare-model.ts', 'teacher/fuse-head.ts', 'teacher/model-splice.ts', 'teacher/proto-wire.ts', 'teacher/proto-decode.ts', 'teacher/proto-encode.ts'];
    expect([...eager].filter((m) => graphCode.includes(m))).toEqual([]);
    // The built CommonJS worker (what precompute-logits runs, src/cli/bundle.ts) leaves it to a file of its own.
    const worker = readFileSync(join(repoRoot, 'dist/cli/teacher-worker.cjs'), 'utf8');
    expect(worker).toContain('import("./teacher-prepare.cjs")');
    for (const fn of ['function appendTopkHead', 'function readModelLight', 'function encodeGraphFragment']) expect(worker).not.toContain(fn);
    expect(readFileSync(join(repoRoot, 'dist/cli/teacher-prepare.cjs'), 'utf8')).toContain('function appendTopkHead');
  });

  it('the precompute pipeline reaches the bindings only through --demo (the synthetic teacher writer)', () => {
    // Statically loaded with the pipeline: nothing heavy (Arrow and the stages come by dynamic import).
    const eager = closure('precompute/pipeline.ts', false);
    expect([...eager.packages].filter((p) => /onnx-proto|protobufjs|apache-arrow/.test(p))).toEqual([]);
    // Everything it may load: the bindings never, the demo aside (it is not part of a precompute run).
    const all = closure('precompute/pipeline.ts', true);
    expect([...all.packages]).toContain('apache-arrow');
    expect([...all.packages].filter((p) => /onnx-proto|protobufjs/.test(p))).toEqual([]);
  });

  it("the command's entry point starts the worker before loading anything of the command", () => {
    // dist/cli/precompute-logits.js is built from precompute-entry.ts (src/cli/bundle.ts): all it
    // loads before the worker starts is on the critical path of every start-up.
    const eager = closure('cli/precompute-entry.ts', false);
    expect([...eager.modules].sort()).toEqual(['cli/is-main.ts', 'cli/precompute-entry.ts', 'cli/will-run-teacher.ts', 'teacher/worker-start.ts', 'trace.ts']);
    expect([...eager.packages].filter((p) => !p.startsWith('node:'))).toEqual([]);
    // The command itself comes after, by dynamic import.
    expect(closure('cli/precompute-entry.ts', true).modules).toContain('cli/precompute-logits.ts');
  });
});

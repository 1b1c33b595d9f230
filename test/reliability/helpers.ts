// Shared by the reliability probes: a synthetic teacher and dataset sized so a precompute
// takes a few seconds (room to kill it at random points), the command line, and a snapshot
// of a dataset folder (every file and its sha256) to compare runs byte for byte.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticTeacher } from '../../src/teacher/index.js';
import { cliPath } from '../cli.js';

export interface Inputs { model: string; data: string }

export function makeInputs(dir: string, samples = 480): Inputs {
  const model = writeSyntheticTeacher(join(dir, 'teacher'), { vocabSize: 4000, dModel: 32, layers: 2, seed: 11 });
  const data = join(dir, 'data.jsonl');
  const lines = Array.from({ length: samples }, (_, i) => JSON.stringify({ input_ids: Array.from({ length: 24 + ((i * 37) % 41) }, (_, j) => (i * 131 + j * 17) % 4000) }));
  writeFileSync(data, lines.join('\n') + '\n');
  return { model, data };
}

export function precomputeArgs(inputs: Inputs, out: string, extra: string[] = []): string[] {
  return ['--model', inputs.model, '--data', inputs.data, '--out', out, '--dataset-id', 'd', '--batch-size', '8', '--batches-per-shard', '2', '--quiet', ...extra];
}

export function startPrecompute(args: string[]): { child: ChildProcess; done: Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }> } {
  const child = spawn(process.execPath, [cliPath('precompute-logits'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '', stdout = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve) =>
    child.on('close', (status, signal) => resolve({ status, signal, stderr, stdout })));
  return { child, done };
}

/** Relative path -> sha256 of every file under `dir`. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    out[full.slice(dir.length + 1)] = createHash('sha256').update(readFileSync(full)).digest('hex');
  }
  return out;
}

// Runs the built commands (dist/cli) as a user would, capturing exit code and output.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './python.js';

export const cliPath = (name: 'precompute-logits' | 'logit-cache'): string => join(repoRoot, 'dist/cli', `${name}.js`);

export interface CliResult { status: number | null; stdout: string; stderr: string }

export function runCli(name: 'precompute-logits' | 'logit-cache', args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [cliPath(name), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function startCli(name: 'precompute-logits' | 'logit-cache', args: string[]): ChildProcess {
  return spawn(process.execPath, [cliPath(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The LC_ERR_* code a command printed on stderr (`<name>: [LC_ERR_…] message`), or null. */
export function errorCode(stderr: string): string | null {
  return /\[(LC_ERR_[A-Z0-9_]+)\]/.exec(stderr)?.[1] ?? null;
}

// The benchmarks' outside tools (nginx, wrk). Missing ones are installed with apt-get when
// running as root (the CI/dev container case); otherwise the bench stops and says what to install.
import { execFileSync, spawnSync } from 'node:child_process';

const onPath = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

export function ensureTools(tools: string[]): void {
  const missing = tools.filter((t) => !onPath(t));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${missing.join(', ')}: install them (e.g. sudo apt-get install -y ${missing.join(' ')}) and re-run`);
  }
  process.stderr.write(`installing ${missing.join(', ')} with apt-get (running as root)\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
  const still = missing.filter((t) => !onPath(t));
  if (still.length) throw new Error(`apt-get ran but ${still.join(', ')} is still not on PATH`);
}

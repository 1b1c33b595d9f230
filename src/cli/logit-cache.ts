#!/usr/bin/env node
// logit-cache <command>: thin dispatcher; each command loads its heavy modules lazily.
import { runMain } from './is-main.js';
import { VERSION } from '../version.js';

const COMMANDS: Record<string, { help: string; run: (argv: string[]) => Promise<number> }> = {
  precompute: { help: 'run a teacher over a dataset and write shards (same as precompute-logits)', run: async (a) => (await import('./precompute-logits.js')).precomputeCommand(a) },
  serve: { help: 'serve datasets over HTTP: GET /logits/:datasetId/:batch', run: async (a) => (await import('./serve.js')).serveCommand(a) },
  inspect: { help: 'summarize a dataset folder', run: async (a) => (await import('./inspect.js')).inspectCommand(a) },
  verify: { help: 'recompute every checksum of a dataset folder', run: async (a) => (await import('./verify.js')).verifyCommand(a) },
  migrate: { help: 'convert a format 1.x dataset folder to 2.0 in place (shards are not rewritten)', run: async (a) => (await import('./migrate.js')).migrateCommand(a) },
  finalize: { help: 'write the manifest once all precompute workers have committed their shards', run: async (a) => (await import('./finalize.js')).finalizeCommand(a) },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === 'help') {
    const w = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
    process.stdout.write(`Usage: logit-cache <command> [options]\n\nCommands:\n${Object.entries(COMMANDS).map(([c, d]) => `  ${c.padEnd(w)}${d.help}`).join('\n')}\n\nRun 'logit-cache <command> --help' for a command's options.\n`);
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`logit-cache: unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  return cmd.run(rest);
}

await runMain(import.meta.url, main);

// Declarative option tables for the commands: each flag is declared once with its type,
// default and help, and a bad value is a usage error (exit 2) that names the flag.
import { parseArgs } from 'node:util';
import { codeOf, ERRORS, exitCodeOf } from '../errors.js';
import { isInterrupted } from '../interrupt.js';
import { UsageError } from '../precompute/errors.js';
import { checkInputPath } from './input-path.js';

export type OptionSpec =
  | { type: 'string'; help: string; default?: string; required?: boolean; choices?: readonly string[]; placeholder?: string }
  | { type: 'int'; help: string; default?: number; required?: boolean; min?: number; max?: number; placeholder?: string }
  | { type: 'number'; help: string; default?: number; min?: number; placeholder?: string }
  | { type: 'boolean'; help: string };

export type OptionTable = Record<string, OptionSpec>;
export type ParsedOptions = Record<string, string | number | boolean | undefined>;

export function parseOptions(argv: string[], table: OptionTable): { values: ParsedOptions; positionals: string[] } {
  const config: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, spec] of Object.entries(table)) config[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify.*$/s, ''));
  }
  const values: ParsedOptions = {};
  for (const [name, spec] of Object.entries(table)) {
    const raw = parsed.values[name];
    if (spec.type === 'boolean') {
      values[name] = raw === true;
      continue;
    }
    if (raw === undefined) {
      // `--help` wins over a missing required flag: `serve --help` must print the help.
      if ('required' in spec && spec.required && parsed.values.help !== true) throw new UsageError(`--${name} is required (${spec.help})`);
      values[name] = spec.default;
      continue;
    }
    const text = String(raw);
    if (spec.type === 'string') {
      if (spec.choices && !spec.choices.includes(text)) throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}; got "${text}"`);
      values[name] = text;
    } else {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
        throw new UsageError(`--${name} must be ${spec.type === 'int' ? 'an integer' : 'a number'}; got "${text}"`);
      }
      if (spec.min !== undefined && n < spec.min) throw new UsageError(`--${name} must be at least ${spec.min}; got ${n}`);
      if ('max' in spec && spec.max !== undefined && n > spec.max) throw new UsageError(`--${name} must be at most ${spec.max}; got ${n}`);
      values[name] = n;
    }
  }
  return { values, positionals: parsed.positionals };
}

export function formatHelp(usage: string, table: OptionTable): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const arg = spec.type === 'boolean' ? '' : ` <${('placeholder' in spec && spec.placeholder) || (spec.type === 'string' && spec.choices ? spec.choices.join('|') : spec.type === 'string' ? 'value' : 'n')}>`;
    const def = 'default' in spec && spec.default !== undefined ? ` (default ${spec.default})` : '';
    return [`  --${name}${arg}`, `${spec.help}${def}`];
  });
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  return `${usage}\n\nOptions:\n${rows.map(([a, b]) => a.padEnd(width) + b).join('\n')}\n`;
}

/**
 * Runs a command body with the project's exit codes (0 ok, else the code's exit code from
 * src/errors.ts: 2 usage, 130 interrupted, 1 other failures). The error line starts with its
 * LC_ERR_* code in brackets, which scripts and tests match on rather than on the wording.
 */
export async function runCommand(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    // An interrupt stops the teacher under the pipeline; its handler tells the story and exits 130.
    if (isInterrupted()) return ERRORS.LC_ERR_INTERRUPTED.exit;
    const code = codeOf(e);
    process.stderr.write(`${name}: [${code}] ${(e as Error)?.message ?? String(e)}\n`);
    if (code === 'LC_ERR_USAGE') process.stderr.write(`Run '${name} --help' for the options.\n`);
    else if (process.env.LOGIT_CACHE_DEBUG) process.stderr.write(`${(e as Error)?.stack}\n`);
    else if (code === 'LC_ERR_INTERNAL') process.stderr.write(`(LOGIT_CACHE_DEBUG=1 prints the stack)\n`);
    return exitCodeOf(e);
  }
}

/**
 * A command over one dataset folder (inspect, verify, finalize): `--help`, exactly one
 * positional, the project's exit codes; `body` gets the folder and the parsed options.
 */
export function folderCommand(name: string, usage: string, table: OptionTable, body: (dir: string, values: ParsedOptions) => Promise<number>) {
  return (argv: string[]): Promise<number> => runCommand(`logit-cache ${name}`, async () => {
    const { values, positionals } = parseOptions(argv, table);
    if (values.help) {
      process.stdout.write(formatHelp(usage, table));
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`${name} takes exactly one dataset folder, got ${positionals.length} arguments`);
    checkInputPath('<datasetDir>', positionals[0], 'directory', 'a dataset folder');
    return body(positionals[0], values);
  });
}

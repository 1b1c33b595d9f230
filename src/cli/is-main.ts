import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** True when this module is the script node was started with (also through an npm bin link). */
export function isMain(moduleUrl: string): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** Runs a command when this module is the entry point; `| head` closing stdout ends it quietly. */
export async function runMain(moduleUrl: string, main: (argv: string[]) => Promise<number>): Promise<void> {
  if (!isMain(moduleUrl)) return;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await main(process.argv.slice(2));
}

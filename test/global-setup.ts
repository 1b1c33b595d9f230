// Builds dist/ once before the suite: CLI tests run the real built commands, as users do.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  const root = join(import.meta.dirname, '..');
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
  // The rest of `npm run build`: the inspector page's bundle, which server tests serve.
  execFileSync(process.execPath, [join(root, 'dist/ui/build.js')], { stdio: 'inherit' });
  // And the bundled precompute-logits (src/cli/bundle.ts): tests run what users run.
  execFileSync(process.execPath, [join(root, 'dist/cli/bundle.js')], { stdio: 'inherit' });
}

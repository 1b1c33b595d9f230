// `npm run build` step after tsc: bundles the inspector page (src/ui/app) with esbuild into
// dist/ui/static, the folder the server serves. Everything the page loads is in that folder.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const pkg = fileURLToPath(new URL('../../', import.meta.url));
const dest = join(pkg, 'dist/ui/static');
// Built beside the served folder and swapped in whole: a running server or a parallel
// build never sees a half-written page.
const out = `${dest}.${process.pid}.new`;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(pkg, 'src/ui/app/main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true, minify: true, format: 'esm', target: ['es2022'], platform: 'browser',
  sourcemap: false, legalComments: 'none', logLevel: 'warning',
});
copyFileSync(join(pkg, 'src/ui/index.html'), join(out, 'index.html'));
copyFileSync(join(pkg, 'src/ui/app.css'), join(out, 'app.css'));
let raw = 0, gz = 0;
for (const f of readdirSync(out)) {
  raw += statSync(join(out, f)).size;
  gz += gzipSync(readFileSync(join(out, f)), { level: 9 }).length;
}
const old = `${dest}.${process.pid}.old`;
if (existsSync(dest)) renameSync(dest, old);
renameSync(out, dest);
rmSync(old, { recursive: true, force: true });
process.stdout.write(`ui: dist/ui/static ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped\n`);

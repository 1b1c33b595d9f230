// The inspector page's files, built by `npm run build` into dist/ui/static and held in
// memory (a few tens of KB): served with their own ETag and, when asked for, gzipped once.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export interface Asset { body: Buffer; gzip: Buffer; type: string; etag: string }

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.woff2': 'font/woff2', '.json': 'application/json',
};

/** dist/ui/static under the package root: three folders up from src/server/ui and from dist/server/ui alike. */
export const DEFAULT_ASSETS_DIR = join(fileURLToPath(new URL('../../../', import.meta.url)), 'dist/ui/static');

/** Every file in `dir` by name, or null when the page was not built. */
export function loadAssets(dir: string = DEFAULT_ASSETS_DIR): Map<string, Asset> | null {
  if (!existsSync(join(dir, 'index.html'))) return null;
  const out = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    out.set(name, { body, gzip: gzipSync(body, { level: 9 }), type, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` });
  }
  return out;
}

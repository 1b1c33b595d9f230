// The manifest schema is compiled at build time (src/cli/standalone-validators.ts writes
// dist/manifest.validate.cjs) and used at run time when it was built from the schema in
// schemas/. It must judge manifests exactly as Ajv compiling the schema at run time does: the
// same verdict and the same error list, on a real writer's manifest and on broken copies.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Ajv2020 as Ajv2020Type } from 'ajv/dist/2020.js';
import { writeFixture } from './fixture.js';

type Validator = ((m: unknown) => boolean) & { errors?: unknown[] | null; schemaSha256?: string };
const repo = resolve(import.meta.dirname, '../..');
const builtFile = join(repo, 'dist/manifest.validate.cjs');
const schemaText = readFileSync(join(repo, 'schemas/manifest.schema.json'), 'utf8');
const require = createRequire(import.meta.url);
const root = mkdtempSync(join(os.tmpdir(), 'lc-manifest-validator-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const built = existsSync(builtFile) ? (require(builtFile) as Validator) : null;
if (!built) console.log(`skipping: ${builtFile} is absent (run npm run build)`);

describe.skipIf(!built)('the build-time manifest validator', () => {
  it('was built from the schema in schemas/', () => {
    expect(built!.schemaSha256).toBe(createHash('sha256').update(schemaText).digest('hex'));
  });

  it('gives the verdicts and errors of Ajv compiling the schema at run time', () => {
    const { Ajv2020 } = require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020Type };
    const runtime = new Ajv2020({ allErrors: true, strict: false }).compile(JSON.parse(schemaText) as object) as Validator;
    const { manifest } = writeFixture({ root });
    const valid = JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>;
    const broken: [string, (m: Record<string, any>) => void][] = [
      ['missing datasetId', (m) => delete m.datasetId],
      ['k as a string', (m) => { m.topk.k = '8'; }],
      ['unknown codec', (m) => { m.codec = 'brotli'; }],
      ['negative shard bytes', (m) => { m.shards[0].bytes = -1; }],
      ['short sha256', (m) => { m.shards[0].sha256 = 'abc'; }],
      ['shards not an array', (m) => { m.shards = {}; }],
      ['several faults at once', (m) => { m.batchSize = 0; m.formatVersion = 2; delete m.stats; }],
    ];
    expect(built!(valid)).toBe(true);
    expect(runtime(valid)).toBe(true);
    for (const [what, breakIt] of broken) {
      const m = structuredClone(valid);
      breakIt(m);
      const a = built!(m);
      const b = runtime(m);
      expect(a, what).toBe(false);
      expect(b, what).toBe(false);
      expect(built!.errors, what).toEqual(runtime.errors);
    }
  });
});

// `npm run build` step (called by bundle.ts): compiles the manifest's JSON Schema to standalone
// validation code once, at build time, into dist/manifest.validate.cjs. Compiling it with Ajv at
// run time cost every precompute ~0.26 s of CPU on the main thread while the teacher computes its
// first window (on two cores, CPU taken from ONNX Runtime) and every server its first manifest.
// src/shard/manifest.ts uses the file only when the sha256 it records is the schema's it reads,
// so a schema edited without a rebuild is compiled at run time as before, never checked stale.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Ajv2020 as Ajv2020Type } from 'ajv/dist/2020.js';

// CommonJS packages, loaded as manifest.ts loads Ajv.
const require = createRequire(import.meta.url);
const { Ajv2020 } = require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020Type };
const standaloneCode = (require('ajv/dist/standalone/index.js') as { default: (ajv: Ajv2020Type, validate: unknown) => string }).default;

/** Writes <pkg>/dist/manifest.validate.cjs; returns its size in bytes. */
export function writeManifestValidator(pkg: string): number {
  const text = readFileSync(join(pkg, 'schemas/manifest.schema.json'), 'utf8');
  // The options manifest.ts compiles with at run time: the same errors either way.
  const ajv = new Ajv2020({ allErrors: true, strict: false, code: { source: true } });
  const code = `${standaloneCode(ajv, ajv.compile(JSON.parse(text) as object))}\nmodule.exports.schemaSha256 = ${JSON.stringify(createHash('sha256').update(text).digest('hex'))};\n`;
  const out = join(pkg, 'dist/manifest.validate.cjs');
  writeFileSync(`${out}.${process.pid}.tmp`, code);
  renameSync(`${out}.${process.pid}.tmp`, out);
  return code.length;
}

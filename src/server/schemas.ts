// The JSON bodies' schemas live in schemas/ (shared with docs and clients); they are added
// to the app by $id so routes reference them and the OpenAPI document includes them.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const BASE = 'https://logit-cache.dev/schemas/';
const FILES = ['http-error', 'http-datasets', 'http-batch', 'http-health'] as const;
type SchemaName = (typeof FILES)[number];

/** `$ref` to a shared body schema, e.g. ref('http-error'). */
export const ref = (name: SchemaName): { $ref: string } => ({ $ref: `${BASE}${name}.schema.json#` });

/** Component name in the OpenAPI document for a schema $id ("ErrorBody" etc., from its title). */
export function componentName(json: { $id?: string; title?: string }, fallback: string): string {
  return json.$id?.startsWith(BASE) && json.title ? json.title : fallback;
}

export function addBodySchemas(app: FastifyInstance): void {
  for (const name of FILES) {
    const url = new URL(`../../schemas/${name}.schema.json`, import.meta.url);
    const schema = JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>;
    // Fastify's Ajv is draft-07 by default; the $schema keyword is documentation here.
    delete schema.$schema;
    app.addSchema(schema);
  }
}

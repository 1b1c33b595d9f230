// Fastify's default schema compilers (Ajv for validation, fast-json-stringify for responses),
// deferred: each route's validator or serializer is compiled the first time that route
// needs it instead of at start-up. Compiling every route's schemas before listening was
// ~150 ms of start-up CPU, most of it for routes (the inspector's, /openapi.json) a
// training job never calls. Behaviour is otherwise Fastify's own: the same compilers are
// built from the same shared schemas and options.
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type Factory = (externalSchemas: unknown, options: unknown) => (routeSchema: unknown) => (...args: unknown[]) => unknown;
type Compiled = ((...args: unknown[]) => unknown) & { errors?: unknown };

// Resolved from fastify's own folder: they are its dependencies, in the versions it expects.
const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));

/** Wraps a compiler factory so nothing is compiled until a compiled function is first called. */
function deferred(factory: Factory): Factory {
  return (externalSchemas, options) => {
    // Built now: building it loads more modules (ajv-formats), which must not happen mid-request.
    const compiler = factory(externalSchemas, options);
    return (routeSchema) => {
      let compiled: Compiled | undefined;
      const lazy: Compiled = (...args) => {
        compiled ??= compiler(routeSchema) as Compiled;
        const result = compiled(...args);
        // Fastify reads a failed validation's reasons from the function's `errors` property.
        lazy.errors = compiled.errors;
        return result;
      };
      return lazy;
    };
  };
}

export function lazySchemaController(): NonNullable<FastifyServerOptions['schemaController']> {
  // The modules load now (as Fastify would load them): loading them on a first request would
  // block the event loop on synchronous file reads. Only the compilers' work is deferred.
  const validators = deferred((fromFastify('@fastify/ajv-compiler') as () => Factory)());
  const serializers = deferred((fromFastify('@fastify/fast-json-stringify-compiler') as () => Factory)());
  return { compilersFactory: { buildValidator: validators, buildSerializer: serializers } } as NonNullable<FastifyServerOptions['schemaController']>;
}

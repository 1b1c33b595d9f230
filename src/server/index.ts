// Public surface of the HTTP server. Nothing here imports the teacher.
export { buildApp, type AppOptions } from './app.js';
export { Catalog, type CatalogOptions, type Dataset } from './catalog.js';
export { SHA_HEADER, STREAM_SHA_HEADER } from './routes/logits.js';
export { ARROW_STREAM } from './negotiate.js';

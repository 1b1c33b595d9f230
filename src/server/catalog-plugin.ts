// The dataset catalog as a shared resource: one per app, closed with the app.
import fp from 'fastify-plugin';
import { Catalog, type CatalogOptions } from './catalog.js';

declare module 'fastify' {
  interface FastifyInstance {
    catalog: Catalog;
  }
}

export type CatalogPluginOptions = Omit<CatalogOptions, 'onUnavailable'>;

export const catalogPlugin = fp<CatalogPluginOptions>(
  async (app, opts) => {
    const catalog = new Catalog({
      ...opts,
      onUnavailable: (datasetId, reason) => app.log.warn({ datasetId, reason }, 'dataset has a manifest but is not served'),
    });
    app.decorate('catalog', catalog);
    app.addHook('onClose', async () => catalog.close());
  },
  { name: 'logit-cache-catalog', fastify: '5.x' },
);

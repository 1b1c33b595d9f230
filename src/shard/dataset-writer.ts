// DatasetWriter: a DatasetBuild (dataset-build.ts: folder, lock, resume, commit, manifest) with
// the shard writers built in, Arrow IPC or Parquet by the layout's shard format. Loads
// apache-arrow; code that must open a dataset folder before Arrow is loaded uses DatasetBuild
// and attaches shardSinksFor(layout) later.
import { DatasetBuild, type DatasetWriterOptions, type SinkOpener } from './dataset-build.js';
import { shardSchema } from './schema.js';
import { openShardWriter } from './shard-sink.js';
import type { TopkLayout } from './types.js';

export { DatasetBuild, type DatasetWriterOptions, RUN_FILE, shardFileName, type SinkOpener, type StatSums } from './dataset-build.js';

/** The shard writers of one layout; its schema is built (and the layout checked) now. */
export function shardSinksFor(layout: TopkLayout): SinkOpener {
  const schema = shardSchema(layout);
  return (format, path, l, codec, opts) => openShardWriter(format, path, schema, l, codec, opts);
}

export class DatasetWriter extends DatasetBuild {
  constructor(opts: DatasetWriterOptions) {
    // A layout the schema refuses fails here, before the folder is touched.
    const sinks = shardSinksFor(opts.layout);
    super(opts, sinks);
  }
}

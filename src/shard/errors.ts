import { CodedError } from '../errors.js';

/** A shard whose bytes disagree with the manifest: its data must never be used or sent. */
export class ShardCorruptError extends CodedError {
  declare readonly code: 'LC_ERR_SHARD_CORRUPT';
  constructor(readonly file: string, readonly batchIndex: number | null, detail: string) {
    super('LC_ERR_SHARD_CORRUPT', `shard ${file}${batchIndex === null ? '' : ` batch ${batchIndex}`}: ${detail}`, { file, batchIndex });
    this.name = 'ShardCorruptError';
  }
}

/** A manifest written by format 1.x: readable again after `logit-cache migrate <dir>`. */
export class FormatMigrateError extends CodedError {
  declare readonly code: 'LC_ERR_FORMAT_MIGRATE';
  constructor(readonly where: string, readonly version: string, readonly datasetDir: string) {
    super('LC_ERR_FORMAT_MIGRATE', `${where}: format version ${version} predates this reader (reads 2.x); convert it in place with \`logit-cache migrate ${datasetDir}\``, { where, version, datasetDir });
    this.name = 'FormatMigrateError';
  }
}

/** A manifest or shard from a newer major version (or not MAJOR.MINOR at all). */
export class FormatVersionError extends CodedError {
  declare readonly code: 'LC_ERR_FORMAT_VERSION';
  constructor(readonly where: string, detail: string) {
    super('LC_ERR_FORMAT_VERSION', `${where}: ${detail}`, { where });
    this.name = 'FormatVersionError';
  }
}

/** A file the manifest names that resolves outside its dataset folder (a symlink out, usually). */
export class PathEscapeError extends CodedError {
  declare readonly code: 'LC_ERR_PATH_OUTSIDE_ROOT';
  constructor(readonly name: string, within = 'the dataset folder') {
    // Only the manifest's relative name: nothing about where the link points.
    super('LC_ERR_PATH_OUTSIDE_ROOT', `${name}: resolves outside ${within}; refused`, { name });
    this.name = 'PathEscapeError';
  }
}

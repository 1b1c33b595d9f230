// The one registry of error codes for every layer (CLI, data readers, teacher, format, writer,
// server). A code is a contract: the CLI prints it and exits with its exit code, the server
// answers with its HTTP status, the Python client mirrors it, tests assert it. Messages are
// for people and may change; codes may not. docs/ERRORS.md is the table for readers, and
// test/errors.test.ts keeps it equal to this one.

export interface ErrorSpec {
  /** Process exit code when a command fails with this error. */
  exit: number;
  /** HTTP status when the server answers with this error; null when it never reaches HTTP. */
  http: number | null;
  /** Where it arises. */
  where: string;
  /** What the user should do. */
  fix: string;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** 128 + SIGINT, the shell's convention for a command stopped by Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

const spec = (exit: number, http: number | null, where: string, fix: string): ErrorSpec => ({ exit, http, where, fix });

export const ERRORS = {
  // Command line
  LC_ERR_USAGE: spec(EXIT_USAGE, null, 'CLI: a flag is missing, unknown or has a bad value', 'fix the flag the message names; `--help` lists them'),
  LC_ERR_INPUT_PATH: spec(EXIT_USAGE, null, 'CLI: a path given to a flag (--model, --data, --root, a dataset folder) is missing, unreadable or of the wrong kind', 'pass an existing file (or folder) of the kind the flag names'),
  LC_ERR_INTERRUPTED: spec(EXIT_INTERRUPTED, null, 'precompute: stopped by SIGINT/SIGTERM (Ctrl-C)', 're-run the same command: it resumes after the last committed shard'),
  // Data readers
  LC_ERR_DATA_INVALID: spec(EXIT_FAILURE, null, 'dataset reader: a file, line, sample or column that cannot be read (bad JSON, missing column, null, negative id)', 'fix the file at the line/sample named'),
  LC_ERR_DATA_EMPTY: spec(EXIT_FAILURE, null, 'precompute: the dataset holds no sample', 'pass a dataset with at least one sample'),
  LC_ERR_TOKEN_OUT_OF_VOCAB: spec(EXIT_FAILURE, null, "precompute scan: a token id is not below the teacher's vocabulary size", 'tokenize with the tokenizer of this teacher, or pass the right --model / --vocab-size'),
  LC_ERR_SEQ_TOO_LONG: spec(EXIT_USAGE, null, "precompute pre-check: a sample is longer than the teacher's context length", 'pass --max-seq-len at most the context length the message names (longer samples are cut, the cut is recorded)'),
  // Tokenizer (precompute --tokenizer, serve --tokenizer, the inspector)
  LC_ERR_TOKENIZER_INVALID: spec(EXIT_USAGE, null, 'tokenizer: the --tokenizer file cannot be read or is neither a tokenizer.json nor a JSON list of token strings', 'pass a Hugging Face tokenizer.json or a JSON list of strings'),
  LC_ERR_TOKENIZER_MISMATCH: spec(EXIT_USAGE, null, "tokenizer: it names more ids than the teacher's vocabulary, or far fewer", "pass the teacher's own tokenizer"),
  LC_ERR_TOKENIZER_CORRUPT: spec(EXIT_FAILURE, null, "inspector: a dataset's stored tokenizer disagrees with the sha256 in its manifest; ids are shown instead", 're-run the precompute command with --tokenizer (nothing is recomputed)'),
  // Byte sources
  LC_ERR_SOURCE_READ: spec(EXIT_FAILURE, null, 'reader: a byte range could not be read (HTTP error, a server that ignores Range, a file that changed between reads)', 'check the URL or file the message names; retry transient HTTP errors'),
  // Teacher
  LC_ERR_TEACHER_INVALID: spec(EXIT_FAILURE, null, 'teacher: the model cannot be loaded or used (not ONNX, no input_ids / logits output, shapes that do not fit, provider missing)', 'fix the model or the flag named (--logits-output, --vocab-size, --top-k, --device)'),
  LC_ERR_TEACHER_RUN: spec(EXIT_FAILURE, null, 'teacher: onnxruntime failed while running a batch', 'the message names the samples and shapes; check the model accepts them'),
  LC_ERR_TEACHER_NON_FINITE: spec(EXIT_FAILURE, null, 'teacher: a NaN or ±Inf log-probability (names batch, sample, position)', 'the model is broken for that input; fix or drop the sample'),
  // Writer (dataset folder)
  LC_ERR_DATASET_SETTINGS: spec(EXIT_FAILURE, null, 'precompute: the dataset folder was started with other settings, or holds data without run.json', 'use the same settings to resume, or --overwrite to replace it (the old version is served until the new one commits)'),
  LC_ERR_DATASET_LOCKED: spec(EXIT_FAILURE, null, 'precompute / finalize: another live process (named by pid and host) is writing this dataset', 'wait for it, or stop it; a lock left by a dead process on this host is taken over automatically'),
  LC_ERR_WRITE_FAILED: spec(EXIT_FAILURE, null, 'writer: a write failed (disk full, file size limit, permissions); names the file', 'free space or raise the limit, then re-run the same command: committed shards are kept'),
  LC_ERR_INCOMPLETE: spec(EXIT_FAILURE, null, 'finalize: shards are still missing', 'run the precompute command (or the workers) that owns the shards named, then finalize again'),
  // Format (readers, verify, server)
  LC_ERR_MANIFEST_INVALID: spec(EXIT_FAILURE, null, 'reader / verify: manifest.json is missing, not JSON, or fails the schema or its own sums', 're-run the precompute that wrote it; the message names the field'),
  LC_ERR_FORMAT_VERSION: spec(EXIT_FAILURE, null, 'reader: the manifest is of a newer major format than this reader', 'upgrade logit-cache'),
  LC_ERR_FORMAT_MIGRATE: spec(EXIT_FAILURE, null, 'reader: the manifest is of an older major format', 'run `logit-cache migrate <datasetDir>`'),
  LC_ERR_PATH_OUTSIDE_ROOT: spec(EXIT_FAILURE, null, 'reader / verify: a file the manifest names (or the dataset folder) resolves outside the dataset folder or root, usually through a symlink; the server answers it as 404 / LC_ERR_SHARD_CORRUPT', 'replace the symlink by the file itself, inside the dataset folder'),
  LC_ERR_SHARD_CORRUPT: spec(EXIT_FAILURE, 500, 'reader / verify / server: a shard disagrees with its checksums, size or footer; no byte of it was used', 're-run the precompute with --overwrite; retrying will not help'),
  // Server
  LC_ERR_BAD_BATCH: spec(EXIT_FAILURE, 400, 'server: the batch is not a canonical non-negative integer', 'send digits without leading zeros'),
  LC_ERR_BAD_DATASET_ID: spec(EXIT_FAILURE, 400, 'server: the dataset id does not match the pattern', 'use the id GET /datasets lists'),
  LC_ERR_BAD_REQUEST: spec(EXIT_FAILURE, 400, 'server: other malformed input (query, percent-encoding, body)', 'fix the request as the message says'),
  LC_ERR_UNAUTHORIZED: spec(EXIT_FAILURE, 401, 'server: a token is required and missing or wrong', 'send Authorization: Bearer <token>'),
  LC_ERR_DATASET_NOT_FOUND: spec(EXIT_FAILURE, 404, 'server: no folder with a complete, valid manifest', 'check the id (GET /datasets); a dataset appears once its manifest commits'),
  LC_ERR_SAMPLE_NOT_FOUND: spec(EXIT_FAILURE, 404, "inspector: sample id >= the dataset's sample count", 'ask for 0..sampleCount-1'),
  LC_ERR_BATCH_NOT_FOUND: spec(EXIT_FAILURE, 404, "server: batch >= the dataset's batch count", 'ask for 0..batchCount-1'),
  LC_ERR_ROUTE_NOT_FOUND: spec(EXIT_FAILURE, 404, 'server: no such route', 'see docs/HTTP.md'),
  LC_ERR_NOT_ACCEPTABLE: spec(EXIT_FAILURE, 406, 'server: Accept excludes both Arrow and JSON', 'accept application/vnd.apache.arrow.stream or application/json'),
  LC_ERR_REQUEST_TIMEOUT: spec(EXIT_FAILURE, 408, 'server: the request did not arrive in time', 'retry; check the network or proxy in between'),
  LC_ERR_HEADERS_TOO_LARGE: spec(EXIT_FAILURE, 431, 'server: the request headers exceed the limit', 'send smaller headers'),
  LC_ERR_NOT_READY: spec(EXIT_FAILURE, 503, 'server: shutting down, or the root cannot be read', 'retry later / against another replica'),
  // Anything else
  LC_ERR_INTERNAL: spec(EXIT_FAILURE, 500, 'anywhere: a bug (an error that carries no code)', 'report it with the log (LOGIT_CACHE_DEBUG=1 prints the stack)'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/**
 * Base of every error the project raises on purpose: a registered code, a message that names
 * the file/line/flag/sample/shard at fault, and the same facts as fields for programs.
 */
export class CodedError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fields: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CodedError';
  }

  get exitCode(): number {
    return ERRORS[this.code].exit;
  }
}

/** The code an error carries (a CodedError, or any error with a registered `code`), else LC_ERR_INTERNAL. */
export function codeOf(e: unknown): ErrorCode {
  const code = (e as { code?: unknown } | null)?.code;
  return isErrorCode(code) ? code : 'LC_ERR_INTERNAL';
}

export function exitCodeOf(e: unknown): number {
  return ERRORS[codeOf(e)].exit;
}

/** Node's errno for an I/O error, if any (ENOENT, ENOSPC, EFBIG, ...). */
export function errnoOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** Why a write failed, in words, for messages that name the file. */
export function describeWriteFailure(e: unknown): string {
  const errno = errnoOf(e);
  if (errno === 'ENOSPC') return 'no space left on the device';
  if (errno === 'EFBIG') return 'file too large (file size limit, ulimit -f)';
  if (errno === 'EDQUOT') return 'disk quota exceeded';
  if (errno === 'EACCES' || errno === 'EPERM') return 'permission denied';
  if (errno === 'EROFS') return 'read-only file system';
  return errno ?? (e as Error)?.message ?? String(e);
}

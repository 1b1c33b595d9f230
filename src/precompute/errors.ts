import { CodedError } from '../errors.js';

/** A mistake in how the command was called (exit code 2), as opposed to a failure while running. */
export class UsageError extends CodedError {
  constructor(message: string, fields: Record<string, unknown> = {}) {
    super('LC_ERR_USAGE', message, fields);
    this.name = 'UsageError';
  }
}

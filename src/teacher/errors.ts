// A teacher that emits NaN or ±Inf must stop the precompute; the session knows the sample and
// position, the caller knows the batch, so the error carries fields and can be re-labelled.

import { CodedError } from '../errors.js';

export const TEACHER_NON_FINITE = 'LC_ERR_TEACHER_NON_FINITE';

/** The model cannot be loaded or used as a teacher (the message names the model and why). */
export class TeacherError extends CodedError {
  constructor(message: string, fields: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('LC_ERR_TEACHER_INVALID', message, fields, options);
    this.name = 'TeacherError';
  }
}

export class TeacherNonFiniteError extends CodedError {
  declare readonly code: typeof TEACHER_NON_FINITE;

  constructor(
    readonly label: string,
    /** Row within the batch passed to run(). */
    readonly sample: number,
    readonly position: number,
    readonly value: number,
    readonly batchIndex: number | null = null,
  ) {
    const where = batchIndex === null ? '' : `batch ${batchIndex}, `;
    super(TEACHER_NON_FINITE, `teacher ${label}: non-finite log-probability ${value} at ${where}sample ${sample}, position ${position}`, { sample, position, batchIndex });
    this.name = 'TeacherNonFiniteError';
  }

  /** The same error, with the dataset batch index in its fields and message. */
  withBatch(batchIndex: number): TeacherNonFiniteError {
    return new TeacherNonFiniteError(this.label, this.sample, this.position, this.value, batchIndex);
  }
}

// A teacher that emits NaN or ±Inf must stop the precompute; the session knows the sample and
// position, the caller knows the batch, so the error carries fields and can be re-labelled.

export const TEACHER_NON_FINITE = 'LC_ERR_TEACHER_NON_FINITE';

export class TeacherNonFiniteError extends Error {
  readonly code = TEACHER_NON_FINITE;

  constructor(
    readonly label: string,
    /** Row within the batch passed to run(). */
    readonly sample: number,
    readonly position: number,
    readonly value: number,
    readonly batchIndex: number | null = null,
  ) {
    const where = batchIndex === null ? '' : `batch ${batchIndex}, `;
    super(`teacher ${label}: non-finite log-probability ${value} at ${where}sample ${sample}, position ${position}`);
    this.name = 'TeacherNonFiniteError';
  }

  /** The same error, with the dataset batch index in its fields and message. */
  withBatch(batchIndex: number): TeacherNonFiniteError {
    return new TeacherNonFiniteError(this.label, this.sample, this.position, this.value, batchIndex);
  }
}

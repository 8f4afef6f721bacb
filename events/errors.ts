/**
 * The error kinds of the project. They live in events/ because `EffectFailed` records one, so the set is part
 * of the log's schema: add kinds freely, never rename or remove one (old logs must keep decoding).
 *
 * They map closely to gRPC status codes (one table in src/api/), and the CLI maps them to exit codes.
 */
export const ErrorKind = {
  InvalidArgument: 'InvalidArgument',
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  FailedPrecondition: 'FailedPrecondition',
  Conflict: 'Conflict',
  PermissionDenied: 'PermissionDenied',
  Unavailable: 'Unavailable',
  DeadlineExceeded: 'DeadlineExceeded',
  Canceled: 'Canceled',
  DataLoss: 'DataLoss',
  Unimplemented: 'Unimplemented',
  Internal: 'Internal',
  /** A resource of the host ran out (no space left on the event log's disk): free it and retry. */
  ResourceExhausted: 'ResourceExhausted',
} as const;

/** One of {@link ErrorKind}'s values. */
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

/** All kinds, in a stable order (for schemas and exhaustive tests). */
export const ERROR_KINDS = Object.values(ErrorKind) as [ErrorKind, ...ErrorKind[]];

/** Whether `value` names a known {@link ErrorKind}. */
export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && (ERROR_KINDS as readonly string[]).includes(value);
}

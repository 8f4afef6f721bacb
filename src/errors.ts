import { ErrorKind, isErrorKind } from '../events/errors.js';

export { ErrorKind, isErrorKind } from '../events/errors.js';

/** The resource an error concerns, as far as it is known. Every field is optional and informative only. */
export interface ResourceRef {
  kind?: string;
  name?: string;
  realm?: string;
  space?: string;
  stack?: string;
  cell?: string;
}

/** Options of {@link KukeError}. */
export interface KukeErrorOptions {
  /** The underlying error (a gRPC status, an errno exception, another KukeError). */
  cause?: unknown;
  /** The resource the error is about. */
  resource?: ResourceRef;
  /** What the user can do next, printed after the message by the CLI ("list cells with: kuke get cells"). */
  hint?: string;
}

/**
 * The one error type of the project. Callers branch on `kind`, never on the message or the class.
 *
 * @example
 * throw new KukeError(ErrorKind.NotFound, 'cell "web" not found in realm "default"', {
 *   hint: 'list cells with: kuke get cells --realm default',
 * });
 */
export class KukeError extends Error {
  override readonly name = 'KukeError';
  readonly kind: ErrorKind;
  readonly resource?: ResourceRef;
  readonly hint?: string;

  constructor(kind: ErrorKind, message: string, options: KukeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    if (options.resource) this.resource = options.resource;
    if (options.hint) this.hint = options.hint;
  }

  /** A copy with `context` prepended to the message (`cell "web": <message>`), same kind, hint and cause. */
  withContext(context: string): KukeError {
    return new KukeError(this.kind, `${context}: ${this.message}`, {
      cause: this.cause,
      ...(this.resource ? { resource: this.resource } : {}),
      ...(this.hint ? { hint: this.hint } : {}),
    });
  }
}

/** Whether `err` is a {@link KukeError}, optionally of the given kind. */
export function isKukeError(err: unknown, kind?: ErrorKind): err is KukeError {
  return err instanceof KukeError && (kind === undefined || err.kind === kind);
}

/**
 * Turns anything thrown into a {@link KukeError}: a KukeError passes through; Node errno errors get the kind that
 * fits their code; anything else is `Internal` (a bug, or a failure we did not anticipate).
 */
export function toKukeError(err: unknown, context?: string): KukeError {
  let out: KukeError;
  if (err instanceof KukeError) {
    out = err;
  } else if (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string') {
    out = new KukeError(kindOfErrno((err as NodeJS.ErrnoException).code!), err.message, { cause: err });
  } else if (err instanceof Error) {
    out = new KukeError(ErrorKind.Internal, err.message, { cause: err });
  } else {
    out = new KukeError(ErrorKind.Internal, String(err));
  }
  return context ? out.withContext(context) : out;
}

function kindOfErrno(code: string): ErrorKind {
  switch (code) {
    case 'ENOENT':
      return ErrorKind.NotFound;
    case 'EEXIST':
      return ErrorKind.AlreadyExists;
    case 'EACCES':
    case 'EPERM':
      return ErrorKind.PermissionDenied;
    case 'EBUSY':
    case 'ENOTEMPTY':
      return ErrorKind.FailedPrecondition;
    case 'EINVAL':
    case 'ENAMETOOLONG':
      return ErrorKind.InvalidArgument;
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'EPIPE':
      return ErrorKind.Unavailable;
    case 'ETIMEDOUT':
      return ErrorKind.DeadlineExceeded;
    case 'ENOSPC':
    case 'EDQUOT':
      return ErrorKind.ResourceExhausted;
    default:
      return isErrorKind(code) ? code : ErrorKind.Internal;
  }
}

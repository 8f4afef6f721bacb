/**
 * The one table between error kinds and gRPC status codes, and the conversions both ways. The kind and the hint
 * also travel in trailing metadata, so the client gets back exactly the KukeError the server threw.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ErrorKind, KukeError, isErrorKind, toKukeError } from '../errors.js';
import { formatBytes } from '../model/limits.js';
import { MAX_REQUEST_BYTES } from './limits.js';

/** Kind → gRPC code. */
export const KIND_TO_CODE: Record<ErrorKind, status> = {
  InvalidArgument: status.INVALID_ARGUMENT,
  NotFound: status.NOT_FOUND,
  AlreadyExists: status.ALREADY_EXISTS,
  FailedPrecondition: status.FAILED_PRECONDITION,
  Conflict: status.ABORTED,
  PermissionDenied: status.PERMISSION_DENIED,
  Unavailable: status.UNAVAILABLE,
  DeadlineExceeded: status.DEADLINE_EXCEEDED,
  Canceled: status.CANCELLED,
  DataLoss: status.DATA_LOSS,
  Unimplemented: status.UNIMPLEMENTED,
  Internal: status.INTERNAL,
  ResourceExhausted: status.RESOURCE_EXHAUSTED,
};

const CODE_TO_KIND = new Map<status, ErrorKind>(Object.entries(KIND_TO_CODE).map(([k, c]) => [c, k as ErrorKind]));

/** What to do when the socket refuses a user: the groups of the roles (src/api/authorization.ts) and what each gives. */
export const SOCKET_GROUPS_HINT =
  'add yourself to group kukeon to run workloads (sudo usermod -aG kukeon $USER), and also to kukeon-view to only read, or to kukeon-admin for everything (root-equivalent); then log out and back in';

const KIND_KEY = 'kukeon-error-kind';
const HINT_KEY = 'kukeon-hint';

/** A server-side error as a gRPC status with our metadata. */
export function toServiceError(error: unknown): Partial<ServiceError> {
  const err = toKukeError(error);
  const metadata = new Metadata();
  metadata.set(KIND_KEY, err.kind);
  if (err.hint) metadata.set(HINT_KEY, encodeURIComponent(err.hint));
  return { code: KIND_TO_CODE[err.kind], details: err.message, metadata };
}

/** A client-side gRPC error back into a KukeError (kind from metadata, else from the code). */
export function fromServiceError(error: unknown, socket: string): KukeError {
  const e = error as Partial<ServiceError>;
  if (typeof e.code !== 'number') return toKukeError(error);
  const kindMeta = e.metadata?.get(KIND_KEY)[0];
  const hintMeta = e.metadata?.get(HINT_KEY)[0];
  const kind = isErrorKind(kindMeta) ? kindMeta : (CODE_TO_KIND.get(e.code) ?? ErrorKind.Internal);
  if (!isErrorKind(kindMeta) && e.code === status.UNAVAILABLE) {
    const permission = /EACCES/.test(e.details ?? '');
    return new KukeError(permission ? ErrorKind.PermissionDenied : ErrorKind.Unavailable, `cannot reach kukeond at ${socket}: ${unreachableReason(e.details)}`, {
      hint: permission
        ? SOCKET_GROUPS_HINT
        : 'is kukeond running? start it with: sudo kuke daemon start; or work in-process with --no-daemon',
      cause: error,
    });
  }
  if (!isErrorKind(kindMeta) && e.code === status.RESOURCE_EXHAUSTED && /message larger than max/.test(e.details ?? '')) {
    // grpc-js refused a message over a limit (limits.ts; its own wording, the only way to tell it from a
    // ResourceExhausted of ours); the client checks its requests first, so this is a daemon with other limits.
    return new KukeError(ErrorKind.InvalidArgument, `message too large for kukeond's API: ${e.details ?? 'over the limit'}`, {
      hint: `requests are limited to ${formatBytes(MAX_REQUEST_BYTES)}: make it smaller (split a manifest into several files)`,
      cause: error,
    });
  }
  if (!isErrorKind(kindMeta) && e.code === status.UNIMPLEMENTED && /does not implement the method/.test(e.details ?? '')) {
    // grpc-js's answer for a method the daemon does not have: it is older (or newer) than this kuke.
    return new KukeError(ErrorKind.FailedPrecondition, `kukeond at ${socket} does not serve this request: it runs another version than this kuke`, {
      hint: 'switch the daemon to this build: sudo kuke daemon recreate',
      cause: error,
    });
  }
  return new KukeError(kind, e.details ?? e.message ?? 'request failed', {
    ...(typeof hintMeta === 'string' ? { hint: decodeURIComponent(hintMeta) } : {}),
    cause: error,
  });
}

/** Why a connection failed, from grpc-js's details ("No connection established. Last error: … Resolution note: "). */
function unreachableReason(details: string | undefined): string {
  const errno = /connect (E[A-Z]+)/.exec(details ?? '')?.[1];
  const meaning: Record<string, string> = { ENOENT: 'no socket at that path', ECONNREFUSED: 'nothing listens on that socket', EACCES: 'permission denied' };
  if (errno) return `connect ${errno}${meaning[errno] ? ` (${meaning[errno]})` : ''}`;
  return (details ?? 'unavailable').replace(/\.?\s*Resolution note:\s*$/, '');
}

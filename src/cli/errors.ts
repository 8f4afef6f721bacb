/**
 * How kuke reports failures: one line on stderr saying what failed, why, and what to do next; exit status 1.
 * Errors the user can fix print no stack; an Internal error says it is a bug and where the logs are.
 */
import { ErrorKind, toKukeError, type KukeError } from '../errors.js';
import type { Streams } from './output.js';

/** Exit status of a failed command (the original uses 0 and 1 only). */
export const EXIT_FAILURE = 1;

/** Connection failures get a hint about the daemon and its socket. */
function connectionHint(err: KukeError, socket?: string): string | undefined {
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  const code = cause?.code ?? (/(EACCES|ENOENT|ECONNREFUSED)/.exec(err.message)?.[1] ?? undefined);
  if (code === 'EACCES') {
    return 'permission denied on the socket: add yourself to the kukeon group (sudo usermod -aG kukeon $USER), then log out and back in';
  }
  if (err.kind === ErrorKind.Unavailable) {
    return `is kukeond running? check with: sudo kuke daemon start${socket ? ` (socket ${socket})` : ''}; or work in-process with --no-daemon`;
  }
  return undefined;
}

/** The one line printed for an error. */
export function errorLine(error: unknown, options: { socket?: string; logFile?: string } = {}): string {
  const err = toKukeError(error);
  if (err.kind === ErrorKind.Internal) {
    const where = options.logFile ? `; details in ${options.logFile} (kuke daemon logs)` : '';
    return `Error: ${err.message} (this is a bug in kukeon; please report it${where})`;
  }
  const hint = err.hint ?? connectionHint(err, options.socket);
  return `Error: ${err.message}${hint ? `; ${hint}` : ''}`;
}

/** Prints the error line and returns the exit status. */
export function reportError(streams: Streams, error: unknown, options: { socket?: string; logFile?: string; debug?: boolean } = {}): number {
  streams.err(`${errorLine(error, options)}\n`);
  if (options.debug && error instanceof Error && error.stack) streams.err(`${error.stack}\n`);
  return EXIT_FAILURE;
}

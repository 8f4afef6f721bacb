/**
 * How kuke reports failures: one line on stderr saying what failed, why, and what to do next; exit status 1.
 * Errors the user can fix print no stack; only an Internal error says it is a bug, and where its details are.
 */
import { ErrorKind, toKukeError, type KukeError } from '../errors.js';
import { SOCKET_GROUPS_HINT } from '../api/errors.js';
import type { Streams } from './output.js';

/** Exit status of a failed command (the original uses 0 and 1 only). */
export const EXIT_FAILURE = 1;

/**
 * A command that ends with a status of its own and nothing more to print (`kuke exec` and `kuke run` end with their
 * process's exit code). Thrown by the command's action; runKuke returns its status.
 */
export class CommandExit extends Error {
  constructor(readonly status: number) {
    super(`exit status ${status}`);
  }
}

/** Connection failures get a hint about the daemon and its socket. */
function connectionHint(err: KukeError, socket?: string): string | undefined {
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  const code = cause?.code ?? (/(EACCES|ENOENT|ECONNREFUSED)/.exec(err.message)?.[1] ?? undefined);
  if (code === 'EACCES') {
    return `permission denied on the socket: ${SOCKET_GROUPS_HINT}`;
  }
  if (err.kind === ErrorKind.Unavailable) {
    return `is kukeond running? check with: sudo kuke daemon start${socket ? ` (socket ${socket})` : ''}; or work in-process with --no-daemon`;
  }
  return undefined;
}

/** Whether the error was raised in kukeond and carried back over gRPC (its cause is the gRPC status). */
function fromDaemon(err: KukeError): boolean {
  const cause = err.cause as { code?: unknown; metadata?: unknown } | undefined;
  return typeof cause?.code === 'number' && cause.metadata !== undefined;
}

/**
 * Where the details of an internal fault are. kukeond logs its faults to its own log file (under the run path it
 * was started with, which this client cannot see); kuke itself writes no log file, and prints the stack with -v.
 */
function whereDetails(err: KukeError): string {
  if (fromDaemon(err)) return "; details in the daemon's log: sudo kuke daemon logs";
  return '; run the command again with -v to print the details';
}

/** The one line printed for an error. */
export function errorLine(error: unknown, options: { socket?: string } = {}): string {
  const err = toKukeError(error);
  const message = err.message.replace(/\s*\n\s*/g, '; ');
  if (err.kind === ErrorKind.Internal) return `Error: ${message} (this is a bug in kukeon; please report it${whereDetails(err)})`;
  const hint = err.hint ?? connectionHint(err, options.socket);
  return `Error: ${message}${hint ? `; ${hint.replace(/\s*\n\s*/g, '; ')}` : ''}`;
}

/** Prints the error line and returns the exit status. */
export function reportError(streams: Streams, error: unknown, options: { socket?: string; debug?: boolean } = {}): number {
  streams.err(`${errorLine(error, options)}\n`);
  if (options.debug && error instanceof Error && error.stack) streams.err(`${error.stack}\n`);
  return EXIT_FAILURE;
}

/**
 * What a failed write to the event log means for the caller. LevelDB reports I/O failures as text
 * (`IO error: <file>: No space left on device`), Node as errno codes; both end up here, as one line that says
 * what happened, what to do, and that nothing of the request was stored (the log rolls back any trace of a
 * refused batch before its next write, see event-log.ts).
 */
import { ErrorKind, KukeError } from '../errors.js';

/** The hint of every refused append: the log guarantees that nothing of it was stored. */
const NOTHING_CHANGED = 'nothing was changed';

/** The log has no room for a write (free space below the reserve, or the filesystem said ENOSPC/EDQUOT). */
export function noSpace(dir: string, cause?: unknown): KukeError {
  return new KukeError(ErrorKind.ResourceExhausted, `event log: no space left on ${dir}`, {
    hint: `free space and retry; ${NOTHING_CHANGED}`,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Whether `err` (an errno error, a LevelDB error, or one wrapping either) says the disk or the quota is full. */
export function isNoSpace(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return true;
    if (typeof e.message === 'string' && /No space left on device|Disk quota exceeded|ENOSPC|EDQUOT/.test(e.message)) return true;
  }
  return false;
}

/** The error a caller gets when the log could not write its batch (or the anchor after it). */
export function writeFailure(dir: string, err: unknown): KukeError {
  if (isNoSpace(err)) return noSpace(dir, err);
  if (err instanceof KukeError) return err;
  const message = (err as Error | undefined)?.message ?? String(err);
  return new KukeError(ErrorKind.Unavailable, `event log: write failed on ${dir}: ${message}`, {
    hint: `check the disk (dmesg, df) and retry; ${NOTHING_CHANGED}`,
    cause: err,
  });
}

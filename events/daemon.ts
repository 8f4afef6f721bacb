/**
 * Events of the daemon stream (`daemon/kukeond`): kukeond records its own starts and stops, so `kuke history`
 * shows every restart of the daemon next to its cell's events.
 */
import { z } from 'zod';

/** DaemonStarted v1 (fact): kukeond replayed the log and serves; how long recovery took. */
export const DaemonStartedV1 = z.object({
  pid: z.number().int().positive(),
  version: z.string(),
  /** Events replayed and milliseconds from start to serving. */
  replayed: z.number().int().min(0),
  readyMs: z.number().min(0),
  /** The previous run ended without DaemonStopped (killed, crashed). */
  uncleanShutdown: z.boolean(),
});
/** DaemonStopped v1 (fact): kukeond drained and stops, with the signal or reason. */
export const DaemonStoppedV1 = z.object({ pid: z.number().int().positive(), reason: z.string() });

/**
 * Events of the daemon stream (`daemon/kukeond`): kukeond records its own starts and stops, so `kuke history`
 * shows every restart of the daemon next to its cell's events; `kuke history repair` records there what it cut.
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
/**
 * LogRepaired v1 (fact): `kuke history repair` rebuilt a damaged log from its good prefix. Records 1…keptUpTo were
 * kept as they were; `cut` (inclusive) were removed; the damaged files are in `backup`.
 */
export const LogRepairedV1 = z
  .object({
    keptUpTo: z.number().int().min(0),
    cut: z.object({ from: z.number().int().positive(), to: z.number().int().positive() }).strict().optional(),
    /** The first problem found, as `kuke history verify` names it. */
    problem: z.string(),
    backup: z.string(),
  })
  .strict();

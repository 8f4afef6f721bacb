/**
 * Events of the daemon stream (`daemon/kukeond`): kukeond records its own starts and stops, so `kuke history`
 * shows every restart of the daemon next to its cell's events; `kuke history repair` records there what it cut; and
 * every request it refused (AccessDenied), there rather than on the resource asked about, which may not exist.
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
/**
 * AccessDenied v1 (fact, issue 11): kukeond refused a request because its caller (the record's actor: uid, gid, pid
 * and command line) lacks the role it needs (src/api/authorization.ts). Nothing else was done.
 */
export const AccessDeniedV1 = z
  .object({
    /** The RPC, e.g. `createCell`. */
    method: z.string(),
    /** The resource the request named (`default/default/default/web`), when it named one. */
    target: z.string().optional(),
    /** What was refused, as the caller was told (`privileged containers`). */
    what: z.string(),
    role: z.enum(['none', 'viewer', 'operator', 'admin']),
    needed: z.enum(['viewer', 'operator', 'admin']),
    /** Denials of the same uid not recorded since the previous record (a per-uid rate limit keeps the log small). */
    suppressed: z.number().int().positive().optional(),
  })
  .strict();

/**
 * Parsers of flag values that are not names: durations (`--timeout 10s`) and points in the log (`--at 120`,
 * `--since 2026-11-28T18:00:00Z`). Each throws InvalidArgument naming the flag, the value and a valid example, so a
 * mistyped value is the user's one-line error, never an internal fault. They run before any client is opened.
 */
import { ErrorKind, KukeError } from '../errors.js';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** The longest duration a flag accepts: a grace period of more than a day is a typo, and timers stop at ~24.8 days. */
export const MAX_DURATION_MS = 24 * 3_600_000;

/**
 * Parses a duration: a whole number with an optional unit (`ms`, `s`, `m`, `h`; no unit means seconds), 0 … 24h.
 *
 * @example parseDuration('--timeout', '10s') // 10000
 */
export function parseDuration(flag: string, value: string): number {
  const m = /^(\d{1,9})(ms|s|m|h)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * UNIT_MS[(m[2] ?? 's') as keyof typeof UNIT_MS] : NaN;
  if (!m) {
    throw new KukeError(ErrorKind.InvalidArgument, `${flag} "${value}" is not a duration`, { hint: `use a whole number with a unit, e.g. ${flag} 10s, ${flag} 500ms or ${flag} 2m` });
  }
  if (ms > MAX_DURATION_MS) {
    throw new KukeError(ErrorKind.InvalidArgument, `${flag} "${value}" is longer than 24h`, { hint: `use a shorter duration, e.g. ${flag} 30s` });
  }
  return ms;
}

/** A point in the log: an event seq, or an ISO time. */
export interface LogPoint {
  atSeq?: number;
  atTime?: string;
}

// RFC 3339 date or date-time (what kuke prints in TIME columns); Date.parse alone takes "-1" as the year -1.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;
const AGO = /^(\d{1,9})(ms|s|m|h)$/;

/**
 * Parses `--at`/`--since`: a positive integer is an event seq (as `kuke history` shows it); an RFC 3339 time is a
 * time; a duration with a unit (`10m`) means that long ago, as `docker logs --since 10m`.
 *
 * @example parseLogPoint('--at', '120') // { atSeq: 120 }
 */
export function parseLogPoint(flag: string, value: string, now: () => number = Date.now): LogPoint {
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const seq = Number(text);
    if (seq === 0) throw new KukeError(ErrorKind.InvalidArgument, `${flag} 0 names no event: seqs start at 1`, { hint: `pick a seq from kuke history, e.g. ${flag} 1` });
    if (!Number.isSafeInteger(seq)) {
      throw new KukeError(ErrorKind.InvalidArgument, `${flag} ${text} is beyond any event seq`, { hint: 'pick a seq from the SEQ column of kuke history' });
    }
    return { atSeq: seq };
  }
  const ago = AGO.exec(text);
  if (ago) return { atTime: new Date(now() - parseDuration(flag, text)).toISOString() };
  const t = ISO_TIME.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) {
    throw new KukeError(ErrorKind.InvalidArgument, `${flag} "${value}" is neither an event seq nor a time`, {
      hint: `use a seq from kuke history (${flag} 120), a time (${flag} 2026-11-28T18:00:00Z) or a duration ago (${flag} 10m)`,
    });
  }
  return { atTime: new Date(t).toISOString() };
}

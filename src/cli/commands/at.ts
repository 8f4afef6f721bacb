/**
 * `--at <seq|time>`: a positive integer is an event seq; anything else must parse as a time.
 */
import { ErrorKind, KukeError } from '../../errors.js';

/** Parses `--at`. */
export async function parseAt(value: string): Promise<{ atSeq?: number; atTime?: string }> {
  if (/^\d+$/.test(value)) return { atSeq: Number(value) };
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new KukeError(ErrorKind.InvalidArgument, `--at "${value}" is neither an event seq nor a time`, {
      hint: 'use a seq (e.g. --at 120, from kuke history) or a time (e.g. --at 2026-11-28T18:00:00Z)',
    });
  }
  return { atTime: new Date(t).toISOString() };
}

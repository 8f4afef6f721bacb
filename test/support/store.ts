/**
 * Helpers for tests of the event log: a permissive codec (payloads are the log's business only as far as the
 * codec says) and temp directories.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventInput } from '../../events/record.js';
import { ErrorKind, KukeError } from '../../src/errors.js';
import type { EventCodec } from '../../src/store/types.js';

/** Accepts any payload with `ok !== false`; upcasts nothing. */
export const permissiveCodec: EventCodec = {
  check(event) {
    if ((event.data as { ok?: boolean } | null)?.ok === false) throw new KukeError(ErrorKind.InvalidArgument, 'payload refused by the codec');
  },
  upcast: (record) => record,
};

/** A fresh temp dir (the log goes in `<dir>/events`) and its cleanup. */
export function tempDir(prefix = 'kukeon-store-'): { dir: string; path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: join(dir, 'events'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An event for `stream`. */
export function event(stream: string, n = 0, type = 'Thing'): EventInput {
  return { stream, type, v: 1, data: { n }, at: new Date(Date.UTC(2026, 10, 28, 0, 0, n % 60)).toISOString(), actor: { type: 'engine' } };
}

/**
 * The event log on a real, small tmpfs that fills up: LevelDB itself meets ENOSPC (the free-space reserve is off
 * here), its error is sticky until the database is reopened, and the refused batch's bytes may sit at the end of
 * its WAL. Whatever happens, a refused append leaves nothing in the log, reads keep working, and writes resume
 * once space returns, on the same handle.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { LevelEventLog } from '../../../src/store/event-log.js';
import { event, permissiveCodec, tempDir } from '../../support/store.js';

const t = tempDir('kukeon-diskfull-');
const mnt = join(t.dir, 'fs');
const path = join(mnt, 'events');
const filler = join(mnt, 'filler');
const logged: string[] = [];
const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logged.push(JSON.parse(line).msg) } });
const options = { codec: permissiveCodec, reserveBytes: 0, logger };

beforeAll(() => {
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]);
});
afterAll(() => {
  execFileSync('umount', ['-l', mnt]);
  t.cleanup();
});

/** Fills the filesystem to the last byte. */
function fill(): void {
  try {
    writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024, 1));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
}

/** Events with payloads big enough that their batch cannot fit in the last partial page. */
const big = (stream: string, n: number) => Array.from({ length: n }, (_, i) => ({ ...event(stream, i), data: { n: i, pad: 'p'.repeat(4000) } }));

async function seqsOf(log: LevelEventLog): Promise<number[]> {
  const out: number[] = [];
  for await (const batch of log.readAll()) out.push(...batch.map((r) => r.seq));
  return out;
}

describe('event log on a full disk', () => {
  it('refuses the batch with one clear error, stores none of it, keeps reading, and resumes when space returns', async () => {
    const log = await LevelEventLog.create(path, options);
    for (let i = 0; i < 20; i++) await log.append(`cell/${i % 3}`, [event(`cell/${i % 3}`, i)]);
    const head = log.head();
    fill();

    const refused = await log.append('cell/new', big('cell/new', 50)).catch((e) => e);
    expect(isKukeError(refused, 'ResourceExhausted'), String(refused)).toBe(true);
    expect(`${refused.message}; ${refused.hint}`).toBe(`event log: no space left on ${path}; free space and retry; nothing was changed`);
    // LevelDB now refuses every write; the log refuses the same way, without closing the database under readers.
    const again = await log.append('cell/0', [event('cell/0')]).catch((e) => e);
    expect(isKukeError(again, 'ResourceExhausted'), String(again)).toBe(true);
    expect(log.head()).toEqual(head);
    expect(await seqsOf(log)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await log.readStreams(['cell/new'])).toEqual([]);
    expect(await log.streamVersion('cell/0')).toBe(7);

    expect(logged.filter((m) => /refused/.test(m))).toEqual([expect.stringMatching(/^event log: append refused/)]);

    rmSync(filler);
    const [record] = await log.append('cell/0', [event('cell/0')], { expectedVersion: 7 });
    expect(logged).toContain('event log reopened after a failed write; writes resume');
    expect(record).toMatchObject({ seq: 21, ver: 8, prev: head.hash });
    expect(await log.readStreams(['cell/new'])).toEqual([]);
    expect(await log.verify()).toMatchObject({ ok: true, records: 21 });
    await log.close();

    const reopened = await LevelEventLog.open(path, options);
    expect(reopened.head()).toEqual(log.head());
    expect(await reopened.verify()).toMatchObject({ ok: true, records: 21 });
    await reopened.close();
  });

  it('refuses to open on a full disk with the same clear error, and opens with nothing refused in it once space returns', async () => {
    const log = await LevelEventLog.open(path, options);
    const head = log.head();
    fill();
    const refused = await log.append('cell/late', big('cell/late', 50)).catch((e) => e);
    expect(isKukeError(refused, 'ResourceExhausted'), String(refused)).toBe(true);
    await log.close();

    // Opening replays the WAL into a new table: no room, no open; and it is no damage either.
    const err = await LevelEventLog.open(path, options).catch((e) => e);
    expect(isKukeError(err, 'ResourceExhausted'), String(err)).toBe(true);
    expect(err.message).toBe(`event log: no space left on ${path}`);

    rmSync(filler);
    const reopened = await LevelEventLog.open(path, options);
    expect(reopened.head()).toEqual(head);
    expect(await reopened.readStreams(['cell/late'])).toEqual([]);
    expect(await reopened.verify()).toMatchObject({ ok: true, headSeq: head.seq });
    await reopened.close();
  });
});

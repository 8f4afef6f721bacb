/**
 * A damaged log is refused with a hint that works, and `kuke history repair` (repairLog) cuts it back to its last
 * good record (issue 9, item 6). The seal lets a clean restart skip reading the records before the checkpoint; a log
 * touched since its last clean close is read in full.
 */
import { ClassicLevel } from 'classic-level';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventInput } from '../../../events/record.js';
import { ErrorKind, isKukeError } from '../../../src/errors.js';
import { LevelEventLog, repairLog, type RepairOptions } from '../../../src/store/event-log.js';
import { decodeRecord, encodeRecord } from '../../../src/store/hash.js';
import { event, permissiveCodec, tempDir } from '../../support/store.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

const key = (seq: number) => `log!${seq.toString(16).padStart(16, '0')}`;

async function logWith(n: number, checkpointAt?: number) {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const log = await LevelEventLog.create(t.path, { codec: permissiveCodec });
  for (let i = 0; i < n; i++) {
    await log.append(`s/${i % 3}`, [event(`s/${i % 3}`, i)]);
    if (i + 1 === checkpointAt) await log.writeCheckpoint([], log.head());
  }
  const hashes = [] as string[];
  for await (const batch of log.readAll()) hashes.push(...batch.map((r) => r.hash));
  await log.close();
  return { ...t, hashes };
}

/** Rewrites record `seq` with another payload and a recomputed own hash: only the chain gives it away. */
async function forge(path: string, seq: number): Promise<void> {
  const db = new ClassicLevel<string, string>(path);
  const decoded = decodeRecord((await db.get(key(seq)))!);
  if (!decoded.ok) throw new Error('setup');
  const { hash: _old, ...rest } = decoded.record;
  await db.put(key(seq), encodeRecord({ ...rest, data: { n: 999 } }).value, { sync: true });
  await db.close();
}

const repairEvent: RepairOptions['repairEvent'] = (data) => ({ stream: 'daemon/kukeond', type: 'LogRepaired', v: 1, data, at: '2026-11-28T18:00:00.000Z', actor: { type: 'in-process' } });
const repairOptions = (now = new Date(Date.UTC(2026, 10, 28, 18))): RepairOptions => ({ codec: permissiveCodec, repairEvent, now: () => now });

async function verifyOf(path: string) {
  const log = await LevelEventLog.open(path, { codec: permissiveCodec });
  try {
    return await log.verify();
  } finally {
    await log.close();
  }
}

async function records(path: string) {
  const log = await LevelEventLog.open(path, { codec: permissiveCodec });
  const out = [];
  try {
    for await (const batch of log.readAll()) out.push(...batch);
    return { out, report: await log.verify() };
  } finally {
    await log.close();
  }
}

describe('verifying the records before a checkpoint', () => {
  it('reads only the checkpoint record when the log is as its last clean close sealed it', async () => {
    const { path, hashes } = await logWith(20, 15);
    expect(existsSync(join(path, 'SEAL.json'))).toBe(true);
    // Damage before the checkpoint that did not come through a write (the seal holds): not read, by design.
    const log = await LevelEventLog.open(path, { codec: permissiveCodec });
    expect(existsSync(join(path, 'SEAL.json'))).toBe(false);
    await expect(log.verifyUpTo({ seq: 15, hash: hashes[14]! })).resolves.toBeUndefined();
    const wrong = await log.verifyUpTo({ seq: 15, hash: hashes[13]! }).catch((e) => e);
    expect(isKukeError(wrong, ErrorKind.DataLoss)).toBe(true);
    expect(wrong.message).toMatch(/record 15: its hash is not the one the checkpoint recorded/);
    await log.close();
  });

  it('reads every record up to the checkpoint when the log was written to since its last clean close', async () => {
    const { path, hashes } = await logWith(20, 15);
    await forge(path, 4);
    const log = await LevelEventLog.open(path, { codec: permissiveCodec });
    const err = await log.verifyUpTo({ seq: 15, hash: hashes[14]! }).catch((e) => e);
    expect(isKukeError(err, ErrorKind.DataLoss)).toBe(true);
    expect(err.message).toMatch(/record 5: breaks the hash chain/);
    expect(err.hint).toMatch(/^nothing was skipped; keep every record before the damage with: sudo kuke history repair --run-path /);
    expect(err.hint).toContain(`--run-path ${dirname(path)} `);
    await log.close();
  });

  it('notices a flipped byte in a record before the checkpoint (its stored hash no longer matches)', async () => {
    const { path, hashes } = await logWith(20, 15);
    const db = new ClassicLevel<string, string>(path);
    await db.put(key(9), (await db.get(key(9)))!.replace('"n":8', '"n":9'), { sync: true });
    await db.close();
    const log = await LevelEventLog.open(path, { codec: permissiveCodec });
    const err = await log.verifyUpTo({ seq: 15, hash: hashes[14]! }).catch((e) => e);
    expect(err.message).toMatch(/record 9: the stored hash does not match/);
    await log.close();
  });

  it('does not seal a log it found damaged: the next open reads it all again', async () => {
    const { path, hashes } = await logWith(20, 15);
    await forge(path, 4);
    for (let round = 0; round < 2; round++) {
      const log = await LevelEventLog.open(path, { codec: permissiveCodec });
      expect(isKukeError(await log.verifyUpTo({ seq: 15, hash: hashes[14]! }).catch((e) => e), ErrorKind.DataLoss)).toBe(true);
      await log.close();
      expect(existsSync(join(path, 'SEAL.json'))).toBe(false);
    }
  });

  it('seals a log again once this handle read it whole, the checkpoint and then the tail', async () => {
    const { path, hashes } = await logWith(20, 15);
    rmSync(join(path, 'SEAL.json'));
    const log = await LevelEventLog.open(path, { codec: permissiveCodec });
    await log.verifyUpTo({ seq: 15, hash: hashes[14]! });
    for await (const _ of log.readAll({ fromSeq: 16 })) void _;
    await log.close();
    expect(existsSync(join(path, 'SEAL.json'))).toBe(true);
  });

  it('reads every record after a crash (no clean close, no seal)', async () => {
    const { path, hashes } = await logWith(10, 8);
    rmSync(join(path, 'SEAL.json'));
    const db = new ClassicLevel<string, string>(path);
    await db.del(key(3), { sync: true });
    await db.close();
    rmSync(join(path, 'SEAL.json'), { force: true });
    const log = await LevelEventLog.open(path, { codec: permissiveCodec });
    const err = await log.verifyUpTo({ seq: 8, hash: hashes[7]! }).catch((e) => e);
    expect(err.message).toMatch(/record 3: missing/);
    await log.close();
  });

  it("notices a head row whose hash is not the last record's while reading to the head", async () => {
    const { path } = await logWith(5);
    const db = new ClassicLevel<string, string>(path);
    await db.put('meta!head', JSON.stringify({ seq: 5, hash: 'f'.repeat(64) }), { sync: true });
    await db.close();
    writeFileSync(join(path, 'ANCHOR.json'), JSON.stringify({ seq: 5, hash: 'f'.repeat(64) }));
    expect(await verifyOf(path)).toMatchObject({ ok: false, firstBad: { seq: 5 } });
    const err = await records(path).catch((e) => e);
    expect(isKukeError(err, ErrorKind.DataLoss)).toBe(true);
    expect(err.message).toMatch(/record 5: its hash differs from the head's/);
  });
});

describe('repairing a damaged log', () => {
  it('keeps every record before a broken chain, byte for byte, records the cut, and keeps the damaged files aside', async () => {
    const { path, hashes } = await logWith(12);
    await forge(path, 7);
    const report = await repairLog(path, repairOptions());
    expect(report).toMatchObject({ intact: false, keptUpTo: 7, cut: { from: 8, to: 12 }, backup: `${path}.damaged-20261128T180000Z` });
    expect(report.problem).toMatch(/record 8: breaks the hash chain/);
    const { out, report: verified } = await records(path);
    expect(verified.ok).toBe(true);
    // Records 1…6 are the originals; 7 is the forged one, whose own hash holds (only 8's link to it breaks).
    expect(out.slice(0, 6).map((r) => r.hash)).toEqual(hashes.slice(0, 6));
    expect(out[6]).toMatchObject({ seq: 7, data: { n: 999 } });
    expect(out.at(-1)).toMatchObject({ seq: 8, stream: 'daemon/kukeond', type: 'LogRepaired', data: { keptUpTo: 7, cut: { from: 8, to: 12 }, backup: report.backup } });
    // The backup is the damaged log as it was: it still fails at record 8.
    const backup = await LevelEventLog.open(report.backup!, { codec: permissiveCodec });
    expect(await backup.verify()).toMatchObject({ ok: false, firstBad: { seq: 8 } });
    await backup.close();
    // Appends go on from the repaired head, on the streams' real versions.
    const reopened = await LevelEventLog.open(path, { codec: permissiveCodec });
    const [next] = await reopened.append('s/0', [event('s/0', 1)]);
    expect(next).toMatchObject({ seq: 9, ver: 4 });
    await reopened.close();
  });

  it('cuts at a gap, and records a lost tail the anchor knows of', async () => {
    const { path } = await logWith(10);
    const db = new ClassicLevel<string, string>(path);
    await db.del(key(4), { sync: true });
    await db.close();
    writeFileSync(join(path, 'ANCHOR.json'), JSON.stringify({ seq: 14, hash: 'f'.repeat(64) }));
    const report = await repairLog(path, repairOptions());
    expect(report).toMatchObject({ keptUpTo: 3, cut: { from: 4, to: 14 } });
    const { out, report: verified } = await records(path);
    expect(verified).toMatchObject({ ok: true, records: 4 });
    expect(out.map((r) => r.type)).toEqual(['Thing', 'Thing', 'Thing', 'LogRepaired']);
  });

  it('salvages a log LevelDB cannot open as it is (no CURRENT file)', async () => {
    const { path } = await logWith(6);
    rmSync(join(path, 'CURRENT'));
    const report = await repairLog(path, repairOptions());
    expect(report).toMatchObject({ intact: false, keptUpTo: 6 });
    expect(report.cut).toBeUndefined();
    expect(report.problem).toMatch(/no CURRENT file/);
    const { out, report: verified } = await records(path);
    expect(verified.ok).toBe(true);
    expect(out.map((r) => r.type)).toEqual([...Array(6).fill('Thing'), 'LogRepaired']);
  });

  it('leaves an intact log alone, keeping no backup', async () => {
    const { path, dir } = await logWith(5);
    const before = readdirSync(dir);
    expect(await repairLog(path, repairOptions())).toEqual({ intact: true, keptUpTo: 5 });
    expect(readdirSync(dir)).toEqual(before);
    expect((await records(path)).out).toHaveLength(5);
  });

  it('refuses while another process holds the log, changing nothing', async () => {
    const { path, dir } = await logWith(5);
    await forge(path, 2);
    const holder = await LevelEventLog.open(path, { codec: permissiveCodec });
    const before = readdirSync(dir);
    const err = await repairLog(path, repairOptions()).catch((e) => e);
    expect(isKukeError(err, ErrorKind.FailedPrecondition)).toBe(true);
    expect(err.hint).toBe('stop it first: sudo kuke daemon stop');
    expect(readdirSync(dir)).toEqual(before);
    await holder.close();
  });

  it('says there is nothing to repair where there is no log', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const err = await repairLog(t.path, repairOptions()).catch((e) => e);
    expect(isKukeError(err, ErrorKind.NotFound)).toBe(true);
  });

  it('rejects a repair event the codec refuses, leaving the damaged log in place', async () => {
    const { path } = await logWith(5);
    await forge(path, 2);
    const bad: EventInput = { stream: 'daemon/kukeond', type: 'LogRepaired', v: 1, data: { ok: false }, at: 'x', actor: { type: 'in-process' } };
    const err = await repairLog(path, { ...repairOptions(), repairEvent: () => bad }).catch((e) => e);
    expect(isKukeError(err, ErrorKind.InvalidArgument)).toBe(true);
    expect(readdirSync(dirname(path))).toEqual(['events']);
    expect(await verifyOf(path)).toMatchObject({ ok: false, firstBad: { seq: 3 } });
  });
});

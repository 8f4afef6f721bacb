import { ClassicLevel } from 'classic-level';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GENESIS_HASH, type EventRecord } from '../../../events/record.js';
import { isKukeError } from '../../../src/errors.js';
import { ANCHOR_BYTES, decodeAnchor, encodeAnchor } from '../../../src/store/anchor.js';
import { LevelEventLog, isLockedError } from '../../../src/store/event-log.js';
import { decodeRecord, encodeRecord } from '../../../src/store/hash.js';
import { migrate, MIGRATIONS, STORE_SCHEMA_VERSION } from '../../../src/store/migrations.js';
import { event, permissiveCodec, tempDir } from '../../support/store.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

async function fresh() {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const batches: number[] = [];
  const log = await LevelEventLog.create(t.path, { codec: permissiveCodec, onBatch: (n) => batches.push(n) });
  return { ...t, log, batches };
}

async function all(log: LevelEventLog) {
  const out = [];
  for await (const batch of log.readAll()) out.push(...batch);
  return out;
}

describe('event log', () => {
  it('appends records with contiguous seqs and stream versions, chained by hash', async () => {
    const { log } = await fresh();
    await log.append('cell/a', [event('cell/a', 1), event('cell/a', 2)]);
    await log.append('cell/b', [event('cell/b', 3)]);
    const records = await all(log);
    expect(records.map((r) => [r.seq, r.stream, r.ver])).toEqual([[1, 'cell/a', 1], [2, 'cell/a', 2], [3, 'cell/b', 1]]);
    expect(records[0]!.prev).toBe(GENESIS_HASH);
    expect(records[1]!.prev).toBe(records[0]!.hash);
    expect(log.head()).toEqual({ seq: 3, hash: records[2]!.hash });
    await log.close();
  });

  it('group-commits appends issued in the same tick into one synced batch, in call order', async () => {
    const { log, batches } = await fresh();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(`s/${i % 3}`, [event(`s/${i % 3}`, i)])));
    expect(batches).toEqual([20]);
    expect(results.map((r) => r[0]!.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await log.close();
  });

  it('rejects an append whose expected version is stale without failing the rest of its group', async () => {
    const { log } = await fresh();
    await log.append('s/x', [event('s/x')]);
    const [stale, good] = await Promise.allSettled([log.append('s/x', [event('s/x')], { expectedVersion: 0 }), log.append('s/y', [event('s/y')], { expectedVersion: 0 })]);
    expect(stale.status === 'rejected' && isKukeError(stale.reason, 'Conflict')).toBe(true);
    expect(good.status).toBe('fulfilled');
    expect((await all(log)).length).toBe(2);
    await log.close();
  });

  it('refuses an event the codec refuses, writing nothing', async () => {
    const { log } = await fresh();
    const err = await log.append('s/x', [{ ...event('s/x'), data: { ok: false } }]).catch((e) => e);
    expect(isKukeError(err, 'InvalidArgument')).toBe(true);
    expect(log.head().seq).toBe(0);
    await log.close();
  });

  it('reads streams by exact name, and lists streams by prefix without confusing c1 with c10', async () => {
    const { log } = await fresh();
    for (const s of ['container/r/s/t/c1/a', 'container/r/s/t/c10/a', 'container/r/s/t/c1/b', 'cell/r/s/t/c1']) await log.append(s, [event(s)]);
    await log.append('container/r/s/t/c1/a', [event('container/r/s/t/c1/a', 9)]);
    expect(await log.listStreams('container/r/s/t/c1/')).toEqual(['container/r/s/t/c1/a', 'container/r/s/t/c1/b']);
    const records = await log.readStreams(['container/r/s/t/c1/a', 'cell/r/s/t/c1']);
    expect(records.map((r) => r.seq)).toEqual([1, 4, 5]);
    expect(await log.streamVersion('container/r/s/t/c1/a')).toBe(2);
    await log.close();
  });

  it('keeps everything across close and reopen, and writes checkpoints atomically', async () => {
    const { log, path } = await fresh();
    await log.append('s/a', [event('s/a'), event('s/a')]);
    await log.writeCheckpoint([{ stream: 's/a', seq: 2, ver: 2, machineHash: 'h', state: { x: 1 } }], log.head());
    await log.close();
    const reopened = await LevelEventLog.open(path, { codec: permissiveCodec });
    expect(reopened.head().seq).toBe(2);
    const snaps = await reopened.loadSnapshots();
    expect(snaps.get('s/a')?.state).toEqual({ x: 1 });
    expect(snaps.get('$checkpoint')?.seq).toBe(2);
    await reopened.append('s/a', [event('s/a')], { expectedVersion: 2 });
    expect((await all(reopened)).map((r) => r.ver)).toEqual([1, 2, 3]);
    await reopened.close();
  });

  it('says the log is locked, with a detectable marker, when another handle holds it', async () => {
    const { log, path } = await fresh();
    const err = await LevelEventLog.open(path, { codec: permissiveCodec }).catch((e) => e);
    expect(isKukeError(err, 'FailedPrecondition')).toBe(true);
    expect(isLockedError(err)).toBe(true);
    await log.close();
  });

  it('never creates a log when opening: a missing directory is NotFound', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const err = await LevelEventLog.open(t.path, { codec: permissiveCodec }).catch((e) => e);
    expect(isKukeError(err, 'NotFound')).toBe(true);
    expect(existsSync(t.path)).toBe(false);
  });

  it('refuses to create a log over an existing one', async () => {
    const { log, path } = await fresh();
    await log.close();
    const err = await LevelEventLog.create(path, { codec: permissiveCodec }).catch((e) => e);
    expect(isKukeError(err, 'AlreadyExists')).toBe(true);
  });

  it('refuses appends while free space is below the reserve, stores nothing of them, and resumes when space returns', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const options = { codec: permissiveCodec, reserveBytes: Number.MAX_SAFE_INTEGER };
    const log = await LevelEventLog.create(t.path, options);
    const err = await log.append('s/a', [event('s/a')]).catch((e) => e);
    expect(isKukeError(err, 'ResourceExhausted'), String(err)).toBe(true);
    expect(`${err.message}; ${err.hint}`).toBe(`event log: no space left on ${t.path}; free space and retry; nothing was changed`);
    expect(log.head().seq).toBe(0);
    expect(await log.readStreams(['s/a'])).toEqual([]);
    options.reserveBytes = 0;
    const [record] = await log.append('s/a', [event('s/a')], { expectedVersion: 0 });
    expect(record).toMatchObject({ seq: 1, ver: 1, prev: GENESIS_HASH });
    await log.close();
  });

  it('keeps the anchor at a fixed size and equal to the acknowledged head', async () => {
    const { log, path } = await fresh();
    await log.append('s/a', [event('s/a'), event('s/a')]);
    const bytes = readFileSync(join(path, 'ANCHOR.json'));
    expect(bytes.length).toBe(ANCHOR_BYTES);
    expect(decodeAnchor(bytes)).toEqual({ ...log.head(), wal: 0 });
    await log.close();
  });

  it('verifies a healthy log', async () => {
    const { log } = await fresh();
    await log.append('s/a', [event('s/a'), event('s/a')]);
    expect(await log.verify()).toMatchObject({ ok: true, records: 2, headSeq: 2 });
    await log.close();
  });
});

describe('event log corruption', () => {
  async function withRecords(n: number) {
    const f = await fresh();
    for (let i = 0; i < n; i++) await f.log.append(`s/${i % 4}`, [event(`s/${i % 4}`, i)]);
    await f.log.close();
    return f;
  }

  it('names a deleted record as a gap and never skips it', async () => {
    const { path } = await withRecords(10);
    const db = new ClassicLevel<string, string>(path);
    await db.del(`log!${(5).toString(16).padStart(16, '0')}`, { sync: true });
    await db.close();
    const log = await LevelEventLog.open(path, { codec: permissiveCodec });
    const report = await log.verify();
    expect(report).toMatchObject({ ok: false, firstBad: { seq: 5, problem: 'gap' } });
    const err = await all(log).catch((e) => e);
    expect(isKukeError(err, 'DataLoss')).toBe(true);
    expect(err.message).toMatch(/record 5/);
    await log.close();
  });

  it('detects a record tampered with through LevelDB itself, naming its seq', async () => {
    const { path } = await withRecords(10);
    const db = new ClassicLevel<string, string>(path);
    const key = `log!${(7).toString(16).padStart(16, '0')}`;
    const value = (await db.get(key))!;
    await db.put(key, value.replace('"n":6', '"n":66'), { sync: true });
    await db.close();
    const log = await LevelEventLog.open(path, { codec: permissiveCodec });
    expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 7, problem: 'hash-mismatch' } });
    await log.close();
  });

  it('reports a payload the codec refuses as invalid, whatever words its reason uses', async () => {
    const { path } = await withRecords(10);
    // A schema's reason may say "missing" or "stream": the problem is still an invalid payload, not a gap.
    const refusing = { ...permissiveCodec, check: (e: { data: unknown }) => {
      if ((e.data as { n?: number }).n === 5) throw new Error('field "image" is missing from stream data');
    } };
    const log = await LevelEventLog.open(path, { codec: refusing });
    expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 6, problem: 'invalid', message: expect.stringMatching(/record 6: invalid payload: field "image" is missing/) } });
    await log.close();
  });

  /** Rewrites record `seq` of the closed log at `path` through LevelDB, its own hash recomputed. */
  async function rewrite(path: string, seq: number, change: (record: Omit<EventRecord, 'hash'>) => Omit<EventRecord, 'hash'>) {
    const db = new ClassicLevel<string, string>(path);
    const key = `log!${seq.toString(16).padStart(16, '0')}`;
    const decoded = decodeRecord((await db.get(key))!);
    if (!decoded.ok) throw new Error('setup');
    const { hash: _old, ...rest } = decoded.record;
    await db.put(key, encodeRecord(change(rest)).value, { sync: true });
    await db.close();
  }

  it('reports a record that jumps its stream version as stream-version', async () => {
    const { path } = await withRecords(10);
    // The chain kept: only the version is wrong.
    await rewrite(path, 9, (r) => ({ ...r, ver: r.ver + 5 }));
    const log = await LevelEventLog.open(path, { codec: permissiveCodec });
    expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 9, problem: 'stream-version' } });
    await log.close();
  });

  it('detects a rewritten record whose own hash was recomputed: the chain breaks', async () => {
    const { path } = await withRecords(10);
    await rewrite(path, 4, (r) => ({ ...r, data: { n: 999 } }));
    const log = await LevelEventLog.open(path, { codec: permissiveCodec });
    expect(await log.verify()).toMatchObject({ ok: false, firstBad: { seq: 5 } });
    await log.close();
  });

  it('refuses to open when CURRENT is gone but data files remain, and creates nothing', async () => {
    const { path } = await withRecords(5);
    rmSync(join(path, 'CURRENT'));
    const before = readdirSync(path).sort();
    const err = await LevelEventLog.open(path, { codec: permissiveCodec }).catch((e) => e);
    expect(isKukeError(err, 'DataLoss')).toBe(true);
    expect(err.message).toMatch(/no CURRENT/);
    expect(readdirSync(path).sort()).toEqual(before);
  });

  it('notices a lost tail through the anchor', async () => {
    const { path } = await withRecords(5);
    writeFileSync(join(path, 'ANCHOR.json'), JSON.stringify({ seq: 8, hash: 'f'.repeat(64) }));
    const err = await LevelEventLog.open(path, { codec: permissiveCodec }).catch((e) => e);
    expect(isKukeError(err, 'DataLoss')).toBe(true);
    expect(err.message).toMatch(/records 6…8/);
  });

  it('rolls back, on open, records above the anchor: they were never acknowledged', async () => {
    const { path } = await withRecords(6);
    const db = new ClassicLevel<string, string>(path);
    const third = decodeRecord((await db.get(`log!${(3).toString(16).padStart(16, '0')}`))!);
    await db.close();
    if (!third.ok) throw new Error(third.message);
    writeFileSync(join(path, 'ANCHOR.json'), encodeAnchor({ seq: 3, hash: third.record.hash, wal: 0 }));
    const log = await LevelEventLog.open(path, { codec: permissiveCodec });
    expect(log.head()).toEqual({ seq: 3, hash: third.record.hash });
    expect(await log.verify()).toMatchObject({ ok: true, records: 3 });
    // Records 4…6 were on s/3, s/0 and s/1: their index rows are gone too, so versions continue from what is kept.
    expect(await log.streamVersion('s/0')).toBe(1);
    expect((await log.readStreams(['s/0', 's/1', 's/3'])).map((r) => r.seq)).toEqual([1, 2]);
    const [next] = await log.append('s/0', [event('s/0')], { expectedVersion: 1 });
    expect(next).toMatchObject({ seq: 4, ver: 2, prev: third.record.hash });
    await log.close();
  });

  it('refuses to roll back when the record at the anchor is not the one it names', async () => {
    const { path } = await withRecords(6);
    writeFileSync(join(path, 'ANCHOR.json'), encodeAnchor({ seq: 3, hash: 'f'.repeat(64), wal: 0 }));
    const err = await LevelEventLog.open(path, { codec: permissiveCodec }).catch((e) => e);
    expect(isKukeError(err, 'DataLoss'), String(err)).toBe(true);
    expect(err.message).toMatch(/record 3 is not the one acknowledged/);
  });

  it('reports garbage in the write-ahead log instead of silently dropping records', async () => {
    const f = await fresh();
    // Records stay in the WAL (no compaction) when the process does not close the DB; simulate by writing,
    // closing, then damaging the newest .log file.
    for (let i = 0; i < 50; i++) await f.log.append('s/a', [event('s/a', i)]);
    await f.log.close();
    const wal = readdirSync(f.path).filter((n) => /^\d+\.log$/.test(n)).sort().at(-1)!;
    const walPath = join(f.path, wal);
    const { size } = await import('node:fs').then((fs) => fs.statSync(walPath));
    if (size > 0) {
      const fs = await import('node:fs');
      const fd = fs.openSync(walPath, 'r+');
      fs.writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, Math.floor(size / 2));
      fs.closeSync(fd);
    } else {
      appendFileSync(walPath, Buffer.alloc(64, 0x5a));
    }
    const outcome = await LevelEventLog.open(f.path, { codec: permissiveCodec }).then(
      async (log) => {
        const report = await log.verify();
        await log.close();
        return report;
      },
      (e) => e,
    );
    // Either the open refuses (LevelDB logged what it dropped), or a verify names the first bad record.
    if (isKukeError(outcome)) expect(outcome.kind).toBe('DataLoss');
    else expect(outcome.ok).toBe(false);
  });
});

describe('store migrations', () => {
  it('migrates a log written before the schema row (version 0) to the current layout', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const db = new ClassicLevel<string, string>(t.path);
    await db.open();
    expect(await migrate(db, t.path)).toBe(STORE_SCHEMA_VERSION);
    expect(JSON.parse((await db.get('meta!schema'))!)).toEqual({ version: STORE_SCHEMA_VERSION });
    await db.close();
    expect(MIGRATIONS.map((m) => m.from)).toEqual([0]);
  });

  it('refuses a layout newer than this code understands', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const db = new ClassicLevel<string, string>(t.path);
    await db.open();
    await db.put('meta!schema', JSON.stringify({ version: STORE_SCHEMA_VERSION + 1 }));
    const err = await migrate(db, t.path).catch((e) => e);
    expect(isKukeError(err, 'FailedPrecondition')).toBe(true);
    await db.close();
  });
});

/**
 * The event log on LevelDB (classic-level). One database, keys prefixed by purpose:
 *
 *   log!<seq: 16 hex>                         → "<sha256>\n<record JSON without hash>"   (global order)
 *   str!<stream>\x00<version: 8 hex>          → <seq: 16 hex>                          (per-stream index)
 *   meta!head                                 → {"seq":n,"hash":"…"}                   (same batch as the records)
 *   meta!schema                               → {"version":n}                          (store layout version)
 *   snap!<stream>                             → AggregateSnapshot JSON                 (checkpoints)
 *   snap!$checkpoint                          → {seq, hash} of the head the checkpoint reflects
 *
 * Fixed-width hex keeps byte order equal to numeric order; `\x00` ends a stream name, so `cell/r/s/t/c1` never
 * matches `cell/r/s/t/c10`. Beside the database, ANCHOR.json holds the last committed {seq, hash}: LevelDB drops a
 * torn tail silently, and only an outside anchor can tell.
 *
 * Every append is one atomic batch written with sync:true; appends issued in the same tick are group-committed
 * into one batch, in call order. Reads verify contiguity, per-stream versions, the hash chain and every payload;
 * the first problem stops the read with DataLoss naming the record and the remedy.
 */
import { ClassicLevel } from 'classic-level';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENESIS_HASH, type EventInput, type EventRecord } from '../../events/record.js';
import { ErrorKind, KukeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { decodeRecord, encodeRecord } from './hash.js';
import { STORE_SCHEMA_VERSION, migrate } from './migrations.js';
import type { AggregateSnapshot, AppendOptions, EventCodec, EventStore, ReadOptions, VerifyReport } from './types.js';

const LOG = 'log!';
const STR = 'str!';
const SNAP = 'snap!';
const HEAD = 'meta!head';
const SCHEMA = 'meta!schema';
const ANCHOR = 'ANCHOR.json';

const seqKey = (seq: number) => `${LOG}${seq.toString(16).padStart(16, '0')}`;
const strKey = (stream: string, ver: number) => `${STR}${stream}\x00${ver.toString(16).padStart(8, '0')}`;

/** The marker set on the error thrown when another process holds the log. */
export const LOCKED = 'event-log-locked';

/** Whether an error says the log is locked by another process (kukeond, or another kuke). */
export function isLockedError(err: unknown): boolean {
  return err instanceof KukeError && err.kind === ErrorKind.FailedPrecondition && err.resource?.kind === LOCKED;
}

/** Options of {@link LevelEventLog.open} and {@link LevelEventLog.create}. */
export interface EventLogOptions {
  codec: EventCodec;
  logger?: Logger;
  /** Open even if LevelDB reports it recovered from corruption (after an operator's decision). */
  acceptRecovered?: boolean;
  /** Called with the number of records in each committed batch (tests, benchmarks). */
  onBatch?: (records: number) => void;
}

interface PendingAppend {
  stream: string;
  events: EventInput[];
  options: AppendOptions;
  resolve: (records: EventRecord[]) => void;
  reject: (err: unknown) => void;
}

function dataLoss(dir: string, seq: number, what: string): KukeError {
  return new KukeError(ErrorKind.DataLoss, `event log ${dir}: record ${seq}: ${what}`, {
    hint: "the log is damaged; nothing was skipped. Run 'kuke history verify' for details, then restore the run path from a backup (or 'kukeond repair' to salvage what LevelDB can)",
  });
}

/** The LevelDB event log. */
export class LevelEventLog implements EventStore {
  private headSeq = 0;
  private headHash = GENESIS_HASH;
  private readonly versions = new Map<string, number>();
  private pending: PendingAppend[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private closed = false;

  private constructor(
    private readonly db: ClassicLevel<string, string>,
    readonly dir: string,
    private readonly options: EventLogOptions,
    private readonly logger: Logger,
  ) {}

  /** Creates a new, empty log. Refuses if `dir` already holds one. */
  static async create(dir: string, options: EventLogOptions): Promise<LevelEventLog> {
    if (existsSync(join(dir, 'CURRENT')) || (existsSync(dir) && readdirSync(dir).some((f) => /\.(ldb|log)$/.test(f)))) {
      throw new KukeError(ErrorKind.AlreadyExists, `an event log already exists at ${dir}`, { hint: 'open it instead of creating one' });
    }
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open({ createIfMissing: true, errorIfExists: true });
    await db.batch([{ type: 'put', key: SCHEMA, value: JSON.stringify({ version: STORE_SCHEMA_VERSION }) }], { sync: true });
    const log = new LevelEventLog(db, dir, options, options.logger ?? silentLogger());
    log.writeAnchor();
    return log;
  }

  /** Opens an existing log (never creates one: a missing CURRENT file must not turn into an empty log). */
  static async open(dir: string, options: EventLogOptions): Promise<LevelEventLog> {
    const logger = options.logger ?? silentLogger();
    if (!existsSync(dir)) {
      throw new KukeError(ErrorKind.NotFound, `no event log at ${dir}`, { hint: 'initialise this host with: sudo kuke init' });
    }
    if (!existsSync(join(dir, 'CURRENT'))) {
      const tables = readdirSync(dir).filter((f) => /\.(ldb|log)$/.test(f) && f !== 'LOG');
      if (tables.length > 0) {
        throw new KukeError(ErrorKind.DataLoss, `event log ${dir} has data files but no CURRENT file`, {
          hint: "do not recreate it: run 'kukeond repair' (LevelDB repair, then a verify pass) or restore from a backup",
        });
      }
      throw new KukeError(ErrorKind.NotFound, `no event log at ${dir}`, { hint: 'initialise this host with: sudo kuke init' });
    }
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    const openedAt = Date.now();
    try {
      await db.open({ createIfMissing: false });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED' || /lock/i.test(String((err as Error).message) + String((cause as Error | undefined)?.message))) {
        throw new KukeError(ErrorKind.FailedPrecondition, `event log ${dir} is locked by another process (is kukeond running?)`, {
          resource: { kind: LOCKED },
          hint: 'let the daemon do it (drop --no-daemon/--run-path), or stop it first: sudo kuke daemon stop',
          cause: err,
        });
      }
      throw new KukeError(ErrorKind.DataLoss, `event log ${dir} cannot be opened: ${(err as Error).message}`, {
        hint: "run 'kukeond repair' or restore the run path from a backup",
        cause: err,
      });
    }
    const log = new LevelEventLog(db, dir, options, logger);
    try {
      log.checkRecoveryReport(openedAt);
      await migrate(db, dir);
      const head = await db.get(HEAD);
      if (head) {
        const parsed = JSON.parse(head) as { seq: number; hash: string };
        log.headSeq = parsed.seq;
        log.headHash = parsed.hash;
      }
      log.checkAnchor();
    } catch (err) {
      await db.close();
      throw err;
    }
    return log;
  }

  head(): { seq: number; hash: string } {
    return { seq: this.headSeq, hash: this.headHash };
  }

  async streamVersion(stream: string): Promise<number> {
    const cached = this.versions.get(stream);
    if (cached !== undefined) return cached;
    let ver = 0;
    for await (const key of this.db.keys({ gte: `${STR}${stream}\x00`, lt: `${STR}${stream}\x01`, reverse: true, limit: 1 })) {
      ver = parseInt(key.slice(key.lastIndexOf('\x00') + 1), 16);
    }
    // Another append to the stream may have been committed while we read the index.
    return this.versions.get(stream) ?? (this.versions.set(stream, ver), ver);
  }

  append(stream: string, events: EventInput[], options: AppendOptions = {}): Promise<EventRecord[]> {
    if (this.closed) return Promise.reject(new KukeError(ErrorKind.Unavailable, `event log ${this.dir} is closed`));
    try {
      for (const e of events) {
        if (e.stream !== stream) throw new KukeError(ErrorKind.InvalidArgument, `event for stream ${e.stream} appended to ${stream}`);
        this.options.codec.check(e);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<EventRecord[]>((resolve, reject) => {
      this.pending.push({ stream, events, options, resolve, reject });
      this.schedule();
    });
  }

  async *readAll(options: ReadOptions = {}): AsyncIterable<EventRecord[]> {
    const from = Math.max(1, options.fromSeq ?? 1);
    const to = options.toSeq ?? this.headSeq;
    if (from > to) return;
    let prevHash = GENESIS_HASH;
    if (from > 1) {
      const value = await this.db.get(seqKey(from - 1));
      const decoded = value === undefined ? undefined : decodeRecord(value);
      if (!decoded?.ok) throw dataLoss(this.dir, from - 1, 'the record before the requested range is missing or damaged');
      prevHash = decoded.record.hash;
    }
    const versions = new Map<string, number>();
    let expected = from;
    const iterator = this.db.iterator({ gte: seqKey(from), lte: seqKey(to), highWaterMarkBytes: 1 << 20 } as never);
    try {
      for (;;) {
        const entries = await iterator.nextv(options.batchSize ?? 1000);
        if (entries.length === 0) break;
        const out: EventRecord[] = [];
        for (const [key, value] of entries) {
          const seq = parseInt(key.slice(LOG.length), 16);
          if (seq !== expected) throw dataLoss(this.dir, expected, `missing (gap: next record is ${seq})`);
          const record = this.decodeChecked(value, seq, prevHash, versions, from === 1);
          prevHash = record.hash;
          expected++;
          out.push(record);
        }
        yield out;
      }
    } finally {
      await iterator.close();
    }
    if (expected <= to) throw dataLoss(this.dir, expected, `missing (the log ends at ${expected - 1}, its head says ${to})`);
  }

  async readStreams(streams: string[], options: ReadOptions = {}): Promise<EventRecord[]> {
    const from = options.fromSeq ?? 1;
    const to = options.toSeq ?? Number.MAX_SAFE_INTEGER;
    const keys: string[] = [];
    for (const stream of new Set(streams)) {
      for await (const seqHex of this.db.values({ gte: `${STR}${stream}\x00`, lt: `${STR}${stream}\x01` })) {
        const seq = parseInt(seqHex, 16);
        if (seq >= from && seq <= to) keys.push(seqKey(seq));
      }
    }
    keys.sort();
    const values = keys.length ? await this.db.getMany(keys) : [];
    return values.map((value, i) => {
      const seq = parseInt(keys[i]!.slice(LOG.length), 16);
      if (value === undefined) throw dataLoss(this.dir, seq, 'indexed but missing');
      const decoded = decodeRecord(value);
      if (!decoded.ok) throw dataLoss(this.dir, seq, decoded.message);
      return this.checkPayload(decoded.record);
    });
  }

  async listStreams(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const iterator = this.db.keys({ gte: `${STR}${prefix}`, lt: `${STR}${prefix}\xff` });
    try {
      for (;;) {
        const key = await iterator.next();
        if (key === undefined) break;
        const stream = key.slice(STR.length, key.indexOf('\x00', STR.length));
        out.push(stream);
        // Jump past this stream's index rows.
        iterator.seek(`${STR}${stream}\x01`);
      }
    } finally {
      await iterator.close();
    }
    return out;
  }

  async loadSnapshots(): Promise<Map<string, AggregateSnapshot>> {
    const out = new Map<string, AggregateSnapshot>();
    for await (const [key, value] of this.db.iterator({ gte: SNAP, lt: `${SNAP}\xff` })) {
      out.set(key.slice(SNAP.length), JSON.parse(value) as AggregateSnapshot);
    }
    return out;
  }

  async writeCheckpoint(snapshots: AggregateSnapshot[], head: { seq: number; hash: string }): Promise<void> {
    if (head.seq > this.headSeq) throw new KukeError(ErrorKind.InvalidArgument, `checkpoint at ${head.seq} is beyond the head ${this.headSeq}`);
    const ops = snapshots.map((s) => ({ type: 'put' as const, key: `${SNAP}${s.stream}`, value: JSON.stringify(s) }));
    ops.push({ type: 'put', key: `${SNAP}$checkpoint`, value: JSON.stringify({ stream: '$checkpoint', seq: head.seq, ver: 0, machineHash: '', state: { hash: head.hash } }) });
    await this.db.batch(ops, { sync: true });
  }

  async verify(): Promise<VerifyReport> {
    let records = 0;
    let headSeq = 0;
    let headHash = GENESIS_HASH;
    try {
      for await (const batch of this.readAll()) {
        for (const r of batch) {
          records++;
          headSeq = r.seq;
          headHash = r.hash;
        }
      }
      if (headHash !== this.headHash) {
        return { ok: false, records, headSeq, headHash, firstBad: { seq: headSeq, problem: 'hash-mismatch', message: `the head record's hash differs from meta!head` } };
      }
      return { ok: true, records, headSeq, headHash };
    } catch (err) {
      const message = (err as Error).message;
      const seq = Number(/record (\d+)/.exec(message)?.[1] ?? headSeq + 1);
      const problem = /gap|missing/.test(message) ? 'gap' : /hash|chain/.test(message) ? 'hash-mismatch' : /stream/.test(message) ? 'stream-version' : /invalid/.test(message) ? 'invalid' : 'undecodable';
      return { ok: false, records, headSeq, headHash, firstBad: { seq, problem, message } };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing || this.pending.length > 0) {
      if (!this.flushing) this.flush();
      await this.flushing;
    }
    await this.db.close();
  }

  // ------------------------------------------------------------------------------------------------ internals

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    // Every append issued in this tick joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.flushing || this.pending.length === 0) return;
    const group = this.pending;
    this.pending = [];
    this.flushing = this.commit(group).finally(() => {
      this.flushing = undefined;
      if (this.pending.length > 0) this.schedule();
    });
  }

  private async commit(group: PendingAppend[]): Promise<void> {
    const ops: { type: 'put'; key: string; value: string }[] = [];
    const accepted: { append: PendingAppend; records: EventRecord[] }[] = [];
    let seq = this.headSeq;
    let hash = this.headHash;
    const versions = new Map<string, number>();
    for (const append of group) {
      let ver: number;
      try {
        ver = versions.get(append.stream) ?? (await this.streamVersion(append.stream));
        if (append.options.expectedVersion !== undefined && append.options.expectedVersion !== ver) {
          throw new KukeError(ErrorKind.Conflict, `stream ${append.stream} is at version ${ver}, not ${append.options.expectedVersion}`, {
            hint: 'the aggregate changed meanwhile; retry',
          });
        }
      } catch (err) {
        append.reject(err);
        continue;
      }
      const records: EventRecord[] = [];
      for (const input of append.events) {
        seq++;
        ver++;
        const { value, hash: h } = encodeRecord({ ...input, seq, ver, prev: hash });
        records.push({ ...input, seq, ver, prev: hash, hash: h });
        ops.push({ type: 'put', key: seqKey(seq), value }, { type: 'put', key: strKey(append.stream, ver), value: seq.toString(16).padStart(16, '0') });
        hash = h;
      }
      for (const snap of append.options.snapshots ?? []) ops.push({ type: 'put', key: `${SNAP}${snap.stream}`, value: JSON.stringify(snap) });
      versions.set(append.stream, ver);
      accepted.push({ append, records });
    }
    if (accepted.length === 0) return;
    ops.push({ type: 'put', key: HEAD, value: JSON.stringify({ seq, hash }) });
    try {
      await this.db.batch(ops, { sync: true });
    } catch (err) {
      const error = new KukeError(ErrorKind.Unavailable, `event log ${this.dir}: write failed: ${(err as Error).message}`, { cause: err });
      for (const { append } of accepted) append.reject(error);
      return;
    }
    this.headSeq = seq;
    this.headHash = hash;
    for (const [stream, ver] of versions) this.versions.set(stream, ver);
    this.writeAnchor();
    this.options.onBatch?.(accepted.reduce((n, a) => n + a.records.length, 0));
    for (const { append, records } of accepted) append.resolve(records);
  }

  private decodeChecked(value: string, seq: number, prevHash: string, versions: Map<string, number>, fromStart: boolean): EventRecord {
    const decoded = decodeRecord(value);
    if (!decoded.ok) throw dataLoss(this.dir, seq, decoded.message);
    const record = decoded.record;
    if (record.seq !== seq) throw dataLoss(this.dir, seq, `stored under seq ${seq} but says ${record.seq}`);
    if (record.prev !== prevHash) throw dataLoss(this.dir, seq, 'breaks the hash chain (its prev is not the hash of the record before it)');
    const last = versions.get(record.stream);
    if ((last === undefined && fromStart && record.ver !== 1) || (last !== undefined && record.ver !== last + 1)) {
      throw dataLoss(this.dir, seq, `stream ${record.stream} jumps to version ${record.ver} after ${last ?? 0}`);
    }
    versions.set(record.stream, record.ver);
    return this.checkPayload(record);
  }

  private checkPayload(record: EventRecord): EventRecord {
    let upcast: EventRecord;
    try {
      upcast = this.options.codec.upcast(record);
      this.options.codec.check(upcast);
    } catch (err) {
      throw dataLoss(this.dir, record.seq, `invalid payload: ${(err as Error).message}`);
    }
    return upcast;
  }

  private writeAnchor(): void {
    const path = join(this.dir, ANCHOR);
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, JSON.stringify({ seq: this.headSeq, hash: this.headHash }));
    renameSync(tmp, path);
  }

  /** A lost tail (LevelDB drops a torn batch silently) shows as an anchor ahead of the head. */
  private checkAnchor(): void {
    const path = join(this.dir, ANCHOR);
    if (!existsSync(path)) return;
    let anchor: { seq: number; hash: string };
    try {
      anchor = JSON.parse(readFileSync(path, 'utf8')) as { seq: number; hash: string };
    } catch {
      this.logger.warn({ path }, 'unreadable anchor file ignored');
      return;
    }
    if (anchor.seq > this.headSeq) {
      throw new KukeError(ErrorKind.DataLoss, `event log ${this.dir}: records ${this.headSeq + 1}…${anchor.seq} were committed but are missing (lost tail)`, {
        hint: 'the disk lost acknowledged writes; restore the run path from a backup, or accept the loss by removing ANCHOR.json after saving a copy of the directory',
      });
    }
  }

  /** LevelDB logs what it dropped while recovering the write-ahead log; this open is the only chance to see it. */
  private checkRecoveryReport(openedAt: number): void {
    const path = join(this.dir, 'LOG');
    if (!existsSync(path) || statSync(path).mtimeMs < openedAt - 1000) return;
    const text = readFileSync(path, 'utf8');
    const problems = text.split('\n').filter((line) => /dropping|Corruption/i.test(line));
    if (problems.length === 0) return;
    this.logger.error({ dir: this.dir, problems }, 'LevelDB recovered the log with losses');
    if (!this.options.acceptRecovered) {
      throw new KukeError(ErrorKind.DataLoss, `event log ${this.dir}: LevelDB dropped damaged data while opening (${problems[0]!.trim().slice(0, 160)})`, {
        hint: "keep a copy of the directory; 'kuke history verify' shows what is left; restore from a backup or reopen with --accept-recovered",
      });
    }
  }
}

/** Salvages a damaged log with LevelDB's repair, then verifies it. */
export async function repair(dir: string, options: EventLogOptions): Promise<VerifyReport> {
  await ClassicLevel.repair(dir);
  const log = await LevelEventLog.open(dir, { ...options, acceptRecovered: true });
  try {
    return await log.verify();
  } finally {
    await log.close();
  }
}

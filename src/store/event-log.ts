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
 * matches `cell/r/s/t/c10`. Beside the database, ANCHOR.json holds the acknowledged head (anchor.ts): LevelDB
 * drops a torn tail silently, and only an outside anchor can tell; records above it were never acknowledged and
 * are rolled back. SEAL.json, written by the clean close of a log known to be good and removed by the next open,
 * lists the files as that close left them: when they still match, nothing touched the log in between, and an open
 * may trust the records before a checkpoint without reading them (see verifyUpTo).
 *
 * Every append is one atomic batch written with sync:true; appends issued in the same tick are group-committed
 * into one batch, in call order. Reads verify contiguity, per-stream versions, the hash chain and every payload;
 * the first problem stops the read with DataLoss naming the record and the remedy. Reads never return records
 * above the acknowledged head.
 *
 * A failed write (disk full, I/O error) refuses the whole batch, and the log guarantees that none of it is ever
 * seen: LevelDB keeps refusing writes after one failed (its background error is sticky) and may still replay the
 * refused batch's bytes from its WAL, so the next write first reopens the database and rolls back anything above
 * the acknowledged head, in one batch. A free-space check with a reserve refuses early, so that LevelDB itself
 * (and the reopen, which writes the memtable out as a table) seldom meets a full disk.
 */
import { ClassicLevel } from 'classic-level';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GENESIS_HASH, type EventInput, type EventRecord } from '../../events/record.js';
import { ErrorKind, KukeError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { ANCHOR_FILE, Anchor, readAnchor, type AnchorValue } from './anchor.js';
import { isNoSpace, noSpace, writeFailure } from './failures.js';
import { decodeRecord, encodeRecord, sha256 } from './hash.js';
import { STORE_SCHEMA_VERSION, migrate } from './migrations.js';
import type { AggregateSnapshot, AppendOptions, EventCodec, EventStore, ReadOptions, VerifyReport } from './types.js';

const LOG = 'log!';
const STR = 'str!';
const SNAP = 'snap!';
const HEAD = 'meta!head';
const SCHEMA = 'meta!schema';
const SEAL = 'SEAL.json';
/** The end of every stored body (see encodeRecord): its seq, its stream version and the previous record's hash. */
const CHAIN_TAIL = /"seq":(\d+),"ver":\d+,"prev":"([0-9a-f]{64})"\}$/;

/**
 * Default free space below which appends are refused before LevelDB is asked: more than LevelDB's write buffer
 * (4 MiB), which a reopen after a failed write flushes to a table, so that the reopen itself has room.
 */
export const DEFAULT_RESERVE_BYTES = 8 * 1024 * 1024;

/** Room a reopen needs beyond the WAL it replays: a new MANIFEST, WAL and LOG. */
const REOPEN_MARGIN_BYTES = 256 * 1024;

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
  /** Open even if LevelDB reports it recovered from corruption (the repair, which then scans what is left). */
  acceptRecovered?: boolean;
  /** Called with the number of records in each committed batch (tests, benchmarks). */
  onBatch?: (records: number) => void;
  /** Free bytes the filesystem must keep after the check before a write (default {@link DEFAULT_RESERVE_BYTES}). */
  reserveBytes?: number;
  /** Open whatever the anchor says (the repair, which reads the anchor itself and records a lost tail). */
  ignoreAnchor?: boolean;
}

interface PendingAppend {
  stream: string;
  events: EventInput[];
  options: AppendOptions;
  resolve: (records: EventRecord[]) => void;
  reject: (err: unknown) => void;
}

/**
 * What to do about a damaged log, for the run path that holds it (`<run path>/events`): the repair keeps every record
 * before the damage and moves the damaged files aside; it needs the daemon stopped, which a daemon refusing to start
 * already is.
 */
export function repairHint(dir: string): string {
  return `keep every record before the damage with: sudo kuke history repair --run-path ${dirname(dir)} (kukeond stopped; the damaged files are kept aside), or restore the run path from a backup`;
}

/** What kind of damage a record shows (`kuke history verify` reports it). */
type LogProblem = NonNullable<VerifyReport['firstBad']>['problem'];

/** The record and the kind of damage behind each DataLoss this module throws, for verify (never read off the message). */
const FINDINGS = new WeakMap<KukeError, { seq: number; problem: LogProblem }>();

function dataLoss(dir: string, seq: number, problem: LogProblem, what: string): KukeError {
  const err = new KukeError(ErrorKind.DataLoss, `event log ${dir}: record ${seq}: ${what}`, { hint: `nothing was skipped; ${repairHint(dir)}` });
  FINDINGS.set(err, { seq, problem });
  return err;
}

/** The files of a closed log as its close left them (LevelDB's own LOG, LOCK and our side files excluded). */
function fileList(dir: string): string {
  return readdirSync(dir)
    .filter((f) => !['LOG', 'LOG.old', 'LOCK', ANCHOR_FILE, SEAL].includes(f) && !f.endsWith('.tmp'))
    .sort()
    .map((f) => {
      const st = statSync(join(dir, f));
      return `${f}:${st.size}:${st.mtimeMs}:${st.ino}`;
    })
    .join('\n');
}

/** Whether the log's files are exactly as the last clean close sealed them. */
function sealHolds(dir: string): boolean {
  try {
    const seal = JSON.parse(readFileSync(join(dir, SEAL), 'utf8')) as { files?: string };
    return typeof seal.files === 'string' && seal.files === fileList(dir);
  } catch {
    return false;
  }
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
  /** Writes (batches, checkpoints, reopen) one at a time: a reopen must not close the database under a write. */
  private writes: Promise<unknown> = Promise.resolve();
  /** Set by a failed write: the database must be reopened, and rolled back to the head, before the next one. */
  private wedged: KukeError | undefined;
  /** The head when the current WAL began (see anchor.ts). */
  private walFrom = 0;
  private anchor!: Anchor;
  /**
   * Every record is known good: the files were as a clean close of a trusted log sealed them, or this handle read
   * the whole log without a problem (or created it). A close seals only a trusted log; any damage found clears it.
   */
  private trusted = false;
  /** Records 1…verifiedUpTo were read without a problem by this handle. */
  private verifiedUpTo = 0;

  private constructor(
    private db: ClassicLevel<string, string>,
    readonly dir: string,
    private readonly options: EventLogOptions,
    private readonly logger: Logger,
  ) {}

  /** Creates a new, empty log. Refuses if `dir` already holds one. */
  static async create(dir: string, options: EventLogOptions): Promise<LevelEventLog> {
    if (existsSync(join(dir, 'CURRENT')) || (existsSync(dir) && readdirSync(dir).some((f) => /\.(ldb|log)$/.test(f)))) {
      throw new KukeError(ErrorKind.AlreadyExists, `an event log already exists at ${dir}`, { hint: 'open it instead of creating one' });
    }
    // Root-only from the start (issue 11): LevelDB would make it 0755 and its files 0644.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open({ createIfMissing: true, errorIfExists: true });
    await db.batch([{ type: 'put', key: SCHEMA, value: JSON.stringify({ version: STORE_SCHEMA_VERSION }) }], { sync: true });
    const log = new LevelEventLog(db, dir, options, options.logger ?? silentLogger());
    log.anchor = await Anchor.install(dir, { seq: 0, hash: GENESIS_HASH, wal: 0 });
    log.trusted = true;
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
          hint: `do not recreate it; ${repairHint(dir)}`,
        });
      }
      throw new KukeError(ErrorKind.NotFound, `no event log at ${dir}`, { hint: 'initialise this host with: sudo kuke init' });
    }
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    // Compared before LevelDB's open, which rewrites its files (the write-ahead log becomes a table).
    const sealed = sealHolds(dir);
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
      if (isNoSpace(err)) throw noSpace(dir, err);
      throw new KukeError(ErrorKind.DataLoss, `event log ${dir} cannot be opened: ${(err as Error).message}`, {
        hint: repairHint(dir),
        cause: err,
      });
    }
    const log = new LevelEventLog(db, dir, options, logger);
    // From now on the files change: a crash before the next clean close leaves no seal, and the next open reads all.
    rmSync(join(dir, SEAL), { force: true });
    try {
      const problems = log.recoveryProblems(openedAt);
      log.trusted = sealed && problems.length === 0;
      await migrate(db, dir);
      const anchor = options.ignoreAnchor ? ({ state: 'missing' } as const) : readAnchor(dir);
      if (anchor.state === 'unreadable') logger.warn({ path: join(dir, ANCHOR_FILE) }, 'unreadable anchor file ignored');
      await log.restoreAcknowledged(anchor.state === 'ok' ? anchor.value : undefined, problems);
      if (log.trusted) log.verifiedUpTo = log.headSeq;
      log.walFrom = log.headSeq;
      log.anchor = await Anchor.install(dir, { seq: log.headSeq, hash: log.headHash, wal: log.walFrom });
    } catch (err) {
      await db.close();
      if (!(err instanceof KukeError) && isNoSpace(err)) throw noSpace(dir, err);
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
    for await (const [key, seqHex] of this.reader().iterator({ gte: `${STR}${stream}\x00`, lt: `${STR}${stream}\x01`, reverse: true })) {
      // An index row above the head belongs to a refused batch not yet rolled back (see commit).
      if (parseInt(seqHex, 16) > this.headSeq) continue;
      ver = parseInt(key.slice(key.lastIndexOf('\x00') + 1), 16);
      break;
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
    try {
      yield* this.readRange(options);
    } catch (err) {
      this.distrustOn(err);
      throw err;
    }
  }

  /** A read that found damage makes the log untrusted: its close will not seal it, so the next open reads it all. */
  private distrustOn(err: unknown): void {
    if (err instanceof KukeError && err.kind === ErrorKind.DataLoss) this.trusted = false;
  }

  private async *readRange(options: ReadOptions): AsyncIterable<EventRecord[]> {
    const from = Math.max(1, options.fromSeq ?? 1);
    const to = options.toSeq ?? this.headSeq;
    const headHash = to === this.headSeq ? this.headHash : undefined;
    if (from > to) return;
    let prevHash = GENESIS_HASH;
    if (from > 1) {
      const value = await this.reader().get(seqKey(from - 1));
      const decoded = value === undefined ? undefined : decodeRecord(value);
      if (!decoded?.ok) throw dataLoss(this.dir, from - 1, 'gap', 'the record before the requested range is missing or damaged');
      prevHash = decoded.record.hash;
    }
    const versions = new Map<string, number>();
    let expected = from;
    const iterator = this.reader().iterator({ gte: seqKey(from), lte: seqKey(to), highWaterMarkBytes: 1 << 20 } as never);
    try {
      for (;;) {
        const entries = await iterator.nextv(options.batchSize ?? 1000);
        if (entries.length === 0) break;
        const out: EventRecord[] = [];
        for (const [key, value] of entries) {
          const seq = parseInt(key.slice(LOG.length), 16);
          if (seq !== expected) throw dataLoss(this.dir, expected, 'gap', `missing (gap: next record is ${seq})`);
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
    if (expected <= to) throw dataLoss(this.dir, expected, 'gap', `missing (the log ends at ${expected - 1}, its head says ${to})`);
    if (headHash !== undefined && prevHash !== headHash) throw dataLoss(this.dir, to, 'hash-mismatch', "its hash differs from the head's (meta!head)");
    // Reads that join up from the first record (a checkpoint's verification, then the tail's fold) prove the log.
    if (from - 1 <= this.verifiedUpTo) {
      this.verifiedUpTo = Math.max(this.verifiedUpTo, to);
      if (headHash !== undefined) this.trusted = true;
    }
  }

  async verifyUpTo(point: { seq: number; hash: string }): Promise<void> {
    if (point.seq <= 0) return;
    if (point.seq > this.headSeq) throw dataLoss(this.dir, point.seq, 'gap', `named by the checkpoint but beyond the head (${this.headSeq})`);
    let last: EventRecord | undefined;
    if (this.trusted) {
      // Untouched since a clean close: the records before the checkpoint were verified when they were appended or
      // read; only the checkpoint's own record is checked.
      for await (const batch of this.readAll({ fromSeq: point.seq, toSeq: point.seq })) last = batch.at(-1);
    } else {
      this.logger.info({ dir: this.dir, upTo: point.seq }, 'the log was not closed cleanly or was touched since: verifying every record');
      try {
        last = { hash: await this.verifyChain(point.seq) } as EventRecord;
      } catch (err) {
        this.distrustOn(err);
        throw err;
      }
      this.verifiedUpTo = point.seq;
    }
    if (last?.hash !== point.hash) {
      this.trusted = false;
      throw dataLoss(this.dir, point.seq, 'hash-mismatch', 'its hash is not the one the checkpoint recorded');
    }
  }

  /**
   * The chain of records 1…upTo without decoding them: each stored hash is the sha256 of its body, and each body ends
   * with the seq expected and the previous record's hash as `prev` (encodeRecord puts seq, ver and prev last). That
   * is what damage breaks; payloads were checked when appended. About ten times faster than a full read (no JSON
   * parse, no schema check), for an open after a crash. Returns the last record's hash.
   */
  private async verifyChain(upTo: number): Promise<string> {
    let prev = GENESIS_HASH;
    let expected = 1;
    const iterator = this.reader().iterator({ gte: seqKey(1), lte: seqKey(upTo), highWaterMarkBytes: 1 << 20 } as never);
    try {
      for (;;) {
        const entries = await iterator.nextv(5000);
        if (entries.length === 0) break;
        for (const [key, value] of entries) {
          const seq = parseInt(key.slice(LOG.length), 16);
          if (seq !== expected) throw dataLoss(this.dir, expected, 'gap', `missing (gap: next record is ${seq})`);
          const hash = value.slice(0, 64);
          const body = value.slice(65);
          if (value.charCodeAt(64) !== 10) throw dataLoss(this.dir, seq, 'undecodable', 'stored value has no hash header');
          if (sha256(body) !== hash) throw dataLoss(this.dir, seq, 'hash-mismatch', 'the stored hash does not match the record (tampered or damaged)');
          // A body in another key order (none is written so, but the log outlives this code) is parsed instead.
          const tail = CHAIN_TAIL.exec(body.slice(-200));
          const said = tail ? { seq: Number(tail[1]), prev: tail[2] } : this.decodeChecked(value, seq, prev, new Map(), false);
          if (said.seq !== seq) throw dataLoss(this.dir, seq, 'undecodable', `stored under seq ${seq} but says ${said.seq}`);
          if (said.prev !== prev) throw dataLoss(this.dir, seq, 'hash-mismatch', 'breaks the hash chain (its prev is not the hash of the record before it)');
          prev = hash;
          expected++;
        }
      }
    } finally {
      await iterator.close();
    }
    if (expected <= upTo) throw dataLoss(this.dir, expected, 'gap', `missing (the log ends at ${expected - 1})`);
    return prev;
  }

  async readStreams(streams: string[], options: ReadOptions = {}): Promise<EventRecord[]> {
    try {
      return await this.readIndexed(streams, options);
    } catch (err) {
      this.distrustOn(err);
      throw err;
    }
  }

  private async readIndexed(streams: string[], options: ReadOptions): Promise<EventRecord[]> {
    const from = options.fromSeq ?? 1;
    const to = Math.min(options.toSeq ?? Number.MAX_SAFE_INTEGER, this.headSeq);
    const keys: string[] = [];
    for (const stream of new Set(streams)) {
      for await (const seqHex of this.reader().values({ gte: `${STR}${stream}\x00`, lt: `${STR}${stream}\x01` })) {
        const seq = parseInt(seqHex, 16);
        if (seq >= from && seq <= to) keys.push(seqKey(seq));
      }
    }
    keys.sort();
    const values = keys.length ? await this.reader().getMany(keys) : [];
    return values.map((value, i) => {
      const seq = parseInt(keys[i]!.slice(LOG.length), 16);
      if (value === undefined) throw dataLoss(this.dir, seq, 'gap', 'indexed but missing');
      const decoded = decodeRecord(value);
      if (!decoded.ok) throw dataLoss(this.dir, seq, decoded.problem, decoded.message);
      return this.checkPayload(decoded.record);
    });
  }

  async listStreams(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const iterator = this.reader().keys({ gte: `${STR}${prefix}`, lt: `${STR}${prefix}\xff` });
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
    for await (const [key, value] of this.reader().iterator({ gte: SNAP, lt: `${SNAP}\xff` })) {
      out.set(key.slice(SNAP.length), JSON.parse(value) as AggregateSnapshot);
    }
    return out;
  }

  async writeCheckpoint(snapshots: AggregateSnapshot[], head: { seq: number; hash: string }): Promise<void> {
    if (head.seq > this.headSeq) throw new KukeError(ErrorKind.InvalidArgument, `checkpoint at ${head.seq} is beyond the head ${this.headSeq}`);
    const ops = snapshots.map((s) => ({ type: 'put' as const, key: `${SNAP}${s.stream}`, value: JSON.stringify(s) }));
    ops.push({ type: 'put', key: `${SNAP}$checkpoint`, value: JSON.stringify({ stream: '$checkpoint', seq: head.seq, ver: 0, machineHash: '', state: { hash: head.hash } }) });
    await this.serialWrite(async () => {
      await this.prepareWrite();
      try {
        await this.db.batch(ops, { sync: true });
      } catch (err) {
        // A half-written checkpoint is harmless (one batch: all of it or none is replayed), but LevelDB now
        // refuses writes until it is reopened.
        throw this.wedge(err, 'checkpoint');
      }
    });
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
      // readAll has checked the last record against the head row too.
      return { ok: true, records, headSeq, headHash };
    } catch (err) {
      // A write's failure (a full disk) is not damage: it is reported as what it is.
      if (err instanceof KukeError && err.kind !== ErrorKind.DataLoss) throw err;
      // LevelDB's own errors (a block checksum) are damage just past the last record read.
      const found = err instanceof KukeError ? FINDINGS.get(err) : undefined;
      return { ok: false, records, headSeq, headHash, firstBad: { ...(found ?? { seq: headSeq + 1, problem: 'undecodable' }), message: (err as Error).message } };
    }
  }

  /**
   * The repair's scan (repairLog): every stored record from seq 1, checked like readAll, up to the first problem;
   * also the highest seq that the records, the head row or the anchor (read before the open) know of. @internal
   */
  async scanForRepair(anchorSeq: number): Promise<Scan> {
    let good = { seq: 0, hash: GENESIS_HASH };
    let problem: string | undefined;
    let lastKey = 0;
    for await (const key of this.db.keys({ gte: LOG, lt: `${LOG}\xff`, reverse: true, limit: 1 })) lastKey = parseInt(key.slice(LOG.length), 16);
    const versions = new Map<string, number>();
    const iterator = this.db.iterator({ gte: LOG, lt: `${LOG}\xff` });
    try {
      scan: for (;;) {
        const entries = await iterator.nextv(1000);
        if (entries.length === 0) break;
        for (const [key, value] of entries) {
          const seq = parseInt(key.slice(LOG.length), 16);
          try {
            if (seq !== good.seq + 1) throw dataLoss(this.dir, good.seq + 1, 'gap', `missing (gap: next record is ${seq})`);
            good = { seq, hash: this.decodeChecked(value, seq, good.hash, versions, true).hash };
          } catch (err) {
            problem = (err as Error).message;
            break scan;
          }
        }
      }
    } finally {
      await iterator.close();
    }
    if (!problem && (good.seq !== this.headSeq || good.hash !== this.headHash)) {
      problem = `event log ${this.dir}: the head row says record ${this.headSeq}, the records end at ${good.seq} (hash ${good.hash.slice(0, 12)})`;
    }
    return { good, lastKnown: Math.max(lastKey, this.headSeq, anchorSeq), ...(problem ? { problem } : {}) };
  }

  /** Copies the stored records 1…upTo into an empty log, byte for byte, with their stream index and head. @internal */
  async copyPrefixTo(target: LevelEventLog, upTo: { seq: number; hash: string }): Promise<void> {
    const versions = new Map<string, number>();
    if (upTo.seq > 0) {
      const iterator = this.db.iterator({ gte: seqKey(1), lte: seqKey(upTo.seq) });
      try {
        for (;;) {
          const entries = await iterator.nextv(1000);
          if (entries.length === 0) break;
          const ops: { type: 'put'; key: string; value: string }[] = [];
          for (const [key, value] of entries) {
            const decoded = decodeRecord(value);
            if (!decoded.ok) throw dataLoss(this.dir, parseInt(key.slice(LOG.length), 16), decoded.problem, decoded.message);
            const { stream, ver } = decoded.record;
            ops.push({ type: 'put', key, value }, { type: 'put', key: strKey(stream, ver), value: key.slice(LOG.length) });
            versions.set(stream, ver);
          }
          await target.db.batch(ops);
        }
      } finally {
        await iterator.close();
      }
    }
    // A synced write also syncs the unsynced ones before it (one write-ahead log).
    await target.db.batch([{ type: 'put', key: HEAD, value: JSON.stringify(upTo) }], { sync: true });
    target.headSeq = upTo.seq;
    target.headHash = upTo.hash;
    for (const [stream, ver] of versions) target.versions.set(stream, ver);
    await target.anchor.write({ seq: upTo.seq, hash: upTo.hash, wal: target.walFrom });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing || this.pending.length > 0) {
      if (!this.flushing) this.flush();
      await this.flushing;
    }
    await this.writes;
    await this.anchor.close().catch((err: unknown) => this.logger.warn({ err }, 'could not close the anchor file'));
    if (this.db.status === 'open') await this.db.close();
    if (this.trusted && !this.wedged) this.seal();
  }

  /** Records the files as this clean close leaves them (best effort: without a seal, the next open reads all). */
  private seal(): void {
    try {
      const path = join(this.dir, SEAL);
      writeFileSync(`${path}.tmp`, JSON.stringify({ head: { seq: this.headSeq, hash: this.headHash }, files: fileList(this.dir) }));
      renameSync(`${path}.tmp`, path);
    } catch (err) {
      this.logger.warn({ err, dir: this.dir }, 'could not seal the event log; its next open verifies every record');
    }
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
    this.flushing = this.serialWrite(() => this.commit(group)).finally(() => {
      this.flushing = undefined;
      if (this.pending.length > 0) this.schedule();
    });
  }

  /** Writes one group as one batch. Never rejects: each append of the group is resolved or rejected. */
  private async commit(group: PendingAppend[]): Promise<void> {
    try {
      await this.prepareWrite();
      await this.commitGroup(group);
    } catch (err) {
      // Settling a promise twice is a no-op: this only reaches appends not settled yet.
      for (const append of group) append.reject(err);
    }
  }

  private async commitGroup(group: PendingAppend[]): Promise<void> {
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
      versions.set(append.stream, ver);
      accepted.push({ append, records });
    }
    if (accepted.length === 0) return;
    ops.push({ type: 'put', key: HEAD, value: JSON.stringify({ seq, hash }) });
    try {
      await this.db.batch(ops, { sync: true });
      // The batch is acknowledged only once the anchor says so (anchor.ts): a failure here refuses it too, and
      // the reopen before the next write rolls it back.
      await this.anchor.write({ seq, hash, wal: this.walFrom });
    } catch (err) {
      const error = this.wedge(err, 'append');
      for (const { append } of accepted) append.reject(error);
      return;
    }
    this.headSeq = seq;
    this.headHash = hash;
    for (const [stream, ver] of versions) this.versions.set(stream, ver);
    this.options.onBatch?.(accepted.reduce((n, a) => n + a.records.length, 0));
    for (const { append, records } of accepted) append.resolve(records);
  }

  /** Runs writes one after the other (batches, checkpoints, and the reopen they may need). */
  private serialWrite<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writes.then(fn);
    this.writes = run.catch(() => undefined);
    return run;
  }

  /** Refuses a write early when space is short, and reopens the database after a failed write. */
  private async prepareWrite(): Promise<void> {
    await this.checkSpace();
    if (this.wedged) await this.reopen();
  }

  private async checkSpace(): Promise<void> {
    const reserve = this.options.reserveBytes ?? DEFAULT_RESERVE_BYTES;
    if (reserve <= 0) return;
    let free: number;
    try {
      const fs = await statfs(this.dir);
      free = fs.bavail * fs.bsize;
    } catch (err) {
      // Not a reason to refuse: LevelDB's own error, if any, is the real guard.
      this.logger.debug({ err, dir: this.dir }, 'statfs of the event log failed');
      return;
    }
    if (free < reserve) throw noSpace(this.dir);
  }

  /** Records a failed write: LevelDB refuses writes from now on until the database is reopened. */
  private wedge(err: unknown, what: string): KukeError {
    const error = writeFailure(this.dir, err);
    this.wedged = error;
    this.logger.error({ err, dir: this.dir, head: this.headSeq }, `event log: ${what} refused; the next write reopens the database and rolls it back to the head first`);
    return error;
  }

  /**
   * Reopens the database after a failed write and brings it back to the acknowledged head. The old handle must
   * be closed first (LevelDB locks the directory); if the new one cannot open, reads fail with the write's error
   * until a later write's reopen succeeds (the free-space reserve makes that rare).
   */
  private async reopen(): Promise<void> {
    const acked: AnchorValue = { seq: this.headSeq, hash: this.headHash, wal: this.walFrom };
    await this.checkRoomToReopen();
    if (this.db.status === 'open') await this.db.close().catch((err: unknown) => this.logger.warn({ err }, 'closing the refused database failed'));
    const db = new ClassicLevel<string, string>(this.dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    const openedAt = Date.now();
    try {
      await db.open({ createIfMissing: false });
    } catch (err) {
      throw writeFailure(this.dir, err);
    }
    this.db = db;
    this.versions.clear();
    await this.restoreAcknowledged(acked, this.recoveryProblems(openedAt));
    this.walFrom = this.headSeq;
    await this.anchor.write({ seq: this.headSeq, hash: this.headHash, wal: this.walFrom });
    this.wedged = undefined;
    this.logger.info({ dir: this.dir, head: this.headSeq }, 'event log reopened after a failed write; writes resume');
  }

  /**
   * Opening replays the WAL into a new table (at most about the WAL's size): without room for it the reopen would
   * fail after the old handle is closed, leaving reads without a database. Refuse before closing instead.
   */
  private async checkRoomToReopen(): Promise<void> {
    let wal = 0;
    for (const name of readdirSync(this.dir)) if (/^\d+\.log$/.test(name)) wal += statSync(join(this.dir, name)).size;
    const fs = await statfs(this.dir).catch(() => undefined);
    if (fs && fs.bavail * fs.bsize < wal + REOPEN_MARGIN_BYTES) throw noSpace(this.dir);
  }

  /** The database for a read. After a failed reopen there is none open: say why instead of LevelDB's "not open". */
  private reader(): ClassicLevel<string, string> {
    if (this.wedged && this.db.status === 'closed') throw this.wedged;
    return this.db;
  }

  private decodeChecked(value: string, seq: number, prevHash: string, versions: Map<string, number>, fromStart: boolean): EventRecord {
    const decoded = decodeRecord(value);
    if (!decoded.ok) throw dataLoss(this.dir, seq, decoded.problem, decoded.message);
    const record = decoded.record;
    if (record.seq !== seq) throw dataLoss(this.dir, seq, 'undecodable', `stored under seq ${seq} but says ${record.seq}`);
    if (record.prev !== prevHash) throw dataLoss(this.dir, seq, 'hash-mismatch', 'breaks the hash chain (its prev is not the hash of the record before it)');
    const last = versions.get(record.stream);
    if ((last === undefined && fromStart && record.ver !== 1) || (last !== undefined && record.ver !== last + 1)) {
      throw dataLoss(this.dir, seq, 'stream-version', `stream ${record.stream} jumps to version ${record.ver} after ${last ?? 0}`);
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
      throw dataLoss(this.dir, record.seq, 'invalid', `invalid payload: ${(err as Error).message}`);
    }
    return upcast;
  }

  /**
   * Makes the just-opened database hold exactly the acknowledged head `acked` (the anchor's at open, the
   * in-memory head on a reopen): fewer records is a lost tail (DataLoss); records above it were never
   * acknowledged and are rolled back. `problems` are what LevelDB reported dropping while it replayed its WAL:
   * that is the torn tail of an unacknowledged batch, not a loss, when every record the WAL could hold (those
   * above `acked.wal`) still verifies up to the acknowledged head; otherwise acknowledged data is gone.
   */
  private async restoreAcknowledged(acked: AnchorValue | undefined, problems: string[]): Promise<void> {
    const stored = await this.db.get(HEAD);
    const head = stored ? (JSON.parse(stored) as { seq: number; hash: string }) : { seq: 0, hash: GENESIS_HASH };
    this.headSeq = head.seq;
    this.headHash = head.hash;
    if (acked && head.seq < acked.seq) {
      throw new KukeError(ErrorKind.DataLoss, `event log ${this.dir}: records ${head.seq + 1}…${acked.seq} were committed but are missing (lost tail)`, {
        hint: `the disk lost acknowledged writes; ${repairHint(this.dir)}`,
      });
    }
    if (acked && head.seq > acked.seq) await this.rollBack(acked);
    if (problems.length === 0) return;
    this.logger.error({ dir: this.dir, problems }, 'LevelDB recovered the log with losses');
    if (acked?.wal !== undefined && this.headHash === acked.hash && (await this.intactFrom(acked.wal + 1))) {
      this.logger.warn({ dir: this.dir, head: this.headSeq }, 'what LevelDB dropped was the torn tail of a batch never acknowledged; every acknowledged record is intact');
      return;
    }
    if (!this.options.acceptRecovered) {
      throw new KukeError(ErrorKind.DataLoss, `event log ${this.dir}: LevelDB dropped damaged data while opening (${problems[0]!.trim().slice(0, 160)})`, {
        hint: `'kuke history verify' shows what is left; ${repairHint(this.dir)}`,
      });
    }
  }

  /** Whether the records from `fromSeq` to the head are contiguous, chained and decodable. */
  private async intactFrom(fromSeq: number): Promise<boolean> {
    try {
      for await (const batch of this.readAll({ fromSeq })) void batch;
      return true;
    } catch (err) {
      if (err instanceof KukeError && err.kind === ErrorKind.DataLoss) return false;
      throw err;
    }
  }

  /** Removes every record above `acked` (and its index rows) and sets the head back to it, in one batch. */
  private async rollBack(acked: AnchorValue): Promise<void> {
    const at = acked.seq === 0 ? { ok: true as const, record: { hash: GENESIS_HASH } } : decodeRecord((await this.db.get(seqKey(acked.seq))) ?? '');
    if (!at.ok || at.record.hash !== acked.hash) {
      throw new KukeError(ErrorKind.DataLoss, `event log ${this.dir}: record ${acked.seq} is not the one acknowledged (ANCHOR.json names another hash)`, {
        hint: `the log was changed outside kukeon; ${repairHint(this.dir)}`,
      });
    }
    const ops: { type: 'put' | 'del'; key: string; value?: string }[] = [];
    let last = acked.seq;
    let undecodable = false;
    for await (const [key, value] of this.db.iterator({ gt: seqKey(acked.seq), lt: `${LOG}\xff` })) {
      ops.push({ type: 'del', key });
      last = parseInt(key.slice(LOG.length), 16);
      const decoded = decodeRecord(value);
      if (decoded.ok) ops.push({ type: 'del', key: strKey(decoded.record.stream, decoded.record.ver) });
      else undecodable = true;
    }
    if (undecodable) {
      // Its stream and version are unknown: find its index rows by the seq they point to.
      for await (const [key, seqHex] of this.db.iterator({ gte: STR, lt: `${STR}\xff` })) if (parseInt(seqHex, 16) > acked.seq) ops.push({ type: 'del', key });
    }
    ops.push({ type: 'put', key: HEAD, value: JSON.stringify({ seq: acked.seq, hash: acked.hash }) });
    try {
      await this.db.batch(ops as never, { sync: true });
    } catch (err) {
      throw this.wedge(err, 'rollback');
    }
    this.headSeq = acked.seq;
    this.headHash = acked.hash;
    this.logger.warn({ dir: this.dir, from: acked.seq + 1, to: last }, 'rolled back records that were never acknowledged');
  }

  /** What LevelDB logged dropping while recovering its write-ahead log: this open is the only chance to see it. */
  private recoveryProblems(openedAt: number): string[] {
    const path = join(this.dir, 'LOG');
    if (!existsSync(path) || statSync(path).mtimeMs < openedAt - 1000) return [];
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => /dropping|Corruption/i.test(line));
  }
}

/** What {@link repairLog} found and did. */
export interface RepairReport {
  /** The log was intact: nothing was changed and no backup was kept. */
  intact: boolean;
  /** The last record kept (0 when none was good). */
  keptUpTo: number;
  /** The records cut, inclusive (absent when none was cut: only the head or the anchor was wrong). */
  cut?: { from: number; to: number };
  /** The first problem, as verify names it. */
  problem?: string;
  /** Where the damaged files were copied (the damaged log itself is replaced). */
  backup?: string;
}

/** Options of {@link repairLog}. */
export interface RepairOptions extends EventLogOptions {
  /** The event recording the repair, appended to the new log (the store knows no event types). */
  repairEvent: (report: Required<Pick<RepairReport, 'keptUpTo' | 'problem' | 'backup'>> & Pick<RepairReport, 'cut'>) => EventInput;
  now?: () => Date;
}

/** How far a log is good, read record by record from the first (the repair's scan; never throws for a bad record). */
interface Scan {
  good: { seq: number; hash: string };
  /** The highest seq the log, its head row or its anchor knows of. */
  lastKnown: number;
  problem?: string;
}

/**
 * Repairs a damaged log at `dir` in place (the caller holds no handle on it): copies the damaged files aside to
 * `<dir>.damaged-<time>/`, keeps every record up to the last good one (same seqs, hashes and stored bytes, so the
 * chain holds and `kuke history` shows the same records), records what was cut with `repairEvent`, and swaps the new
 * log in. An intact log is left alone. Refuses (FailedPrecondition) while another process holds the log.
 */
export async function repairLog(dir: string, options: RepairOptions): Promise<RepairReport> {
  const logger = options.logger ?? silentLogger();
  if (!existsSync(dir)) throw new KukeError(ErrorKind.NotFound, `no event log at ${dir}`, { hint: 'nothing to repair; initialise this host with: sudo kuke init' });
  const stamp = (options.now?.() ?? new Date()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const backup = `${dir}.damaged-${stamp}`;
  // The copy comes first: LevelDB's own open rewrites files (and its recovery drops what it cannot read); the
  // anchor is read before the open too, which rewrites it to the head it finds.
  cpSync(dir, backup, { recursive: true });
  const anchor = readAnchor(dir);
  const anchorSeq = anchor.state === 'ok' ? anchor.value.seq : 0;
  let source: LevelEventLog;
  let salvaged: string | undefined;
  try {
    ({ log: source, salvaged } = await openForRepair(dir, options));
  } catch (err) {
    rmSync(backup, { recursive: true, force: true });
    if (isLockedError(err)) {
      throw new KukeError(ErrorKind.FailedPrecondition, `kukeond (or another kuke) holds the event log at ${dir}; nothing was changed`, {
        hint: 'stop it first: sudo kuke daemon stop',
      });
    }
    throw err;
  }
  let report: RepairReport;
  const fresh = `${dir}.repaired-${stamp}`;
  try {
    report = await rebuild(source, { fresh, backup, anchorSeq, ...(salvaged ? { salvaged } : {}) }, options);
  } catch (err) {
    // Nothing was swapped: the log stays where it was, and the copies go.
    for (const path of [fresh, backup]) rmSync(path, { recursive: true, force: true });
    throw err;
  } finally {
    await source.close();
  }
  if (report.intact) {
    rmSync(backup, { recursive: true, force: true });
    return report;
  }
  // Swap: the damaged directory is already copied aside; a crash between the renames leaves both copies on disk.
  const old = `${dir}.old-${stamp}`;
  renameSync(dir, old);
  renameSync(fresh, dir);
  rmSync(old, { recursive: true, force: true });
  logger.warn({ dir, ...report }, 'event log repaired');
  return report;
}

/** Scans the source and, when it is damaged, writes its good prefix and the repair event into `fresh`. */
async function rebuild(source: LevelEventLog, where: { fresh: string; backup: string; anchorSeq: number; salvaged?: string }, options: RepairOptions): Promise<RepairReport> {
  const { fresh, backup, salvaged } = where;
  const scan = await source.scanForRepair(where.anchorSeq);
  if (!scan.problem && !salvaged && scan.lastKnown === scan.good.seq) return { intact: true, keptUpTo: scan.good.seq };
  const problem = scan.problem ?? salvaged ?? `the log ends at ${scan.good.seq} but ${scan.lastKnown} was committed`;
  const cut = scan.lastKnown > scan.good.seq ? { from: scan.good.seq + 1, to: scan.lastKnown } : undefined;
  rmSync(fresh, { recursive: true, force: true });
  const target = await LevelEventLog.create(fresh, options);
  try {
    await source.copyPrefixTo(target, scan.good);
    const event = options.repairEvent({ keptUpTo: scan.good.seq, problem, backup, ...(cut ? { cut } : {}) });
    await target.append(event.stream, [event]);
  } finally {
    await target.close();
  }
  return { intact: false, keptUpTo: scan.good.seq, problem, backup, ...(cut ? { cut } : {}) };
}

/** Opens the log to repair; `salvaged` says why LevelDB's own repair had to run first. */
async function openForRepair(dir: string, options: EventLogOptions): Promise<{ log: LevelEventLog; salvaged?: string }> {
  const open = () => LevelEventLog.open(dir, { ...options, acceptRecovered: true, ignoreAnchor: true });
  try {
    return { log: await open() };
  } catch (err) {
    if (isLockedError(err) || !(err instanceof KukeError) || err.kind !== ErrorKind.DataLoss) throw err;
    // LevelDB cannot open it as it is (no CURRENT, a broken manifest): salvage the tables it can, then scan.
    await ClassicLevel.repair(dir);
    return { log: await open(), salvaged: err.message };
  }
}

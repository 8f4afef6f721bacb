/**
 * The event log's contract, as the engine uses it. Implemented by src/store/event-log.ts on LevelDB.
 */
import type { EventInput, EventRecord } from '../../events/record.js';

/**
 * Validation and upcasting of payloads, provided by events/catalog.ts. The log calls `check` on every record it
 * appends and on every record it reads, after `upcast`, so a record that does not decode stops the read with
 * DataLoss instead of reaching the engine.
 */
export interface EventCodec {
  /** Throws a KukeError(InvalidArgument) naming the problem if the payload is not valid for (type, v). */
  check(event: Pick<EventInput, 'type' | 'v' | 'data'>): void;
  /** Returns the record with its payload upgraded to the current version of its type (same object if current). */
  upcast(record: EventRecord): EventRecord;
}

/** A per-aggregate snapshot: the machine's persisted state after the stream's version `ver` (global `seq`). */
export interface AggregateSnapshot {
  stream: string;
  seq: number;
  ver: number;
  /** Hash of the machine definition and schema versions the state was produced with; a mismatch means refold. */
  machineHash: string;
  /** The machine's persisted snapshot (plain JSON). */
  state: unknown;
}

/** Options of an append. */
export interface AppendOptions {
  /**
   * The stream's version the caller's decision was based on (0 for a new stream). A different current version
   * fails with Conflict, EventStoreDB-style. Omit to skip the check.
   */
  expectedVersion?: number;
}

/** What `verify()` found. `ok` is false when any problem was found; `firstBad` names the first bad record. */
export interface VerifyReport {
  ok: boolean;
  /** Records checked. */
  records: number;
  /** Last good sequence number. */
  headSeq: number;
  headHash: string;
  /** The first problem: its seq, what it is and what to do. */
  firstBad?: { seq: number; problem: 'gap' | 'hash-mismatch' | 'undecodable' | 'invalid' | 'stream-version'; message: string };
}

/** Range options for reads. */
export interface ReadOptions {
  /** First sequence number to return (inclusive). Default 1. */
  fromSeq?: number;
  /** Last sequence number to return (inclusive). Default: the head. */
  toSeq?: number;
  /** Records per batch yielded by `readAll` (default 1000). */
  batchSize?: number;
}

/**
 * An append-only, hash-chained event log with a global sequence and per-stream index.
 *
 * Guarantees: an append resolves only after its batch is durable (`sync: true`); an append that rejects left
 * nothing in the log, ever (a refused batch is rolled back before the next write); concurrent appends made in the
 * same tick are group-committed into one batch, in call order; records are contiguous (seq and per-stream
 * version) and chained by hash; a gap, a broken chain or an undecodable record is reported (DataLoss, naming the
 * sequence number and the remedy), never skipped.
 */
export interface EventStore {
  /** The last record's seq and hash (0 and the genesis hash for an empty log). */
  head(): { seq: number; hash: string };
  /** Current version of a stream (0 if it has no events). */
  streamVersion(stream: string): Promise<number>;
  /** Appends events to one stream atomically; returns the stored records. */
  append(stream: string, events: EventInput[], options?: AppendOptions): Promise<EventRecord[]>;
  /** Every record in seq order, in batches, verifying contiguity, the hash chain and payloads as it goes. */
  readAll(options?: ReadOptions): AsyncIterable<EventRecord[]>;
  /** Records of the given streams (exact names), merged in seq order. */
  readStreams(streams: string[], options?: ReadOptions): Promise<EventRecord[]>;
  /** Names of the streams that start with `prefix` (e.g. `container/r/s/t/c/`). */
  listStreams(prefix: string): Promise<string[]>;
  /** The latest snapshot of every stream that has one (and the `$checkpoint` row, see writeCheckpoint). */
  loadSnapshots(): Promise<Map<string, AggregateSnapshot>>;
  /**
   * Writes a checkpoint in one atomic, synced batch: the given snapshots (each replacing that stream's previous
   * one) plus a row for the pseudo-stream `$checkpoint` = `{ stream: '$checkpoint', seq: head.seq, ver: 0,
   * machineHash: '', state: { hash: head.hash } }`, which loadSnapshots returns like the others. The engine
   * takes it at a quiet instant: every snapshot reflects all events up to `head.seq`, so the next open folds
   * only records after it. Rejects (InvalidArgument) if `head.seq` is beyond the log's head.
   */
  writeCheckpoint(snapshots: AggregateSnapshot[], head: { seq: number; hash: string }): Promise<void>;
  /**
   * Proves that the records 1…`point.seq` are intact and that the last one's hash is `point.hash` (a checkpoint's
   * claim, before its tail is folded); throws DataLoss naming the first bad record. The LevelDB log reads only that
   * record when its files are as its last clean close sealed them, and every record up to it otherwise.
   */
  verifyUpTo(point: { seq: number; hash: string }): Promise<void>;
  /** Full scan: contiguity, chain, decoding. Never throws for a bad record; reports it. */
  verify(): Promise<VerifyReport>;
  /** Flushes pending appends and releases the LevelDB lock. */
  close(): Promise<void>;
}

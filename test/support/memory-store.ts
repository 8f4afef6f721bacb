/**
 * An in-memory EventStore with the log's contract (contiguous seqs and versions, hash chain, codec checks,
 * expectedVersion, checkpoints), for fast unit tests of the engine. Property tests that claim durability use the
 * real LevelDB log instead.
 */
import { createHash } from 'node:crypto';
import { GENESIS_HASH, type EventInput, type EventRecord } from '../../events/record.js';
import { ErrorKind, KukeError } from '../../src/errors.js';
import type { AggregateSnapshot, AppendOptions, EventCodec, EventStore, ReadOptions, VerifyReport } from '../../src/store/types.js';

export class MemoryStore implements EventStore {
  readonly records: EventRecord[] = [];
  private readonly snapshots = new Map<string, AggregateSnapshot>();
  /** Awaited before each append becomes durable (scheduler hook). */
  io: () => Promise<void> = () => Promise.resolve();
  /** When set, appends fail (a crashed process writes nothing). */
  dead = false;
  /** When it returns an error, the append is refused with it (a full disk, an I/O error), storing nothing. */
  refuse: ((stream: string, events: EventInput[]) => KukeError | undefined) | undefined;

  constructor(private readonly codec: EventCodec) {}

  head() {
    const last = this.records.at(-1);
    return { seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH };
  }

  async streamVersion(stream: string) {
    return this.records.filter((r) => r.stream === stream).length;
  }

  async append(stream: string, events: EventInput[], options: AppendOptions = {}): Promise<EventRecord[]> {
    for (const e of events) this.codec.check(e);
    await this.io();
    if (this.dead) throw new KukeError(ErrorKind.Unavailable, 'store is dead');
    const refused = this.refuse?.(stream, events);
    if (refused) throw refused;
    const ver = this.records.filter((r) => r.stream === stream).length;
    if (options.expectedVersion !== undefined && options.expectedVersion !== ver) {
      throw new KukeError(ErrorKind.Conflict, `stream ${stream} is at version ${ver}, expected ${options.expectedVersion}`);
    }
    const out: EventRecord[] = [];
    events.forEach((e, i) => {
      const prev = this.head().hash;
      const body = { ...e, seq: this.head().seq + 1, ver: ver + i + 1, prev };
      const hash = createHash('sha256').update(prev + JSON.stringify(body)).digest('hex');
      const record = structuredClone({ ...body, hash }) as EventRecord;
      this.records.push(record);
      out.push(record);
    });
    return out;
  }

  async *readAll(options: ReadOptions = {}): AsyncIterable<EventRecord[]> {
    const from = options.fromSeq ?? 1;
    const to = options.toSeq ?? Infinity;
    yield this.records.filter((r) => r.seq >= from && r.seq <= to).map((r) => this.codec.upcast(structuredClone(r)));
  }

  async readStreams(streams: string[], options: ReadOptions = {}) {
    const set = new Set(streams);
    const batches: EventRecord[] = [];
    for await (const batch of this.readAll(options)) batches.push(...batch.filter((r) => set.has(r.stream)));
    return batches;
  }

  async listStreams(prefix: string) {
    return [...new Set(this.records.map((r) => r.stream).filter((s) => s.startsWith(prefix)))].sort();
  }

  async loadSnapshots() {
    return new Map([...this.snapshots].map(([k, v]) => [k, structuredClone(v)]));
  }

  async writeCheckpoint(snapshots: AggregateSnapshot[], head: { seq: number; hash: string }) {
    if (this.dead) throw new KukeError(ErrorKind.Unavailable, 'store is dead');
    for (const s of snapshots) this.snapshots.set(s.stream, structuredClone(s));
    this.snapshots.set('$checkpoint', { stream: '$checkpoint', seq: head.seq, ver: 0, machineHash: '', state: { hash: head.hash } });
  }

  async verifyUpTo(point: { seq: number; hash: string }) {
    const record = this.records[point.seq - 1];
    if (point.seq > 0 && record?.hash !== point.hash) throw new KukeError(ErrorKind.DataLoss, `record ${point.seq} is not the one the checkpoint recorded`);
  }

  async verify(): Promise<VerifyReport> {
    return { ok: true, records: this.records.length, headSeq: this.head().seq, headHash: this.head().hash };
  }

  async close() {}
}

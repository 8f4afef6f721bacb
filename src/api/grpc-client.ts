/**
 * The client of kukeond's API over its unix socket. It implements the same interface as the in-process client, so
 * the CLI does not know which one it talks to.
 */
import { credentials, Metadata, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import type { EventRecord } from '../../events/record.js';
import type { CellTemplate } from '../../events/specs.js';
import { ErrorKind, KukeError } from '../errors.js';
import type { AggregateKey } from '../model/streams.js';
import type { ApplyResult, CellRef, DeleteOptions, HistoryFilter, KukeonClient, NamedQuery, Query } from './client.js';
import { cellFromPb, cellTemplateToPb, eventFromPb, keyToRef, queryToRef, realmFromPb, resourceFromPb, spaceFromPb, stackFromPb } from './convert.js';
import { fromServiceError } from './errors.js';
import * as pb from './gen/kukeon/v1/kukeon.js';
import { ACTOR_METADATA } from './server.js';

/** How long reads and writes may take (writes wait for cells to settle). */
const READ_DEADLINE_MS = 30_000;
const WRITE_DEADLINE_MS = 10 * 60_000;

type Unary<Req, Res> = (request: Req, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: Res) => void) => ClientUnaryCall;

/** Options of {@link GrpcClient}. */
export interface GrpcClientOptions {
  socket: string;
  /** Recorded on events next to the caller's uid/gid/pid (default: this process's command line). */
  command?: string;
  /** How long to wait for the socket when connecting (default 5 s). */
  connectTimeoutMs?: number;
}

/** kukeond over gRPC. */
export class GrpcClient implements KukeonClient {
  readonly mode = 'daemon' as const;
  private readonly client: pb.KukeonServiceClient;
  private readonly metadata: Metadata;

  constructor(private readonly options: GrpcClientOptions) {
    this.client = new pb.KukeonServiceClient(`unix://${options.socket}`, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 << 20,
      'grpc.max_send_message_length': 16 << 20,
    });
    this.metadata = new Metadata();
    this.metadata.set(ACTOR_METADATA.name, encodeURIComponent(options.command ?? ['kuke', ...process.argv.slice(2)].join(' ').slice(0, 200)));
  }

  private call<Req, Res>(method: Unary<Req, Res>, request: Req, deadlineMs: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      method.call(this.client, request, this.metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
        if (error) reject(fromServiceError(error, this.options.socket));
        else resolve(response);
      });
    });
  }

  async ping() {
    return this.call(this.client.ping as Unary<pb.PingRequest, pb.PingResponse>, {}, this.options.connectTimeoutMs ?? 5_000);
  }

  async find(query: Query, options: { atSeq?: number; atTime?: string } = {}) {
    const res = await this.call(this.client.get as Unary<pb.GetRequest, pb.GetResponse>, { ref: queryToRef(query), atSeq: options.atSeq ?? 0, atTime: options.atTime ?? '' }, READ_DEADLINE_MS);
    return res.items.map(resourceFromPb);
  }

  async usage(query: NamedQuery) {
    return this.call(this.client.usage as Unary<pb.UsageRequest, pb.UsageResponse>, { ref: queryToRef(query) }, READ_DEADLINE_MS);
  }

  async createRealm(input: { name: string; namespace?: string; labels?: Record<string, string> }) {
    const res = await this.call(this.client.createRealm as Unary<pb.CreateRealmRequest, pb.CreateRealmResponse>, { name: input.name, namespace: input.namespace ?? '', labels: input.labels ?? {} }, WRITE_DEADLINE_MS);
    return { view: realmFromPb(res.realm), created: res.created };
  }

  async createSpace(input: { realm: string; space: string; labels?: Record<string, string> }) {
    const res = await this.call(this.client.createSpace as Unary<pb.CreateSpaceRequest, pb.CreateSpaceResponse>, { realm: input.realm, name: input.space, labels: input.labels ?? {} }, WRITE_DEADLINE_MS);
    return { view: spaceFromPb(res.space), created: res.created };
  }

  async createStack(input: { realm: string; space: string; stack: string; labels?: Record<string, string> }) {
    const res = await this.call(this.client.createStack as Unary<pb.CreateStackRequest, pb.CreateStackResponse>, { realm: input.realm, space: input.space, name: input.stack, labels: input.labels ?? {} }, WRITE_DEADLINE_MS);
    return { view: stackFromPb(res.stack), created: res.created };
  }

  async createCell(input: CellRef & { template: CellTemplate; start?: boolean }) {
    const res = await this.call(
      this.client.createCell as Unary<pb.CreateCellRequest, pb.CreateCellResponse>,
      { realm: input.realm, space: input.space, stack: input.stack, name: input.cell, template: cellTemplateToPb(input.template), start: input.start ?? false },
      WRITE_DEADLINE_MS,
    );
    return { view: cellFromPb(res.cell), created: res.created };
  }

  async apply(manifest: string): Promise<ApplyResult[]> {
    const res = await this.call(this.client.apply as Unary<pb.ApplyRequest, pb.ApplyResponse>, { manifest }, WRITE_DEADLINE_MS);
    return res.results.map((r) => ({
      index: r.index,
      kind: r.kind as ApplyResult['kind'],
      name: r.name,
      action: r.action as ApplyResult['action'],
      changes: r.changes,
      ...(r.error ? { error: { kind: r.error.kind, message: r.error.message } } : {}),
    }));
  }

  async delete(target: NamedQuery, options: DeleteOptions = {}) {
    await this.call(
      this.client.delete as Unary<pb.DeleteRequest, pb.DeleteResponse>,
      { ref: queryToRef(target), cascade: options.cascade ?? false, force: options.force ?? false, keepLogs: options.keepLogs ?? false },
      WRITE_DEADLINE_MS,
    );
  }

  async startCell(ref: CellRef) {
    const res = await this.call(this.client.startCell as Unary<pb.StartCellRequest, pb.StartCellResponse>, { cell: ref }, WRITE_DEADLINE_MS);
    return cellFromPb(res.cell);
  }

  async stopCell(ref: CellRef, options: { mode: 'stop' | 'kill'; graceMs?: number }) {
    const res = await this.call(this.client.stopCell as Unary<pb.StopCellRequest, pb.StopCellResponse>, { cell: ref, mode: options.mode, graceMs: options.graceMs ?? 0 }, WRITE_DEADLINE_MS);
    return { ...cellFromPb(res.cell), changed: res.changed };
  }

  async restartCell(ref: CellRef, options: { graceMs?: number } = {}) {
    const res = await this.call(this.client.restartCell as Unary<pb.RestartCellRequest, pb.RestartCellResponse>, { cell: ref, graceMs: options.graceMs ?? 0 }, WRITE_DEADLINE_MS);
    return cellFromPb(res.cell);
  }

  async history(key: AggregateKey, filter: HistoryFilter = {}): Promise<EventRecord[]> {
    const res = await this.call(this.client.history as Unary<pb.HistoryRequest, pb.HistoryResponse>, { ref: keyToRef(key), sinceSeq: filter.sinceSeq ?? 0, sinceTime: filter.sinceTime ?? '' }, READ_DEADLINE_MS);
    return res.events.map(eventFromPb);
  }

  watchHistory(key: AggregateKey, filter: HistoryFilter, onEvent: (record: EventRecord) => void, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const stream = this.client.watchHistory({ ref: keyToRef(key), sinceSeq: filter.sinceSeq ?? 0, sinceTime: filter.sinceTime ?? '' }, this.metadata);
      const onAbort = () => stream.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (msg: pb.WatchHistoryResponse) => {
        if (msg.event) onEvent(eventFromPb(msg.event));
      });
      stream.on('error', (err: ServiceError) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) resolve();
        else reject(fromServiceError(err, this.options.socket));
      });
      stream.on('end', () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  async verifyLog() {
    const r = await this.call(this.client.verifyLog as Unary<pb.VerifyLogRequest, pb.VerifyLogResponse>, {}, WRITE_DEADLINE_MS);
    return {
      ok: r.ok,
      records: r.records,
      headSeq: r.headSeq,
      headHash: r.headHash,
      ...(r.ok ? {} : { firstBad: { seq: r.badSeq, problem: r.problem as 'gap', message: r.message } }),
    };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** Throws Unavailable unless the daemon answers a ping within `timeoutMs`. */
export async function pingDaemon(socket: string, timeoutMs = 1_000): Promise<{ version: string; pid: number }> {
  const client = new GrpcClient({ socket, connectTimeoutMs: timeoutMs });
  try {
    return await client.ping();
  } catch (err) {
    throw err instanceof KukeError ? err : new KukeError(ErrorKind.Unavailable, `kukeond at ${socket} did not answer`);
  } finally {
    await client.close();
  }
}

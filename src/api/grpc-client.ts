/**
 * The client of kukeond's API over its unix socket. It implements the same interface as the in-process client, so
 * the CLI does not know which one it talks to.
 */
import { credentials, Metadata, type CallOptions, type ClientDuplexStream, type ClientReadableStream, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { once } from 'node:events';
import type { EventRecord } from '../../events/record.js';
import type { CellTemplate } from '../../events/specs.js';
import { ErrorKind, KukeError } from '../errors.js';
import { checkManifestSize, utf8Bytes } from '../model/limits.js';
import type { ResourceView, SecretView } from '../model/resources.js';
import type { AggregateKey } from '../model/streams.js';
import type { ApplyProgress, ApplyResult, CellRef, DeleteOptions, DeleteResult, ExecRequest, ExecResult, ExecStdio, HistoryFilter, KukeonClient, LogsOptions, NamedQuery, Query, SecretFilter } from './client.js';
import { applyResultFromPb, cellFromPb, cellTemplateToPb, eventFromPb, execInputToPb, execStartToPb, keyToRef, queryToRef, realmFromPb, resourceFromPb, secretFromPb, spaceFromPb, stackFromPb } from './convert.js';
import { fromServiceError } from './errors.js';
import * as pb from './gen/kukeon/v1/kukeon.js';
import { checkRequestSize, CLIENT_CHANNEL_OPTIONS, PartJoiner } from './limits.js';
import { ACTOR_METADATA } from './server.js';

/**
 * How long reads and writes may take (writes wait for cells to settle). For streamed answers it is how long the
 * daemon may stay silent (before the first item and between two): a long history or a long manifest takes as long
 * as it has items, and must not fail for being long.
 */
const READ_DEADLINE_MS = 30_000;
const WRITE_DEADLINE_MS = 10 * 60_000;

type Unary<Req, Res> = (request: Req, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: Res) => void) => ClientUnaryCall;
type Method = keyof typeof pb.KukeonServiceService & keyof pb.KukeonServiceClient;
type ServerStream<Req, Msg> = (request: Req, metadata: Metadata, options: Partial<CallOptions>) => ClientReadableStream<Msg>;

/** Requests by method, serialized, to measure them before sending. */
const SERVICE = pb.KukeonServiceService as unknown as Record<string, { path: string; requestSerialize(value: unknown): Buffer }>;

/** Hands each item of an answer stream to `onItem`, whether it came as its typed message or as JSON parts. */
function itemsOf<T, Typed>(fromTyped: (typed: Typed) => T, onItem: (item: T) => void) {
  const joiner = new PartJoiner();
  const take = (typed: Typed | undefined, part: pb.Part | undefined) => {
    if (part) {
      const item = joiner.add(part);
      if (item !== undefined) onItem(item as T);
    } else if (typed) {
      onItem(fromTyped(typed));
    }
  };
  return Object.assign(take, { complete: () => !joiner.pending });
}

/**
 * A command line as events may record it (the actor's name): the values of `--from-literal key=value` replaced by `…`,
 * the keys kept (issue 11: a secret's value must not reach the log through the command that created it).
 *
 * @example
 * redactSecretArgs(['create', 'secret', 'db', '--from-literal', 'password=x']) // [..., '--from-literal', 'password=…']
 */
export function redactSecretArgs(argv: readonly string[]): string[] {
  const hide = (literal: string) => (literal.includes('=') ? `${literal.slice(0, literal.indexOf('='))}=…` : '…');
  return argv.map((arg, i) => {
    if (arg.startsWith('--from-literal=')) return `--from-literal=${hide(arg.slice('--from-literal='.length))}`;
    return argv[i - 1] === '--from-literal' ? hide(arg) : arg;
  });
}

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
    this.client = new pb.KukeonServiceClient(`unix://${options.socket}`, credentials.createInsecure(), CLIENT_CHANNEL_OPTIONS);
    this.metadata = new Metadata();
    this.metadata.set(ACTOR_METADATA.name, encodeURIComponent(options.command ?? ['kuke', ...redactSecretArgs(process.argv.slice(2))].join(' ').slice(0, 200)));
  }

  /** A unary call; a request over the daemon's limit is refused here, before it is sent. */
  private call<Req, Res>(method: Method, request: Req, deadlineMs: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      checkRequestSize(method, SERVICE[method]!.requestSerialize(request).length);
      const fn = this.client[method] as unknown as Unary<Req, Res>;
      fn.call(this.client, request, this.metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
        if (error) reject(fromServiceError(error, this.options.socket));
        else resolve(response);
      });
    });
  }

  /**
   * A server-streaming call, read to its end: each message goes to `onMessage`. When `signal` aborts, the call is
   * cancelled and the promise resolves (what arrived was handed over). With `idleMs`, the call fails with
   * DeadlineExceeded when no message came for that long. When `onMessage` returns a promise, the call is paused until
   * it settles (HTTP/2 flow control then holds the daemon back: a slow reader of `kuke logs` piles nothing up).
   */
  private stream<Req, Msg>(method: Method, request: Req, onMessage: (msg: Msg) => unknown, options: { idleMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      checkRequestSize(method, SERVICE[method]!.requestSerialize(request).length);
      const { signal, idleMs } = options;
      const fn = this.client[method] as unknown as ServerStream<Req, Msg>;
      const call = fn.call(this.client, request, this.metadata, {});
      let settled = false;
      let idle: NodeJS.Timeout | undefined;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        signal?.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const arm = () => {
        if (idleMs === undefined) return;
        clearTimeout(idle);
        idle = setTimeout(() => {
          call.cancel();
          settle(new KukeError(ErrorKind.DeadlineExceeded, `kukeond at ${this.options.socket} sent nothing for ${idleMs / 1000} s (${method})`, {
            hint: 'it may be overloaded or stuck: see kuke daemon logs, then retry',
          }));
        }, idleMs);
      };
      arm();
      const onAbort = () => {
        call.cancel();
        settle();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      call.on('data', (msg: Msg) => {
        arm();
        const fail = (err: unknown) => {
          call.cancel();
          settle(err);
        };
        try {
          const pending = onMessage(msg);
          if (pending instanceof Promise) {
            // Waiting on our side is not the daemon's silence: the idle clock stops meanwhile.
            call.pause();
            clearTimeout(idle);
            pending.then(() => {
              arm();
              call.resume();
            }, fail);
          }
        } catch (err) {
          fail(err);
        }
      });
      call.on('error', (err: ServiceError) => settle(signal?.aborted ? undefined : fromServiceError(err, this.options.socket)));
      call.on('end', () => settle());
    });
  }

  async ping() {
    return this.call<pb.PingRequest, pb.PingResponse>('ping', {}, this.options.connectTimeoutMs ?? 5_000);
  }

  async find(query: Query, options: { atSeq?: number; atTime?: string } = {}) {
    const views: ResourceView[] = [];
    const take = itemsOf(resourceFromPb, (view: ResourceView) => views.push(view));
    const request: pb.FindRequest = { ref: queryToRef(query), atSeq: options.atSeq ?? 0, atTime: options.atTime ?? '' };
    await this.stream('find', request, (m: pb.FindResponse) => take(m.resource, m.part), { idleMs: READ_DEADLINE_MS });
    return complete(take, views);
  }

  async usage(query: NamedQuery) {
    return this.call<pb.UsageRequest, pb.UsageResponse>('usage', { ref: queryToRef(query) }, READ_DEADLINE_MS);
  }

  async createRealm(input: { name: string; namespace?: string; labels?: Record<string, string> }) {
    const res = await this.call<pb.CreateRealmRequest, pb.CreateRealmResponse>('createRealm', { name: input.name, namespace: input.namespace ?? '', labels: input.labels ?? {} }, WRITE_DEADLINE_MS);
    return { view: realmFromPb(res.realm), created: res.created };
  }

  async createSpace(input: { realm: string; space: string; labels?: Record<string, string> }) {
    const res = await this.call<pb.CreateSpaceRequest, pb.CreateSpaceResponse>('createSpace', { realm: input.realm, name: input.space, labels: input.labels ?? {} }, WRITE_DEADLINE_MS);
    return { view: spaceFromPb(res.space), created: res.created };
  }

  async createStack(input: { realm: string; space: string; stack: string; labels?: Record<string, string> }) {
    const res = await this.call<pb.CreateStackRequest, pb.CreateStackResponse>('createStack', { realm: input.realm, space: input.space, name: input.stack, labels: input.labels ?? {} }, WRITE_DEADLINE_MS);
    return { view: stackFromPb(res.stack), created: res.created };
  }

  async createCell(input: CellRef & { template: CellTemplate; start?: boolean }) {
    // The template's limits, checked here as kukeond checks them: a cell too large to send gets the daemon's line
    // (which limit, by how much), not a message-size one. Loaded on demand: only this command needs the schemas.
    const { validateCellTemplate } = await import('../model/template-check.js');
    validateCellTemplate(input.template, `cell ${JSON.stringify(input.cell)}`);
    const res = await this.call<pb.CreateCellRequest, pb.CreateCellResponse>(
      'createCell',
      { realm: input.realm, space: input.space, stack: input.stack, name: input.cell, template: cellTemplateToPb(input.template), start: input.start ?? false },
      WRITE_DEADLINE_MS,
    );
    return { view: cellFromPb(res.cell), created: res.created };
  }

  async apply(manifest: string, progress: ApplyProgress = {}): Promise<ApplyResult[]> {
    // Refused here with the line kukeond would give, rather than sent for nothing.
    checkManifestSize(utf8Bytes(manifest));
    const results: ApplyResult[] = [];
    const onMessage = (m: pb.ApplyManifestResponse) => {
      const result = applyResultFromPb(m.result);
      results.push(result);
      progress.onResult?.(result);
    };
    // Cancelling (progress.signal) tells the daemon to apply no further document.
    await this.stream('applyManifest', { manifest } satisfies pb.ApplyManifestRequest, onMessage, { idleMs: WRITE_DEADLINE_MS, ...(progress.signal ? { signal: progress.signal } : {}) });
    return results;
  }

  async delete(target: NamedQuery, options: DeleteOptions = {}): Promise<DeleteResult> {
    const request: pb.DeleteRequest = { ref: queryToRef(target), cascade: options.cascade ?? false, force: options.force ?? false, keepLogs: options.keepLogs ?? false };
    const res = await this.call<pb.DeleteRequest, pb.DeleteResponse>('delete', request, WRITE_DEADLINE_MS);
    return { leftovers: res.leftovers.map((l) => ({ stream: l.stream, resource: l.resource, error: { kind: l.errorKind, message: l.errorMessage } })) };
  }

  async startCell(ref: CellRef) {
    const res = await this.call<pb.StartCellRequest, pb.StartCellResponse>('startCell', { cell: ref }, WRITE_DEADLINE_MS);
    return cellFromPb(res.cell);
  }

  async stopCell(ref: CellRef, options: { mode: 'stop' | 'kill'; graceMs?: number }) {
    const res = await this.call<pb.StopCellRequest, pb.StopCellResponse>('stopCell', { cell: ref, mode: options.mode, graceMs: options.graceMs ?? 0 }, WRITE_DEADLINE_MS);
    return { ...cellFromPb(res.cell), changed: res.changed };
  }

  async restartCell(ref: CellRef, options: { graceMs?: number } = {}) {
    const res = await this.call<pb.RestartCellRequest, pb.RestartCellResponse>('restartCell', { cell: ref, graceMs: options.graceMs ?? 0 }, WRITE_DEADLINE_MS);
    return cellFromPb(res.cell);
  }

  async history(key: AggregateKey, filter: HistoryFilter = {}): Promise<EventRecord[]> {
    const records: EventRecord[] = [];
    const take = itemsOf(eventFromPb, (record: EventRecord) => records.push(record));
    const request: pb.ReadHistoryRequest = { ref: keyToRef(key), sinceSeq: filter.sinceSeq ?? 0, sinceTime: filter.sinceTime ?? '' };
    await this.stream('readHistory', request, (m: pb.ReadHistoryResponse) => take(m.event, m.part), { idleMs: READ_DEADLINE_MS });
    return complete(take, records);
  }

  async watchHistory(key: AggregateKey, filter: HistoryFilter, onEvent: (record: EventRecord) => void, signal: AbortSignal): Promise<void> {
    const take = itemsOf(eventFromPb, onEvent);
    const request: pb.WatchHistoryRequest = { ref: keyToRef(key), sinceSeq: filter.sinceSeq ?? 0, sinceTime: filter.sinceTime ?? '' };
    await this.stream('watchHistory', request, (m: pb.WatchHistoryResponse) => take(m.event, m.part), { signal });
  }

  async verifyLog() {
    const r = await this.call<pb.VerifyLogRequest, pb.VerifyLogResponse>('verifyLog', {}, WRITE_DEADLINE_MS);
    return {
      ok: r.ok,
      records: r.records,
      headSeq: r.headSeq,
      headHash: r.headHash,
      ...(r.ok ? {} : { firstBad: { seq: r.badSeq, problem: r.problem as 'gap', message: r.message } }),
    };
  }

  // logs (issue 12)
  async logs(ref: CellRef, options: LogsOptions, onData: (chunk: Uint8Array) => void | Promise<void>, signal?: AbortSignal): Promise<void> {
    const request: pb.LogsRequest = { cell: ref, container: options.container ?? '', follow: options.follow ?? false, ...(options.tail !== undefined ? { tail: options.tail } : {}) };
    // A follower may wait for output as long as the cell runs; a plain read is a read like any other.
    await this.stream('logs', request, (m: pb.LogsResponse) => onData(m.data), { ...(signal ? { signal } : {}), ...(options.follow ? {} : { idleMs: READ_DEADLINE_MS }) });
  }

  async close(): Promise<void> {
    this.client.close();
  }

  // secrets (issue 11)
  async putSecret(input: Parameters<KukeonClient['putSecret']>[0]) {
    const request: pb.PutSecretRequest = { realm: input.realm, space: input.space, name: input.name, data: input.data, labels: input.labels ?? {}, createOnly: input.createOnly ?? false };
    const res = await this.call<pb.PutSecretRequest, pb.PutSecretResponse>('putSecret', request, WRITE_DEADLINE_MS);
    return { view: secretFromPb(res.secret), action: res.action as 'created' | 'updated' | 'unchanged' };
  }

  async listSecrets(filter: SecretFilter = {}) {
    const views: SecretView[] = [];
    const request: pb.ListSecretsRequest = { realm: filter.realm ?? '', space: filter.space ?? '', name: filter.name ?? '' };
    await this.stream('listSecrets', request, (m: pb.ListSecretsResponse) => views.push(secretFromPb(m.secret)), { idleMs: READ_DEADLINE_MS });
    return views;
  }

  async deleteSecret(ref: Parameters<KukeonClient['deleteSecret']>[0]) {
    await this.call<pb.DeleteSecretRequest, pb.DeleteSecretResponse>('deleteSecret', { realm: ref.realm, space: ref.space, name: ref.name, force: ref.force ?? false }, WRITE_DEADLINE_MS);
  }

  // exec (issue 12)
  /**
   * One bidirectional call: the ExecStart, then `stdio.input` as it comes (at the pace the daemon takes it); output is
   * handed to `stdio.output` one message at a time, the call paused meanwhile, so a slow terminal holds the daemon
   * (and the process) back instead of filling memory. No deadline: an interactive session lasts what it lasts.
   */
  exec(request: ExecRequest, stdio: ExecStdio): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      const start: pb.ExecRequest = { start: execStartToPb(request) };
      checkRequestSize('exec', SERVICE.exec!.requestSerialize(start).length);
      const call = (this.client.exec as unknown as (metadata: Metadata, options: Partial<CallOptions>) => ClientDuplexStream<pb.ExecRequest, pb.ExecResponse>).call(this.client, this.metadata, {});
      let result: ExecResult | undefined;
      let settled = false;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        stdio.signal.removeEventListener('abort', onAbort);
        if (err !== undefined) reject(err);
        else if (result) resolve(result);
        else reject(new KukeError(ErrorKind.Internal, 'kukeond ended the exec without its exit'));
      };
      const onAbort = () => {
        call.cancel();
        settle(new KukeError(ErrorKind.Canceled, 'exec canceled'));
      };
      if (stdio.signal.aborted) return onAbort();
      stdio.signal.addEventListener('abort', onAbort, { once: true });
      call.write(start);
      void (async () => {
        for await (const input of stdio.input) {
          if (settled) return;
          if (!call.write(execInputToPb(input))) await Promise.race([once(call, 'drain'), once(call, 'close')]);
        }
        if (!settled) call.end();
      })().catch(() => undefined);
      call.on('data', (m: pb.ExecResponse) => {
        if (m.exit) {
          result = { exitCode: m.exit.code, execId: m.exit.execId, ...(m.exit.message ? { message: m.exit.message } : {}) };
          return;
        }
        const chunk = m.stdout ?? m.stderr;
        if (!chunk) return;
        call.pause();
        stdio.output(m.stdout ? 'stdout' : 'stderr', chunk).then(
          () => call.resume(),
          (err: unknown) => {
            call.cancel();
            settle(err);
          },
        );
      });
      call.on('error', (err: ServiceError) => settle(fromServiceError(err, this.options.socket)));
      call.on('end', () => settle());
    });
  }
}

/** The items of a stream that ended normally; an item cut off in the middle of its parts is the daemon's fault. */
function complete<T>(take: { complete(): boolean }, items: T[]): T[] {
  if (!take.complete()) throw new KukeError(ErrorKind.Internal, 'kukeond ended an answer in the middle of an item');
  return items;
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

/**
 * One gRPC channel to containerd over its unix socket, shared by every service stub, and the two call shapes we
 * use (unary with a deadline; server streams collected into an array). The namespace travels in the
 * `containerd-namespace` metadata, a lease in `containerd-lease`. gRPC statuses become KukeErrors here, once, through
 * one table: containerd maps its errdefs closely onto gRPC codes, and what the shim or runc refuses comes as UNKNOWN
 * with a text that callers must not parse (they re-inspect the state instead).
 */
import {
  Channel,
  credentials,
  Metadata,
  status,
  type CallOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import { ErrorKind, KukeError } from '../../errors.js';
import { ContainersClient } from './gen/containerd/services/containers/v1/containers.js';
import { ContentClient } from './gen/containerd/services/content/v1/content.js';
import { DiffClient } from './gen/containerd/services/diff/v1/diff.js';
import { EventsClient } from './gen/containerd/services/events/v1/events.js';
import { ImagesClient } from './gen/containerd/services/images/v1/images.js';
import { LeasesClient } from './gen/containerd/services/leases/v1/leases.js';
import { NamespacesClient } from './gen/containerd/services/namespaces/v1/namespaces.js';
import { SnapshotsClient } from './gen/containerd/services/snapshots/v1/snapshots.js';
import { TasksClient } from './gen/containerd/services/tasks/v1/tasks.js';
import { VersionClient } from './gen/containerd/services/version/v1/version.js';

/** containerd's Go client uses 16 MiB both ways; grpc-js defaults to 4 MiB for receiving. */
export const MAX_MESSAGE_BYTES = 16 << 20;
/** Default deadline of unary calls. Long-lived calls (Tasks.Wait, Events.Subscribe) never get one. */
export const DEFAULT_CALL_TIMEOUT_MS = 60_000;
/** Longest pause between reconnection attempts, so a restarted containerd is found again within about a second. */
const MAX_RECONNECT_BACKOFF_MS = 1_000;

/** gRPC status → error kind: the one table. */
export const KIND_OF_STATUS: Readonly<Record<status, ErrorKind>> = {
  [status.OK]: ErrorKind.Internal, // never an error; listed so the table is total
  [status.CANCELLED]: ErrorKind.Canceled,
  // The shim or runc refused (bad command, "cannot start a running process", "ttrpc: closed"): not our bug, and not
  // worth retrying as is.
  [status.UNKNOWN]: ErrorKind.FailedPrecondition,
  [status.INVALID_ARGUMENT]: ErrorKind.InvalidArgument,
  [status.DEADLINE_EXCEEDED]: ErrorKind.DeadlineExceeded,
  [status.NOT_FOUND]: ErrorKind.NotFound,
  [status.ALREADY_EXISTS]: ErrorKind.AlreadyExists,
  [status.PERMISSION_DENIED]: ErrorKind.PermissionDenied,
  [status.RESOURCE_EXHAUSTED]: ErrorKind.Internal, // a message over 16 MiB: ours to fix
  [status.FAILED_PRECONDITION]: ErrorKind.FailedPrecondition,
  [status.ABORTED]: ErrorKind.Conflict,
  [status.OUT_OF_RANGE]: ErrorKind.InvalidArgument,
  [status.UNIMPLEMENTED]: ErrorKind.Unimplemented,
  [status.INTERNAL]: ErrorKind.Internal,
  [status.UNAVAILABLE]: ErrorKind.Unavailable,
  [status.DATA_LOSS]: ErrorKind.DataLoss,
  [status.UNAUTHENTICATED]: ErrorKind.PermissionDenied,
};

/** Whether `err` is a gRPC error (it carries a numeric status code). */
export function isGrpcError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number';
}

/**
 * A gRPC error from containerd as a KukeError of the matching kind; `what` says what was being done
 * (`creating task s_t_c_root in default.kukeon.io`). KukeErrors pass through unchanged.
 */
export function fromGrpc(err: unknown, what: string, address: string): KukeError {
  if (err instanceof KukeError) return err;
  if (!isGrpcError(err)) return new KukeError(ErrorKind.Internal, `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  const kind = KIND_OF_STATUS[err.code as status] ?? ErrorKind.Internal;
  // containerd appends ": unknown" to the shim's texts, which says nothing.
  const details = (err.details || err.message || 'failed').replace(/: unknown$/, '');
  if (kind === ErrorKind.Unavailable) {
    return new KukeError(kind, `${what}: containerd at ${address} is unavailable (${details})`, {
      hint: 'is containerd running? check the socket given with --containerd-socket',
      cause: err,
    });
  }
  return new KukeError(kind, `${what}: ${details}`, { cause: err });
}

/** Per-call options. */
export interface CallScope {
  /** containerd namespace (header `containerd-namespace`); required by every namespaced call. */
  namespace?: string;
  /** Lease to attach created objects to (header `containerd-lease`). */
  lease?: string;
  /** Deadline in ms; `null` for none (long-lived calls). Default {@link DEFAULT_CALL_TIMEOUT_MS}. */
  timeoutMs?: number | null;
  /** Cancels the call; it then rejects with kind Canceled. */
  signal?: AbortSignal;
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;
type UnaryFn<Req, Res> = (request: Req, metadata: Metadata, options: Partial<CallOptions>, callback: Callback<Res>) => ClientUnaryCall;
type StreamFn<Req, Res> = (request: Req, metadata?: Metadata, options?: Partial<CallOptions>) => ClientReadableStream<Res>;

/** Names of a stub's unary methods. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type UnaryMethod<C> = { [K in keyof C]: C[K] extends UnaryFn<any, any> ? K : never }[keyof C] & string;
/** Names of a stub's server-streaming methods. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StreamMethod<C> = { [K in keyof C]: C[K] extends StreamFn<any, any> ? K : never }[keyof C] & string;
/** The request type of a method (the last overload is the full one). */
export type RequestOf<F> = F extends (request: infer Req, ...rest: infer _) => unknown ? Req : never;
/** The response type of a unary method. */
export type ResponseOf<F> = F extends (request: never, metadata: Metadata, options: Partial<CallOptions>, callback: Callback<infer Res>) => ClientUnaryCall ? Res : never;
/** The message type of a server-streaming method. */
export type StreamItemOf<F> = F extends (request: never, metadata?: Metadata, options?: Partial<CallOptions>) => ClientReadableStream<infer Res> ? Res : never;

/**
 * The service stubs over one channel.
 *
 * @example
 * const conn = new Connection('/run/containerd/containerd.sock');
 * const { process } = await conn.unary(conn.tasks, 'get', { containerId: id, execId: '' }, `task ${id}`, { namespace });
 */
export class Connection {
  /** The socket path. */
  readonly address: string;
  readonly channel: Channel;
  readonly version: VersionClient;
  readonly namespaces: NamespacesClient;
  readonly containers: ContainersClient;
  readonly content: ContentClient;
  readonly images: ImagesClient;
  readonly snapshots: SnapshotsClient;
  readonly diff: DiffClient;
  readonly leases: LeasesClient;
  readonly tasks: TasksClient;
  readonly events: EventsClient;
  private readonly timeoutMs: number;
  private isClosed = false;

  constructor(address: string, options: { callTimeoutMs?: number } = {}) {
    this.address = address;
    this.timeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    // A bare path would be resolved as a DNS name by grpc-js.
    const target = `unix://${address}`;
    const channelOptions = {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS,
    };
    this.channel = new Channel(target, credentials.createInsecure(), channelOptions);
    const shared = { channelOverride: this.channel };
    const insecure = credentials.createInsecure();
    this.version = new VersionClient(target, insecure, shared);
    this.namespaces = new NamespacesClient(target, insecure, shared);
    this.containers = new ContainersClient(target, insecure, shared);
    this.content = new ContentClient(target, insecure, shared);
    this.images = new ImagesClient(target, insecure, shared);
    this.snapshots = new SnapshotsClient(target, insecure, shared);
    this.diff = new DiffClient(target, insecure, shared);
    this.leases = new LeasesClient(target, insecure, shared);
    this.tasks = new TasksClient(target, insecure, shared);
    this.events = new EventsClient(target, insecure, shared);
  }

  /** Request metadata for a namespace and lease. */
  metadata(scope: Pick<CallScope, 'namespace' | 'lease'> = {}): Metadata {
    const md = new Metadata();
    if (scope.namespace) md.set('containerd-namespace', scope.namespace);
    if (scope.lease) md.set('containerd-lease', scope.lease);
    return md;
  }

  /** Call options (deadline) for a scope. */
  callOptions(scope: CallScope = {}): Partial<CallOptions> {
    const timeout = scope.timeoutMs === undefined ? this.timeoutMs : scope.timeoutMs;
    return timeout === null ? {} : { deadline: Date.now() + timeout };
  }

  /** Calls a unary method; rejects with a KukeError whose message starts with `what`. */
  unary<C extends object, K extends UnaryMethod<C>>(client: C, method: K, request: RequestOf<C[K]>, what: string, scope: CallScope = {}): Promise<ResponseOf<C[K]>> {
    const fn = client[method] as unknown as UnaryFn<RequestOf<C[K]>, ResponseOf<C[K]>>;
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.closedError(what));
      if (scope.signal?.aborted) return reject(new KukeError(ErrorKind.Canceled, `${what}: canceled`));
      const call = fn.call(client, request, this.metadata(scope), this.callOptions(scope), (err, res) => {
        scope.signal?.removeEventListener('abort', cancel);
        if (err) reject(fromGrpc(err, what, this.address));
        else resolve(res);
      });
      const cancel = () => call.cancel();
      scope.signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Calls a server-streaming method and collects every message. */
  collect<C extends object, K extends StreamMethod<C>>(client: C, method: K, request: RequestOf<C[K]>, what: string, scope: CallScope = {}): Promise<StreamItemOf<C[K]>[]> {
    const fn = client[method] as unknown as StreamFn<RequestOf<C[K]>, StreamItemOf<C[K]>>;
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.closedError(what));
      const items: StreamItemOf<C[K]>[] = [];
      const stream = fn.call(client, request, this.metadata(scope), this.callOptions(scope));
      stream.on('data', (item: StreamItemOf<C[K]>) => items.push(item));
      stream.on('error', (err) => reject(fromGrpc(err, what, this.address)));
      stream.on('end', () => resolve(items));
    });
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  private closedError(what: string): KukeError {
    return new KukeError(ErrorKind.Unavailable, `${what}: the connection to containerd at ${this.address} was closed`, { hint: 'this is a bug: the runtime was used after close()' });
  }

  /** Closes every stub and the channel; calls in flight fail with Canceled/Unavailable, later ones with Unavailable. */
  close(): void {
    this.isClosed = true;
    for (const c of [this.version, this.namespaces, this.containers, this.content, this.images, this.snapshots, this.diff, this.leases, this.tasks, this.events]) c.close();
    this.channel.close();
  }
}

/**
 * Resolves to undefined instead of rejecting when the error has one of `kinds` (NotFound on delete, AlreadyExists
 * on create: the idempotent outcomes).
 *
 * @example
 * await tolerate(conn.unary(conn.containers, 'delete', { id }, `deleting container ${id}`, { namespace }), ErrorKind.NotFound);
 */
export async function tolerate<T>(call: Promise<T>, ...kinds: ErrorKind[]): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof KukeError && kinds.includes(err.kind)) return undefined;
    throw err;
  }
}

/** A protobuf Timestamp as an ISO string; undefined for Go's zero time ("not set", seconds <= 0). */
export function isoTime(ts: { seconds: number; nanos: number } | undefined): string | undefined {
  if (!ts || ts.seconds <= 0) return undefined;
  return new Date(ts.seconds * 1000 + Math.floor(ts.nanos / 1e6)).toISOString();
}

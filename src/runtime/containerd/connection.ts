/**
 * One gRPC channel to containerd over its unix socket, shared by every service stub; the namespace travels in
 * the `containerd-namespace` metadata, leases in `containerd-lease`. gRPC statuses become KukeErrors here, once
 * (containerd maps its errdefs closely onto gRPC codes; the shim's failures come as UNKNOWN with a message).
 */
import { Channel, credentials, Metadata, status, type CallOptions, type Client, type ServiceError } from '@grpc/grpc-js';
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

/** Default deadline of unary calls (never used for Wait or Subscribe, which are long-lived). */
export const CALL_TIMEOUT_MS = 60_000;

const CODE_TO_KIND: Partial<Record<status, ErrorKind>> = {
  [status.NOT_FOUND]: ErrorKind.NotFound,
  [status.ALREADY_EXISTS]: ErrorKind.AlreadyExists,
  [status.FAILED_PRECONDITION]: ErrorKind.FailedPrecondition,
  [status.INVALID_ARGUMENT]: ErrorKind.InvalidArgument,
  [status.UNAVAILABLE]: ErrorKind.Unavailable,
  [status.DEADLINE_EXCEEDED]: ErrorKind.DeadlineExceeded,
  [status.CANCELLED]: ErrorKind.Canceled,
  [status.PERMISSION_DENIED]: ErrorKind.PermissionDenied,
  [status.UNIMPLEMENTED]: ErrorKind.Unimplemented,
  [status.OUT_OF_RANGE]: ErrorKind.InvalidArgument,
  [status.ABORTED]: ErrorKind.Conflict,
};

/** A gRPC error from containerd as a KukeError of the matching kind, with context. */
export function fromGrpc(error: unknown, context: string, address: string): KukeError {
  const e = error as Partial<ServiceError>;
  if (typeof e.code !== 'number') return new KukeError(ErrorKind.Internal, `${context}: ${(error as Error).message}`, { cause: error });
  // UNKNOWN comes from the shim and runc: the runtime refused, which is not a bug of ours.
  const kind = CODE_TO_KIND[e.code as status] ?? (e.code === status.UNKNOWN ? ErrorKind.FailedPrecondition : ErrorKind.Internal);
  const details = (e.details || e.message || 'failed').replace(/: unknown$/, '');
  if (kind === ErrorKind.Unavailable) {
    return new KukeError(kind, `${context}: containerd at ${address} is unavailable (${details})`, {
      hint: 'is containerd running? check its socket (--containerd-socket)',
      cause: error,
    });
  }
  return new KukeError(kind, `${context}: ${details}`, { cause: error });
}

/** The service stubs over one channel. */
export class Connection {
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

  constructor(readonly address: string) {
    const target = `unix://${address}`;
    const options = { 'grpc.max_receive_message_length': 16 << 20, 'grpc.max_send_message_length': 16 << 20 };
    this.channel = new Channel(target, credentials.createInsecure(), options);
    const shared = { ...options, channelOverride: this.channel };
    this.version = new VersionClient(target, credentials.createInsecure(), shared);
    this.namespaces = new NamespacesClient(target, credentials.createInsecure(), shared);
    this.containers = new ContainersClient(target, credentials.createInsecure(), shared);
    this.content = new ContentClient(target, credentials.createInsecure(), shared);
    this.images = new ImagesClient(target, credentials.createInsecure(), shared);
    this.snapshots = new SnapshotsClient(target, credentials.createInsecure(), shared);
    this.diff = new DiffClient(target, credentials.createInsecure(), shared);
    this.leases = new LeasesClient(target, credentials.createInsecure(), shared);
    this.tasks = new TasksClient(target, credentials.createInsecure(), shared);
    this.events = new EventsClient(target, credentials.createInsecure(), shared);
  }

  /** Metadata for a namespace (and optionally a lease). */
  meta(namespace?: string, lease?: string): Metadata {
    const md = new Metadata();
    if (namespace) md.set('containerd-namespace', namespace);
    if (lease) md.set('containerd-lease', lease);
    return md;
  }

  /**
   * Calls a unary method; rejects with a KukeError carrying `context`.
   *
   * @example
   * await conn.call(conn.tasks, conn.tasks.get, { containerId: id, execId: '' }, conn.meta(ns), `task ${id}`);
   */
  call<Req, Res>(
    client: Client,
    method: (req: Req, md: Metadata, options: Partial<CallOptions>, cb: (err: ServiceError | null, res: Res) => void) => unknown,
    request: Req,
    metadata: Metadata,
    context: string,
    options: { timeoutMs?: number | null } = {},
  ): Promise<Res> {
    const timeout = options.timeoutMs === undefined ? CALL_TIMEOUT_MS : options.timeoutMs;
    return new Promise<Res>((resolve, reject) => {
      method.call(client, request, metadata, timeout === null ? {} : { deadline: Date.now() + timeout }, (err, res) => {
        if (err) reject(fromGrpc(err, context, this.address));
        else resolve(res);
      });
    });
  }

  close(): void {
    for (const c of [this.version, this.namespaces, this.containers, this.content, this.images, this.snapshots, this.diff, this.leases, this.tasks, this.events]) c.close();
    this.channel.close();
  }
}

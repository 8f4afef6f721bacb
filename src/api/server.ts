/**
 * The gRPC service kukeond serves: thin handlers that translate protobuf to the API (backend.ts) and back, with
 * errors mapped once (errors.ts). Who asks is recorded on every event: uid, gid and pid as the kernel knows the
 * socket's peer (given by the daemon, src/daemon/peer.ts), and the command line the client reports in metadata, for
 * display only. The socket's 0660 root:kukeon mode is what restricts who may ask.
 */
import { Server, type Metadata, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import type { Actor } from '../../events/record.js';
import { ErrorKind, toKukeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { KukeonClient } from './client.js';
import {
  cellTemplateFromPb,
  cellToPb,
  eventToPb,
  realmToPb,
  refToKey,
  refToQuery,
  resourceToPb,
  spaceToPb,
  stackToPb,
} from './convert.js';
import { toServiceError } from './errors.js';
import * as pb from './gen/kukeon/v1/kukeon.js';

/** Metadata key under which a client gives its command line (display only: who called is the kernel's answer). */
export const ACTOR_METADATA = { name: 'kukeon-command' } as const;

/** The caller as far as the client says (its command line, if any); uid, gid and pid come from the kernel. */
function claimedActor(metadata: Metadata): Actor {
  const name = metadata.get(ACTOR_METADATA.name)[0];
  if (typeof name !== 'string') return { type: 'user' };
  let decoded = name;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    // not percent-encoded: shown as sent
  }
  return { type: 'user', name: decoded.slice(0, 200) };
}

/** A caller's identity as the kernel has it. */
export interface CallerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** Finds the kernel's credentials of a call's connection by `call.getPeer()`; undefined when unknown. */
export type CredentialsLookup = (peer: string) => Promise<CallerCredentials | undefined>;

/** Calls that record nothing: they do not wait for the caller's credentials. */
const READ_ONLY = new Set(['ping', 'get', 'usage', 'history', 'watchHistory', 'verifyLog']);

/**
 * Builds the handlers over a backend factory (one backend per request, acting as the caller). With `credentialsOf`,
 * a call that records events carries the kernel's uid, gid and pid of its caller, never the ones it claims; without
 * it (or when the kernel cannot say), it carries none.
 */
export function kukeonHandlers(
  backendFor: (actor: Actor) => KukeonClient,
  logger: Logger,
  isDraining: () => boolean,
  credentialsOf?: CredentialsLookup,
): pb.KukeonServiceServer {
  const actorFor = async (method: string, call: { metadata: Metadata; getPeer(): string }): Promise<Actor> => {
    const { name } = claimedActor(call.metadata);
    const peer = credentialsOf && !READ_ONLY.has(method) ? await credentialsOf(call.getPeer()) : undefined;
    return { type: 'user', ...(peer ? { uid: peer.uid, gid: peer.gid, pid: peer.pid } : {}), ...(name !== undefined ? { name } : {}) };
  };
  const unary =
    <Req, Res>(method: string, fn: (backend: KukeonClient, req: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      if (isDraining() && method !== 'ping') {
        callback({ code: 14, details: 'kukeond is shutting down; retry shortly' });
        return;
      }
      actorFor(method, call)
        .then((actor) => fn(backendFor(actor), call.request))
        .then((res) => callback(null, res))
        .catch((err: unknown) => {
          // An internal fault is what the client's "details in the daemon's log" points at: log it at error level.
          if (toKukeError(err).kind === ErrorKind.Internal) logger.error({ err, method }, 'request failed with an internal error');
          else logger.debug({ err, method }, 'request failed');
          callback(toServiceError(err));
        });
    };

  return {
    ping: unary('ping', async (b, _req: pb.PingRequest) => b.ping()),
    get: unary('get', async (b, req: pb.GetRequest) => {
      const items = await b.find(refToQuery(req.ref), { ...(req.atSeq ? { atSeq: req.atSeq } : {}), ...(req.atTime ? { atTime: req.atTime } : {}) });
      return { items: items.map(resourceToPb) };
    }),
    usage: unary('usage', async (b, req: pb.UsageRequest) => b.usage(refToQuery(req.ref) as never)),
    createRealm: unary('createRealm', async (b, req: pb.CreateRealmRequest) => {
      const { view, created } = await b.createRealm({ name: req.name, ...(req.namespace ? { namespace: req.namespace } : {}), labels: req.labels });
      return { realm: realmToPb(view), created };
    }),
    createSpace: unary('createSpace', async (b, req: pb.CreateSpaceRequest) => {
      const { view, created } = await b.createSpace({ realm: req.realm, space: req.name, labels: req.labels });
      return { space: spaceToPb(view), created };
    }),
    createStack: unary('createStack', async (b, req: pb.CreateStackRequest) => {
      const { view, created } = await b.createStack({ realm: req.realm, space: req.space, stack: req.name, labels: req.labels });
      return { stack: stackToPb(view), created };
    }),
    createCell: unary('createCell', async (b, req: pb.CreateCellRequest) => {
      const { view, created } = await b.createCell({ realm: req.realm, space: req.space, stack: req.stack, cell: req.name, template: cellTemplateFromPb(req.template), start: req.start });
      return { cell: cellToPb(view), created };
    }),
    apply: unary('apply', async (b, req: pb.ApplyRequest) => {
      const results = await b.apply(req.manifest);
      return { results: results.map((r) => ({ index: r.index, kind: r.kind, name: r.name, action: r.action, changes: r.changes, error: r.error })) };
    }),
    delete: unary('delete', async (b, req: pb.DeleteRequest) => {
      await b.delete(refToQuery(req.ref) as never, { cascade: req.cascade, force: req.force, keepLogs: req.keepLogs });
      return {};
    }),
    startCell: unary('startCell', async (b, req: pb.StartCellRequest) => ({ cell: cellToPb(await b.startCell(cellRef(req.cell))) })),
    stopCell: unary('stopCell', async (b, req: pb.StopCellRequest) => {
      const view = await b.stopCell(cellRef(req.cell), { mode: req.mode === 'kill' ? 'kill' : 'stop', ...(req.graceMs ? { graceMs: req.graceMs } : {}) });
      return { cell: cellToPb(view), changed: view.changed !== false };
    }),
    restartCell: unary('restartCell', async (b, req: pb.RestartCellRequest) => ({
      cell: cellToPb(await b.restartCell(cellRef(req.cell), req.graceMs ? { graceMs: req.graceMs } : {})),
    })),
    history: unary('history', async (b, req: pb.HistoryRequest) => {
      const events = await b.history(refToKey(req.ref), { ...(req.sinceSeq ? { sinceSeq: req.sinceSeq } : {}), ...(req.sinceTime ? { sinceTime: req.sinceTime } : {}) });
      return { events: events.map(eventToPb) };
    }),
    watchHistory: (call: ServerWritableStream<pb.WatchHistoryRequest, pb.WatchHistoryResponse>) => {
      const abort = new AbortController();
      // grpc-js emits 'cancelled' also after a normal end (grpc-node#2771): cleanup only.
      call.on('cancelled', () => abort.abort());
      const req = call.request;
      const backend = backendFor(claimedActor(call.metadata));
      let key;
      try {
        key = refToKey(req.ref);
      } catch (err) {
        call.destroy(Object.assign(new Error('bad request'), toServiceError(err)));
        return;
      }
      backend
        .watchHistory(key, { ...(req.sinceSeq ? { sinceSeq: req.sinceSeq } : {}), ...(req.sinceTime ? { sinceTime: req.sinceTime } : {}) }, (record) => call.write({ event: eventToPb(record) }), abort.signal)
        .then(() => call.end())
        .catch((err: unknown) => call.destroy(Object.assign(new Error('watch failed'), toServiceError(err))));
    },
    verifyLog: unary('verifyLog', async (b, _req: pb.VerifyLogRequest) => {
      const r = await b.verifyLog();
      return {
        ok: r.ok,
        records: r.records,
        headSeq: r.headSeq,
        headHash: r.headHash,
        badSeq: r.firstBad?.seq ?? 0,
        problem: r.firstBad?.problem ?? '',
        message: r.firstBad?.message ?? '',
      };
    }),
  };
}

function cellRef(ref: pb.CellRef | undefined) {
  return { realm: ref?.realm ?? '', space: ref?.space ?? '', stack: ref?.stack ?? '', cell: ref?.cell ?? '' };
}

/** A grpc-js server with the Kukeon service registered (not yet bound). */
export function createApiServer(handlers: pb.KukeonServiceServer): Server {
  const server = new Server({ 'grpc.max_receive_message_length': 16 << 20, 'grpc.max_send_message_length': 16 << 20 });
  server.addService(pb.KukeonServiceService, handlers);
  return server;
}


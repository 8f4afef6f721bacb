/**
 * The gRPC service kukeond serves: thin handlers that translate protobuf to the API (backend.ts) and back, with
 * errors mapped once (errors.ts). Who asks is recorded on every event: the client reports its uid, pid and command
 * in metadata (the socket's 0660 root:kukeon mode is what restricts who may ask).
 */
import { Server, type Metadata, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import type { Actor } from '../../events/record.js';
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

/** Metadata keys a client uses to say who it is. */
export const ACTOR_METADATA = { uid: 'kukeon-uid', gid: 'kukeon-gid', pid: 'kukeon-pid', name: 'kukeon-command' } as const;

function actorOf(metadata: Metadata): Actor {
  const num = (key: string) => {
    const v = metadata.get(key)[0];
    const n = typeof v === 'string' ? Number(v) : NaN;
    return Number.isInteger(n) ? n : undefined;
  };
  const name = metadata.get(ACTOR_METADATA.name)[0];
  const uid = num(ACTOR_METADATA.uid);
  const gid = num(ACTOR_METADATA.gid);
  const pid = num(ACTOR_METADATA.pid);
  return {
    type: 'user',
    ...(uid !== undefined ? { uid } : {}),
    ...(gid !== undefined ? { gid } : {}),
    ...(pid !== undefined ? { pid } : {}),
    ...(typeof name === 'string' ? { name: decodeURIComponent(name).slice(0, 200) } : {}),
  };
}

/** Builds the handlers over a backend factory (one backend per request, acting as the caller). */
export function kukeonHandlers(backendFor: (actor: Actor) => KukeonClient, logger: Logger, isDraining: () => boolean): pb.KukeonServiceServer {
  const unary =
    <Req, Res>(method: string, fn: (backend: KukeonClient, req: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      if (isDraining() && method !== 'ping') {
        callback({ code: 14, details: 'kukeond is shutting down; retry shortly' });
        return;
      }
      const actor = actorOf(call.metadata);
      fn(backendFor(actor), call.request)
        .then((res) => callback(null, res))
        .catch((err: unknown) => {
          logger.debug({ err, method }, 'request failed');
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
      await b.delete(refToQuery(req.ref) as never, { cascade: req.cascade, force: req.force });
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
      const backend = backendFor(actorOf(call.metadata));
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


/**
 * The gRPC service kukeond serves: thin handlers that translate protobuf to the API (backend.ts) and back, with
 * errors mapped once (errors.ts). Who asks is recorded on every event: uid, gid and pid as the kernel knows the
 * socket's peer (given by the daemon, src/daemon/peer.ts), and the command line the client reports in metadata, for
 * display only. The socket's 0660 root:kukeon mode keeps everyone else out; who of those may do what is decided per
 * request by the daemon's Authorizer (authorization.ts), before anything is done.
 */
import { Server, type Metadata, type sendUnaryData, type ServerDuplexStream, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import type { Actor, EventRecord } from '../../events/record.js';
import { ErrorKind, KukeError, toKukeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Authorizer, Method } from './authorization.js';
import type { KukeonClient } from './client.js';
import {
  applyResultToPb,
  cellTemplateFromPb,
  cellToPb,
  eventToPb,
  execInputFromPb,
  execStartFromPb,
  realmToPb,
  refToKey,
  refToQuery,
  resourceToPb,
  secretToPb,
  spaceToPb,
  stackToPb,
} from './convert.js';
import { toServiceError } from './errors.js';
import * as pb from './gen/kukeon/v1/kukeon.js';
import { fitMessage, PART_BYTES, partsOf, SERVER_CHANNEL_OPTIONS, stringLength } from './limits.js';
import { refuseUnknownFields } from './unknown-fields.js';
import { AsyncQueue } from './async-queue.js';

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
const READ_ONLY = new Set(['ping', 'find', 'usage', 'readHistory', 'watchHistory', 'verifyLog', 'listSecrets', 'logs']);

/** What a streaming handler is given: the request, a way to send one item, and the call's cancellation. */
interface StreamScope<Req, Res> {
  request: Req;
  call: ServerWritableStream<Req, Res>;
  /** Aborts when the client cancels or goes away. */
  signal: AbortSignal;
}

/**
 * Sends one item of an answer stream: its typed message when it is at most PART_BYTES, else its JSON as parts,
 * written back to back so that nothing comes between them. Returns false when the stream's buffer is full.
 */
function writeItem<Res>(call: ServerWritableStream<unknown, Res>, typed: Res, encode: (m: Res) => Uint8Array, json: () => string, asPart: (part: pb.Part) => Res): boolean {
  // Its strings alone tell when an item is too large (each character is at least a byte), without encoding it:
  // ts-proto encodes 10 MB of text in about 300 ms.
  if (stringLength(typed) <= PART_BYTES && encode(typed).length <= PART_BYTES) return call.write(typed);
  let ok = true;
  for (const part of partsOf(json())) ok = call.write(asPart(part));
  return ok;
}

/** Resolves when the stream can take more, or the call is gone. */
function drained(call: ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Unary answers by method, serialized, to measure them. */
const SERVICE = pb.KukeonServiceService as unknown as Record<string, { responseSerialize(value: unknown): Buffer }>;

/**
 * Builds the handlers over a backend factory (one backend per request, acting as the caller). With `credentialsOf`,
 * a call that records events carries the kernel's uid, gid and pid of its caller, never the ones it claims; without
 * it (or when the kernel cannot say), it carries none. With `access` (the daemon always gives it), every request is
 * checked against its caller's role first, and a denied one does nothing but record the denial.
 */
export function kukeonHandlers(
  backendFor: (actor: Actor) => KukeonClient,
  logger: Logger,
  isDraining: () => boolean,
  credentialsOf?: CredentialsLookup,
  access?: Pick<Authorizer, 'check'>,
): pb.KukeonServiceServer {
  const actorFor = async (method: string, call: { metadata: Metadata; getPeer(): string; request?: unknown }): Promise<Actor> => {
    const { name } = claimedActor(call.metadata);
    // Reads skip the lookup (one `ss` run per connection, peer.ts) unless they too are checked.
    const peer = credentialsOf && (access || !READ_ONLY.has(method)) ? await credentialsOf(call.getPeer()) : undefined;
    const actor: Actor = { type: 'user', ...(peer ? { uid: peer.uid, gid: peer.gid, pid: peer.pid } : {}), ...(name !== undefined ? { name } : {}) };
    await access?.check(method as Method, call.request as never, peer, actor);
    return actor;
  };
  const logFailure = (err: unknown, method: string) => {
    // An internal fault is what the client's "details in the daemon's log" points at: log it at error level.
    if (toKukeError(err).kind === ErrorKind.Internal) logger.error({ err, method }, 'request failed with an internal error');
    else logger.debug({ err, method }, 'request failed');
  };
  // Refused before anything else: a request with fields this daemon does not know would be half understood.
  const checked = async (method: string, request: unknown) => refuseUnknownFields(method.charAt(0).toUpperCase() + method.slice(1), request);
  const unary =
    <Req, Res>(method: string, fn: (backend: KukeonClient, req: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      if (isDraining() && method !== 'ping') {
        callback({ code: 14, details: 'kukeond is shutting down; retry shortly' });
        return;
      }
      const size = (res: Res) => SERVICE[method]!.responseSerialize(res).length;
      checked(method, call.request)
        .then(() => actorFor(method, call))
        .then((actor) => fn(backendFor(actor), call.request))
        // A view of a cell that an older version stored with a huge value must not fail the answer after the work
        // is done: such strings are cut with a marker (limits.ts).
        .then((res) => callback(null, fitMessage(res, size)))
        .catch((err: unknown) => {
          logFailure(err, method);
          callback(toServiceError(err));
        });
    };
  const stream =
    <Req, Res>(method: string, fn: (backend: KukeonClient, scope: StreamScope<Req, Res>) => Promise<void>) =>
    (call: ServerWritableStream<Req, Res>) => {
      const fail = (err: unknown) => {
        logFailure(err, method);
        // Emitting 'error' is how grpc-js's server stream ends with a status; destroy() would end it with none, and
        // the client would wait until its deadline.
        call.emit('error', Object.assign(new Error(`${method} failed`), toServiceError(err)));
      };
      if (isDraining()) {
        fail(new KukeError(ErrorKind.Unavailable, 'kukeond is shutting down; retry shortly'));
        return;
      }
      const abort = new AbortController();
      // grpc-js emits 'cancelled' also after a normal end (grpc-node#2771): cleanup only.
      call.on('cancelled', () => abort.abort());
      checked(method, call.request)
        .then(() => actorFor(method, call))
        .then((actor) => fn(backendFor(actor), { request: call.request, call, signal: abort.signal }))
        .then(() => call.end())
        .catch(fail);
    };
  const at = (req: { atSeq: number; atTime: string }) => ({ ...(req.atSeq ? { atSeq: req.atSeq } : {}), ...(req.atTime ? { atTime: req.atTime } : {}) });
  const since = (req: { sinceSeq: number; sinceTime: string }) => ({ ...(req.sinceSeq ? { sinceSeq: req.sinceSeq } : {}), ...(req.sinceTime ? { sinceTime: req.sinceTime } : {}) });
  const encodeEvent = (m: { event?: pb.Event }) => pb.ReadHistoryResponse.encode(m).finish();
  const writeEvent = (call: ServerWritableStream<unknown, { event?: pb.Event; part?: pb.Part }>, record: EventRecord) =>
    writeItem(call, { event: eventToPb(record) }, encodeEvent, () => JSON.stringify(record), (part) => ({ part }));

  return {
    ping: unary('ping', async (b, _req: pb.PingRequest) => b.ping()),
    find: stream('find', async (b, { request, call, signal }: StreamScope<pb.FindRequest, pb.FindResponse>) => {
      const views = await b.find(refToQuery(request.ref), at(request));
      for (const view of views) {
        if (signal.aborted) return;
        const encode = (m: pb.FindResponse) => pb.FindResponse.encode(m).finish();
        if (!writeItem(call, { resource: resourceToPb(view) }, encode, () => JSON.stringify(view), (part) => ({ part }))) await drained(call, signal);
      }
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
    applyManifest: stream('applyManifest', async (b, { request, call, signal }: StreamScope<pb.ApplyManifestRequest, pb.ApplyManifestResponse>) => {
      // Once the client is gone (Ctrl-C), the document in progress finishes and no further one starts. A result is a
      // few lines, but its error message may quote what the document held: it is fitted like a unary answer.
      const size = (m: pb.ApplyManifestResponse) => pb.ApplyManifestResponse.encode(m).finish().length;
      await b.apply(request.manifest, { signal, onResult: (r) => signal.aborted || call.write(fitMessage({ result: applyResultToPb(r) }, size)) });
    }),
    delete: unary('delete', async (b, req: pb.DeleteRequest) => {
      const { leftovers } = await b.delete(refToQuery(req.ref) as never, { cascade: req.cascade, force: req.force, keepLogs: req.keepLogs });
      return { leftovers: leftovers.map((l) => ({ stream: l.stream, resource: l.resource, errorKind: l.error.kind, errorMessage: l.error.message })) };
    }),
    startCell: unary('startCell', async (b, req: pb.StartCellRequest) => ({ cell: cellToPb(await b.startCell(cellRef(req.cell))) })),
    stopCell: unary('stopCell', async (b, req: pb.StopCellRequest) => {
      const view = await b.stopCell(cellRef(req.cell), { mode: req.mode === 'kill' ? 'kill' : 'stop', ...(req.graceMs ? { graceMs: req.graceMs } : {}) });
      return { cell: cellToPb(view), changed: view.changed !== false };
    }),
    restartCell: unary('restartCell', async (b, req: pb.RestartCellRequest) => ({
      cell: cellToPb(await b.restartCell(cellRef(req.cell), req.graceMs ? { graceMs: req.graceMs } : {})),
    })),
    readHistory: stream('readHistory', async (b, { request, call, signal }: StreamScope<pb.ReadHistoryRequest, pb.ReadHistoryResponse>) => {
      for (const record of await b.history(refToKey(request.ref), since(request))) {
        if (signal.aborted) return;
        if (!writeEvent(call, record)) await drained(call, signal);
      }
    }),
    // History, then live events: these come from the engine's callback one at a time, so they are written as they
    // come (grpc-js buffers them) rather than waiting for the stream to drain.
    watchHistory: stream('watchHistory', async (b, { request, call, signal }: StreamScope<pb.WatchHistoryRequest, pb.WatchHistoryResponse>) => {
      await b.watchHistory(refToKey(request.ref), since(request), (record) => writeEvent(call, record), signal);
    }),
    // logs (issue 12): chunks of the log as they are read; a slow client slows the reads (nothing piles up here).
    logs: stream('logs', async (b, { request, call, signal }: StreamScope<pb.LogsRequest, pb.LogsResponse>) => {
      const options = { ...(request.container ? { container: request.container } : {}), follow: request.follow, ...(request.tail !== undefined ? { tail: request.tail } : {}) };
      await b.logs(cellRef(request.cell), options, async (data) => {
        if (!call.write({ data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) })) await drained(call, signal);
      }, signal);
    }),
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
    // secrets (issue 11): the request's values go to the backend only; nothing here logs a request.
    putSecret: unary('putSecret', async (b, req: pb.PutSecretRequest) => {
      const data = Object.fromEntries(Object.entries(req.data).map(([k, v]) => [k, Buffer.from(v)]));
      const { view, action } = await b.putSecret({ realm: req.realm, space: req.space, name: req.name, data, labels: req.labels, createOnly: req.createOnly });
      return { secret: secretToPb(view), action };
    }),
    listSecrets: stream('listSecrets', async (b, { request, call, signal }: StreamScope<pb.ListSecretsRequest, pb.ListSecretsResponse>) => {
      const filter = { ...(request.realm ? { realm: request.realm } : {}), ...(request.space ? { space: request.space } : {}), ...(request.name ? { name: request.name } : {}) };
      for (const view of await b.listSecrets(filter)) {
        if (signal.aborted) return;
        if (!call.write({ secret: secretToPb(view) })) await drained(call, signal);
      }
    }),
    deleteSecret: unary('deleteSecret', async (b, req: pb.DeleteSecretRequest) => {
      await b.deleteSecret({ realm: req.realm, space: req.space, name: req.name, force: req.force });
      return {};
    }),

    // exec (issue 12)
    exec: (call: ServerDuplexStream<pb.ExecRequest, pb.ExecResponse>) => {
      const fail = (err: unknown) => {
        logFailure(err, 'exec');
        call.emit('error', Object.assign(new Error('exec failed'), toServiceError(err)));
      };
      if (isDraining()) return fail(new KukeError(ErrorKind.Unavailable, 'kukeond is shutting down; retry shortly'));
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      const inputs = inputsOf(call);
      firstOf(inputs, EXEC_START_TIMEOUT_MS)
        .then(async (first) => {
          await checked('exec', first);
          if (!first.start) throw new KukeError(ErrorKind.InvalidArgument, 'Exec: the first message must say what to run (start)');
          // Checked on the first message: it says which cell (the realm decides who may).
          const actor = await actorFor('exec', { metadata: call.metadata, getPeer: () => call.getPeer(), request: first });
          const result = await backendFor(actor).exec(execStartFromPb(first.start), {
            input: restOf(inputs, (m: pb.ExecRequest) => {
              refuseUnknownFields('Exec', m);
              return execInputFromPb(m);
            }),
            output: async (stream, data) => {
              if (abort.signal.aborted) return;
              if (!call.write(stream === 'stdout' ? { stdout: Buffer.from(data) } : { stderr: Buffer.from(data) })) await drained(call as never, abort.signal);
            },
            signal: abort.signal,
          });
          call.write({ exit: { code: result.exitCode, message: result.message ?? '', execId: result.execId } });
          call.end();
        })
        .catch(fail);
    },
  };
}

/** How long a client may take to send its ExecStart. */
const EXEC_START_TIMEOUT_MS = 30_000;
/** Messages of the client held before it is paused (each at most a few KiB of stdin, or a resize). */
const INPUT_QUEUE_MAX = 16;

/**
 * The client's messages of a bidirectional call, pulled as they are consumed: beyond INPUT_QUEUE_MAX waiting messages
 * the call is paused (HTTP/2 flow control then holds the client back).
 */
function inputsOf<T>(call: ServerDuplexStream<T, unknown>): AsyncQueue<T> {
  const queue = new AsyncQueue<T>({ highWater: INPUT_QUEUE_MAX, onFull: () => call.pause(), onLow: () => call.resume() });
  call.on('data', (m: T) => queue.push(m));
  for (const event of ['end', 'error', 'cancelled']) call.on(event, () => queue.end());
  return queue;
}

/** The first message of a call; InvalidArgument if the client ends without one, DeadlineExceeded after `timeoutMs`. */
async function firstOf<T>(queue: AsyncQueue<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KukeError(ErrorKind.DeadlineExceeded, `the client sent no request within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    const m = await Promise.race([queue.next(), late]);
    if (m === undefined) throw new KukeError(ErrorKind.InvalidArgument, 'the client ended the call without a request');
    return m;
  } finally {
    clearTimeout(timer);
  }
}

/** The rest of a call's messages, converted (undefined: skipped), until the client ends its side. */
async function* restOf<T, U>(queue: AsyncQueue<T>, convert: (m: T) => U | undefined): AsyncIterable<U> {
  for await (const m of queue) {
    const u = convert(m);
    if (u !== undefined) yield u;
  }
}

function cellRef(ref: pb.CellRef | undefined) {
  return { realm: ref?.realm ?? '', space: ref?.space ?? '', stack: ref?.stack ?? '', cell: ref?.cell ?? '' };
}

/** A grpc-js server with the Kukeon service registered (not yet bound). */
export function createApiServer(handlers: pb.KukeonServiceServer): Server {
  const server = new Server(SERVER_CHANNEL_OPTIONS);
  server.addService(pb.KukeonServiceService, handlers);
  return server;
}


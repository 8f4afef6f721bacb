/**
 * The API over a real grpc-js server on a unix socket, against the same backend the in-process client uses (fake
 * runtime): message limits, items larger than one message, and apply results streamed as each document is done.
 */
import { credentials, Metadata, ServerCredentials, status, type Server, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../../events/record.js';
import { EngineBackend } from '../../../src/api/backend.js';
import type { ApplyProgress, KukeonClient } from '../../../src/api/client.js';
import { fromServiceError } from '../../../src/api/errors.js';
import * as pb from '../../../src/api/gen/kukeon/v1/kukeon.js';
import { GrpcClient } from '../../../src/api/grpc-client.js';
import { MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES } from '../../../src/api/limits.js';
import { createApiServer, kukeonHandlers } from '../../../src/api/server.js';
import { ErrorKind, KukeError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import type { CellView } from '../../../src/model/resources.js';
import type { Runtime } from '../../../src/runtime/ports.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { openEngine, type OpenedEngine } from '../../../src/engine/index.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { CONFIG, template, user } from '../../support/fake-engine.js';
import { MemoryStore } from '../../support/memory-store.js';


/** The KukeError `promise` rejects with. */
async function rejection(promise: Promise<unknown>): Promise<KukeError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof KukeError)) throw new Error(`expected a KukeError, got ${String(err)}`);
  return err;
}

/** A value no single message can carry (the e2e test stores the 10 MB of issue 9; this keeps the unit tier quick). */
const HUGE = 'V'.repeat(MAX_MESSAGE_BYTES + 1);
const BIG = { realm: 'default', space: 'default', stack: 'default', cell: 'big' };
const CELLS = { kind: 'cell' as const, realm: 'default', space: 'default', stack: 'default' };

let dir: string;
let server: Server;
let client: GrpcClient;
let setup: { world: FakeWorld; opened: OpenedEngine; ops: OpenedEngine['operations']; engine: OpenedEngine['engine'] };
/** Cells whose createContainer waits for `release` (to hold an apply in the middle of a document). */
const held = new Map<string, Promise<void>>();
/** The daemon side of the last apply: its progress (signal) and its end. */
let lastApply: { progress: ApplyProgress; done: Promise<unknown> } | undefined;

class RecordingBackend extends EngineBackend {
  override apply(manifest: string, progress: ApplyProgress = {}) {
    const done = super.apply(manifest, progress);
    lastApply = { progress, done: done.catch(() => undefined) };
    return done;
  }
}

function holdingRuntime(runtime: Runtime): Runtime {
  const createContainer = runtime.containers.createContainer.bind(runtime.containers);
  runtime.containers.createContainer = async (spec) => {
    const gate = [...held].find(([cell]) => spec.id.includes(`_${cell}_`))?.[1];
    if (gate) await gate;
    return createContainer(spec);
  };
  return runtime;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kukeon-api-'));
  const world = new FakeWorld();
  world.addImage('busybox');
  const runtime = holdingRuntime(world.runtime());
  const opened = await openEngine({ store: new MemoryStore(catalogCodec), runtime, config: CONFIG });
  setup = { world, opened, ops: opened.operations, engine: opened.engine };
  await setup.ops.createRealm({ name: 'default' }, user);
  await setup.ops.createSpace({ realm: 'default', space: 'default' }, user);
  await setup.ops.createStack({ realm: 'default', space: 'default', stack: 'default' }, user);
  // A cell stored by an older version that set no limit on env values: written as its CreateCell command was.
  const big = template('busybox', ['side']);
  big.containers[0]!.env = [`HUGE=${HUGE}`];
  await setup.engine.dispatch('cell/default/default/default/big', 'CreateCell', { template: big }, user);
  await setup.ops.startCell(BIG, user);
  server = createApiServer(kukeonHandlers((actor: Actor) => new RecordingBackend(setup.opened, runtime, actor), silentLogger(), () => false));
  const socket = join(dir, 'api.sock');
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  client = new GrpcClient({ socket });
}, 60_000);

afterAll(async () => {
  await client?.close();
  server?.forceShutdown();
  await setup?.opened.close();
  rmSync(dir, { recursive: true, force: true });
});

const inProcess = (): KukeonClient => new EngineBackend(setup.opened, setup.world.runtime(), user.actor);

// A value of several MB is a second or so of JSON and UTF-8 work on each side on the test VM.
describe('listing and history over gRPC, whatever the log holds', { timeout: 60_000 }, () => {
  it('lists a cell holding an env value larger than any message whole, exactly as the in-process client does', async () => {
    const views = await client.find(CELLS);
    expect(views).toEqual(await inProcess().find(CELLS));
    const big = views.find((v) => v.name === 'big') as CellView;
    expect(big.template!.containers[0]!.env).toEqual([`HUGE=${HUGE}`]);
    expect(big.containers.find((c) => c.root)!.template!.env).toEqual([`HUGE=${HUGE}`]);
  });

  it('shows that cell as it was at an earlier seq (get --at)', async () => {
    const atSeq = (await inProcess().history({ kind: 'cell', ...BIG })).find((r) => r.type === 'CreateCell')!.seq;
    const views = await client.find({ ...CELLS, name: 'big' }, { atSeq });
    expect(views).toEqual(await inProcess().find({ ...CELLS, name: 'big' }, { atSeq }));
    expect(views[0]!.state).toBe('Pending');
  });

  it("reads the cell's history whole, records larger than a message included", async () => {
    const records = await client.history({ kind: 'cell', ...BIG });
    expect(records).toEqual(await inProcess().history({ kind: 'cell', ...BIG }));
    // UpdateCell: the address an older cell is given at its first start (src/engine/cell-network.ts).
    expect(records.filter((r) => JSON.stringify(r.data).includes(HUGE)).map((r) => r.type)).toEqual(['CreateCell', 'UpdateCell', 'CreateContainer']);
  });

  it('follows the history (--follow) through large records, then new events', async () => {
    const abort = new AbortController();
    const seen: string[] = [];
    const watching = client.watchHistory({ kind: 'cell', ...BIG }, {}, (r) => {
      seen.push(r.type);
      if (r.type === 'CellStopped') abort.abort();
    }, abort.signal);
    await expect.poll(() => seen.includes('CellStarted'), { timeout: 30_000 }).toBe(true);
    await client.stopCell(BIG, { mode: 'kill' });
    await watching;
    expect(seen.slice(0, 3)).toEqual(['CreateCell', 'UpdateCell', 'StartCell']);
    expect(seen.at(-1)).toBe('CellStopped');
  });

  it('answers a write on that cell with its view, cutting the huge values with a visible marker', async () => {
    const view = await client.startCell(BIG);
    expect(view.state).toBe('Ready');
    const env = view.template!.containers[0]!.env[0]!;
    expect(env.length).toBeLessThan(MAX_MESSAGE_BYTES / 2);
    expect(env).toMatch(/^HUGE=V+… \[cut by kukeon: \d+ characters do not fit in one API message; kuke get shows them whole\]$/);
    expect(env).toContain(`[cut by kukeon: ${HUGE.length + 5} characters`);
  });
});

describe('message limits', () => {
  it('refuses a manifest over its limit at the client, before sending it, with the line kukeond gives', async () => {
    const large = `kind: Realm\nmetadata: {name: x, labels: {a: "${'x'.repeat(2 << 20)}"}}\n`;
    const before = lastApply;
    const err = await rejection(client.apply(large));
    expect(lastApply).toBe(before);
    expect(err.kind).toBe(ErrorKind.InvalidArgument);
    expect(err.message).toBe('the manifest is 2 MiB, more than the limit of 1 MiB; split it into several files');
    // What kukeond answers a client that does not check (an older kuke), and what the in-process client says.
    const raw = new pb.KukeonServiceClient(`unix://${join(dir, 'api.sock')}`, credentials.createInsecure());
    try {
      const served = await new Promise<ServiceError>((resolve) => raw.applyManifest({ manifest: large }).on('error', resolve));
      expect(fromServiceError(served, 'api.sock')).toMatchObject({ kind: err.kind, message: err.message, hint: err.hint });
    } finally {
      raw.close();
    }
    expect(await rejection(inProcess().apply(large))).toMatchObject({ kind: err.kind, message: err.message, hint: err.hint });
  });

  it('refuses a cell too large to send with the line kukeond gives for it (its env limit), before sending it', async () => {
    const huge = { ...template('busybox'), containers: [{ ...template('busybox').containers[0]!, env: [`BIG=${'x'.repeat(5 << 20)}`] }] };
    const input = { realm: 'default', space: 'default', stack: 'default', cell: 'huge', template: huge };
    const err = await rejection(client.createCell(input));
    expect(err.kind).toBe(ErrorKind.InvalidArgument);
    expect(err.message).toBe('cell "huge": containers[0].env[0]: the value of "BIG" is 5 MiB, more than the limit of 32 KiB; put large data in a file or a volume');
    expect(await rejection(inProcess().createCell(input))).toMatchObject({ kind: err.kind, message: err.message, hint: err.hint });
    expect(setup.engine.stateOf('cell/default/default/default/huge')).toBe('Absent');
  });

  it('refuses a request over the message limit at the client, with its size and the limit', async () => {
    const label = 'x'.repeat(5 << 20);
    const err = await rejection(client.createRealm({ name: 'x', labels: { a: label } }));
    expect(err.kind).toBe(ErrorKind.InvalidArgument);
    expect(err.message).toBe('request too large: the createRealm request is 5 MiB (limit 4 MiB)');
    expect(setup.engine.stateOf('realm/x')).toBe('Absent');
  });

  it('answers an oversize request that bypassed the client check with RESOURCE_EXHAUSTED, and goes on serving', async () => {
    const raw = new pb.KukeonServiceClient(`unix://${join(dir, 'api.sock')}`, credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20 });
    try {
      const error = await new Promise<ServiceError>((resolve) => {
        raw.createRealm({ name: 'x', namespace: '', labels: { a: 'x'.repeat(MAX_REQUEST_BYTES) } }, new Metadata(), (err) => resolve(err!));
      });
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      const mapped = fromServiceError(error, 'api.sock');
      expect(mapped.kind).toBe(ErrorKind.InvalidArgument);
      expect(mapped.message).toMatch(/^message too large for kukeond's API: /);
      expect((await client.ping()).pid).toBe(process.pid);
    } finally {
      raw.close();
    }
  });
});

const manifest = (...names: string[]) =>
  names.map((n) => `kind: Cell\nmetadata: {name: ${n}}\nspec:\n  realmId: default\n  spaceId: default\n  stackId: default\n  containers:\n    - {id: main, image: busybox}\n`).join('---\n');

describe('apply over gRPC', () => {
  it('reports each document as soon as it is done, while the next one is being applied', async () => {
    let release!: () => void;
    held.set('a3', new Promise<void>((r) => (release = r)));
    const reported: string[] = [];
    const applying = client.apply(manifest('a1', 'a2', 'a3'), { onResult: (r) => reported.push(`${r.name}: ${r.action}`) });
    // a3 is held in the middle of its creation: a1 and a2 have already reached the client.
    await expect.poll(() => reported).toEqual(['a1: created', 'a2: created']);
    expect(setup.engine.stateOf('cell/default/default/default/a3')).toBe('Creating');
    release();
    expect((await applying).map((r) => `${r.name}: ${r.action}`)).toEqual(['a1: created', 'a2: created', 'a3: created']);
    expect(reported).toHaveLength(3);
  });

  it('validates every document before the first change', async () => {
    const seen: string[] = [];
    const err = await rejection(client.apply(`${manifest('v1')}---\nkind: Cell\nmetadata: {name: v2}\nspec: {}\n`, { onResult: (r) => seen.push(r.name) }));
    expect(err.kind).toBe(ErrorKind.InvalidArgument);
    expect(seen).toEqual([]);
    expect(setup.engine.stateOf('cell/default/default/default/v1')).toBe('Absent');
  });

  it('stops after the document in progress when the client cancels: no later document is started', async () => {
    let release!: () => void;
    held.set('c2', new Promise<void>((r) => (release = r)));
    const abort = new AbortController();
    const reported: string[] = [];
    const results = await client.apply(manifest('c1', 'c2', 'c3'), {
      signal: abort.signal,
      onResult: (r) => {
        reported.push(r.name);
        abort.abort();
      },
    });
    expect(results.map((r) => r.name)).toEqual(['c1']);
    // The daemon sees the cancel while c2 is held, then lets c2 finish and starts nothing more.
    await expect.poll(() => lastApply?.progress.signal?.aborted).toBe(true);
    release();
    await lastApply!.done;
    expect(reported).toEqual(['c1']);
    expect(setup.engine.stateOf('cell/default/default/default/c2')).toBe('Ready');
    expect(setup.engine.stateOf('cell/default/default/default/c3')).toBe('Absent');
  });
});

describe('requests with fields kukeond does not know (a kuke built from another proto)', () => {
  /** A raw client: it sends whatever fields it is given, as a kuke of another version would. */
  const rawCall = <Req>(call: (raw: pb.KukeonServiceClient, req: Req, cb: (err: ServiceError | null) => void) => void, req: Req) => {
    const raw = new pb.KukeonServiceClient(`unix://${join(dir, 'api.sock')}`, credentials.createInsecure());
    return new Promise<ServiceError | null>((resolve) => call(raw, req, resolve)).finally(() => raw.close());
  };
  /** Field 42 as a varint (wire type 0) holding 1: what a newer kuke's `bool something = 42` set to true sends. */
  const field42 = { [(42 << 3) | 0]: [Uint8Array.of(1)] };

  it('refuses a request carrying an unknown field with InvalidArgument naming the RPC and the field, and creates nothing', async () => {
    const error = await rawCall((raw, req, cb) => raw.createRealm(req, cb), { name: 'newer', namespace: '', labels: {}, _unknownFields: field42 });
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toBe('CreateRealm: unknown field 42 in the request; is kuke older or newer than kukeond?');
    const mapped = fromServiceError(error, 'api.sock');
    expect(mapped.kind).toBe(ErrorKind.InvalidArgument);
    expect(mapped.hint).toMatch(/kuke daemon recreate/);
    expect(setup.engine.stateOf('realm/newer')).toBe('Absent');
  });

  it('finds an unknown field at any depth and says where it is', async () => {
    const cell = pb.CreateCellRequest.fromPartial({
      realm: 'default',
      space: 'default',
      stack: 'default',
      name: 'deep',
      template: { root: 'main', containers: [{ name: 'main', image: 'busybox', restartPolicy: 'never' }] },
    });
    cell.template!.containers[0]!._unknownFields = field42;
    const error = await rawCall((raw, req, cb) => raw.createCell(req, cb), cell);
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toBe('CreateCell: unknown field 42 in template.containers[0] of the request; is kuke older or newer than kukeond?');
    expect(setup.engine.stateOf('cell/default/default/default/deep')).toBe('Absent');
  });

  it('refuses a known field number sent with another wire type (another type in the other proto)', async () => {
    // DeleteRequest.cascade (field 2) as a length-delimited string instead of a bool.
    const error = await rawCall((raw, req, cb) => raw.delete(req, cb), {
      ref: { kind: pb.Kind.KIND_CELL, realm: 'default', space: 'default', stack: 'default', cell: '', name: 'big' },
      cascade: false,
      force: false,
      keepLogs: false,
      _unknownFields: { [(2 << 3) | 2]: [Uint8Array.of(3, 121, 101, 115)] },
    });
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/^Delete: unknown field 2 in the request;/);
    expect(setup.engine.stateOf('cell/default/default/default/big')).not.toBe('Absent');
  });

  it('refuses a streamed request too (ApplyManifest): no document applied, the stream ends with the error', async () => {
    const raw = new pb.KukeonServiceClient(`unix://${join(dir, 'api.sock')}`, credentials.createInsecure());
    try {
      const results: unknown[] = [];
      const error = await new Promise<ServiceError>((resolve) => {
        const call = raw.applyManifest({ manifest: manifest('u1'), _unknownFields: field42 });
        call.on('data', (m) => results.push(m));
        call.on('error', resolve);
      });
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('ApplyManifest: unknown field 42 in the request; is kuke older or newer than kukeond?');
      expect(results).toEqual([]);
      expect(setup.engine.stateOf('cell/default/default/default/u1')).toBe('Absent');
    } finally {
      raw.close();
    }
  });

  it('serves the same requests without the extra field', async () => {
    const error = await rawCall((raw, req, cb) => raw.createRealm(req, cb), { name: 'newer', namespace: '', labels: {} });
    expect(error).toBeNull();
    expect(setup.engine.stateOf('realm/newer')).not.toBe('Absent');
  });
});

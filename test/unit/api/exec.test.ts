/**
 * `kuke exec` through the API on the fake runtime: over a real grpc-js bidirectional stream on a unix socket and
 * through the backend the in-process client uses; the audit pair in history with the kernel's caller; the
 * container's state untouched, live and after a replay; typed refusals before anything is recorded.
 */
import { ServerCredentials, type Server } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../../events/record.js';
import { EngineBackend } from '../../../src/api/backend.js';
import type { ExecInput, ExecRequest, KukeonClient } from '../../../src/api/client.js';
import { GrpcClient } from '../../../src/api/grpc-client.js';
import { createApiServer, kukeonHandlers } from '../../../src/api/server.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { Engine } from '../../../src/engine/engine.js';
import { auditedCommand } from '../../../src/engine/exec.js';
import { openEngine, type OpenedEngine } from '../../../src/engine/index.js';
import { ErrorKind, KukeError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { CONFIG, template, user } from '../../support/fake-engine.js';
import { MemoryStore } from '../../support/memory-store.js';

const WEB = { realm: 'default', space: 'default', stack: 'default', cell: 'web' };
const ROOT_STREAM = 'container/default/default/default/web/web_root';
const CALLER = { pid: 4242, uid: 1000, gid: 1000 };

let dir: string;
let server: Server;
let grpc: GrpcClient;
let store: MemoryStore;
let opened: OpenedEngine;
let world: FakeWorld;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kukeon-exec-api-'));
  world = new FakeWorld();
  world.addImage('busybox');
  store = new MemoryStore(catalogCodec);
  opened = await openEngine({ store, runtime: world.runtime(), config: CONFIG });
  await opened.operations.createRealm({ name: 'default' }, user);
  await opened.operations.createSpace({ realm: 'default', space: 'default' }, user);
  await opened.operations.createStack({ realm: 'default', space: 'default', stack: 'default' }, user);
  await opened.operations.createCell({ ...WEB, template: template('busybox', ['side']), start: true }, user);
  await opened.operations.createCell({ ...WEB, cell: 'idle', template: template() }, user);
  server = createApiServer(kukeonHandlers((actor: Actor) => new EngineBackend(opened, world.runtime(), actor), silentLogger(), () => false, async () => CALLER));
  const socket = join(dir, 'api.sock');
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  grpc = new GrpcClient({ socket, command: 'kuke exec web -- echo hi' });
}, 60_000);

afterAll(async () => {
  await grpc?.close();
  server?.forceShutdown();
  await opened?.close();
  rmSync(dir, { recursive: true, force: true });
});

const inProcess = (): KukeonClient => new EngineBackend(opened, world.runtime(), user.actor);

/** Runs an exec to its end with `inputs` sent; its output and result. */
async function run(client: KukeonClient, request: Partial<ExecRequest> & { command: string[] }, inputs: ExecInput[] = []) {
  const out: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  const result = await client.exec(
    { ...WEB, stdin: false, tty: false, ...request },
    {
      input: (async function* () {
        yield* inputs;
      })(),
      output: async (stream, data) => void (out[stream] += Buffer.from(data).toString('utf8')),
      signal: new AbortController().signal,
    },
  );
  return { ...result, ...out };
}

async function refusal(promise: Promise<unknown>): Promise<KukeError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof KukeError)) throw new Error(`expected a KukeError, got ${String(err)}`);
  return err;
}

describe.each([
  ['over gRPC', () => grpc as KukeonClient],
  ['in-process', inProcess],
])('exec %s', (_name, client) => {
  it('relays the output and the exit code', async () => {
    expect(await run(client(), { command: ['echo', 'hi', 'there'] })).toMatchObject({ exitCode: 0, stdout: 'hi there\n' });
    expect(await run(client(), { command: ['sh', '-c', 'exit 3'] })).toMatchObject({ exitCode: 3 });
  });

  it('sends stdin, and its end', async () => {
    const r = await run(client(), { command: ['cat'], stdin: true }, [{ stdin: Buffer.from('one\n') }, { stdin: Buffer.from('two\n') }, { closeStdin: true }]);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'one\ntwo\n' });
  });

  it('ends a command that is not found with 127 and says why', async () => {
    const r = await run(client(), { command: ['no-such-command'] });
    expect(r.exitCode).toBe(127);
    expect(r.message).toContain('no-such-command');
  });

  it('refuses bad requests before recording anything', async () => {
    const before = (await inProcess().history({ kind: 'cell', ...WEB })).length;
    expect((await refusal(run(client(), { command: [] }))).kind).toBe(ErrorKind.InvalidArgument);
    expect((await refusal(run(client(), { command: ['true'], env: ['NOEQUALS'] }))).kind).toBe(ErrorKind.InvalidArgument);
    expect((await refusal(run(client(), { command: ['true'], workdir: 'relative' }))).kind).toBe(ErrorKind.InvalidArgument);
    expect((await refusal(run(client(), { command: ['true'], container: 'nope' }))).kind).toBe(ErrorKind.NotFound);
    expect((await refusal(run(client(), { command: ['true'], cell: 'absent' }))).kind).toBe(ErrorKind.NotFound);
    const idle = await refusal(run(client(), { command: ['true'], cell: 'idle' }));
    expect(idle.kind).toBe(ErrorKind.FailedPrecondition);
    expect(idle.message).toContain('not Running');
    expect((await inProcess().history({ kind: 'cell', ...WEB })).length).toBe(before);
  });
});

describe('exec in history', () => {
  it('records who ran which command and how it ended on the container, leaving its state as it was', async () => {
    const { execId } = await run(grpc, { command: ['sh', '-c', 'exit 3'], container: 'side' });
    const records = (await inProcess().history({ kind: 'cell', ...WEB })).filter((r) => r.data && (r.data as { execId?: string }).execId === execId);
    expect(records.map((r) => [r.type, r.stream, r.from, r.to])).toEqual([
      ['ExecStarted', 'container/default/default/default/web/side', 'Running', 'Running'],
      ['ExecExited', 'container/default/default/default/web/side', 'Running', 'Running'],
    ]);
    expect(records[0]!.data).toEqual({ execId, command: ['sh', '-c', 'exit 3'], tty: false, stdin: false });
    expect(records[0]!.actor).toMatchObject({ type: 'user', uid: 1000, gid: 1000, pid: 4242, name: 'kuke exec web -- echo hi' });
    expect(records[1]!.data).toEqual({ execId, code: 3 });
    expect(opened.engine.stateOf(ROOT_STREAM)).toBe('Running');
  });

  it('records a command that could not be run with its code and reason', async () => {
    const { execId } = await run(inProcess(), { command: ['no-such-command'] });
    const exited = (await inProcess().history({ kind: 'cell', ...WEB })).find((r) => r.type === 'ExecExited' && (r.data as { execId: string }).execId === execId);
    expect(exited!.data).toMatchObject({ code: 127, error: expect.stringContaining('no-such-command') });
  });

  it('replays a log holding exec events to the same states', async () => {
    const replayed = await Engine.open({ store, config: CONFIG, ignoreSnapshots: true });
    for (const agg of opened.engine.all()) {
      expect(String(replayed.get(agg.stream)!.snapshot.value)).toBe(String(agg.snapshot.value));
      expect(replayed.get(agg.stream)!.version).toBe(agg.version);
    }
  });

  it('keeps a bounded command: at most 64 arguments of at most 1024 characters, marked as cut', () => {
    expect(auditedCommand(['sh', '-c', 'x'])).toEqual({ command: ['sh', '-c', 'x'] });
    const long = auditedCommand(['echo', 'y'.repeat(5000), ...Array.from({ length: 100 }, (_, i) => String(i))]);
    expect(long.truncated).toBe(true);
    expect(long.command).toHaveLength(64);
    expect(long.command[1]).toHaveLength(1024);
  });
});

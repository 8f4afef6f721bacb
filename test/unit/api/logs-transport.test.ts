/**
 * `Logs` over a real grpc-js server on a unix socket (issue 12, item 1): a log of several MB reaches a slow reader
 * whole and in order, the call paused while the reader is busy (the client's flow control), and a missing container
 * is NotFound as in-process.
 */
import { ServerCredentials, type Server } from '@grpc/grpc-js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../../events/record.js';
import { EngineBackend } from '../../../src/api/backend.js';
import { GrpcClient } from '../../../src/api/grpc-client.js';
import { createApiServer, kukeonHandlers } from '../../../src/api/server.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { openEngine, type OpenedEngine } from '../../../src/engine/index.js';
import { ErrorKind, isKukeError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { template, user } from '../../support/fake-engine.js';
import { MemoryStore } from '../../support/memory-store.js';

const WEB = { realm: 'default', space: 'default', stack: 'default', cell: 'web' };
let dir: string;
let server: Server;
let client: GrpcClient;
let opened: OpenedEngine;
let log: Buffer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kukeon-logs-api-'));
  const world = new FakeWorld();
  world.addImage('busybox');
  opened = await openEngine({ store: new MemoryStore(catalogCodec), runtime: world.runtime(), config: { runPath: join(dir, 'run'), ipMasq: false, startSettleMs: 0 } });
  await opened.operations.createRealm({ name: 'default' }, user);
  await opened.operations.createSpace({ realm: 'default', space: 'default' }, user);
  await opened.operations.createStack({ realm: 'default', space: 'default', stack: 'default' }, user);
  await opened.operations.createCell({ ...WEB, template: template('busybox') }, user);
  const logs = join(dir, 'run', 'logs', 'default', 'default', 'default', 'web');
  mkdirSync(logs, { recursive: true });
  log = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `line ${i} ${'.'.repeat(i % 17)}\n`).join(''));
  writeFileSync(join(logs, 'web_root.log'), log);
  server = createApiServer(kukeonHandlers((actor: Actor) => new EngineBackend(opened, world.runtime(), actor), silentLogger(), () => false));
  const socket = join(dir, 'api.sock');
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  client = new GrpcClient({ socket });
}, 60_000);

afterAll(async () => {
  await client?.close();
  server?.forceShutdown();
  await opened?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Logs over gRPC', { timeout: 60_000 }, () => {
  it('brings a log of several MB to a slow reader whole and in order, waiting for it between chunks', async () => {
    expect(log.length).toBeGreaterThan(3 << 20);
    const chunks: Buffer[] = [];
    let busy = false;
    await client.logs(WEB, {}, async (chunk) => {
      // The next chunk never arrives while this one is being handled.
      expect(busy).toBe(false);
      busy = true;
      chunks.push(Buffer.from(chunk));
      if (chunks.length % 8 === 0) await new Promise((r) => setTimeout(r, 5));
      busy = false;
    });
    expect(chunks.length).toBeGreaterThan(40);
    expect(Buffer.concat(chunks).equals(log)).toBe(true);
  });

  it('gives the last lines with tail, and NotFound for a container the cell does not have', async () => {
    const chunks: Buffer[] = [];
    await client.logs(WEB, { tail: 2 }, (chunk) => void chunks.push(Buffer.from(chunk)));
    expect(Buffer.concat(chunks).toString()).toBe(`line 199998 ${'.'.repeat(199_998 % 17)}\nline 199999 ${'.'.repeat(199_999 % 17)}\n`);
    const err = await client.logs(WEB, { container: 'db' }, () => undefined).then(() => undefined, (e: unknown) => e);
    expect(isKukeError(err, ErrorKind.NotFound)).toBe(true);
  });
});

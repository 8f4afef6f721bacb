/**
 * Issue 9, "no stored state can stop the daemon from starting", against a real containerd: a log written as an older
 * version could have, holding realms whose containerd namespaces containerd's own validation refuses (`Bad NS!`, and
 * a 63-character realm whose namespace with the suffix exceeds containerd's 76 characters). The engine opens, shows
 * those realms Failed with containerd's reason, serves the healthy realm beside them, and `delete realm --force`
 * removes them; the next start is clean.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CellTemplate } from '../../../events/specs.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { runLayout } from '../../../src/engine/config.js';
import type { OpenedEngine } from '../../../src/engine/index.js';
import { LevelEventLog } from '../../../src/store/event-log.js';
import { appendBrickedRealm } from '../../support/bricked-log.js';
import { startHost, type TestHost } from '../../support/host.js';

const actor = { actor: { type: 'user' as const, uid: 0 } };
const ref = { realm: 'ok', space: 's', stack: 't', cell: 'web' };
const long = 'l'.repeat(63);
let host: TestHost;

function template(): CellTemplate {
  return {
    root: 'main',
    labels: {},
    containers: [{ name: 'main', image: host.image, command: [], args: ['sleep', '600'], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' }],
  };
}

const realmState = (opened: OpenedEngine, name: string) => opened.engine.stateOf(`realm/${name}`);
const realmError = (opened: OpenedEngine, name: string) => (opened.engine.get(`realm/${name}`)?.snapshot.context as { error: { kind: string; message: string } | null }).error;

beforeAll(async () => {
  host = await startHost({ subnet: '10.249.0.0/16' });
  const ops = host.opened.operations;
  await ops.createRealm({ name: 'ok' }, actor);
  await host.importImage('ok');
  await ops.createSpace({ realm: 'ok', space: 's' }, actor);
  await ops.createStack({ realm: 'ok', space: 's', stack: 't' }, actor);
  await ops.createCell({ ...ref, template: template(), start: true }, actor);
  // What an older version stored: realms caught Creating (the daemon died before provisioning reported back).
  await host.opened.close();
  const path = runLayout(host.settings.engine.runPath).eventLog;
  const store = await LevelEventLog.open(path, { codec: catalogCodec });
  await appendBrickedRealm(store, { realm: 'bad', namespace: 'Bad NS!', state: 'Creating' });
  await appendBrickedRealm(store, { realm: long, namespace: `${long}.${host.settings.engine.namespaceSuffix}`, state: 'Creating' });
  await store.close();
}, 180_000);

afterAll(async () => {
  await host?.cleanup();
}, 120_000);

describe('a log holding realms containerd refuses', () => {
  it('opens, and its re-issued provisioning leaves those realms Failed with containerd\'s reason', async () => {
    const opened = await host.reopen();
    await opened.engine.settle();
    for (const name of ['bad', long]) {
      expect(realmState(opened, name), name).toBe('Failed');
      expect(realmError(opened, name)?.kind, name).toBe('InvalidArgument');
    }
    expect(realmError(opened, 'bad')?.message).toMatch(/Bad NS!/);
  });

  it('opens again over those Failed realms (garbage collection of their namespaces is refused) and serves the healthy realm', async () => {
    const opened = await host.reopen();
    await opened.engine.settle();
    // Each realm's namespace listing failed, was logged, and changed nothing: they were Failed already.
    expect(opened.reconcileReport).toMatchObject({ stepFailures: 2, aggregatesFailed: 0 });
    expect(realmState(opened, 'bad')).toBe('Failed');
    const cell = opened.operations.getCell(ref);
    expect(cell.state).toBe('Ready');
    const task = await host.runtime.containers.getTask(`ok.${host.settings.engine.namespaceSuffix}`, 's_t_web_root');
    expect(task).toMatchObject({ status: 'running', pid: cell.rootPid });
    // And it still takes commands.
    await opened.operations.stopCell(ref, actor, { mode: 'kill' });
    expect((await opened.operations.startCell(ref, actor)).state).toBe('Ready');
  });

  it('force-deletes them, recording what containerd refused, and the next start is clean', async () => {
    const ops = host.opened.operations;
    await ops.deleteRealm({ realm: 'bad', force: true }, actor);
    await ops.deleteRealm({ realm: long, force: true }, actor);
    expect(ops.listRealms().map((r) => r.name)).toEqual(['ok']);
    const history = [];
    for await (const batch of host.opened.engine.store.readAll()) history.push(...batch.filter((r) => r.type === 'ForceDeleted'));
    expect(history.map((r) => [r.stream, r.from, r.to])).toEqual([
      ['realm/bad', 'Failed', 'Deleted'],
      [`realm/${long}`, 'Failed', 'Deleted'],
    ]);
    const leftovers = (history[0]!.data as { leftovers: { resource: string; error: { kind: string } }[] }).leftovers;
    // containerd refuses to list the namespace; deleting it finds nothing to delete (it never existed).
    expect(leftovers.map((l) => l.resource)).toEqual(['containers in containerd namespace Bad NS!']);
    expect(leftovers.every((l) => l.error.kind === 'InvalidArgument')).toBe(true);

    const opened = await host.reopen();
    await opened.engine.settle();
    expect(opened.reconcileReport).toMatchObject({ stepFailures: 0, aggregatesFailed: 0 });
    expect(opened.operations.getCell(ref).state).toBe('Ready');
  });
});

import { describe, expect, it } from 'vitest';
import { Engine, openEngine } from '../../../src/engine/index.js';
import { ErrorKind, KukeError, isKukeError } from '../../../src/errors.js';
import { ref, setupEngine as setup, template, user } from '../../support/fake-engine.js';
import { kindOf } from '../../support/thrown.js';

describe('engine', () => {
  it("records an effect's result once the log takes writes again (a disk that was full), instead of dropping it", async () => {
    const { store, ops, engine } = await setup();
    let refusals = 0;
    store.refuse = (_stream, events) => (events[0]?.type === 'RealmProvisioned' && refusals++ === 0 ? new KukeError(ErrorKind.ResourceExhausted, 'event log: no space left on /x') : undefined);
    const { view } = await ops.createRealm({ name: 'other' }, user);
    expect(refusals).toBe(2);
    expect(view.state).toBe('Ready');
    await engine.settle();
    expect(store.records.filter((r) => r.stream === 'realm/other').map((r) => r.type)).toEqual(['CreateRealm', 'RealmProvisioned']);
  });

  it('brings a two-container cell to Ready with real tasks, the root first, on one address', async () => {
    const { world, ops } = await setup();
    const { view } = await ops.createCell({ ...ref, template: template('busybox', ['side']), start: true }, user);
    expect(view.state).toBe('Ready');
    expect(view.containers.map((c) => [c.name, c.state])).toEqual([['web_root', 'Running'], ['side', 'Running']]);
    expect(view.address).toBe('10.86.0.2/24');
    expect([...world.runningTasks().keys()].sort()).toEqual(['default.kukeon.io/default_default_web_root', 'default.kukeon.io/default_default_web_side']);
    const side = world.containers.get('default.kukeon.io/default_default_web_side')!;
    expect(side.spec.network).toEqual({ mode: 'join', path: `/proc/${view.rootPid}/ns/net` });
  });

  it('records an exit and winds the cell down to Exited when the root dies', async () => {
    const { world, ops, engine } = await setup();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    world.exitTask('default.kukeon.io', 'default_default_web_root', 7);
    await engine.settle();
    const view = ops.getCell(ref);
    expect(view.state).toBe('Exited');
    expect(view.containers[0]).toMatchObject({ state: 'Exited', exitCode: 7 });
    expect(world.attachments.size).toBe(0);
  });

  it('starts a cell whose sidecar exits at once (a one-shot): Ready, the sidecar Exited with its code', async () => {
    const { world, ops, engine } = await setup();
    world.exitOnStart.set('default_default_web_side', 4);
    const { view } = await ops.createCell({ ...ref, template: template('busybox', ['side']), start: true }, user);
    expect(view.state).toBe('Ready');
    await engine.settle();
    expect(ops.getCell(ref).containers.map((c) => [c.name, c.state, c.exitCode])).toEqual([
      ['web_root', 'Running', null],
      ['side', 'Exited', 4],
    ]);
  });

  it('attaches the root\'s network namespace after its task is created and before its process starts (issue 10)', async () => {
    const { world, ops } = await setup();
    const { view } = await ops.createCell({ ...ref, template: template(), start: true }, user);
    const [attachment] = [...world.attachments.values()];
    expect(attachment).toMatchObject({ containerId: 'default_default_web_root', netnsPath: `/proc/${view.rootPid}/ns/net`, address: view.address, processStarted: false });
  });

  it('names the root\'s own address in its hosts file before its process starts (it has its network by then)', async () => {
    const { world, ops } = await setup();
    let hostsAtStart: string | undefined;
    world.io = async (label) => {
      if (label === 'startTask') hostsAtStart ??= world.cellFiles.get('default/default/default/web/hosts');
    };
    const { view } = await ops.createCell({ ...ref, template: template(), start: true }, user);
    expect(hostsAtStart).toContain(`${view.address!.split('/')[0]}\tweb web.default`);
  });

  it('ends a cell whose root exits as it starts Exited with its code, never Failed, and leaves nothing running (issue 10)', async () => {
    for (const code of [0, 3]) {
      const { world, ops, engine, store } = await setup();
      world.exitOnStart.set('default_default_web_root', code);
      const { view } = await ops.createCell({ ...ref, template: template('busybox', ['side']), start: true }, user);
      expect(view.state).toBe('Exited');
      expect(view.containers[0]).toMatchObject({ name: 'web_root', state: 'Exited', exitCode: code });
      await engine.settle();
      expect(world.runningTasks().size).toBe(0);
      expect(world.attachments.size).toBe(0);
      const cellEvents = store.records.filter((r) => r.stream === 'cell/default/default/default/web').map((r) => r.type);
      expect(cellEvents).toEqual(['CreateCell', 'StartCell', 'ContainerExited', 'CellStopped']);
      expect(cellEvents).not.toContain('EffectFailed');
    }
  });

  it('reports a root that exits within the start\'s settle time Exited, and one that exits after it Ready then Exited', async () => {
    for (const [afterMs, settleMs, expected] of [[20, 1_000, 'Exited'], [200, 20, 'Ready']] as const) {
      const { world, ops, engine } = await setup({ startSettleMs: settleMs });
      // The root runs for `afterMs`, then ends by itself.
      world.io = async (label) => {
        if (label !== 'startTask') return;
        setTimeout(() => world.exitTask('default.kukeon.io', 'default_default_web_root', 5), afterMs);
      };
      const { view } = await ops.createCell({ ...ref, template: template(), start: true }, user);
      expect(view.state).toBe(expected);
      await new Promise((r) => setTimeout(r, afterMs + 20));
      await engine.settle();
      expect(ops.getCell(ref)).toMatchObject({ state: 'Exited', containers: [{ state: 'Exited', exitCode: 5 }] });
    }
  });

  it('fails a start whose network attach fails with the attach\'s own error, removing the created task and its address', async () => {
    const { world, ops, engine } = await setup();
    world.failNext('attach', ErrorKind.FailedPrecondition);
    expect(await kindOf(ops.createCell({ ...ref, template: template(), start: true }, user))).toBe('FailedPrecondition');
    await engine.settle();
    expect(ops.getCell(ref).state).toBe('Failed');
    expect(world.runningTasks().size).toBe(0);
    expect(world.attachments.size).toBe(0);
    expect(world.calls.get('startTask') ?? 0).toBe(0);
    // Started again, it comes up: nothing the failed start left blocks it.
    expect((await ops.startCell(ref, user)).state).toBe('Ready');
  });

  it('stops, starts again and deletes without leaking tasks, addresses or cgroups', async () => {
    const { world, ops, engine } = await setup();
    await ops.createCell({ ...ref, template: template('busybox', ['side']), start: true }, user);
    expect((await ops.stopCell(ref, user, { mode: 'stop', graceMs: 10 })).state).toBe('Stopped');
    expect(world.runningTasks().size).toBe(0);
    expect((await ops.startCell(ref, user)).state).toBe('Ready');
    await ops.deleteCell(ref, user);
    await engine.settle();
    expect(world.containers.size).toBe(0);
    expect(world.attachments.size).toBe(0);
    expect([...world.cgroups.keys()].filter((p) => p.includes('/web'))).toEqual([]);
    expect(() => ops.getCell(ref)).toThrow(/not found/);
  });

  it('fails the cell with the runtime error when the image is missing, and leaves nothing running', async () => {
    const { world, ops } = await setup();
    const error = await ops.createCell({ ...ref, template: template('nope'), start: true }, user).catch((e) => e);
    expect(isKukeError(error, 'NotFound')).toBe(true);
    expect(ops.getCell(ref).state).toBe('Failed');
    expect(world.runningTasks().size).toBe(0);
  });

  it('refuses to delete a realm with spaces unless cascading, then cascades', async () => {
    const { world, ops } = await setup();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    const error = await ops.deleteRealm({ realm: 'default' }, user).catch((e) => e);
    expect(isKukeError(error, 'FailedPrecondition')).toBe(true);
    expect(error.message).toBe('realm "default" has 1 space(s)');
    await ops.deleteRealm({ realm: 'default', cascade: true }, user);
    expect(ops.listRealms()).toEqual([]);
    expect(world.namespaces.size).toBe(0);
    expect(world.networks.size).toBe(0);
    expect(world.containers.size).toBe(0);
  });

  it('replays to the same state, and reconcile records an exit that happened while it was down', async () => {
    const { world, store, opened, ops } = await setup();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    await opened.close();
    world.loseExits = true;
    world.exitTask('default.kukeon.io', 'default_default_web_root', 3);
    const reopened = await openEngine({ store, runtime: world.runtime(), config: { runPath: '/tmp/kukeon-unit', ipMasq: false } });
    await reopened.engine.settle();
    const view = reopened.operations.getCell(ref);
    expect(view.state).toBe('Exited');
    expect(view.containers[0]).toMatchObject({ exitCode: 3 });
    const exit = store.records.find((r) => r.type === 'TaskExited');
    expect(exit?.actor.type).toBe('reconcile');
  });

  it('refuses a point in time beyond the last event as the caller\'s mistake (get --at), not a damaged log', async () => {
    const { store } = await setup();
    const head = store.head().seq;
    expect((await Engine.open({ store, untilSeq: head })).list('realm/').length).toBe(1);
    expect(await kindOf(Engine.open({ store, untilSeq: head + 1 }))).toBe(ErrorKind.InvalidArgument);
  });

  it('leaves the relist to a caller that reconciles later on purpose, so its command is recorded before the exit', async () => {
    const { world, store, opened, ops } = await setup();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    await opened.close();
    world.loseExits = true;
    world.exitTask('default.kukeon.io', 'default_default_web_root', 137);
    world.loseExits = false;
    const reopened = await openEngine({ store, runtime: world.runtime(), config: { runPath: '/tmp/kukeon-unit', ipMasq: false }, reconcile: false });
    await new Promise((r) => setTimeout(r, 20)); // the watcher goes live (a microtask in the fake)
    await reopened.engine.settle();
    expect(store.records.some((r) => r.type === 'TaskExited')).toBe(false);
    world.resync(); // a later reconnect relists as usual
    await new Promise((r) => setTimeout(r, 20));
    await reopened.engine.settle();
    expect(store.records.find((r) => r.type === 'TaskExited')?.actor.type).toBe('reconcile');
    expect(reopened.operations.getCell(ref).state).toBe('Exited');
  });

  it('recovers from a reboot-like wipe: cells Exited, cgroups healed, addresses released, nothing leaked', async () => {
    const { world, store, opened, ops } = await setup();
    await ops.createCell({ ...ref, template: template('busybox', ['side']), start: true }, user);
    await opened.close();
    world.reboot();
    expect(world.attachments.size).toBe(1);
    const reopened = await openEngine({ store, runtime: world.runtime(), config: { runPath: '/tmp/kukeon-unit', ipMasq: false } });
    await reopened.engine.settle();
    const view = reopened.operations.getCell(ref);
    expect(view.state).toBe('Exited');
    expect(view.containers.map((c) => c.state)).toEqual(['Exited', 'Stopped']);
    expect(world.attachments.size).toBe(0);
    expect(world.cgroups.has('/kukeon/default/default/default')).toBe(true);
    expect(store.records.filter((r) => r.type === 'TaskLost').every((r) => r.actor.type === 'reconcile')).toBe(true);
    expect((await reopened.operations.startCell(ref, user)).state).toBe('Ready');
  });

  it('records an OOM kill from the runtime, and shows it on the container', async () => {
    const { world, ops, engine, store } = await setup();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    world.oomKill('default.kukeon.io', 'default_default_web_root');
    await engine.settle();
    const view = ops.getCell(ref);
    expect(view.state).toBe('Exited');
    expect(view.containers[0]).toMatchObject({ state: 'Exited', exitCode: 137, oomKilled: true });
    expect(store.records.find((r) => r.type === 'TaskOomKilled')?.actor.type).toBe('runtime');
  });
});

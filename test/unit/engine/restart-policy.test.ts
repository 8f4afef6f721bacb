import { describe, expect, it } from 'vitest';
import type { ContainerTemplate } from '../../../events/specs.js';
import { openEngine } from '../../../src/engine/index.js';
import { CONFIG, ref, setupEngine, template, user } from '../../support/fake-engine.js';
import { waitFor } from '../../support/wait.js';

const NS = 'default.kukeon.io';
const SIDE = 'default_default_web_side';
const SIDE_STREAM = 'container/default/default/default/web/side';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Ready cell whose sidecar has the given restart settings. */
async function cellWithSide(settings: Partial<ContainerTemplate>, config: Parameters<typeof setupEngine>[0] = {}) {
  const t = await setupEngine(config);
  await t.ops.createCell({ ...ref, template: template('busybox', ['side'], settings), start: true }, user);
  const side = () => t.ops.getCell(ref).containers.find((c) => c.name === 'side')!;
  const exits = () => t.store.records.filter((r) => r.stream === SIDE_STREAM && r.type === 'TaskExited').length;
  /** The sidecar exits with `code`; resolves once the exit is recorded and the engine has settled. */
  const exit = async (code: number) => {
    const before = exits();
    expect(t.world.exitTask(NS, SIDE, code)).toBe(true);
    await waitFor(exits, (n) => n > before, { what: 'the sidecar exit to be recorded' });
    await t.engine.settle();
  };
  /** Resolves once the sidecar has been restarted `restarts` times in all and runs. */
  const restarted = (restarts: number) => waitFor(side, (s) => s.state === 'Running' && s.restarts === restarts, { what: `restart ${restarts}` });
  return { ...t, side, exit, restarted };
}

describe('restart policies', () => {
  it('on-failure restarts a sidecar that failed, at once, and history says the engine did it', async () => {
    const { side, exit, restarted, store } = await cellWithSide({ restartPolicy: 'on-failure' });
    const pid = side().pid;
    await exit(3);
    await restarted(1);
    expect(side()).toMatchObject({ state: 'Running', restarts: 1 });
    expect(side().pid).not.toBe(pid);
    const start = store.records.filter((r) => r.type === 'StartContainer').at(-1)!;
    expect(start.actor).toEqual({ type: 'engine', name: 'restart policy on-failure' });
  });

  it('on-failure leaves a clean exit alone; always restarts it; never (the default) restarts nothing', async () => {
    const onFailure = await cellWithSide({ restartPolicy: 'on-failure' });
    await onFailure.exit(0);
    await sleep(50); // room for a wrong restart to happen
    expect(onFailure.side()).toMatchObject({ state: 'Exited', exitCode: 0, restarts: 0 });
    const always = await cellWithSide({ restartPolicy: 'always' });
    await always.exit(0);
    await always.restarted(1);
    expect(always.side()).toMatchObject({ state: 'Running', restarts: 1 });
    const never = await cellWithSide({});
    await never.exit(1);
    await sleep(50);
    expect(never.side()).toMatchObject({ state: 'Exited', exitCode: 1, restarts: 0 });
  });

  it('on-failure gives up after restartMaxRetries restarts in a row', async () => {
    const { side, exit, restarted } = await cellWithSide({ restartPolicy: 'on-failure', restartBackoffSeconds: 0, restartMaxRetries: 2 });
    await exit(1);
    await restarted(1);
    await exit(1);
    await restarted(2);
    expect(side()).toMatchObject({ state: 'Running', restarts: 2 });
    await exit(1);
    await sleep(50);
    expect(side()).toMatchObject({ state: 'Exited', exitCode: 1, restarts: 2 });
  });

  it('restarts a sidecar that failed while its cell was starting, once the cell is Ready', async () => {
    const { world, ops, engine } = await setupEngine();
    world.exitOnStart.set(SIDE, 1);
    const { view } = await ops.createCell({ ...ref, template: template('busybox', ['side'], { restartPolicy: 'on-failure', restartBackoffSeconds: 0, restartMaxRetries: 2 }), start: true }, user);
    expect(view.state).toBe('Ready');
    const side = () => ops.getCell(ref).containers.find((c) => c.name === 'side')!;
    await waitFor(side, (s) => s.state === 'Exited' && s.restarts === 2, { what: 'the sidecar to give up' });
    await sleep(50); // room for a wrong third restart
    await engine.settle();
    expect(ops.getCell(ref).containers.find((c) => c.name === 'side')).toMatchObject({ state: 'Exited', exitCode: 1, restarts: 2 });
  });

  it('waits restartBackoffSeconds before every restart but the first', async () => {
    const { side, exit, restarted } = await cellWithSide({ restartPolicy: 'always', restartBackoffSeconds: 1 });
    await exit(1);
    await restarted(1);
    const exitedAt = Date.now();
    await exit(1);
    expect(side().state).toBe('Exited');
    await restarted(2);
    expect(Date.now() - exitedAt).toBeGreaterThanOrEqual(950);
  });

  it('drops a pending restart when the cell is stopped meanwhile', async () => {
    const { side, exit, restarted, ops } = await cellWithSide({ restartPolicy: 'always', restartBackoffSeconds: 1 });
    await exit(1);
    await restarted(1);
    await exit(1);
    await ops.stopCell(ref, user, { mode: 'stop', graceMs: 10 });
    await sleep(1_100);
    expect(ops.getCell(ref).state).toBe('Stopped');
    expect(side().state).not.toBe('Running');
  });

  it('never restarts the root: its exit winds the cell down', async () => {
    const { world, ops, engine } = await setupEngine();
    const t = template('busybox', ['side']);
    t.containers[0] = { ...t.containers[0]!, restartPolicy: 'always' as never };
    await ops.createCell({ ...ref, template: t, start: true }, user);
    expect(world.exitTask(NS, 'default_default_web_root', 1)).toBe(true);
    await waitFor(() => ops.getCell(ref).state, (state) => state === 'Exited', { what: 'the cell to wind down' });
    await engine.settle();
    expect(ops.getCell(ref).containers.find((c) => c.name === 'web_root')).toMatchObject({ state: 'Exited', restarts: 0 });
  });

  it('a daemon that comes back restarts what is still owed a restart', async () => {
    const { world, store, opened } = await cellWithSide({ restartPolicy: 'on-failure' });
    await opened.close();
    world.loseExits = true;
    world.exitTask(NS, SIDE, 2);
    world.loseExits = false;
    const again = await openEngine({ store, runtime: world.runtime(), config: CONFIG, resumeRestarts: true });
    const now = await waitFor(() => again.operations.getCell(ref).containers.find((c) => c.name === 'side')!, (s) => s.state === 'Running', { what: 'the owed restart' });
    expect(now).toMatchObject({ state: 'Running', restarts: 1 });
    await again.close();
  });

  it('makes the cell of a crash-looping sidecar Degraded, counts its restarts, and is Ready again once it has run long enough', async () => {
    const { side, exit, restarted, ops, store } = await cellWithSide({ restartPolicy: 'always', restartBackoffSeconds: 0 }, { restartStableMs: 300 });
    await exit(1);
    await restarted(1);
    expect(ops.getCell(ref).state).toBe('Degraded');
    await exit(1);
    await restarted(2);
    expect(ops.getCell(ref).state).toBe('Degraded');
    expect(side()).toMatchObject({ restarts: 2 });
    await waitFor(() => ops.getCell(ref).state, (s) => s === 'Ready', { what: 'the cell to be Ready again' });
    expect(side()).toMatchObject({ state: 'Running', restarts: 2 });
    const types = store.records.filter((r) => r.stream === SIDE_STREAM || r.stream === 'cell/default/default/default/web').map((r) => r.type);
    expect(types.filter((t) => t === 'RestartScheduled')).toHaveLength(2);
    expect(types.filter((t) => t === 'ContainerFailing')).toHaveLength(1);
    expect(types.slice(-2)).toEqual(['RestartsReset', 'ContainerRecovered']);
  });

  it('keeps the restart count, the row and a pending backoff across a daemon restart', async () => {
    const { exit, restarted, store, opened, world } = await cellWithSide({ restartPolicy: 'always', restartBackoffSeconds: 1 });
    await exit(1);
    await restarted(1);
    await exit(1);
    const scheduled = store.records.filter((r) => r.type === 'RestartScheduled').at(-1)!;
    expect(scheduled.data).toMatchObject({ attempt: 2 });
    await opened.close();
    const again = await openEngine({ store, runtime: world.runtime(), config: CONFIG, resumeRestarts: true });
    const view = () => again.operations.getCell(ref);
    expect(view().state).toBe('Degraded');
    expect(view().containers.find((c) => c.name === 'side')).toMatchObject({ state: 'Exited', restarts: 1 });
    const now = await waitFor(() => view().containers.find((c) => c.name === 'side')!, (s) => s.state === 'Running', { what: 'the owed restart' });
    expect(now.restarts).toBe(2);
    // Not before the backoff recorded before the restart of the daemon.
    const start = store.records.filter((r) => r.type === 'StartContainer').at(-1)!;
    expect(Date.parse(start.at)).toBeGreaterThanOrEqual(Date.parse((scheduled.data as { notBefore: string }).notBefore));
    expect(start.data).toMatchObject({ restart: { attempt: 2 } });
    await again.close();
  });

  it('stays given up across a daemon restart, its cell Degraded', async () => {
    const { exit, restarted, store, opened, world } = await cellWithSide({ restartPolicy: 'on-failure', restartBackoffSeconds: 0, restartMaxRetries: 1 });
    await exit(1);
    await restarted(1);
    await exit(1);
    await waitFor(() => store.records.some((r) => r.type === 'RestartsExhausted'), (v) => v, { what: 'the give-up' });
    await opened.close();
    const again = await openEngine({ store, runtime: world.runtime(), config: CONFIG, resumeRestarts: true });
    await sleep(50); // room for a wrong restart
    await again.engine.settle();
    expect(again.operations.getCell(ref).state).toBe('Degraded');
    expect(again.operations.getCell(ref).containers.find((c) => c.name === 'side')).toMatchObject({ state: 'Exited', restarts: 1 });
    await again.close();
  });
});

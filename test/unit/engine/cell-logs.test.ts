/**
 * Container logs go with their cell (issue 9, item 10): the delete saga removes the cell's log directory unless the
 * delete keeps them, as the last step before CellDeleted, so a delete re-issued after a crash still removes them and
 * a replay alone never does.
 */
import { describe, expect, it } from 'vitest';
import { openEngine, type OpenedEngine } from '../../../src/engine/index.js';
import type { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { CONFIG, ref, setupEngine as setup, template, user } from '../../support/fake-engine.js';

/**
 * Makes the process "die" at the first call of `label`: the engine is crashed (nothing more reaches the log) and the
 * call never returns. Resolves once that happened.
 */
function crashAt(world: FakeWorld, opened: OpenedEngine, label: string): Promise<void> {
  return new Promise<void>((crashed) => {
    world.io = async (called) => {
      if (called !== label) return;
      opened.crash();
      world.io = () => Promise.resolve();
      crashed();
      await new Promise(() => undefined);
    };
  });
}

const logsOf = (files: Set<string>, cell: string) => [...files].filter((p) => p.includes(`/default/default/default/${cell}/`)).sort();

describe('cell logs', () => {
  it("removes a cell's logs with it, and leaves another cell's alone", async () => {
    const { world, ops } = await setup();
    await ops.createCell({ ...ref, template: template('busybox', ['side']), start: true }, user);
    await ops.createCell({ ...ref, cell: 'web-1', template: template(), start: true }, user);
    expect(logsOf(world.logFiles, 'web')).toEqual([
      '/tmp/kukeon-unit/logs/default/default/default/web/side.log',
      '/tmp/kukeon-unit/logs/default/default/default/web/web_root.log',
    ]);
    await ops.deleteCell(ref, user);
    expect(logsOf(world.logFiles, 'web')).toEqual([]);
    expect(logsOf(world.logFiles, 'web-1')).toEqual(['/tmp/kukeon-unit/logs/default/default/default/web-1/web-1_root.log']);
  });

  it('keeps them when the delete asks to, and records that choice on the DeleteCell event', async () => {
    const { world, ops, store } = await setup();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    await ops.deleteCell({ ...ref, keepLogs: true }, user);
    expect(logsOf(world.logFiles, 'web')).toHaveLength(1);
    expect(world.calls.get('logs.removeCell')).toBeUndefined();
    expect(store.records.find((r) => r.type === 'DeleteCell')).toMatchObject({ v: 2, data: { keepLogs: true } });
  });

  it("removes every cell's logs in a cascade, or none with keepLogs", async () => {
    const { world, ops } = await setup();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    await ops.createCell({ ...ref, cell: 'db', template: template(), start: true }, user);
    await ops.deleteStack({ realm: 'default', space: 'default', stack: 'default', cascade: true, keepLogs: true }, user);
    expect(world.logFiles.size).toBe(2);
    await ops.createStack({ realm: 'default', space: 'default', stack: 'default' }, user);
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    await ops.deleteRealm({ realm: 'default', cascade: true }, user);
    expect(logsOf(world.logFiles, 'web')).toEqual([]);
    expect(logsOf(world.logFiles, 'db')).toHaveLength(1);
  });

  it('removes them after a crash in the middle of the delete, when reconcile re-issues it', async () => {
    const { world, store, opened, ops } = await setup();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    const crash = crashAt(world, opened, 'logs.removeCell');
    void ops.deleteCell(ref, user).catch(() => undefined);
    await crash;
    expect(store.records.some((r) => r.type === 'CellDeleted')).toBe(false);
    expect(logsOf(world.logFiles, 'web')).toHaveLength(1);
    const reopened = await openEngine({ store, runtime: world.runtime(), config: CONFIG });
    await reopened.engine.settle();
    expect(reopened.engine.stateOf('cell/default/default/default/web')).toBe('Deleted');
    expect(logsOf(world.logFiles, 'web')).toEqual([]);
  });

  it('keeps them after a crash too, when the delete asked to keep them', async () => {
    const { world, store, opened, ops } = await setup();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    const crash = crashAt(world, opened, 'cgroups.remove');
    void ops.deleteCell({ ...ref, keepLogs: true }, user).catch(() => undefined);
    await crash;
    const reopened = await openEngine({ store, runtime: world.runtime(), config: CONFIG });
    await reopened.engine.settle();
    expect(reopened.engine.stateOf('cell/default/default/default/web')).toBe('Deleted');
    expect(logsOf(world.logFiles, 'web')).toHaveLength(1);
  });

  it('never removes logs while replaying: a deleted cell replayed touches nothing', async () => {
    const { world, store, opened, ops } = await setup();
    await ops.createCell({ ...ref, template: template(), start: true }, user);
    await ops.deleteCell(ref, user);
    await opened.close();
    world.calls.clear();
    const reopened = await openEngine({ store, runtime: world.runtime(), config: CONFIG });
    await reopened.engine.settle();
    expect(world.calls.get('logs.removeCell')).toBeUndefined();
    await reopened.close();
  });
});

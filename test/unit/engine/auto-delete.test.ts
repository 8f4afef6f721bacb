import { describe, expect, it } from 'vitest';
import { openEngine } from '../../../src/engine/index.js';
import { CONFIG, ref, setupEngine, template, user } from '../../support/fake-engine.js';
import { waitFor } from '../../support/wait.js';

const NS = 'default.kukeon.io';
const ROOT = 'default_default_web_root';
const CELL = 'cell/default/default/default/web';

async function autoDeleteCell(autoDelete = true) {
  const t = await setupEngine();
  await t.ops.createCell({ ...ref, template: { ...template('busybox'), ...(autoDelete ? { autoDelete: true } : {}) }, start: true }, user);
  return { ...t, state: () => t.engine.stateOf(CELL) };
}

describe('autoDelete (issue 12)', () => {
  it('deletes a cell whose root exits by itself, with the engine named autoDelete as the actor in history', async () => {
    const { world, state, store, engine } = await autoDeleteCell();
    const exited = world.exitTask(NS, ROOT, 0);
    expect(exited).toBe(true);
    await waitFor(state, (s) => s === 'Deleted', { what: 'the cell to be deleted' });
    await engine.settle();
    const del = store.records.find((r) => r.stream === CELL && r.type === 'DeleteCell')!;
    expect(del.actor).toEqual({ type: 'engine', name: 'autoDelete' });
    expect(del.data).toEqual({ keepLogs: false });
    expect(del.cause).toMatch(/^seq:\d+$/);
    expect(world.containers.size).toBe(0);
  });

  it('keeps a cell stopped by an operator, and a cell without autoDelete whose root exited', async () => {
    const stopped = await autoDeleteCell();
    await stopped.ops.stopCell(ref, user, { mode: 'stop', graceMs: 10 });
    await stopped.engine.settle();
    expect(stopped.state()).toBe('Stopped');
    const plain = await autoDeleteCell(false);
    plain.world.exitTask(NS, ROOT, 3);
    await waitFor(plain.state, (s) => s === 'Exited', { what: 'the cell to wind down' });
    await plain.engine.settle();
    expect(plain.state()).toBe('Exited');
  });

  it('deletes at the next daemon start a cell whose root exited while the daemon was down', async () => {
    const { world, store, opened } = await autoDeleteCell();
    await opened.close();
    world.loseExits = true;
    world.exitTask(NS, ROOT, 0);
    world.loseExits = false;
    const again = await openEngine({ store, runtime: world.runtime(), config: CONFIG, resumeRestarts: true });
    await waitFor(() => again.engine.stateOf(CELL), (s) => s === 'Deleted', { what: 'the cell to be deleted' });
    await again.engine.settle();
    expect(world.containers.size).toBe(0);
    await again.close();
  });
});

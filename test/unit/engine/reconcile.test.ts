/**
 * Reconcile contains failures per aggregate (issue 9, "no stored state can stop the daemon from starting"): when a
 * step fails for one aggregate, that aggregate goes Failed with the reason (ReconcileFailed, actor reconcile), and the
 * engine still opens and serves the others. Fake runtime, with calls for one namespace or cgroup refused.
 */
import { describe, expect, it } from 'vitest';
import { openEngine } from '../../../src/engine/index.js';
import { ErrorKind, KukeError } from '../../../src/errors.js';
import type { Runtime } from '../../../src/runtime/ports.js';
import { appendBrickedRealm } from '../../support/bricked-log.js';
import { CONFIG, ref, setupEngine, template, user } from '../../support/fake-engine.js';
import { refuseNamespace, refusing, type Refusal } from '../../support/refusing-runtime.js';

type Setup = Awaited<ReturnType<typeof setupEngine>>;

/**
 * The default realm with a running cell, plus what `prepare` does through the engine and what `older` appends
 * straight to the log once the engine is closed (as an older version could have); then a restart over `refuse`.
 */
async function restartWith(refuse: Refusal, steps: { prepare?: (setup: Setup) => Promise<void>; older?: (store: Setup['store']) => Promise<unknown> } = {}) {
  const setup = await setupEngine();
  await setup.ops.createCell({ ...ref, template: template(), start: true }, user);
  await steps.prepare?.(setup);
  await setup.opened.close();
  await steps.older?.(setup.store);
  const seqBefore = setup.store.head().seq;
  const runtime: Runtime = refusing(setup.world.runtime(), refuse);
  const opened = await openEngine({ store: setup.store, runtime, config: CONFIG });
  await opened.engine.settle();
  const recorded = setup.store.records.filter((r) => r.seq > seqBefore);
  return { ...setup, opened, ops: opened.operations, engine: opened.engine, runtime, recorded };
}

describe('reconcile contains failures per aggregate', () => {
  it('opens over a log holding a Failed realm whose namespace containerd refuses, and keeps its first reason', async () => {
    const { opened, ops, recorded } = await restartWith(refuseNamespace('Bad NS!'), { older: (store) => appendBrickedRealm(store) });
    const bad = ops.query({ kind: 'realm', name: 'bad' })[0]!;
    expect(bad.state).toBe('Failed');
    expect(JSON.stringify(bad)).toContain('namespace validation');
    // Already Failed: no event added at each restart for it.
    expect(recorded.filter((r) => r.stream === 'realm/bad')).toEqual([]);
    expect(opened.reconcileReport?.stepFailures).toBe(1);
    // Everything else is served, and works.
    expect(ops.getCell(ref).state).toBe('Ready');
    const { view } = await ops.createCell({ ...ref, cell: 'more', template: template(), start: true }, user);
    expect(view.state).toBe('Ready');
  });

  it('sends a realm caught Creating with such a namespace to Failed through its re-issued effect, and still opens', async () => {
    const { ops } = await restartWith(refuseNamespace('Bad NS!'), { older: (store) => appendBrickedRealm(store, { state: 'Creating' }) });
    expect(ops.query({ kind: 'realm', name: 'bad' })[0]!.state).toBe('Failed');
    expect(ops.getCell(ref).state).toBe('Ready');
  });

  it('marks a Ready realm Failed (ReconcileFailed by reconcile) when its namespace cannot be listed, once', async () => {
    const { recorded, ops, store, world, opened } = await restartWith(refuseNamespace('default.kukeon.io'));
    const failed = recorded.filter((r) => r.type === 'ReconcileFailed');
    const realm = failed.find((r) => r.stream === 'realm/default');
    expect(realm).toMatchObject({ actor: { type: 'reconcile' }, from: 'Ready', to: 'Failed', data: { step: 'collectGarbage', error: { kind: ErrorKind.InvalidArgument } } });
    expect(ops.query({ kind: 'realm', name: 'default' })[0]!.state).toBe('Failed');
    // A second restart over the same refusal adds nothing for what is already Failed.
    await opened.close();
    const head = store.head().seq;
    const again = await openEngine({ store, runtime: refusing(world.runtime(), refuseNamespace('default.kukeon.io')), config: CONFIG });
    await again.engine.settle();
    expect(store.records.filter((r) => r.seq > head && r.type === 'ReconcileFailed')).toEqual([]);
    await again.close();
  });

  it('marks a Running container Failed when its task cannot be checked, and winds its cell down', async () => {
    const { recorded, ops } = await restartWith(refuseNamespace('default.kukeon.io'));
    expect(recorded.find((r) => r.stream === 'container/default/default/default/web/web_root')).toMatchObject({
      type: 'ReconcileFailed',
      from: 'Running',
      to: 'Failed',
      data: { step: 'checkTasks' },
    });
    expect(ops.getCell(ref).state).toBe('Exited');
  });

  it('fails the one stack whose cgroup cannot be re-created, and heals the others', async () => {
    const lostPath = '/kukeon/default/default/broken';
    const refuse: Refusal = (port, method, args) =>
      port === 'cgroups' && method === 'ensure' && args[0] === lostPath ? new KukeError(ErrorKind.PermissionDenied, `cgroup ${lostPath}: permission denied`) : undefined;
    const { ops, world, recorded, opened } = await restartWith(refuse, {
      prepare: async ({ ops: o, world: w }) => {
        await o.createStack({ realm: 'default', space: 'default', stack: 'broken' }, user);
        await o.createStack({ realm: 'default', space: 'default', stack: 'fine' }, user);
        w.cgroups.delete(lostPath);
        w.cgroups.delete('/kukeon/default/default/fine');
      },
    });
    expect(recorded.find((r) => r.stream === 'stack/default/default/broken')).toMatchObject({ type: 'ReconcileFailed', data: { step: 'healCgroups', error: { kind: ErrorKind.PermissionDenied } } });
    expect(ops.query({ kind: 'stack', realm: 'default', space: 'default', name: 'broken' })[0]!.state).toBe('Failed');
    expect(ops.query({ kind: 'stack', realm: 'default', space: 'default', name: 'fine' })[0]!.state).toBe('Ready');
    expect(world.cgroups.has('/kukeon/default/default/fine')).toBe(true);
    expect(opened.reconcileReport).toMatchObject({ cgroupsHealed: 1, aggregatesFailed: 1 });
  });

  it('marks nothing Failed when containerd is unavailable, and still opens', async () => {
    // Every containerd call but the exit watch (which reconnects on its own) fails as if the socket were gone.
    const refuse: Refusal = (port, method) => (port === 'containers' && method !== 'watchExits' && method !== 'close' ? new KukeError(ErrorKind.Unavailable, 'containerd: connect ENOENT') : undefined);
    const { recorded, ops, opened } = await restartWith(refuse);
    expect(recorded.filter((r) => r.type === 'ReconcileFailed')).toEqual([]);
    expect(opened.reconcileReport!.stepFailures).toBeGreaterThan(0);
    expect(ops.getCell(ref).state).toBe('Ready');
  });
});

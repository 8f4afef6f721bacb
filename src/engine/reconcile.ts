/**
 * Reconcile: after a replay (and after every reconnect to containerd), compare what the log says with what the
 * runtime holds, and append what differs as facts with actor `reconcile`. Level-triggered and idempotent:
 * running it twice changes nothing the second time.
 *
 * 1. Containers the log says run: their task is gone → TaskLost; stopped → TaskExited with the real exit code
 *    (an exit that happened while the daemon was down).
 * 2. Aggregates caught in a transient state re-issue their one idempotent effect (containers first: cell sagas
 *    wait for them).
 * 3. Ready cells whose root container no longer runs are told (ContainerExited), and wind down to Exited.
 * 4. Garbage: containerd containers carrying our labels that no live aggregate owns, and network attachments of
 *    cells that are not up, are removed (nothing orphaned by a crash survives).
 * 5. cgroups of live scopes and running cells are re-created if missing (after a reboot).
 */
import { isGone, isTransient } from '../../machines/index.js';
import { ErrorKind, isKukeError } from '../errors.js';
import { cgroupPath, networkName } from '../model/names.js';
import { streamOf } from '../model/streams.js';
import type { Runtime } from '../runtime/ports.js';
import { LABELS } from './container-spec.js';
import { exitData } from './effects.js';
import type { Aggregate, DispatchMeta, Engine } from './engine.js';
import { namespaceOf } from './sagas.js';

/** What a reconcile pass did. */
export interface ReconcileReport {
  exitsFound: number;
  lostTasks: number;
  effectsReissued: number;
  cellsWoundDown: number;
  orphansRemoved: number;
  attachmentsReleased: number;
  cgroupsHealed: number;
}

const META: DispatchMeta = { actor: { type: 'reconcile' } };

type ContainerCtx = { realm: string; space: string; stack: string; cell: string; name: string; root: boolean; namespace: string; containerdId: string; pid: number | null; exitCode: number | null };

/** Runs one reconcile pass. `scope: 'tasks'` only re-checks running tasks (after an event-stream reconnect). */
export async function reconcile(engine: Engine, runtime: Runtime, options: { scope?: 'all' | 'tasks' } = {}): Promise<ReconcileReport> {
  const report: ReconcileReport = { exitsFound: 0, lostTasks: 0, effectsReissued: 0, cellsWoundDown: 0, orphansRemoved: 0, attachmentsReleased: 0, cgroupsHealed: 0 };
  const aggregates = [...engine.all()];

  // 1. running containers against their tasks
  for (const agg of aggregates) {
    if (agg.kind !== 'container' || String(agg.snapshot.value) !== 'Running') continue;
    const c = agg.snapshot.context as ContainerCtx;
    const task = await runtime.containers.getTask(c.namespace, c.containerdId);
    if (!task || (task.status !== 'stopped' && task.pid !== c.pid)) {
      if ((await engine.dispatch(agg.stream, 'TaskLost', c.pid ? { pid: c.pid } : {}, META)).accepted) report.lostTasks++;
    } else if (task.status === 'stopped') {
      const outcome = await engine.dispatch(agg.stream, 'TaskExited', exitData(c.pid ?? task.pid, task.exitCode ?? 255, task.exitedAt), META);
      if (outcome.accepted) report.exitsFound++;
    }
  }
  if (options.scope === 'tasks') return report;

  // 2. transient aggregates: containers first, then scopes and cells
  const order = { container: 0, realm: 1, space: 2, stack: 3, cell: 4, daemon: 5 } as const;
  const transient = [...engine.all()].filter((a) => isTransient(a.kind, String(a.snapshot.value))).sort((a, b) => order[a.kind] - order[b.kind]);
  for (const agg of transient) if (engine.reissueTransientEffect(agg.stream, META)) report.effectsReissued++;

  // 3. Ready cells whose root does not run
  for (const agg of [...engine.all()]) {
    if (agg.kind !== 'container') continue;
    const c = agg.snapshot.context as ContainerCtx;
    const state = String(agg.snapshot.value);
    if (!c.root || (state !== 'Exited' && state !== 'Stopped' && state !== 'Failed')) continue;
    const cellStream = streamOf({ kind: 'cell', realm: c.realm, space: c.space, stack: c.stack, cell: c.cell });
    if (engine.stateOf(cellStream) !== 'Ready') continue;
    const outcome = await engine.dispatch(cellStream, 'ContainerExited', { container: c.name, root: true, code: c.exitCode }, META);
    if (outcome.accepted) report.cellsWoundDown++;
  }

  await collectGarbage(engine, runtime, report);
  await healCgroups(engine, runtime, report);
  return report;
}

async function collectGarbage(engine: Engine, runtime: Runtime, report: ReconcileReport): Promise<void> {
  const owned = new Set<string>();
  for (const agg of engine.all()) {
    if (agg.kind !== 'container' || isGone(String(agg.snapshot.value))) continue;
    const c = agg.snapshot.context as ContainerCtx;
    if (c.containerdId) owned.add(`${c.namespace}/${c.containerdId}`);
  }
  const realms = engine.list('realm/', { live: true });
  for (const realm of realms) {
    const namespace = namespaceOf(engine, (realm.snapshot.context as { identity: { realm: string } }).identity.realm);
    let records;
    try {
      records = await runtime.containers.listContainers(namespace, { [LABELS.managed]: 'true' });
    } catch (err) {
      if (isKukeError(err, ErrorKind.NotFound)) continue;
      throw err;
    }
    for (const record of records) {
      if (owned.has(`${namespace}/${record.id}`)) continue;
      // Not in our log (or deleted there): a leftover of an interrupted deletion.
      await runtime.containers.stopTask(namespace, record.id, { signal: 'SIGKILL', graceMs: 0 });
      await runtime.containers.deleteTask(namespace, record.id);
      await runtime.containers.deleteContainer(namespace, record.id);
      engine.logger.warn({ namespace, id: record.id }, 'removed an orphaned container');
      report.orphansRemoved++;
    }
  }
  // Attachments are held by cells that are up (or coming up); any other is a leak.
  const holders = new Map<string, { network: string; containerId: string }>();
  for (const agg of engine.list('cell/')) {
    const state = String(agg.snapshot.value);
    if (state !== 'Ready' && state !== 'Creating' && state !== 'Stopping' && state !== 'Deleting') continue;
    const c = agg.snapshot.context as { realm: string; space: string; stack: string; name: string; template: { root: string } | null };
    if (!c.template) continue;
    const holder = { network: networkName(c.realm, c.space), containerId: `${c.space}_${c.stack}_${c.name}_root` };
    holders.set(`${holder.network}/${holder.containerId}`, holder);
  }
  const { released } = await runtime.networks.gc([...holders.values()]);
  for (const att of released) engine.logger.warn({ network: att.network, containerId: att.containerId, address: att.address }, 'released an orphaned network attachment');
  report.attachmentsReleased += released.length;
}

async function healCgroups(engine: Engine, runtime: Runtime, report: ReconcileReport): Promise<void> {
  const paths: string[] = [];
  const push = (agg: Aggregate, path: string) => {
    if (String(agg.snapshot.value) === 'Ready') paths.push(path);
  };
  for (const agg of engine.all()) {
    const key = agg.key;
    if (key.kind === 'realm' || key.kind === 'space' || key.kind === 'stack') {
      push(agg, cgroupPath({ realm: key.realm, ...('space' in key ? { space: key.space } : {}), ...('stack' in key ? { stack: key.stack } : {}) }, engine.config.cgroupRoot));
    } else if (key.kind === 'cell') {
      push(agg, cgroupPath({ realm: key.realm, space: key.space, stack: key.stack, cell: key.cell }, engine.config.cgroupRoot));
    }
  }
  for (const path of paths) {
    if (await runtime.cgroups.exists(path)) continue;
    await runtime.cgroups.ensure(path);
    report.cgroupsHealed++;
  }
}
